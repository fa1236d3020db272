import { inspect } from 'node:util';
import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  KmsAccessDeniedError,
  KmsConfigurationError,
  KmsUnavailableError,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';
import { TRANSPORTS } from '../support/transports.js';
import { DEK, harness, sleep, statuses, tempDir, type AuthHarness } from './auth-fixtures.js';

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

const SECRET_ID = 'secret-id-0f4c2a1e-77b1-4d6e-9d3c-approle';
const RENEW = '/v1/auth/token/renew-self';
const LOGIN = '/v1/auth/approle/login';

describe.each(TRANSPORTS)('approle auth (transport: %s)', (transport) => {
  it('logs in on first use, once for 50 concurrent callers', async () => {
    const { roleId, secretId } = vault.addAppRole({ roleName: 'orders', secretId: SECRET_ID });
    subject = harness(vault, { transport, auth: { method: 'approle', roleId, secretId } });
    expect(vault.logins).toHaveLength(0); // nothing sent before the first call
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => subject!.roundTrip(i % 5)),
    );
    for (const dek of results) expect(dek.equals(DEK)).toBe(true);
    expect(vault.logins).toHaveLength(1);
    expect(vault.logins[0]).toMatchObject({ method: 'approle', role: 'orders' });
  });

  it('logs in again once for 50 concurrent callers after Vault refused the token', async () => {
    const { roleId, secretId } = vault.addAppRole({ roleName: 'orders' });
    subject = harness(vault, { transport, auth: { method: 'approle', roleId, secretId } });
    await subject.roundTrip();
    vault.revokeToken(vault.logins[0]!.token);
    const results = await Promise.all(Array.from({ length: 50 }, () => subject!.roundTrip()));
    expect(results).toHaveLength(50);
    expect(vault.logins).toHaveLength(2);
  });
});

