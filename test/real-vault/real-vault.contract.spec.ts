import { afterAll } from 'vitest';
import { RestSessionPool, VaultTransitService } from '../../lib/index.js';
import { describeKmsContract } from '../support/kms-contract.js';
import { findRealVault } from '../support/real-vault.js';
import { vaultSetMinDecryptionVersion } from '../support/vault-admin.js';

const vault = await findRealVault();
if (!vault.available) {
  console.warn(`[real-vault] contract suite SKIPPED: ${vault.reason}`);
} else {
  afterAll(() => vault.stop());
}

describeKmsContract(
  'VaultTransitService ⟷ real Vault',
  async () => {
    if (!vault.available) throw new Error('unreachable: the suite is skipped without a Vault');
    const kms = new VaultTransitService({
      vaultAddr: vault.address,
      vaultToken: vault.token,
      mount: vault.mount,
    });
    const pool = new RestSessionPool();
    let requests = 0;
    pool.signals.requestStarted.connect(() => {
      requests += 1;
    });
    return {
      kms,
      pool,
      setMinDecryptionVersion: (tenantId, version) =>
        vaultSetMinDecryptionVersion(
          vault.address,
          vault.token,
          vault.mount,
          kms.keyNameFor(tenantId),
          version,
        ),
      ioCount: () => requests,
      close: async () => pool.close(),
    };
  },
  vault.available ? {} : { skipReason: vault.reason },
);
