import { RestSessionPool, VaultTransitService } from '../../lib/index.js';
import { startTransitDevServer } from '../../lib/testing/index.js';
import { describeKmsContract } from '../support/kms-contract.js';
import { TRANSPORTS } from '../support/transports.js';
import { vaultSetMinDecryptionVersion } from '../support/vault-admin.js';

for (const transport of TRANSPORTS) {
  describeKmsContract(
    `VaultTransitService ⟷ Transit dev server (HTTP, transport: ${transport})`,
    async () => {
      const server = await startTransitDevServer();
      const kms = new VaultTransitService({
        vaultAddr: server.address,
        vaultToken: server.token,
        transport,
      });
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
    },
  );
}
