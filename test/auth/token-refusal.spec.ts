import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KmsAccessDeniedError } from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';
import { TRANSPORTS } from '../support/transports.js';
import { DEK, harness, type AuthHarness } from './auth-fixtures.js';

let vault: TransitDevServer;
let subject: AuthHarness | undefined;
beforeEach(async () => {
  vault = await startTransitDevServer();
});
afterEach(async () => {
  subject?.close();
  subject = undefined;
  await vault.close();
});

describe.each(TRANSPORTS)('a refused login token (transport: %s)', (transport) => {
  it('setup() logs in again after Vault refused the token (revoked)', async () => {
    const { roleId, secretId } = vault.addAppRole({ roleName: 'r' });
    subject = harness(vault, { transport, auth: { method: 'approle', roleId, secretId } });
    const { kms, pool } = subject;
    await pool.session((s) => kms.setup(s));
    expect(vault.logins).toHaveLength(1);
    const revoked = vault.logins[0]!.token;
    vault.revokeToken(revoked);
    let succeeded = false;
    for (let i = 0; i < 3 && !succeeded; i += 1) {
      const error = await pool.session((s) => kms.setup(s)).catch((e: unknown) => e);
      if (error === undefined) succeeded = true;
      else {
        expect(error).toBeInstanceOf(KmsAccessDeniedError);
        expectNoSecrets(error, [revoked, secretId]);
      }
    }
    expect(succeeded).toBe(true);
    expect(vault.logins).toHaveLength(2);
  });

  it('setup() keeps its token when lookup-self answers a bare permission denied (a missing capability on Vault ≤ 1.16)', async () => {
    const { roleId, secretId } = vault.addAppRole({ roleName: 'r' });
    subject = harness(vault, {
      transport,
      retry: false,
      auth: { method: 'approle', roleId, secretId },
    });
    const { kms, pool } = subject;
    await pool.session((s) => kms.setup(s));
    vault.injectFault({
      kind: 'status',
      status: 403,
      errors: ['permission denied'],
      times: 3,
      match: { method: 'GET', path: '/v1/auth/token/lookup-self' },
    });
    for (let i = 0; i < 3; i += 1) {
      await expect(pool.session((s) => kms.setup(s))).rejects.toBeInstanceOf(KmsAccessDeniedError);
      await new Promise((done) => setTimeout(done, 1_100)); // past the forced-login spacing
    }
    expect(vault.logins).toHaveLength(1);
    await pool.session((s) => kms.setup(s));
    expect(vault.logins).toHaveLength(1);
  });

  it('a token refused on every call forces a login at most once a second', async () => {
    const { roleId, secretId } = vault.addAppRole({ roleName: 'r' });
    subject = harness(vault, {
      transport,
      retry: false,
      auth: { method: 'approle', roleId, secretId },
    });
    await subject.roundTrip();
    expect(vault.logins).toHaveLength(1);
    vault.injectFault({
      kind: 'status',
      status: 403,
      errors: ['permission denied', 'invalid token'],
      times: 100,
      match: { method: 'POST', path: '/v1/transit/encrypt/tenant-1' },
    });
    const started = performance.now();
    for (let i = 0; i < 20; i += 1) {
      const error = await subject.roundTrip().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KmsAccessDeniedError);
    }
    const seconds = (performance.now() - started) / 1_000;
    // One forced login, plus one per further second the 20 calls took (a loaded machine).
    expect(vault.logins.length - 1).toBeGreaterThanOrEqual(1);
    expect(vault.logins.length - 1).toBeLessThanOrEqual(1 + Math.floor(seconds));
    expect(vault.logins.length - 1).toBeLessThan(20);
    vault.clearFaults();
    expect((await subject.roundTrip()).equals(DEK)).toBe(true);
  });
});
