import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  KmsAccessDeniedError,
  KmsConfigurationError,
  VaultTransitService,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { TRANSPORTS } from '../support/transports.js';
import { harness, sleep, statuses, type AuthHarness } from './auth-fixtures.js';

let vault: TransitDevServer;
let subject: AuthHarness | undefined;
beforeEach(async () => {
  vault = await startTransitDevServer({ namespace: 'org/team-a' });
});
afterEach(async () => {
  subject?.close();
  subject = undefined;
  await vault.close();
});

describe.each(TRANSPORTS)('namespace (transport: %s)', (transport) => {
  it('reaches a mount that exists only in the namespace', async () => {
    subject = harness(vault, { transport, vaultToken: vault.token, namespace: '/org/team-a/' });
    await subject.roundTrip();
    // setup's sys/health and lookup-self carry the header too.
    await subject.pool.session((s) => subject!.kms.setup(s));
  });

  it('without it, the call fails as Vault answers for the root namespace', async () => {
    subject = harness(vault, { transport, vaultToken: vault.token });
    const error = await subject.roundTrip().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsConfigurationError);
    expect((error as KmsConfigurationError).status).toBe(404);
  });
});

describe('namespace with a login method', () => {
  it('sends it with the login and every renewal', async () => {
    const { roleId, secretId } = vault.addAppRole({
      roleName: 'r',
      tokenTtlSeconds: 2,
      tokenMaxTtlSeconds: 60,
    });
    subject = harness(vault, {
      namespace: 'org/team-a',
      auth: { method: 'approle', roleId, secretId },
    });
    await subject.roundTrip();
    await sleep(3_400);
    // A renewal without the header would meet 403 invalid token (the token lives in the namespace).
    const renewals = statuses(vault, '/v1/auth/token/renew-self');
    expect(renewals.length).toBeGreaterThanOrEqual(2);
    expect(renewals.every((status) => status === 200)).toBe(true);
    // Past the 2 s TTL, the renewed token of the only login still serves.
    await subject.roundTrip();
    expect(vault.logins).toHaveLength(1);
  });

  it('without it, the login is refused', async () => {
    const { roleId, secretId } = vault.addAppRole({ roleName: 'r' });
    subject = harness(vault, { auth: { method: 'approle', roleId, secretId } });
    const error = await subject.roundTrip().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsAccessDeniedError);
    expect(vault.logins).toHaveLength(0);
  });
});

describe('namespace validation', () => {
  it.each([
    ['', 'empty'],
    ['///', 'only slashes'],
    ['team a', 'a space'],
    ['team\na', 'a line break'],
    ['team-\u0000', 'a NUL'],
    ['équipe', 'non-ASCII'],
    ['org//team', 'an empty segment'],
    ['org/../team', 'a .. segment'],
    [42, 'a number'],
  ] as [unknown, string][])('refuses %j (%s) before any request', (namespace) => {
    expect(
      () =>
        new VaultTransitService({
          vaultAddr: vault.address,
          vaultToken: vault.token,
          namespace: namespace as string,
        }),
    ).toThrow(KmsConfigurationError);
    expect(vault.requests).toEqual([]);
  });

  it('names the option in its message', () => {
    expect(
      () =>
        new VaultTransitService({ vaultAddr: vault.address, vaultToken: 't0ken', namespace: '' }),
    ).toThrow(/Invalid KmsModule option "namespace"/);
  });
});
