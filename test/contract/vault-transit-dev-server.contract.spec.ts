import { RestSessionPool, VaultTransitService } from '../../lib/index.js';
import { startTransitDevServer } from '../../lib/testing/index.js';
import { describeKmsContract } from '../support/kms-contract.js';
import { vaultSetMinDecryptionVersion } from '../support/vault-admin.js';

describeKmsContract('VaultTransitService ⟷ Transit dev server (HTTP)', async () => {
  const server = await startTransitDevServer();
  const kms = new VaultTransitService({ vaultAddr: server.address, vaultToken: server.token });
  const pool = new RestSessionPool();
  return {
    kms,
    pool,
    setMinDecryptionVersion: (tenantId, version) =>
      vaultSetMinDecryptionVersion(
        server.address,
        server.token,
        'transit',
        kms.keyNameFor(tenantId),
        version,
      ),
    ioCount: () => server.requests.length,
    close: async () => {
      pool.close();
      await server.close();
    },
  };
});
