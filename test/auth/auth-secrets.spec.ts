import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Signal } from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';
import { eventually, harness, statuses, type AuthHarness } from './auth-fixtures.js';

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

/** Timers that keep the event loop alive (an unref'd timer is not listed). */
const timers = (): number =>
  process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

/** Records every event of every signal of the given groups, as JSON. */
function record(...groups: object[]): string[] {
  const events: string[] = [];
  for (const group of groups) {
    for (const signal of Object.values(group) as Signal<unknown>[]) {
      if (typeof signal?.connect === 'function') {
        signal.connect((event) => events.push(JSON.stringify(event) + inspect(event)));
      }
    }
  }
  return events;
}

describe('auth secrets', () => {
  it('no secret id or token in the signals of logins, renewals, re-logins and refusals', async () => {
    const { roleId, secretId } = vault.addAppRole({
      roleName: 'r',
      secretId: 'secret-id-for-signals-1f2e3d4c',
      tokenTtlSeconds: 1,
      tokenMaxTtlSeconds: 2,
    });
    subject = harness(vault, { auth: { method: 'approle', roleId, secretId } });
    const events = record(subject.kms.signals, subject.pool.signals);
    await subject.roundTrip();
    vault.revokeToken(vault.logins[0]!.token); // a 403 invalid token, then a re-login
    await subject.roundTrip();
    // A renewal (due ~0.67 s after the re-login) really happened.
    await eventually(() => statuses(vault, '/v1/auth/token/renew-self').includes(200));
    const wrong = harness(vault, {
      auth: { method: 'approle', roleId, secretId: 'wrong-secret-id-9a8b7c6d' },
    });
    const refusal = await wrong.roundTrip().catch((e: unknown) => e);
    wrong.close();
    expect(events.length).toBeGreaterThan(0);
    expect(events.some((e) => e.includes('/v1/auth/approle/login'))).toBe(true);
    const secrets = [secretId, 'wrong-secret-id-9a8b7c6d', ...vault.logins.map((l) => l.token)];
    for (const event of events) expectNoSecrets(event, secrets);
    expectNoSecrets(refusal, secrets);
    expectNoSecrets(inspect(subject.kms, { depth: Infinity, showHidden: true }), secrets);
  });

  it('renewal timers never keep the process alive (unref)', async () => {
    const { roleId, secretId } = vault.addAppRole({ roleName: 'r', tokenTtlSeconds: 600 });
    subject = harness(vault, { auth: { method: 'approle', roleId, secretId } });
    const before = timers();
    await subject.roundTrip(); // logs in: a renewal is planned in ~400 s
    expect(vault.logins).toHaveLength(1);
    expect(timers()).toBe(before);
  });
});
