import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Logger } from '@nestjs/common';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  KmsUnavailableError,
  RestSessionPool,
  VaultTransitService,
  type KmsModuleOptions,
  type KmsTlsOptions,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';
import { TRANSPORTS, expectSentThrough } from '../support/transports.js';

/** The base64 body lines of a PEM block: what a leak of it would contain. */
const pemBody = (pem: string): string[] =>
  pem.split('\n').filter((line) => line !== '' && !line.startsWith('-----'));

let tlsVault: TransitDevServer;
let mtlsVault: TransitDevServer;
let otherVault: TransitDevServer; // another CA, another client certificate
let dir: string;
const pools: RestSessionPool[] = [];

beforeAll(async () => {
  [tlsVault, mtlsVault, otherVault] = await Promise.all([
    startTransitDevServer({ tls: true }),
    startTransitDevServer({ tls: { requireClientCert: true } }),
    startTransitDevServer({ tls: { requireClientCert: true } }),
  ]);
  dir = mkdtempSync(join(tmpdir(), 'kms-tls-'));
});
afterAll(async () => {
  await Promise.all([tlsVault.close(), mtlsVault.close(), otherVault.close()]);
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  for (const pool of pools.splice(0)) pool.close();
  vi.restoreAllMocks();
});

function poolWith(tls: KmsTlsOptions | undefined, maxSockets = 4): RestSessionPool {
  const pool = new RestSessionPool({ maxSockets, ...(tls ? { tls } : {}) });
  pools.push(pool);
  return pool;
}

function writeFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

const clientTls = (vault: TransitDevServer): KmsTlsOptions => ({
  ca: vault.tls!.ca,
  cert: vault.tls!.clientCert!,
  key: vault.tls!.clientKey!,
});

