import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { createServer as createHttpServer, type Server, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSelfSignedCertificate, issueCertificate } from './self-signed-certificate.js';

/** The dev server's HTTPS mode. @publicApi */
export interface TransitDevServerTlsOptions {
  /**
   * Mutual TLS: the server requires a client certificate issued by its CA and refuses the
   * handshake without one. It issues such a certificate at start, see
   * {@link TransitDevServerTls.clientCert}.
   * @default false
   */
  readonly requireClientCert?: boolean;
}

/**
 * What a client needs to trust (and, with mutual TLS, to be trusted by) a dev server in HTTPS
 * mode. Everything is generated at start (EC P-256) and lives only as long as the server.
 * @publicApi
 */
export interface TransitDevServerTls {
  /**
   * The PEM certificate of the server's CA, generated at start: pass it as the `tls.ca` option
   * (or write it to a file). The server's own certificate, issued by it, is valid for
   * `127.0.0.1`, `localhost` and the listening host.
   */
  readonly ca: string;
  /** With `requireClientCert`: a PEM client certificate issued by the CA (`tls.cert`). */
  readonly clientCert: string | undefined;
  /**
   * With `requireClientCert`: the PEM private key of {@link clientCert} (`tls.key`). A getter:
   * the object prints without it.
   */
  readonly clientKey: string | undefined;
  /** TLS connections accepted so far (completed handshakes). */
  readonly secureConnections: number;
}

/** The server side of the HTTPS mode: its certificates and the TLS connection count. */
export class DevServerTls implements TransitDevServerTls {
  readonly ca: string;
  readonly clientCert: string | undefined;
  readonly #clientKey: string | undefined;
  readonly #server: { cert: string; key: string };
  readonly #requireClientCert: boolean;
  #secureConnections = 0;

  constructor(options: TransitDevServerTlsOptions, host: string) {
    if (typeof options !== 'object' || options === null)
      throw new TypeError('tls must be true or { requireClientCert? }');
    const { requireClientCert = false } = options;
    if (typeof requireClientCert !== 'boolean')
      throw new TypeError('tls.requireClientCert must be a boolean');
    const ca = createSelfSignedCertificate({ purpose: 'ca', commonName: 'nestjs-kms dev CA' });
    const dnsNames = new Set(['localhost']);
    const ipAddresses = new Set(['127.0.0.1']);
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    // A listening address other than 127.0.0.1 joins the names (an IPv6 one in its plain form).
    if (isIP(bare) === 4 || (isIP(bare) === 6 && !bare.includes('.'))) ipAddresses.add(bare);
    else if (isIP(bare) === 0 && bare !== '') dnsNames.add(bare);
    const server = issueCertificate(
      {
        purpose: 'server',
        commonName: 'nestjs-kms dev server',
        dnsNames: [...dnsNames],
        ipAddresses: [...ipAddresses],
      },
      ca,
    );
    this.ca = ca.certificate;
    this.#server = { cert: server.certificate, key: pkcs8(server.privateKey) };
    this.#requireClientCert = requireClientCert;
    if (requireClientCert) {
      const client = issueCertificate({ purpose: 'client', commonName: 'nestjs-kms client' }, ca);
      this.clientCert = client.certificate;
      this.#clientKey = pkcs8(client.privateKey);
    } else {
      this.clientCert = undefined;
      this.#clientKey = undefined;
    }
  }

  get clientKey(): string | undefined {
    return this.#clientKey;
  }

  get secureConnections(): number {
    return this.#secureConnections;
  }

  /** Counts a completed handshake. */
  connected(): void {
    this.#secureConnections += 1;
  }

  /** An HTTPS server with these certificates (the HTTP options as for `http.createServer`). */
  createServer(options: ServerOptions, listener: Parameters<typeof createHttpServer>[1]): Server {
    const server = createHttpsServer(
      {
        ...options,
        cert: this.#server.cert,
        key: this.#server.key,
        minVersion: 'TLSv1.2',
        ...(this.#requireClientCert
          ? { ca: [this.ca], requestCert: true, rejectUnauthorized: true }
          : {}),
      },
      listener,
    );
    // An https.Server is an http.Server over TLS sockets: the same API from here on.
    return server as unknown as Server;
  }
}

/** An HTTP server, or an HTTPS one when `tls` is given. */
export function createDevHttpServer(
  tls: DevServerTls | undefined,
  options: ServerOptions,
  listener: Parameters<typeof createHttpServer>[1],
): Server {
  return tls ? tls.createServer(options, listener) : createHttpServer(options, listener);
}

function pkcs8(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}
