import { X509Certificate } from 'node:crypto';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';

const servers: TransitDevServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function start(tls: Parameters<typeof startTransitDevServer>[0]): Promise<TransitDevServer> {
  const server = await startTransitDevServer(tls);
  servers.push(server);
  return server;
}

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** One HTTPS request with a fresh connection (no agent). */
function send(
  server: TransitDevServer,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${server.address}${path}`,
      {
        method,
        agent: false,
        ca: server.tls?.ca,
        headers: { 'X-Vault-Token': server.token },
        ...options,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The certificate the server presents on 127.0.0.1, with its issuer's. */
function peerCertificate(server: TransitDevServer): Promise<PeerCertificate> {
  const { port } = new URL(server.address);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: '127.0.0.1', port: Number(port), ca: server.tls!.ca, servername: 'localhost' },
      () => {
        resolve(socket.getPeerCertificate(true));
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

describe('the dev server in HTTPS mode', () => {
  it('serves HTTPS on 127.0.0.1 with a certificate issued by the CA it exposes', async () => {
    const server = await start({ tls: true });
    expect(server.address).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await send(server, 'GET', '/v1/sys/health');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ initialized: true, sealed: false });
    const peer = await peerCertificate(server);
    const ca = new X509Certificate(server.tls!.ca);
    const leaf = new X509Certificate(peer.raw);
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    expect(Date.parse(leaf.validTo)).toBeGreaterThan(Date.now());
    expect(server.tls!.clientCert).toBeUndefined();
    expect(server.tls!.clientKey).toBeUndefined();
  });

  it('generates a new CA per server', async () => {
    const [one, two] = await Promise.all([start({ tls: true }), start({ tls: true })]);
    expect(one.tls!.ca).not.toBe(two.tls!.ca);
    await expect(send(one, 'GET', '/v1/sys/health', { ca: two.tls!.ca })).rejects.toMatchObject({
      code: expect.stringMatching(/UNABLE_TO_|SELF_SIGNED/),
    });
  });

  it('counts TLS connections, not requests', async () => {
    const server = await start({ tls: true });
    await send(server, 'GET', '/v1/sys/health');
    await send(server, 'GET', '/v1/sys/health');
    expect(server.tls!.secureConnections).toBe(2);
  });

  it('speaks Vault’s LIST verb and the Transit API over TLS', async () => {
    const server = await start({ tls: true });
    expect((await send(server, 'POST', '/v1/transit/keys/tls-key')).status).toBe(200);
    const listed = await send(server, 'LIST', '/v1/transit/keys');
    expect(listed.status).toBe(200);
    expect(JSON.parse(listed.body).data.keys).toEqual(['tls-key']);
  });

  it('injects a reset fault over TLS as a dropped connection', async () => {
    const server = await start({ tls: true });
    server.injectFault({ kind: 'reset' });
    await expect(send(server, 'GET', '/v1/sys/health')).rejects.toMatchObject({
      code: expect.stringMatching(/ECONNRESET|EPIPE/),
    });
    expect(server.requests.at(-1)).toMatchObject({ status: 0, fault: 'reset' });
    expect((await send(server, 'GET', '/v1/sys/health')).status).toBe(200);
  });

  it('refuses plain HTTP on its port', async () => {
    const server = await start({ tls: true });
    const { port } = new URL(server.address);
    const reply = await new Promise<string>((resolve) => {
      const socket = netConnect(Number(port), '127.0.0.1', () =>
        socket.write('GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n'),
      );
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.on('error', () => undefined);
    });
    expect(reply).not.toContain('HTTP/1.1 200');
    expect(server.requests).toEqual([]);
  });

  it('closes while a client sits in its handshake', async () => {
    const server = await start({ tls: true });
    const { port } = new URL(server.address);
    const idle = netConnect(Number(port), '127.0.0.1');
    idle.on('error', () => undefined);
    await new Promise((resolve) => idle.once('connect', resolve));
    const closed = new Promise((resolve) => idle.once('close', resolve));
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    await closed;
  });

  it('refuses a malformed tls option', async () => {
    await expect(
      startTransitDevServer({ tls: { requireClientCert: 'yes' } as never }),
    ).rejects.toThrow(TypeError);
  });
});

describe('the dev server with mutual TLS', () => {
  it('issues a client certificate from its CA and accepts it', async () => {
    const server = await start({ tls: { requireClientCert: true } });
    const { clientCert, clientKey, ca } = server.tls!;
    const cert = new X509Certificate(clientCert!);
    expect(cert.checkIssued(new X509Certificate(ca))).toBe(true);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(
      cert.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(clientKey!))),
    ).toBe(true);
    const health = await send(server, 'GET', '/v1/sys/health', {
      cert: clientCert,
      key: clientKey,
    });
    expect(health.status).toBe(200);
  });

  it('refuses a client without a certificate, or with one from another CA, in the handshake', async () => {
    const [server, other] = await Promise.all([
      start({ tls: { requireClientCert: true } }),
      start({ tls: { requireClientCert: true } }),
    ]);
    await expect(send(server, 'GET', '/v1/sys/health')).rejects.toBeInstanceOf(Error);
    await expect(
      send(server, 'GET', '/v1/sys/health', {
        cert: other.tls!.clientCert,
        key: other.tls!.clientKey,
      }),
    ).rejects.toBeInstanceOf(Error);
    expect(server.requests).toEqual([]);
  });

  it('never prints the client key: not in the server object, its tls info, or JSON', async () => {
    const server = await start({ tls: { requireClientCert: true } });
    const keyLines = server
      .tls!.clientKey!.split('\n')
      .filter((line) => line !== '' && !line.startsWith('-----'));
    expect(keyLines.length).toBeGreaterThan(0);
    const renderings = [
      inspect(server, { depth: Infinity, showHidden: true }),
      inspect(server.tls, { depth: Infinity, showHidden: true }),
      JSON.stringify(server.tls),
      JSON.stringify({ ...server, requests: [] }),
    ];
    for (const text of renderings) for (const line of keyLines) expect(text).not.toContain(line);
    expect(inspect(server.tls)).toContain('BEGIN CERTIFICATE'); // the CA and client cert are public
  });
});
