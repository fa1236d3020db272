import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  KmsConfigurationError,
  KmsUnavailableError,
  RestSessionPool,
  VaultTransitService,
  type KmsModuleOptions,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server.js';
import { expectNoSecrets } from '../support/secrets.js';
import { TRANSPORTS, expectSentThrough, type Transport } from '../support/transports.js';

const TOKEN = 'hvs.ha-standby-test-token-0123456789';

let pool: RestSessionPool;
let active: TransitDevServer;
let standby: TransitDevServer;
const scripted: ScriptedServer[] = [];

beforeEach(async () => {
  pool = new RestSessionPool();
  active = await startTransitDevServer({ token: TOKEN });
  standby = await startTransitDevServer({
    token: TOKEN,
    standby: { activeAddress: active.address },
  });
});
afterEach(async () => {
  pool.close();
  await Promise.all([active.close(), standby.close(), ...scripted.map((s) => s.close())]);
  scripted.length = 0;
});

function kms(transport: Transport, vaultAddr: string, options: Partial<KmsModuleOptions> = {}) {
  return new VaultTransitService({ vaultAddr, vaultToken: TOKEN, transport, ...options });
}

async function script(
  respond: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<ScriptedServer> {
  const server = await startScriptedServer(respond);
  scripted.push(server);
  return server;
}

/** Statuses the server answered, by request path. */
const answered = (server: TransitDevServer) =>
  server.requests.map((r) => `${r.method} ${r.path} ${r.status}`);

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe.each(TRANSPORTS)('a standby node (transport: %s)', (transport) => {
  it('redirects every call to the active node, which serves it with the same method and body', async () => {
    const service = kms(transport, standby.address);
    await expectSentThrough(transport, pool, async () => {
      const dek = Buffer.alloc(32, 5);
      const wrapped = await pool.session((s) => service.encryptDek(s, 'acme', dek));
      const generated = await pool.session((s) => service.generateDek(s, 'acme'));
      const encryptedDek = await pool.session((s) => service.encryptDek(s, 'acme', generated.dek));
      expect(await pool.session((s) => service.rotateKek(s, 'acme'))).toBe(2);
      expect(await pool.session((s) => service.decryptDek(s, 'acme', encryptedDek))).toEqual(
        generated.dek,
      );
      expect(await pool.session((s) => service.decryptDek(s, 'acme', wrapped))).toEqual(dek);
    });
    const paths = [
      'POST /v1/transit/encrypt/tenant-acme',
      'POST /v1/transit/datakey/plaintext/tenant-acme',
      'POST /v1/transit/encrypt/tenant-acme',
      'POST /v1/transit/keys/tenant-acme/rotate',
      'POST /v1/transit/decrypt/tenant-acme',
      'POST /v1/transit/decrypt/tenant-acme',
    ];
    expect(answered(standby)).toEqual(paths.map((p) => `${p} 307`));
    expect(answered(active)).toEqual(paths.map((p) => `${p} 200`));
  });

  it('keeps the namespace header on the redirected request', async () => {
    const namespaced = await startTransitDevServer({ token: TOKEN, namespace: 'team-a' });
    try {
      standby.setStandby({ activeAddress: namespaced.address });
      const dek = Buffer.alloc(32, 3);
      const service = kms(transport, standby.address, { namespace: 'team-a' });
      const wrapped = await pool.session((s) => service.encryptDek(s, 'acme', dek));
      expect(await pool.session((s) => service.decryptDek(s, 'acme', wrapped))).toEqual(dek);
      expect(answered(namespaced)).toEqual([
        'POST /v1/transit/encrypt/tenant-acme 200',
        'POST /v1/transit/decrypt/tenant-acme 200',
      ]);
      // Without the header the active node has no such mount: the header made the difference.
      const error = await rejection(
        pool.session((s) => kms(transport, standby.address).encryptDek(s, 'acme', dek)),
      );
      expect(error).toBeInstanceOf(KmsConfigurationError);
    } finally {
      await namespaced.close();
    }
  });

  it('a redirect hop is not a retry: calls go through with retries off', async () => {
    const service = kms(transport, standby.address, { retry: false, circuitBreaker: false });
    const dek = Buffer.alloc(32, 6);
    const encryptedDek = await pool.session((s) => service.encryptDek(s, 7, dek));
    expect(await pool.session((s) => service.decryptDek(s, 7, encryptedDek))).toEqual(dek);
    expect(standby.requests.map((r) => r.status)).toEqual([307, 307]);
  });

  it('setup() takes 429 from sys/health as a standby, not a rate limit, and is not retried', async () => {
    await pool.session((s) => kms(transport, standby.address).setup(s));
    expect(answered(standby)).toEqual([
      'GET /v1/sys/health 429',
      'GET /v1/auth/token/lookup-self 307',
    ]);
    expect(answered(active)).toEqual(['GET /v1/auth/token/lookup-self 200']);
  });

  it('setup() accepts a performance standby (473)', async () => {
    standby.setStandby({ activeAddress: active.address, performance: true });
    await pool.session((s) => kms(transport, standby.address).setup(s));
    expect(standby.requests[0]?.status).toBe(473);
  });

  it('a node switched back to active serves calls itself', async () => {
    standby.setStandby(undefined);
    await pool.session((s) =>
      kms(transport, standby.address).encryptDek(s, 'acme', Buffer.alloc(1)),
    );
    expect(answered(standby)).toEqual(['POST /v1/transit/encrypt/tenant-acme 200']);
    expect(active.requests).toEqual([]);
  });

  it('a redirect loop ends after 3 hops with a typed error, sent once and never retried', async () => {
    // Two standbys, each naming the other as active.
    active.setStandby({ activeAddress: standby.address });
    const error = await rejection(
      pool.session((s) => kms(transport, standby.address).encryptDek(s, 'acme', Buffer.alloc(32))),
    );
    expect(error).toBeInstanceOf(KmsConfigurationError);
    expect(error.message).toContain('more than 3 redirects');
    expect(error.message).toContain(`${standby.address}/v1/transit/encrypt/tenant-acme`);
    expect(standby.requests.length + active.requests.length).toBe(4);
    expectNoSecrets(error, [TOKEN]);
  });

  it('follows a 308 too, and resolves a relative Location against the request URL', async () => {
    const proxy = await script((req, res) => {
      const moved = req.url?.replace('/v1/', '/moved/v1/') ?? '';
      if (req.url?.startsWith('/moved/')) {
        res.writeHead(307, { Location: `${active.address}${req.url.slice('/moved'.length)}` });
      } else res.writeHead(308, { Location: moved });
      res.end();
    });
    const service = kms(transport, proxy.address);
    const dek = Buffer.alloc(32, 8);
    const wrapped = await pool.session((s) => service.encryptDek(s, 'acme', dek));
    expect(wrapped.toString()).toMatch(/^vault:v1:/);
    expect(proxy.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /v1/transit/encrypt/tenant-acme',
      'POST /moved/v1/transit/encrypt/tenant-acme',
    ]);
    // Each hop carried the token and the body (the active node answered 200).
    expect(proxy.requests.map((r) => r.headers['x-vault-token'])).toEqual([TOKEN, TOKEN]);
    expect(proxy.requests[1]?.body).toBe(proxy.requests[0]?.body);
    expect(answered(active)).toEqual(['POST /v1/transit/encrypt/tenant-acme 200']);
    expect(
      await pool.session((s) => kms(transport, active.address).decryptDek(s, 'acme', wrapped)),
    ).toEqual(dek);
  });

  it('refuses a redirect to another scheme, naming it without userinfo or query string', async () => {
    const proxy = await script((_req, res) => {
      res.writeHead(307, {
        Location: 'ftp://admin:hunter2-pass@127.0.0.1/v1/x?secret_id=s3cr3t-id',
      });
      res.end();
    });
    const error = await rejection(
      pool.session((s) => kms(transport, proxy.address).generateDek(s, 'acme')),
    );
    expect(error).toBeInstanceOf(KmsConfigurationError);
    expect(error.message).toContain('ftp://127.0.0.1/v1/x');
    expect(error.message).toContain('only http and https are followed');
    expectNoSecrets(error, [TOKEN, 'hunter2-pass', 's3cr3t-id', 'secret_id']);
    expect(proxy.requests).toHaveLength(1); // a configuration error is not retried
  });

  it('leaves other redirects (301, 302, a 307 without Location) as answers', async () => {
    for (const [status, headers] of [
      [301, { Location: `${active.address}/v1/transit/datakey/plaintext/tenant-acme` }],
      [302, { Location: `${active.address}/v1/transit/datakey/plaintext/tenant-acme` }],
      [307, {}],
    ] as const) {
      const proxy = await script((_req, res) => {
        res.writeHead(status, headers);
        res.end();
      });
      const error = await rejection(
        pool.session((s) => kms(transport, proxy.address).generateDek(s, 'acme')),
      );
      expect(error, String(status)).toBeInstanceOf(KmsConfigurationError);
      expect(error.message).toContain(`redirect (HTTP ${status})`);
      expect(proxy.requests).toHaveLength(1);
    }
    expect(active.requests).toEqual([]);
  });
});

describe('setup() and sys/health states that cannot serve', () => {
  it('an uninitialised Vault (501) is unavailable, not a configuration error', async () => {
    active.setInitialized(false);
    const error = await rejection(pool.session((s) => kms('direct', active.address).setup(s)));
    expect(error).toBeInstanceOf(KmsUnavailableError);
    expect((error as KmsUnavailableError).reason).toBe('sealed');
    expect(error.message).toContain('not initialised');
    expect(answered(active)).toEqual(['GET /v1/sys/health 501']);
  });

  it.each([
    [472, 'DR secondary'],
    [474, 'cannot reach its active node'],
    [530, 'removed from its cluster'],
  ])('sys/health %i is a node that cannot serve, asked once', async (status, text) => {
    const node = await script((_req, res) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ initialized: true, sealed: false, standby: true }));
    });
    const error = await rejection(pool.session((s) => kms('direct', node.address).setup(s)));
    expect(error).toBeInstanceOf(KmsUnavailableError);
    expect((error as KmsUnavailableError).reason).toBe('server-error');
    expect(error.message).toContain(text);
    expect(node.requests).toHaveLength(1);
  });
});
