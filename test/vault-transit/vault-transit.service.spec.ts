import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  KekNotFoundError,
  KmsAccessDeniedError,
  KmsConfigurationError,
  KmsDecryptionError,
  KmsInvalidInputError,
  KmsUnavailableError,
  RestSessionPool,
  VaultTransitService,
  type ISession,
  type KmsModuleOptions,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';

let server: TransitDevServer;
let pool: RestSessionPool;

beforeEach(async () => {
  server = await startTransitDevServer();
  pool = new RestSessionPool();
});

afterEach(async () => {
  pool.close();
  await server.close();
});

function service(options: Partial<KmsModuleOptions> = {}): VaultTransitService {
  return new VaultTransitService({
    vaultAddr: server.address,
    vaultToken: server.token,
    ...options,
  });
}

/** Runs `work` and returns the requests the server received meanwhile, as `METHOD /path`. */
async function requestsDuring(work: (session: ISession) => Promise<unknown>): Promise<string[]> {
  const before = server.requests.length;
  await pool.session(work);
  return server.requests.slice(before).map((r) => `${r.method} ${r.path}`);
}

describe('VaultTransitService request cost', () => {
  it('costs exactly one request per operation in the steady state', async () => {
    const kms = service();
    const tenant = 'acme';
    const { encryptedDek } = await pool.session((s) => kms.generateDek(s, tenant));

    expect(await requestsDuring((s) => kms.encryptDek(s, tenant, Buffer.alloc(32, 1)))).toEqual([
      'POST /v1/transit/encrypt/tenant-acme',
    ]);
    expect(await requestsDuring((s) => kms.decryptDek(s, tenant, encryptedDek))).toEqual([
      'POST /v1/transit/decrypt/tenant-acme',
    ]);
    expect(await requestsDuring((s) => kms.generateDek(s, tenant))).toEqual([
      'POST /v1/transit/datakey/plaintext/tenant-acme',
    ]);
    expect(await requestsDuring((s) => kms.rotateKek(s, tenant))).toEqual([
      'POST /v1/transit/keys/tenant-acme/rotate',
    ]);
    expect(await requestsDuring((s) => kms.rewrapDek(s, tenant, encryptedDek))).toEqual([
      'POST /v1/transit/rewrap/tenant-acme',
    ]);
  });

  it('creates a missing KEK with the configured type: encrypt by upsert, generate and rotate by create', async () => {
    const kms = service({ keyType: 'chacha20-poly1305' });
    expect(await requestsDuring((s) => kms.encryptDek(s, 'a', Buffer.alloc(32, 1)))).toEqual([
      'POST /v1/transit/encrypt/tenant-a',
    ]);
    expect(await requestsDuring((s) => kms.generateDek(s, 'b'))).toEqual([
      'POST /v1/transit/datakey/plaintext/tenant-b',
      'POST /v1/transit/keys/tenant-b',
      'POST /v1/transit/datakey/plaintext/tenant-b',
    ]);
    expect(await requestsDuring((s) => kms.rotateKek(s, 'c'))).toEqual([
      'POST /v1/transit/keys/tenant-c/rotate',
      'POST /v1/transit/keys/tenant-c',
    ]);
    for (const name of ['tenant-a', 'tenant-b', 'tenant-c']) {
      const read = await fetch(`${server.address}/v1/transit/keys/${name}`, {
        headers: { 'X-Vault-Token': server.token },
      });
      expect(((await read.json()) as { data: { type: string } }).data.type).toBe(
        'chacha20-poly1305',
      );
    }
  });

  it('deleteKek allows deletion, then deletes; a missing key costs one request and succeeds', async () => {
    const kms = service();
    await pool.session((s) => kms.generateDek(s, 'gone'));
    expect(await requestsDuring((s) => kms.deleteKek(s, 'gone'))).toEqual([
      'POST /v1/transit/keys/tenant-gone/config',
      'DELETE /v1/transit/keys/tenant-gone',
    ]);
    expect(await requestsDuring((s) => kms.deleteKek(s, 'gone'))).toEqual([
      'POST /v1/transit/keys/tenant-gone/config',
    ]);
  });
});

