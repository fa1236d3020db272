import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  InMemoryKeyManagementService,
  KekNotFoundError,
  KmsDecryptionError,
  KmsError,
  KmsInvalidInputError,
  RestSessionPool,
  VaultTransitService,
  type IKeyManagementService,
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

const vaultService = () =>
  new VaultTransitService({ vaultAddr: vault.address, vaultToken: vault.token });

const PROVIDERS: Record<string, () => IKeyManagementService> = {
  'VaultTransitService ⟷ dev server': vaultService,
  InMemoryKeyManagementService: () => new InMemoryKeyManagementService(),
};

describe.each(Object.entries(PROVIDERS))('retireKekVersions — %s', (_name, make) => {
  it('stops old versions decrypting once DEKs are rewrapped; trim deletes them for good', async () => {
    const kms = make();
    const { dek, encryptedDek: v1 } = await rest.session((s) => kms.generateDek(s, 'acme'));
    await rest.session((s) => kms.rotateKek(s, 'acme'));
    const v2 = await rest.session((s) => kms.rewrapDek(s, 'acme', v1));

    await rest.session((s) => kms.retireKekVersions(s, 'acme', 2));
    await expect(rest.session((s) => kms.decryptDek(s, 'acme', v1))).rejects.toBeInstanceOf(
      KmsDecryptionError,
    );
    expect(await rest.session((s) => kms.decryptDek(s, 'acme', v2))).toEqual(dek);

    await rest.session((s) => kms.retireKekVersions(s, 'acme', 2, { trim: true }));
    await rest.session((s) => kms.retireKekVersions(s, 'acme', 2, { trim: true })); // idempotent
    expect(await rest.session((s) => kms.decryptDek(s, 'acme', v2))).toEqual(dek);
    await expect(rest.session((s) => kms.decryptDek(s, 'acme', v1))).rejects.toBeInstanceOf(
      KmsDecryptionError,
    );
  });

  it.each([0, -1, 1.5, Number.NaN, 2 ** 31, '2', null])(
    'refuses %s as a version before any I/O',
    async (minVersion) => {
      const kms = make();
      const before = vault.requests.length;
      await expect(
        rest.session((s) => kms.retireKekVersions(s, 'acme', minVersion as number)),
      ).rejects.toBeInstanceOf(KmsInvalidInputError);
      expect(vault.requests.length).toBe(before);
    },
  );

  it('a missing key is KekNotFoundError; a version above the latest is a typed, final error', async () => {
    const kms = make();
    await expect(rest.session((s) => kms.retireKekVersions(s, 'ghost', 1))).rejects.toBeInstanceOf(
      KekNotFoundError,
    );
    await rest.session((s) => kms.generateDek(s, 'acme'));
    const error = await rest
      .session((s) => kms.retireKekVersions(s, 'acme', 5))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(KmsError);
    expect((error as KmsError).retryable).toBe(false);
  });
});
