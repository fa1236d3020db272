// The samples of docs/MIGRATING-FROM-NODE-VAULT.md, run over real HTTP against the Transit dev
// server. Every ```ts block of the guide is a contiguous run of lines of this file (checked by
// docs-samples.spec.ts), so a sample that no longer compiles or behaves fails here.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import nodeVault from 'node-vault';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  InjectKeyManagementService,
  InMemoryKeyManagementService,
  KEY_MANAGEMENT_SERVICE,
  KekNotFoundError,
  KmsAccessDeniedError,
  KmsDecryptionError,
  KmsError,
  KmsInvalidInputError,
  KmsModule,
  KmsSessionHost,
  KmsUnavailableError,
  RestSessionPool,
  VaultTransitService,
  type IKeyManagementService,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';

let devVault: TransitDevServer;
let vaultAddr: string;
let vaultToken: string;
let pool: RestSessionPool;

beforeEach(async () => {
  devVault = await startTransitDevServer();
  vaultAddr = devVault.address;
  vaultToken = devVault.token;
  pool = new RestSessionPool();
});
afterEach(async () => {
  pool.close();
  await devVault.close();
});

const newService = () => new VaultTransitService({ vaultAddr, vaultToken });
const posts = (route: string) =>
  devVault.requests.filter((r) => r.method === 'POST' && r.path.includes(`/${route}/`)).length;

