import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KmsUnavailableError, type KmsModuleOptions } from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { eventually, harness, tempDir, type AuthHarness } from '../auth/auth-fixtures.js';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server.js';
import { expectNoSecrets } from '../support/secrets.js';
import { TRANSPORTS } from '../support/transports.js';

const SECRET_ID = 'secret-id-5d1e0c3b-standby-approle-0042';
const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdGFuZGJ5In0.c2lnbmF0dXJlLXN0YW5kYnk';
const RENEW = '/v1/auth/token/renew-self';

let active: TransitDevServer;
let standby: TransitDevServer;
let subject: AuthHarness | undefined;
const scripted: ScriptedServer[] = [];

beforeEach(async () => {
  active = await startTransitDevServer();
  standby = await startTransitDevServer({ standby: { activeAddress: active.address } });
});
afterEach(async () => {
  subject?.close();
  subject = undefined;
  await Promise.all([active.close(), standby.close(), ...scripted.map((s) => s.close())]);
  scripted.length = 0;
});

const answered = (server: TransitDevServer, path: string): string[] =>
  server.requests.filter((r) => r.path === path).map((r) => `${r.method} ${r.path} ${r.status}`);

describe.each(TRANSPORTS)('auth through a standby (transport: %s)', (transport) => {
  it('an approle login follows the standby to the active node', async () => {
    const { roleId, secretId } = active.addAppRole({ roleName: 'orders', secretId: SECRET_ID });
    subject = harness(active, {
      vaultAddr: standby.address,
      transport,
      auth: { method: 'approle', roleId, secretId },
    });
    expect((await subject.roundTrip()).length).toBe(32);
    expect(answered(standby, '/v1/auth/approle/login')).toEqual([
      'POST /v1/auth/approle/login 307',
    ]);
    expect(answered(active, '/v1/auth/approle/login')).toEqual(['POST /v1/auth/approle/login 200']);
    expect(active.logins).toHaveLength(1);
  });

  it('a kubernetes login follows the standby to the active node', async () => {
    const dir = tempDir();
    try {
      active.setKubernetesRole({ role: 'orders', jwts: [JWT] });
      const jwtFile = dir.file('token');
      writeFileSync(jwtFile, JWT);
      subject = harness(active, {
        vaultAddr: standby.address,
        transport,
        auth: { method: 'kubernetes', role: 'orders', jwtFile },
      });
      await subject.roundTrip();
      expect(answered(standby, '/v1/auth/kubernetes/login')).toEqual([
        'POST /v1/auth/kubernetes/login 307',
      ]);
      expect(active.logins).toEqual([expect.objectContaining({ method: 'kubernetes' })]);
    } finally {
      dir.remove();
    }
  });
});

describe('renewal through a standby', () => {
  it('renew-self follows the standby to the active node', async () => {
    const { roleId, secretId } = active.addAppRole({
      roleName: 'r',
      tokenTtlSeconds: 2,
      tokenMaxTtlSeconds: 60,
    });
    subject = harness(active, {
      vaultAddr: standby.address,
      auth: { method: 'approle', roleId, secretId },
    });
    await subject.roundTrip();
    // Due at ~1.33 s; polled with a generous deadline.
    await eventually(() => answered(active, RENEW).length >= 1);
    // The first renewal went through the standby; a later one may follow on a slow machine.
    expect(answered(standby, RENEW)[0]).toBe(`POST ${RENEW} 307`);
    expect(answered(active, RENEW)[0]).toBe(`POST ${RENEW} 200`);
    expect(active.logins).toHaveLength(1);
  }, 15_000);
});

/** Answers every request after `delayMs` with a 307 to itself (a slow redirect loop). */
async function slowLoop(delayMs: number): Promise<ScriptedServer> {
  let address = '';
  const server = await startScriptedServer((req, res) => {
    setTimeout(() => {
      res.writeHead(307, { Location: `${address}${req.url ?? '/'}` });
      res.end();
    }, delayMs);
  });
  address = server.address;
  scripted.push(server);
  return server;
}

// 3 hops at most: 4 answers of 250 ms each take 1 s, past the 600 ms limit. Were each hop
// given the whole limit, the call would end with "more than 3 redirects" after ~1 s instead.
const options = (vaultAddr: string): Partial<KmsModuleOptions> => ({
  vaultAddr,
  timeoutMs: 600,
  retry: false,
  circuitBreaker: false,
});

describe('redirect hops share the attempt time limit', () => {
  it('a login ends as a timeout within its timeoutMs', async () => {
    const loop = await slowLoop(250);
    subject = harness(active, {
      ...options(loop.address),
      auth: { method: 'approle', roleId: 'role-id', secretId: SECRET_ID },
    });
    const started = performance.now();
    const error = await subject.roundTrip().catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(KmsUnavailableError);
    expect((error as KmsUnavailableError).reason).toBe('timeout');
    expect(loop.requests.length).toBeLessThanOrEqual(3);
    expect(elapsed).toBeLessThan(2_500); // generous: ~600 ms nominal
    expectNoSecrets(error, [SECRET_ID]);
  });

  it.each(TRANSPORTS)('a Transit call ends as a timeout within its timeoutMs (%s)', async (t) => {
    const loop = await slowLoop(250);
    subject = harness(active, { ...options(loop.address), transport: t, vaultToken: 'hvs.x-1' });
    const error = await subject.roundTrip().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsUnavailableError);
    expect((error as KmsUnavailableError).reason).toBe('timeout');
    expect(loop.requests.length).toBeLessThanOrEqual(3);
  });
});
