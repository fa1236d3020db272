import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  KekNotFoundError,
  KmsConfigurationError,
  KmsDecryptionError,
  KmsInvalidInputError,
  RestSessionPool,
  VaultTransitService,
  type KmsModuleOptions,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';

let vault: TransitDevServer;
let rest: RestSessionPool;

beforeEach(async () => {
  vault = await startTransitDevServer();
  rest = new RestSessionPool();
});
afterEach(async () => {
  rest.close();
  await vault.close();
});

const service = (options: Partial<KmsModuleOptions> = {}) =>
  new VaultTransitService({
    vaultAddr: vault.address,
    vaultToken: vault.token,
    cache: { maxEntries: 100, maxAgeMs: 60_000 },
    ...options,
  });
const decrypts = () => vault.requests.filter((r) => r.path.includes('/decrypt/')).length;

describe('VaultTransitService with the DEK cache', () => {
  it('100 concurrent cold decrypts of one DEK send one request; hot ones send none', async () => {
    const kms = service();
    const { dek, encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek)),
      ),
    );
    expect(decrypts()).toBe(1);
    for (const result of results) expect(result).toEqual(dek);
    expect(new Set(results).size).toBe(100); // each caller owns its buffer
    results[0]!.fill(0); // zeroing a copy does not reach the cache
    expect(await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek))).toEqual(dek);
    expect(decrypts()).toBe(1);
  });

  it('is keyed by tenant: another tenant never gets a cached DEK', async () => {
    const kms = service();
    const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
    await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
    await expect(
      rest.session((s) => kms.decryptDek(s, 'globex', encryptedDek)),
    ).rejects.toBeInstanceOf(KekNotFoundError);
  });

  it('deleteKek purges the tenant at once', async () => {
    const kms = service();
    const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
    await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
    await rest.session((s) => kms.deleteKek(s, 'acme'));
    await expect(
      rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek)),
    ).rejects.toBeInstanceOf(KekNotFoundError);
  });

  it('retireKekVersions purges the retired versions', async () => {
    const kms = service();
    const { dek, encryptedDek: v1 } = await rest.session((s) => kms.generateDek(s, 'acme'));
    await rest.session((s) => kms.decryptDek(s, 'acme', v1)); // cached
    await rest.session((s) => kms.rotateKek(s, 'acme'));
    const v2 = await rest.session((s) => kms.rewrapDek(s, 'acme', v1));
    await rest.session((s) => kms.retireKekVersions(s, 'acme', 2));
    await expect(rest.session((s) => kms.decryptDek(s, 'acme', v1))).rejects.toBeInstanceOf(
      KmsDecryptionError,
    );
    expect(await rest.session((s) => kms.decryptDek(s, 'acme', v2))).toEqual(dek);
  });

  it('validates input before the cache, and bad cache options fail at construction', async () => {
    const kms = service();
    await expect(
      rest.session((s) => kms.decryptDek(s, '../victim', Buffer.from('vault:v1:AAAA'))),
    ).rejects.toBeInstanceOf(KmsInvalidInputError);
    expect(() => service({ cache: { maxEntries: 0 } })).toThrow(KmsConfigurationError);
    expect(() => service({ cache: { maxEntries: 0 } })).toThrow(/cache\.maxEntries/);
  });

  it('without the option every decrypt is a request', async () => {
    const kms = service({ cache: undefined });
    const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
    await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
    await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
    expect(decrypts()).toBe(2);
  });
});