describe('the migration guide: node-vault calls and their replacements', () => {
  it('before: node-vault wraps and unwraps a DEK by hand (base64 in, a string out)', async () => {
    const vault = nodeVault({ endpoint: vaultAddr, token: vaultToken });
    const dek = randomBytes(32);
    const encrypted = await vault.write('transit/encrypt/tenant-42', {
      plaintext: dek.toString('base64'),
    });
    const ciphertext: string = encrypted.data.ciphertext; // "vault:v1:…", stored as text
    const decrypted = await vault.write('transit/decrypt/tenant-42', { ciphertext });
    const sameDek = Buffer.from(decrypted.data.plaintext as string, 'base64');

    expect(ciphertext).toMatch(/^vault:v1:/);
    expect(sameDek.equals(dek)).toBe(true);
  });

  it('after: the service takes and returns bytes, inside a session', async () => {
    const kms = new VaultTransitService({ vaultAddr, vaultToken });
    const dek = randomBytes(32);
    const encryptedDek = await pool.session((session) => kms.encryptDek(session, 42, dek));
    const stored = encryptedDek.toString('utf8'); // "vault:v1:…", the same text as before
    const sameDek = await pool.session((session) =>
      kms.decryptDek(session, 42, Buffer.from(stored, 'utf8')),
    );

    expect(stored).toMatch(/^vault:v1:/);
    expect(sameDek.equals(dek)).toBe(true);
    expect(devVault.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v1/transit/encrypt/tenant-42',
      'POST /v1/transit/decrypt/tenant-42',
    ]);
  });

  it('ciphertexts written by node-vault decrypt unchanged, and the other way round', async () => {
    const vault = nodeVault({ endpoint: vaultAddr, token: vaultToken });
    const kms = newService();
    const dek = randomBytes(32);
    // Written by the old code:
    const old = await vault.write('transit/encrypt/tenant-42', {
      plaintext: dek.toString('base64'),
    });
    // Read by the new code: tenant 42 → key "tenant-42" (default keyPrefix), same text.
    const opened = await pool.session((session) =>
      kms.decryptDek(session, 42, Buffer.from(old.data.ciphertext as string, 'utf8')),
    );
    // And back: the old code still reads what the new code writes (a rollback stays possible).
    const fresh = await pool.session((session) => kms.encryptDek(session, 42, dek));
    const back = await vault.write('transit/decrypt/tenant-42', {
      ciphertext: fresh.toString('utf8'),
    });

    expect(opened.equals(dek)).toBe(true);
    expect(Buffer.from(back.data.plaintext as string, 'base64').equals(dek)).toBe(true);
  });

  it('node-vault’s encryptData/rewrapData/datakey outputs are accepted too, after a node-vault rotation', async () => {
    const vault = nodeVault({ endpoint: vaultAddr, token: vaultToken });
    const kms = newService();
    const dek = randomBytes(32);
    const v1 = await vault.encryptData({ name: 'tenant-7', plaintext: dek.toString('base64') });
    await vault.write('transit/keys/tenant-7/rotate', {});
    const v2 = await vault.rewrapData({ name: 'tenant-7', ciphertext: v1.data.ciphertext });
    const datakey = await vault.write('transit/datakey/plaintext/tenant-7', { bits: 256 });
    for (const ciphertext of [v1.data.ciphertext, v2.data.ciphertext] as string[]) {
      const opened = await pool.session((s) => kms.decryptDek(s, '7', Buffer.from(ciphertext)));
      expect(opened.equals(dek)).toBe(true);
    }
    const generated = await pool.session((s) =>
      kms.decryptDek(s, 7n, Buffer.from(datakey.data.ciphertext as string)),
    );
    expect(generated.toString('base64')).toBe(datakey.data.plaintext);
    // The library's rewrap moves a node-vault v1 ciphertext to v2 like Vault's rewrap does.
    const moved = await pool.session((s) => kms.rewrapDek(s, 7, Buffer.from(v1.data.ciphertext)));
    expect(moved.toString()).toMatch(/^vault:v2:/);
  });

  it('maps existing key names: a prefix, or your own mapping', async () => {
    const vault = nodeVault({ endpoint: vaultAddr, token: vaultToken });
    const dek = randomBytes(32);
    const byAccount = await vault.write('transit/encrypt/acct_1001', {
      plaintext: dek.toString('base64'),
    });
    const byName = await vault.write('transit/encrypt/acme-payments-kek', {
      plaintext: dek.toString('base64'),
    });

    // Old keys were named acct_<id>: keep them with a prefix.
    const kmsWithPrefix = new VaultTransitService({ vaultAddr, vaultToken, keyPrefix: 'acct_' });
    // Old names follow no prefix: map every tenant id yourself (injective, synchronous).
    const legacyKeyNames = new Map<string, string>([['acme', 'acme-payments-kek']]);
    const kmsWithNames = new VaultTransitService({
      vaultAddr,
      vaultToken,
      keyName: (tenantId) => legacyKeyNames.get(String(tenantId)) ?? `tenant-${String(tenantId)}`,
    });

    const a = await pool.session((s) =>
      kmsWithPrefix.decryptDek(s, 1001, Buffer.from(byAccount.data.ciphertext as string)),
    );
    const b = await pool.session((s) =>
      kmsWithNames.decryptDek(s, 'acme', Buffer.from(byName.data.ciphertext as string)),
    );
    expect(a.equals(dek) && b.equals(dek)).toBe(true);
    // A tenant the map does not know gets a fresh key under the fallback name.
    await pool.session((s) => kmsWithNames.encryptDek(s, 'globex', dek));
    expect(devVault.requests.at(-1)?.path).toBe('/v1/transit/encrypt/tenant-globex');
    // The wrong mapping finds no key: a typed error, not a 400 to decode.
    const wrong = await pool
      .session((s) => newService().decryptDek(s, 1001, Buffer.from(byAccount.data.ciphertext)))
      .catch((error: unknown) => error);
    expect(wrong).toBeInstanceOf(KekNotFoundError);
  });

  it('a node-vault pathPrefix that led to a nested mount becomes the mount option', async () => {
    const nested = await startTransitDevServer({ mount: 'kms/transit' });
    try {
      const vault = nodeVault({
        endpoint: nested.address,
        token: nested.token,
        pathPrefix: '/kms',
      });
      const dek = randomBytes(32);
      const old = await vault.write('transit/encrypt/tenant-42', {
        plaintext: dek.toString('base64'),
      });
      const kms = new VaultTransitService({
        vaultAddr: nested.address,
        vaultToken: nested.token,
        mount: 'kms/transit',
      });
      const opened = await pool.session((s) =>
        kms.decryptDek(s, 42, Buffer.from(old.data.ciphertext as string)),
      );
      expect(opened.equals(dek)).toBe(true);
      expect(nested.requests.map((r) => r.path)).toEqual([
        '/v1/kms/transit/encrypt/tenant-42',
        '/v1/kms/transit/decrypt/tenant-42',
      ]);
    } finally {
      await nested.close();
    }
  });

  it('TLS: node-vault’s requestOptions ca/cert/key become the tls option', async () => {
    const secure = await startTransitDevServer({ tls: { requireClientCert: true } });
    try {
      vaultAddr = secure.address; // https://127.0.0.1:…
      vaultToken = secure.token;
      const ca = secure.tls?.ca ?? '';
      const cert = secure.tls?.clientCert ?? '';
      const key = secure.tls?.clientKey ?? '';
      const dek = randomBytes(32);

      // Before: TLS settings in node-vault's requestOptions.
      const vault = nodeVault({
        endpoint: vaultAddr,
        token: vaultToken,
        requestOptions: { ca, cert, key },
      });
      const old = await vault.write('transit/encrypt/tenant-42', {
        plaintext: dek.toString('base64'),
      });

      // After: the same PEM texts (or file paths) in the tls option.
      @Module({
        imports: [KmsModule.forRoot({ vaultAddr, vaultToken, tls: { ca, cert, key } })],
      })
      class SecureAppModule {}

      const moduleRef = await Test.createTestingModule({ imports: [SecureAppModule] }).compile();

      const kms = moduleRef.get<IKeyManagementService>(KEY_MANAGEMENT_SERVICE);
      const opened = await moduleRef
        .get(KmsSessionHost)
        .withSession((s) => kms.decryptDek(s, 42, Buffer.from(old.data.ciphertext as string)));
      expect(opened.equals(dek)).toBe(true);
      expect(secure.tls?.secureConnections).toBeGreaterThanOrEqual(2);
      await moduleRef.close();
    } finally {
      await secure.close();
    }
  });

  it('what does not carry over: derived keys and payloads above 1024 bytes', async () => {
    const vault = nodeVault({ endpoint: vaultAddr, token: vaultToken });
    const kms = newService();
    await vault.write('transit/keys/tenant-derived', { derived: true });
    const derived = await vault.write('transit/encrypt/tenant-derived', {
      plaintext: randomBytes(32).toString('base64'),
      context: Buffer.from('row-1').toString('base64'),
    });
    const refused = await pool
      .session((s) => kms.decryptDek(s, 'derived', Buffer.from(derived.data.ciphertext)))
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(KmsInvalidInputError);
    expect((refused as KmsError).status).toBe(400);
    expect((refused as KmsError).vaultErrors?.[0]).toMatch(/missing 'context'/);

    const payload = await vault.write('transit/encrypt/tenant-big', {
      plaintext: randomBytes(2000).toString('base64'),
    });
    const before = devVault.requests.length;
    const tooLong = await pool
      .session((s) => kms.decryptDek(s, 'big', Buffer.from(payload.data.ciphertext)))
      .catch((error: unknown) => error);
    expect(tooLong).toBeInstanceOf(KmsInvalidInputError);
    expect(devVault.requests.length).toBe(before); // refused before any request
    // Up to 1024 bytes, a payload encrypted directly with Transit still opens.
    const small = randomBytes(1024);
    const direct = await vault.write('transit/encrypt/tenant-big', {
      plaintext: small.toString('base64'),
    });
    const opened = await pool.session((s) =>
      kms.decryptDek(s, 'big', Buffer.from(direct.data.ciphertext)),
    );
    expect(opened.equals(small)).toBe(true);
  });

  it('before: errors are ApiResponseError with a status and Vault’s strings', async () => {
    const vault = nodeVault({ endpoint: vaultAddr, token: vaultToken });
    const ciphertext = `vault:v1:${randomBytes(44).toString('base64')}`;
    const outcome = await vault.write('transit/decrypt/tenant-7', { ciphertext }).then(
      () => 'decrypted',
      (error: nodeVault.ApiResponseError) => {
        const { statusCode, body } = error.response;
        if (statusCode === 400 && body.errors[0] === 'encryption key not found') return 'no key';
        if (statusCode >= 500) return 'try again later'; // 503: sealed
        throw error;
      },
    );

    expect(outcome).toBe('no key');
  });

  it('node-vault’s failures carry the token and its debug log the plaintext; the library’s do not', async () => {
    const logged: unknown[] = [];
    const vault = nodeVault({
      endpoint: vaultAddr,
      token: vaultToken,
      debug: (...args: unknown[]) => logged.push(args),
    });
    const dek = randomBytes(32);
    await vault.write('transit/encrypt/tenant-42', { plaintext: dek.toString('base64') });
    expect(inspect(logged, { depth: Infinity })).toContain(dek.toString('base64'));
    const kms = newService();
    await devVault.close();
    const oldError = await vault
      .write('transit/encrypt/tenant-42', { plaintext: dek.toString('base64') })
      .catch((error: unknown) => error);
    expect(inspect(oldError, { depth: Infinity })).toContain(vaultToken);
    const newError = await pool
      .session((s) => kms.encryptDek(s, 42, dek))
      .catch((error: unknown) => error);
    expect(newError).toMatchObject({ name: 'KmsUnavailableError', reason: 'network' });
    expectNoSecrets(newError, [vaultToken, dek]);
    devVault = await startTransitDevServer(); // for afterEach
  });

  it('after: typed errors, decided by class', async () => {
    const kms = newService();
    const encryptedDek = Buffer.from(`vault:v1:${randomBytes(44).toString('base64')}`);
    const outcome = await pool
      .session((session) => kms.decryptDek(session, 7, encryptedDek))
      .then(
        () => 'decrypted',
        (error: unknown) => {
          if (error instanceof KekNotFoundError) return 'no key'; // never created, or shredded
          if (error instanceof KmsDecryptionError) return 'not this tenant’s DEK, or tampered';
          if (error instanceof KmsError && error.retryable) return 'try again later';
          throw error; // access denied, configuration, invalid input: fix, do not retry
        },
      );

    expect(outcome).toBe('no key');
    await pool.session((s) => kms.encryptDek(s, 7, randomBytes(32)));
    const tampered = await pool
      .session((s) => kms.decryptDek(s, 7, encryptedDek))
      .catch((error: unknown) => error);
    expect(tampered).toBeInstanceOf(KmsDecryptionError);
    devVault.setSealed(true);
    const sealed = await pool
      .session((s) => kms.decryptDek(s, 7, encryptedDek))
      .catch((error: unknown) => error);
    expect(sealed).toBeInstanceOf(KmsUnavailableError);
    expect(sealed).toMatchObject({ reason: 'sealed', retryable: true });
  });

  it('batch: one request for many DEKs, one result per item', async () => {
    const vault = nodeVault({ endpoint: vaultAddr, token: vaultToken });
    const kms = newService();
    const deks = [randomBytes(32), randomBytes(32), randomBytes(32)];
    const wrapped = await vault.write('transit/encrypt/tenant-42', {
      batch_input: deks.map((dek) => ({ plaintext: dek.toString('base64') })),
    });
    const storedDeks: string[] = wrapped.data.batch_results.map(
      (item: { ciphertext: string }) => item.ciphertext,
    );

    const results = await pool.session((session) =>
      kms.decryptDeks(
        session,
        42,
        storedDeks.map((text) => Buffer.from(text, 'utf8')),
      ),
    );
    const opened = results.map((result) => (result.ok ? result.value : undefined));

    expect(opened.map((dek, i) => dek?.equals(deks[i] as Buffer))).toEqual([true, true, true]);
    expect(posts('decrypt')).toBe(1);
  });

  it('rotate, rewrap, retire and delete: what replaces the keys/… writes', async () => {
    const kms = newService();
    const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 42));
    const before = devVault.requests.length;
    await pool.session(async (session) => {
      const version = await kms.rotateKek(session, 42); // POST keys/tenant-42/rotate
      const [moved] = await kms.rewrapDeks(session, 42, [encryptedDek]); // POST rewrap/tenant-42
      if (!moved?.ok) throw new Error('rewrap failed');
      await kms.retireKekVersions(session, 42, version); // min_decryption_version = version
      await kms.deleteKek(session, 42); // deletion_allowed + DELETE keys/tenant-42
    });

    expect(devVault.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v1/transit/keys/tenant-42/rotate',
      'POST /v1/transit/rewrap/tenant-42',
      'POST /v1/transit/keys/tenant-42/config',
      'POST /v1/transit/keys/tenant-42/config',
      'DELETE /v1/transit/keys/tenant-42',
    ]);
    const gone = await pool
      .session((s) => kms.decryptDek(s, 42, encryptedDek))
      .catch((error: unknown) => error);
    expect(gone).toBeInstanceOf(KekNotFoundError);
  });

  it('health and token lookup: node-vault resolves a sealed health answer, setup() rejects', async () => {
    const vault = nodeVault({ endpoint: vaultAddr, token: vaultToken });
    const kms = newService();
    devVault.setSealed(true);
    const health = await vault.health(); // resolves even with 503: check `sealed` yourself
    const ready = await pool
      .session((session) => kms.setup(session))
      .then(
        () => 'ready',
        (error: unknown) => (error instanceof KmsUnavailableError ? error.reason : 'other'),
      );

    expect(health).toMatchObject({ sealed: true });
    expect(ready).toBe('sealed');
    devVault.setSealed(false);
    await expect(pool.session((s) => kms.setup(s))).resolves.toBeUndefined();
    const revoked = devVault.createToken();
    devVault.revokeToken(revoked);
    const refused = await pool
      .session((s) => new VaultTransitService({ vaultAddr, vaultToken: revoked }).setup(s))
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(KmsAccessDeniedError);
    expectNoSecrets(refused, [revoked, vaultToken]);
  });

  it('token renewal: a token function reading a Vault Agent sink replaces startTokenRenewal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kms-migration-'));
    try {
      const tokenSinkPath = join(dir, 'token');
      const first = devVault.createToken({ ttlSeconds: 3600 });
      await writeFile(tokenSinkPath, `${first}\n`);
      const kms = new VaultTransitService({
        vaultAddr,
        vaultToken: () => readFile(tokenSinkPath, 'utf8'), // re-read: the agent rewrites it
        tokenCacheMs: 5_000,
      });
      const dek = randomBytes(32);
      const encryptedDek = await pool.session((s) => kms.encryptDek(s, 42, dek));
      // The agent renews or replaces the token; the old one stops working.
      const second = devVault.createToken({ ttlSeconds: 3600 });
      await writeFile(tokenSinkPath, `${second}\n`);
      devVault.revokeToken(first);
      const opened = await pool.session((s) => kms.decryptDek(s, 42, encryptedDek));
      expect(opened.equals(dek)).toBe(true);
      // The 403 of the stale cached token was followed by one repeat with the new token.
      expect(devVault.requests.slice(-2).map((r) => r.status)).toEqual([403, 200]);

      // The same with the tokenFile auth method: re-read at once after a 403.
      const fromFile = new VaultTransitService({
        vaultAddr,
        auth: { method: 'tokenFile', path: tokenSinkPath },
      });
      await pool.session((s) => fromFile.decryptDek(s, 42, encryptedDek));
      const third = devVault.createToken({ ttlSeconds: 3600 });
      await writeFile(tokenSinkPath, `${third}\n`);
      devVault.revokeToken(second);
      const reread = await pool.session((s) => fromFile.decryptDek(s, 42, encryptedDek));
      expect(reread.equals(dek)).toBe(true);
      fromFile.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('logins and namespaces: approleLogin/kubernetesLogin and namespace become auth and namespace', async () => {
    const teamVault = await startTransitDevServer({ namespace: 'team-a' });
    const dir = await mkdtemp(join(tmpdir(), 'kms-migration-'));
    const services: VaultTransitService[] = [];
    try {
      vaultAddr = teamVault.address;
      const { roleId, secretId } = teamVault.addAppRole({ roleName: 'orders' });
      const dek = randomBytes(32);

      // Before: node-vault logs in, keeps the token on the client, renews it on a timer.
      const vault = nodeVault({ endpoint: vaultAddr, namespace: 'team-a' });
      await vault.approleLogin({ role_id: roleId, secret_id: secretId });
      const old = await vault.write('transit/encrypt/tenant-42', {
        plaintext: dek.toString('base64'),
      });

      // After: the library logs in on first use, renews, and logs in again when it must.
      const kms = new VaultTransitService({
        vaultAddr,
        namespace: 'team-a',
        auth: { method: 'approle', roleId, secretId },
      });
      services.push(kms);
      const opened = await pool.session((s) =>
        kms.decryptDek(s, 42, Buffer.from(old.data.ciphertext as string)),
      );
      expect(opened.equals(dek)).toBe(true);

      const jwt = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from('{"sub":"orders"}').toString('base64url')}.c2ln`;
      const jwtFile = join(dir, 'token');
      await writeFile(jwtFile, jwt);
      teamVault.setKubernetesRole({ role: 'orders', jwts: [jwt] });
      await vault.kubernetesLogin({ role: 'orders', jwt, mount_point: 'kubernetes' }); // you read the JWT
      const inPod = new VaultTransitService({
        vaultAddr,
        namespace: 'team-a',
        auth: { method: 'kubernetes', role: 'orders', jwtFile }, // default: the pod's token file
      });
      services.push(inPod);
      const again = await pool.session((s) =>
        inPod.decryptDek(s, 42, Buffer.from(old.data.ciphertext as string)),
      );
      expect(again.equals(dek)).toBe(true);
      expect(teamVault.requests.filter((r) => r.path.endsWith('/login'))).toHaveLength(4);

      const wrong = new VaultTransitService({
        vaultAddr,
        namespace: 'team-a',
        auth: { method: 'approle', roleId, secretId: 'not-the-secret-id' },
      });
      services.push(wrong);
      const refused = await pool
        .session((s) => wrong.decryptDek(s, 42, Buffer.from(old.data.ciphertext as string)))
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(KmsAccessDeniedError);
      expectNoSecrets(refused, [secretId, 'not-the-secret-id', jwt, roleId]);
    } finally {
      for (const service of services) service.close();
      await rm(dir, { recursive: true, force: true });
      await teamVault.close();
    }
  });

  it('request options: a timeout becomes timeoutMs/deadlineMs, with retries and a breaker', async () => {
    const kms = new VaultTransitService({
      vaultAddr,
      vaultToken,
      timeoutMs: 300, // one request (node-vault's requestOptions.timeout)
      deadlineMs: 2_000, // the whole call, retries included
      retry: { maxAttempts: 2, baseDelayMs: 50, maxDelayMs: 200 },
      circuitBreaker: { failureThreshold: 5, resetTimeoutMs: 5_000 },
    });
    const dek = randomBytes(32);
    devVault.injectFault({ kind: 'delay', ms: 1_500, times: 2 });
    const slow = await pool
      .session((s) => kms.encryptDek(s, 42, dek))
      .catch((error: unknown) => error);
    expect(slow).toBeInstanceOf(KmsUnavailableError);
    expect(slow).toMatchObject({ reason: 'timeout' });
    expectNoSecrets(slow, [vaultToken, dek]);
  });
});

describe('the migration guide: NestJS wiring', () => {
  it('a provider injects the service and opens a unit of work with KmsSessionHost', async () => {
    @Injectable()
    class TenantSecrets {
      constructor(
        @InjectKeyManagementService() private readonly kms: IKeyManagementService,
        private readonly sessions: KmsSessionHost,
      ) {}

      seal(tenantId: string, dek: Uint8Array): Promise<Buffer> {
        return this.sessions.withSession((session) => this.kms.encryptDek(session, tenantId, dek));
      }

      open(tenantId: string, encryptedDek: Uint8Array): Promise<Buffer> {
        return this.sessions.withSession((session) =>
          this.kms.decryptDek(session, tenantId, encryptedDek),
        );
      }
    }

    @Module({
      imports: [KmsModule.forRoot({ vaultAddr, vaultToken, keyPrefix: 'tenant-' })],
      providers: [TenantSecrets],
    })
    class AppModule {}

    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    try {
      const secrets = app.get(TenantSecrets);
      const dek = randomBytes(32);
      const sealed = await secrets.seal('acme', dek);
      const vault = nodeVault({ endpoint: vaultAddr, token: vaultToken });
      const legacy = await vault.write('transit/encrypt/tenant-acme', {
        plaintext: dek.toString('base64'),
      });
      expect((await secrets.open('acme', sealed)).equals(dek)).toBe(true);
      expect((await secrets.open('acme', Buffer.from(legacy.data.ciphertext))).equals(dek)).toBe(
        true,
      );
    } finally {
      await app.close();
    }
  });
});

describe('the migration guide: test doubles instead of mocking node-vault', () => {
  it('the Transit dev server: real HTTP, Vault’s answers, faults on demand', async () => {
    const vault = await startTransitDevServer(); // 127.0.0.1, an ephemeral port
    const rest = new RestSessionPool();
    try {
      const kms = new VaultTransitService({ vaultAddr: vault.address, vaultToken: vault.token });
      const { dek, encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
      vault.setSealed(true); // or vault.injectFault({ kind: 'status', status: 500 })
      await expect(rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek))).rejects.toThrow(
        KmsUnavailableError,
      );
      vault.setSealed(false);
      const opened = await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
      expect(opened.equals(dek)).toBe(true);
      expect(vault.requests.map((r) => r.status)).toContain(503);
    } finally {
      rest.close();
      await vault.close();
    }
  });

  it('a Nest testing module against the dev server, or with the in-memory provider', async () => {
    const vault = await startTransitDevServer();
    try {
      const moduleRef = await Test.createTestingModule({
        imports: [KmsModule.forRoot({ vaultAddr: vault.address, vaultToken: vault.token })],
      }).compile();
      const kms = moduleRef.get<IKeyManagementService>(KEY_MANAGEMENT_SERVICE);
      const sessions = moduleRef.get(KmsSessionHost);
      const { dek, encryptedDek } = await sessions.withSession((s) => kms.generateDek(s, 1));
      expect(
        (await sessions.withSession((s) => kms.decryptDek(s, 1, encryptedDek))).equals(dek),
      ).toBe(true);
      await moduleRef.close();

      const memory = new InMemoryKeyManagementService();
      const withMemory = await Test.createTestingModule({
        imports: [KmsModule.forRoot({ vaultAddr: vault.address, vaultToken: vault.token })],
      })
        .overrideProvider(KEY_MANAGEMENT_SERVICE)
        .useValue(memory)
        .compile();
      const overridden = withMemory.get<IKeyManagementService>(KEY_MANAGEMENT_SERVICE);
      const requestsBefore = vault.requests.length;
      await withMemory.get(KmsSessionHost).withSession((s) => overridden.generateDek(s, 1));
      expect(memory.calls.map((c) => c.operation)).toEqual(['generateDek']);
      expect(vault.requests.length).toBe(requestsBefore);
      await withMemory.close();
    } finally {
      await vault.close();
    }
  });
});