describe('approle auth: renewal', () => {
  it('renews a renewable token at about two thirds of its TTL, without new logins', async () => {
    const { roleId, secretId } = vault.addAppRole({
      roleName: 'r',
      tokenTtlSeconds: 2,
      tokenMaxTtlSeconds: 60,
    });
    subject = harness(vault, { auth: { method: 'approle', roleId, secretId } });
    await subject.roundTrip();
    await sleep(3_400);
    // Renewed at ~1.33 s and ~2.67 s: the token of the only login still works after its TTL.
    expect(statuses(vault, RENEW).filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
    await subject.roundTrip();
    expect(vault.logins).toHaveLength(1);
    expect(vault.requests.some((r) => r.status === 403)).toBe(false);
  });

  it('keeps 50 concurrent callers working for 10 s on 2 s tokens, one login per expiry', async () => {
    // TTL 2 s, renewable up to a max TTL of 4 s: each token must be replaced by a login.
    const { roleId, secretId } = vault.addAppRole({
      roleName: 'r',
      tokenTtlSeconds: 2,
      tokenMaxTtlSeconds: 4,
    });
    subject = harness(vault, { auth: { method: 'approle', roleId, secretId } });
    const ends = performance.now() + 10_000;
    let calls = 0;
    const caller = async (tenant: number): Promise<void> => {
      while (performance.now() < ends) {
        const dek = await subject!.roundTrip(tenant);
        expect(dek.equals(DEK)).toBe(true);
        calls += 1;
        await sleep(20);
      }
    };
    await Promise.all(Array.from({ length: 50 }, (_, i) => caller(i % 10)));
    expect(calls).toBeGreaterThan(500);
    // No call ever met an expired token: every login came before the previous token's end.
    expect(vault.requests.filter((r) => r.status === 403)).toEqual([]);
    // Each token (4 s max TTL, replaced at ~2/3 of its last lease) gets one successor: ~3 logins
    // in 10 s, and each new login comes only after the previous token's renewals — the last of
    // them capped by the max TTL — never twice for the same expiry.
    expect(vault.logins.length).toBeGreaterThanOrEqual(3);
    expect(vault.logins.length).toBeLessThanOrEqual(5);
    const steps = vault.requests
      .filter((r) => r.status === 200 && (r.path === RENEW || r.path === LOGIN))
      .map((r) => (r.path === LOGIN ? 'login' : 'renew'));
    expect(steps.filter((s) => s === 'login')).toHaveLength(vault.logins.length);
    expect(steps.join(' ')).not.toMatch(/login login/);
    expect(statuses(vault, RENEW).filter((s) => s === 200).length).toBeGreaterThanOrEqual(3);
  }, 30_000);

  it('logs in again in the background when a renewal fails', async () => {
    const { roleId, secretId } = vault.addAppRole({
      roleName: 'r',
      tokenTtlSeconds: 3,
      tokenMaxTtlSeconds: 60,
    });
    subject = harness(vault, { auth: { method: 'approle', roleId, secretId } });
    await subject.roundTrip();
    vault.revokeToken(vault.logins[0]!.token);
    await sleep(3_000); // the renewal at ~2 s is refused
    expect(statuses(vault, RENEW)).toEqual([403]);
    expect(vault.logins).toHaveLength(2);
    const before = vault.requests.length;
    await subject.roundTrip();
    // The new token serves at once: no refusal, no login on the call's path.
    expect(vault.requests.slice(before).map((r) => r.status)).toEqual([200, 200]);
  });

  it('stops renewing once closed', async () => {
    const { roleId, secretId } = vault.addAppRole({ roleName: 'r', tokenTtlSeconds: 1 });
    subject = harness(vault, { auth: { method: 'approle', roleId, secretId } });
    await subject.roundTrip();
    subject.kms.close();
    await sleep(1_500);
    expect(statuses(vault, RENEW)).toEqual([]);
    // Calls still work: a token is logged in on demand.
    await subject.roundTrip();
    expect(vault.logins).toHaveLength(2);
  });
});

describe('approle auth: failures', () => {
  it('a refused secret id is access denied, and no credential leaks', async () => {
    const { roleId } = vault.addAppRole({ roleName: 'r', secretId: SECRET_ID });
    const wrong = 'wrong-secret-3c9e41d0-5b6a-4f0e';
    subject = harness(vault, { auth: { method: 'approle', roleId, secretId: wrong } });
    const error = await subject.roundTrip().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsAccessDeniedError);
    expect((error as Error).message).toContain('approle login');
    expect((error as Error).message).toContain('invalid role or secret ID');
    expectNoSecrets(error, [wrong, SECRET_ID]);
    expectNoSecrets(inspect(subject.kms, { depth: Infinity, showHidden: true }), [wrong]);
    expectNoSecrets(JSON.stringify(subject.kms), [wrong]);
    expect(vault.logins).toHaveLength(0);
  });

  it('an auth mount that is not enabled is refused like Vault refuses it', async () => {
    const { roleId, secretId } = vault.addAppRole({ roleName: 'r' });
    subject = harness(vault, {
      auth: { method: 'approle', roleId, secretId, mount: 'elsewhere' },
    });
    const error = await subject.roundTrip().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsAccessDeniedError);
    expect((error as KmsAccessDeniedError).status).toBe(403);
    expect(vault.requests[0]?.path).toBe('/v1/auth/elsewhere/login');
  });

  it('a Vault that is down is KmsUnavailableError', async () => {
    const { roleId, secretId } = vault.addAppRole({ roleName: 'r' });
    const address = vault.address;
    await vault.close();
    subject = harness(vault, {
      vaultAddr: address,
      retry: false,
      auth: { method: 'approle', roleId, secretId },
    });
    const error = await subject.roundTrip().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsUnavailableError);
    expect((error as KmsUnavailableError).reason).toBe('network');
    expect((error as Error).message).toContain('approle login');
    expectNoSecrets(error, [secretId]);
    vault = await startTransitDevServer(); // for afterEach
  });

  it('a sealed Vault is KmsUnavailableError (sealed), retried like any call', async () => {
    const { roleId, secretId } = vault.addAppRole({ roleName: 'r' });
    subject = harness(vault, {
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
      auth: { method: 'approle', roleId, secretId },
    });
    vault.setSealed(true);
    const error = await subject.roundTrip().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsUnavailableError);
    expect((error as KmsUnavailableError).reason).toBe('sealed');
    expect(statuses(vault, '/v1/auth/approle/login')).toEqual([503, 503]);
    vault.setSealed(false);
    await subject.roundTrip();
    expect(vault.logins).toHaveLength(1);
  });

  it('reads secretIdFile at every login', async () => {
    const dir = tempDir();
    try {
      const { roleId, secretId } = vault.addAppRole({ roleName: 'r', secretId: SECRET_ID });
      const file = dir.file('secret-id');
      writeFileSync(file, 'not-the-secret\n');
      subject = harness(vault, { auth: { method: 'approle', roleId, secretIdFile: file } });
      const error = await subject.roundTrip().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KmsAccessDeniedError);
      expectNoSecrets(error, ['not-the-secret']);
      writeFileSync(file, `${secretId}\n`);
      await subject.roundTrip();
      expect(vault.logins).toHaveLength(1);
    } finally {
      dir.remove();
    }
  });

  it('a secretIdFile that cannot be read is a configuration error naming the file', async () => {
    const { roleId } = vault.addAppRole({ roleName: 'r' });
    subject = harness(vault, {
      auth: { method: 'approle', roleId, secretIdFile: '/nonexistent/kms-secret-id' },
    });
    const error = await subject.roundTrip().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsConfigurationError);
    expect((error as Error).message).toContain('"/nonexistent/kms-secret-id" (ENOENT)');
    expect(vault.requests).toEqual([]);
  });
});
