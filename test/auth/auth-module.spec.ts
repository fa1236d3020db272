import { Test, type TestingModule } from '@nestjs/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  KEY_MANAGEMENT_SERVICE,
  KmsModule,
  SESSION_POOL,
  type IKeyManagementService,
  type ISessionPool,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { DEK, eventually, sleep, statuses } from './auth-fixtures.js';

const RENEW = '/v1/auth/token/renew-self';

let vault: TransitDevServer;
let moduleRef: TestingModule | undefined;
beforeEach(async () => {
  vault = await startTransitDevServer({ namespace: 'team-a' });
});
afterEach(async () => {
  await moduleRef?.close();
  moduleRef = undefined;
  await vault.close();
});

async function roundTrip(ref: TestingModule): Promise<void> {
  const kms = ref.get<IKeyManagementService>(KEY_MANAGEMENT_SERVICE);
  const pool = ref.get<ISessionPool>(SESSION_POOL);
  const dek = await pool.session(async (s) =>
    kms.decryptDek(s, 7, await kms.encryptDek(s, 7, DEK)),
  );
  expect(dek.equals(DEK)).toBe(true);
}

describe('KmsModule with an auth method and a namespace', () => {
  it('forRootAsync: logs in, renews, and stops renewing on application shutdown', async () => {
    const { roleId, secretId } = vault.addAppRole({
      roleName: 'r',
      tokenTtlSeconds: 1,
      tokenMaxTtlSeconds: 60,
    });
    moduleRef = await Test.createTestingModule({
      imports: [
        KmsModule.forRootAsync({
          useFactory: async () => ({
            vaultAddr: vault.address,
            namespace: 'team-a',
            auth: { method: 'approle' as const, roleId, secretId },
          }),
        }),
      ],
    }).compile();
    await moduleRef.init();
    await roundTrip(moduleRef);
    await eventually(() => statuses(vault, RENEW).includes(200)); // renewed at ~0.67 s
    await moduleRef.close();
    moduleRef = undefined;
    const renewals = statuses(vault, RENEW).length;
    await sleep(1_200);
    expect(statuses(vault, RENEW)).toHaveLength(renewals);
    expect(vault.logins).toHaveLength(1);
  });
});