describe.each(TRANSPORTS)('TLS to the dev server (transport: %s)', (transport) => {
  const serviceFor = (vault: TransitDevServer, options: Partial<KmsModuleOptions> = {}) =>
    new VaultTransitService({
      vaultAddr: vault.address,
      vaultToken: vault.token,
      transport,
      retry: false,
      circuitBreaker: false,
      ...options,
    });

  /** A DEK made and decrypted over `pool`: a full round trip. */
  async function roundTrip(vault: TransitDevServer, pool: RestSessionPool): Promise<void> {
    const kms = serviceFor(vault);
    await expectSentThrough(transport, pool, async () => {
      const { dek, encryptedDek } = await pool.session((s) => kms.generateDek(s, 'tls-tenant'));
      const again = await pool.session((s) => kms.decryptDek(s, 'tls-tenant', encryptedDek));
      expect(again).toEqual(dek);
    });
  }

  /** The call's error: a KmsUnavailableError for a network/TLS failure, nothing secret in it. */
  async function expectTlsFailure(
    vault: TransitDevServer,
    pool: RestSessionPool,
    secrets: string[] = [],
  ): Promise<KmsUnavailableError> {
    const kms = serviceFor(vault);
    const error = await pool
      .session((s) => kms.generateDek(s, 'tls-tenant'))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(KmsUnavailableError);
    const unavailable = error as KmsUnavailableError;
    expect(unavailable.reason).toBe('network');
    expectNoSecrets(unavailable, [vault.token, ...secrets]);
    for (const line of secrets.flatMap(pemBody))
      expect(inspect(unavailable, { depth: Infinity, showHidden: true })).not.toContain(line);
    return unavailable;
  }

  it('is an https address, and works with the dev server CA as PEM text', async () => {
    expect(tlsVault.address).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    await roundTrip(tlsVault, poolWith({ ca: tlsVault.tls!.ca }));
  });

  it('reads the CA from a file path', async () => {
    const ca = writeFile(`ca-${transport}.pem`, tlsVault.tls!.ca);
    await roundTrip(tlsVault, poolWith({ ca }));
  });

  it('keeps connections alive: 100 calls use at most maxSockets (4) TLS connections', async () => {
    const pool = poolWith({ ca: tlsVault.tls!.ca }, 4);
    const kms = serviceFor(tlsVault, { maxSockets: 4 });
    const connectionsBefore = tlsVault.tls!.secureConnections;
    // The key is created on first use (more than one request): before the 100 counted calls.
    const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'keep-alive'));
    const answeredBefore = tlsVault.requests.length;
    // 50 concurrent calls, then 50 one after the other: both kinds reuse the open connections.
    await Promise.all(
      Array.from({ length: 50 }, () =>
        pool.session((s) => kms.decryptDek(s, 'keep-alive', encryptedDek)),
      ),
    );
    for (let i = 0; i < 50; i += 1)
      await pool.session((s) => kms.decryptDek(s, 'keep-alive', encryptedDek));
    expect(tlsVault.requests.length - answeredBefore).toBe(100);
    const opened = tlsVault.tls!.secureConnections - connectionsBefore;
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(opened).toBeLessThanOrEqual(4);
  });

  it('refuses a server its CA list does not vouch for (Node default roots) with KmsUnavailableError', async () => {
    const error = await expectTlsFailure(tlsVault, poolWith(undefined));
    expect(error.message).toMatch(/no answer \((UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO)/);
  });

  it('refuses a server certificate from another CA', async () => {
    const error = await expectTlsFailure(tlsVault, poolWith({ ca: otherVault.tls!.ca }));
    expect(error.message).toMatch(/no answer \((UNABLE_TO_|SELF_SIGNED|CERT_SIGNATURE)/);
  });

  it('honours servername: localhost matches the certificate, another name does not', async () => {
    await roundTrip(tlsVault, poolWith({ ca: tlsVault.tls!.ca, servername: 'localhost' }));
    const error = await expectTlsFailure(
      tlsVault,
      poolWith({ ca: tlsVault.tls!.ca, servername: 'vault.example' }),
    );
    expect(error.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('with rejectUnauthorized: false connects unverified, and warns once without key material', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const pool = poolWith({ rejectUnauthorized: false, ...clientTls(mtlsVault), ca: undefined });
    await roundTrip(mtlsVault, pool);
    await roundTrip(mtlsVault, pool);
    expect(warn).toHaveBeenCalledTimes(1);
    const logged = warn.mock.calls.map((args) => args.map(String).join(' ')).join('\n');
    expect(logged).toContain('rejectUnauthorized is false');
    for (const line of pemBody(mtlsVault.tls!.clientKey!)) expect(logged).not.toContain(line);
  });

  describe('mutual TLS', () => {
    it('works with the client certificate and key as PEM text', async () => {
      await roundTrip(mtlsVault, poolWith(clientTls(mtlsVault)));
    });

    it('works with the client certificate and key as file paths', async () => {
      const tls = {
        ca: writeFile(`m-ca-${transport}.pem`, mtlsVault.tls!.ca),
        cert: writeFile(`m-cert-${transport}.pem`, mtlsVault.tls!.clientCert!),
        key: writeFile(`m-key-${transport}.pem`, mtlsVault.tls!.clientKey!),
      };
      await roundTrip(mtlsVault, poolWith(tls));
    });

    it('fails with KmsUnavailableError without a client certificate', async () => {
      const answered = mtlsVault.requests.length;
      await expectTlsFailure(mtlsVault, poolWith({ ca: mtlsVault.tls!.ca }));
      expect(mtlsVault.requests.length).toBe(answered); // refused in the handshake
    });

    it('fails with a client certificate from another CA, naming no key material', async () => {
      const wrong = { ...clientTls(otherVault), ca: mtlsVault.tls!.ca };
      await expectTlsFailure(mtlsVault, poolWith(wrong), [otherVault.tls!.clientKey!]);
    });

    it('keeps the client key out of the pool when it is printed', async () => {
      const pool = poolWith(clientTls(mtlsVault));
      await roundTrip(mtlsVault, pool);
      const printed = inspect(pool, { depth: 6, showHidden: true });
      for (const line of pemBody(mtlsVault.tls!.clientKey!)) expect(printed).not.toContain(line);
    });
  });
});
