import { afterEach, describe, expect, it } from 'vitest';
import { RestSessionPool } from '../../lib/index.js';
import { resolveKmsOptions } from '../../lib/kms-options.js';
import { CallContext } from '../../lib/providers/vault-transit/call-context.js';
import {
  VaultTransitClient,
  type VaultRequest,
} from '../../lib/providers/vault-transit/vault-transit.client.js';
import { extractRestSession } from '../../lib/session/extract-request.js';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server.js';
import { TRANSPORTS } from '../support/transports.js';

const TOKEN = 'hvs.unauthenticated-test-token-0123456789';
const SECRET_ID = 'secret-id-9a7c-unauthenticated-health';
const HEALTH = JSON.stringify({ initialized: true, sealed: false, standby: false });

const servers: ScriptedServer[] = [];
let pool: RestSessionPool | undefined;
afterEach(async () => {
  pool?.close();
  pool = undefined;
  await Promise.all(servers.map((s) => s.close()));
  servers.length = 0;
});

/** Answers 200 with a health body; the `from` server redirects there with a 307. */
async function nodes(): Promise<{ active: ScriptedServer; standby: ScriptedServer }> {
  const active = await startScriptedServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(HEALTH);
  });
  const standby = await startScriptedServer((req, res) => {
    res.writeHead(307, { Location: `${active.address}${req.url ?? '/'}` });
    res.end();
  });
  servers.push(active, standby);
  return { active, standby };
}

const health: VaultRequest = {
  operation: 'healthCheck',
  keyName: '',
  method: 'GET',
  path: 'sys/health',
  outsideMount: true,
  unauthenticated: true,
};

describe.each(TRANSPORTS)('an unauthenticated request (transport: %s)', (transport) => {
  it('sends no token, through a redirect too, with a fixed token', async () => {
    const { active, standby } = await nodes();
    const client = new VaultTransitClient(
      resolveKmsOptions({ vaultAddr: standby.address, vaultToken: TOKEN, transport }),
    );
    pool = new RestSessionPool();
    await pool.session(async (session) => {
      const rest = extractRestSession(session);
      const exchanged = await client.exchange(rest, health, new CallContext('h', 5_000, undefined));
      expect(exchanged.status).toBe(200);
      const sent = await client.send(rest, health, new CallContext('h', 5_000, undefined));
      expect(sent.status).toBe(200);
    });
    const all = [...standby.requests, ...active.requests];
    expect(all.map((r) => r.url)).toEqual(Array.from({ length: 4 }, () => '/v1/sys/health'));
    for (const request of all) expect(request.headers['x-vault-token']).toBeUndefined();
  });

  it('triggers no login with a login method', async () => {
    const { active, standby } = await nodes();
    const client = new VaultTransitClient(
      resolveKmsOptions({
        vaultAddr: standby.address,
        transport,
        auth: { method: 'approle', roleId: 'role', secretId: SECRET_ID },
      }),
    );
    pool = new RestSessionPool();
    await pool.session(async (session) => {
      const rest = extractRestSession(session);
      await client.exchange(rest, health, new CallContext('h', 5_000, undefined));
      await client.send(rest, health, new CallContext('h', 5_000, undefined));
    });
    const all = [...standby.requests, ...active.requests];
    expect(all.map((r) => r.url)).toEqual(Array.from({ length: 4 }, () => '/v1/sys/health'));
    for (const request of all) {
      expect(request.headers['x-vault-token']).toBeUndefined();
      expect(request.body).not.toContain(SECRET_ID);
    }
  });

  it('without the flag the token is sent (the check above can fail)', async () => {
    const { active, standby } = await nodes();
    const client = new VaultTransitClient(
      resolveKmsOptions({ vaultAddr: standby.address, vaultToken: TOKEN, transport }),
    );
    pool = new RestSessionPool();
    const { unauthenticated: _, ...authenticated } = health;
    await pool.session((session) =>
      client.exchange(
        extractRestSession(session),
        authenticated,
        new CallContext('h', 5_000, undefined),
      ),
    );
    expect(standby.requests[0]?.headers['x-vault-token']).toBe(TOKEN);
    expect(active.requests[0]?.headers['x-vault-token']).toBe(TOKEN);
  });
});
