import { InMemoryKeyManagementService, RestSessionPool } from '../../lib/index.js';
import { describeKmsContract } from '../support/kms-contract.js';

describeKmsContract('InMemoryKeyManagementService', async () => {
  const kms = new InMemoryKeyManagementService();
  const pool = new RestSessionPool();
  return {
    kms,
    pool,
    setMinDecryptionVersion: async (tenantId, version) =>
      kms.configureKek(tenantId, { minDecryptionVersion: version }),
    ioCount: () => kms.calls.length,
    close: async () => pool.close(),
  };
});