describe('VaultTransitService key names', () => {
  it('prefixes key names and honours a nested mount', async () => {
    await server.close();
    server = await startTransitDevServer({ mount: 'kms/transit' });
    const kms = service({ mount: 'kms/transit', keyPrefix: 'orders-' });
    expect(await requestsDuring((s) => kms.encryptDek(s, 42, Buffer.alloc(32, 1)))).toEqual([
      'POST /v1/kms/transit/encrypt/orders-42',
    ]);
  });

  it('uses a custom mapping and still validates its result before any request', async () => {
    const kms = service({
      keyName: (id) => (String(id) === 'evil' ? 'x/rotate' : `t_${String(id)}`),
    });
    expect(await requestsDuring((s) => kms.encryptDek(s, 'ok', Buffer.alloc(32, 1)))).toEqual([
      'POST /v1/transit/encrypt/t_ok',
    ]);
    const before = server.requests.length;
    await expect(pool.session((s) => kms.rotateKek(s, 'evil'))).rejects.toBeInstanceOf(
      KmsInvalidInputError,
    );
    expect(server.requests.length).toBe(before);
  });

  it('never addresses a path outside its own key, whatever the id', async () => {
    const kms = service({ keyPrefix: '' });
    const victim = await pool.session((s) => kms.generateDek(s, 'victim'));
    const before = server.requests.length;
    const ids = [
      'victim/rotate',
      'victim%2Frotate',
      'victim%2fconfig',
      '../sys/seal',
      'victim/../other',
      'victim?x',
      'victim#x',
      'victim\\rotate',
    ];
    await pool.session(async (s) => {
      for (const id of ids) {
        await expect(kms.rotateKek(s, id)).rejects.toBeInstanceOf(KmsInvalidInputError);
        await expect(kms.deleteKek(s, id)).rejects.toBeInstanceOf(KmsInvalidInputError);
        await expect(kms.generateDek(s, id)).rejects.toBeInstanceOf(KmsInvalidInputError);
        await expect(kms.encryptDek(s, id, victim.dek)).rejects.toBeInstanceOf(
          KmsInvalidInputError,
        );
      }
    });
    expect(server.requests.slice(before)).toEqual([]);
    const read = await fetch(`${server.address}/v1/transit/keys/victim`, {
      headers: { 'X-Vault-Token': server.token },
    });
    const key = (await read.json()) as {
      data: { latest_version: number; deletion_allowed: boolean };
    };
    expect(key.data).toMatchObject({ latest_version: 1, deletion_allowed: false });
    expect(await pool.session((s) => kms.decryptDek(s, 'victim', victim.encryptedDek))).toEqual(
      victim.dek,
    );
  });
});

describe('VaultTransitService errors from the dev server', () => {
  it('maps a wrong mount (404 "no handler for route") to a configuration error', async () => {
    const error = await pool
      .session((s) => service({ mount: 'nowhere' }).generateDek(s, 't'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsConfigurationError);
    expect((error as KmsConfigurationError).status).toBe(404);
    expect((error as KmsConfigurationError).message).toContain('mount "nowhere"');
  });

  it('maps a missing capability to access denied, keeping Vault’s text', async () => {
    const token = server.createToken({ capabilities: ['update'] });
    const kms = service({ vaultToken: token });
    const error = await pool
      .session((s) => kms.encryptDek(s, 'new-tenant', Buffer.alloc(32, 1)))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsAccessDeniedError);
    expect(error).toMatchObject({ status: 403, retryable: false, code: 'KMS_ACCESS_DENIED' });
    expect((error as KmsAccessDeniedError).vaultErrors?.[0]).toContain('permission denied');
    expect((error as Error).message).toContain('policy');
  });

  it('maps an unknown or revoked token to access denied with a token hint', async () => {
    const token = server.createToken();
    server.revokeToken(token);
    const error = await pool
      .session((s) => service({ vaultToken: token }).rotateKek(s, 't'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsAccessDeniedError);
    expect((error as Error).message).toContain('unknown, expired or revoked');
  });

  it('maps a sealed Vault to a retryable unavailable error', async () => {
    server.setSealed(true);
    const error = await pool.session((s) => service().rotateKek(s, 't')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsUnavailableError);
    expect(error).toMatchObject({
      reason: 'sealed',
      retryable: true,
      status: 503,
      vaultErrors: ['Vault is sealed'],
    });
  });

  it('keeps Vault’s message on decryption failures', async () => {
    const kms = service();
    const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'x'));
    await pool.session((s) => kms.generateDek(s, 'y'));
    const error = await pool
      .session((s) => kms.decryptDek(s, 'y', encryptedDek))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsDecryptionError);
    expect((error as Error).message).toContain('cipher: message authentication failed');
  });

  it('maps 400 "encryption key not found" to KekNotFoundError', async () => {
    const kms = service();
    const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'x'));
    const error = await pool
      .session((s) => kms.rewrapDek(s, 'never', encryptedDek))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KekNotFoundError);
    expect(error).toMatchObject({ status: 400, vaultErrors: ['encryption key not found'] });
  });
});

describe('VaultTransitService setup', () => {
  it('passes when Vault is unsealed and the token valid', async () => {
    await expect(pool.session((s) => service().setup(s))).resolves.toBeUndefined();
  });

  it('fails as unavailable when sealed and as access denied with a bad token', async () => {
    await expect(
      pool.session((s) => service({ vaultToken: 'hvs.nope' }).setup(s)),
    ).rejects.toBeInstanceOf(KmsAccessDeniedError);
    server.setSealed(true);
    await expect(pool.session((s) => service().setup(s))).rejects.toMatchObject({
      reason: 'sealed',
    });
  });
});
