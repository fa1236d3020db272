import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  InMemoryKeyManagementService,
  KmsAbortedError,
  KmsAccessDeniedError,
  KmsConfigurationError,
  KmsDecryptionError,
  KmsOutcomeUnknownError,
  KmsUnavailableError,
  RestSessionPool,
  VaultTransitService,
  type KmsModuleOptions,
} from '../../lib/index.js';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server.js';
import { expectNoSecrets } from '../support/secrets.js';
import { TRANSPORTS, expectSentThrough, type Transport } from '../support/transports.js';

const TOKEN = 's.retries-test-token-0123456789';
const CIPHERTEXT = 'vault:v1:' + Buffer.alloc(44, 7).toString('base64');
const DEK = Buffer.alloc(32, 9);

let rest: RestSessionPool;
let server: ScriptedServer | undefined;

beforeEach(() => {
  rest = new RestSessionPool();
});
afterEach(async () => {
  rest.close();
  await server?.close();
  server = undefined;
});

type Reply = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** Serves the scripted replies in order (the last one repeats). */
async function serve(...replies: Reply[]): Promise<ScriptedServer> {
  let next = 0;
  server = await startScriptedServer((req, res, body) => {
    const reply = replies[Math.min(next, replies.length - 1)] as Reply;
    next += 1;
    reply(req, res, body);
  });
  return server;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return (_req, res) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
}
const vaultError = (status: number, message: string, headers?: Record<string, string>) =>
  json(status, { errors: [message] }, headers);
const encrypted = json(200, { data: { ciphertext: CIPHERTEXT, key_version: 1 } });
const hang: Reply = () => undefined;
const reset: Reply = (req) => req.socket.destroy();

function service(transport: Transport, vaultAddr: string, options: Partial<KmsModuleOptions> = {}) {
  return new VaultTransitService({
    vaultAddr,
    vaultToken: TOKEN,
    retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
    transport,
    ...options,
  });
}

const encrypt = (kms: VaultTransitService, signal?: AbortSignal) =>
  rest.session((s) => kms.encryptDek(s, 'acme', DEK, signal ? { signal } : undefined));
const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => new Error('expected a failure'),
    (error: unknown) => error,
  );

/** A key object as Vault answers GET keys/:name, its latest version created `ageSeconds` ago. */
function keyObject(latest: number, ageSeconds: number): Reply {
  const keys: Record<string, number> = {};
  for (let v = 1; v <= latest; v += 1) keys[String(v)] = Math.floor(Date.now() / 1000) - 3600;
  keys[String(latest)] = Math.floor(Date.now() / 1000) - ageSeconds;
  return json(200, {
    data: { name: 'tenant-acme', latest_version: latest, keys, type: 'aes256-gcm96' },
  });
}

const rotate = (kms: VaultTransitService) => rest.session((s) => kms.rotateKek(s, 'acme'));
const rotations = (vault: ScriptedServer) =>
  vault.requests.filter((r) => r.method === 'POST' && r.url.endsWith('/rotate')).length;
const tokens = (vault: ScriptedServer) => vault.requests.map((r) => r.headers['x-vault-token']);
/** A key read answered without a Date header: Vault's clock is unknown. */
const noDate: Reply = (req, res) => {
  res.sendDate = false;
  keyObject(4, 0)(req, res, '');
};

describe.each(TRANSPORTS)('retries, time limits and the breaker (transport: %s)', (transport) => {
  it('sends over the transport under test', async () => {
    const vault = await serve(vaultError(500, 'internal error'), encrypted);
    await expectSentThrough(transport, rest, () => encrypt(service(transport, vault.address)));
    expect(vault.requests).toHaveLength(2);
  });

  describe('retries of calls that are safe to repeat', () => {
    it.each([
      ['a 500', vaultError(500, 'internal error')],
      ['a 502', vaultError(502, 'bad gateway')],
      ['a sealed Vault (503)', vaultError(503, 'Vault is sealed')],
      ['a 429', vaultError(429, 'request rate limit exceeded')],
      ['a connection reset', reset],
    ])('repeats after %s and succeeds', async (_label, fault) => {
      const vault = await serve(fault, encrypted);
      const wrapped = await encrypt(service(transport, vault.address));
      expect(wrapped.toString()).toBe(CIPHERTEXT);
      expect(vault.requests).toHaveLength(2);
    });

    it('gives up after maxAttempts with the last typed error, and never leaks the token', async () => {
      const vault = await serve(vaultError(500, `internal error for ${TOKEN}`));
      const error = await failureOf(encrypt(service(transport, vault.address)));
      expect(error).toBeInstanceOf(KmsUnavailableError);
      expect(error).toMatchObject({ reason: 'server-error', status: 500 });
      expect(vault.requests).toHaveLength(3);
      expectNoSecrets(error, [TOKEN, DEK]);
    });

    it.each([
      ['a 400', vaultError(400, 'invalid request'), KmsUnavailableError],
      ['a 403', vaultError(403, 'permission denied'), KmsAccessDeniedError],
      [
        'a decryption failure',
        vaultError(400, 'cipher: message authentication failed'),
        KmsDecryptionError,
      ],
    ])('does not repeat after %s', async (_label, fault, type) => {
      const vault = await serve(fault);
      const kms = service(transport, vault.address);
      const call =
        type === KmsDecryptionError
          ? rest.session((s) => kms.decryptDek(s, 'acme', Buffer.from(CIPHERTEXT)))
          : encrypt(kms);
      const error = await failureOf(call);
      if (type !== KmsUnavailableError) expect(error).toBeInstanceOf(type);
      expect(vault.requests).toHaveLength(1);
    });

    it('honours Retry-After: a wait longer than the time left ends the call at once', async () => {
      const vault = await serve(
        vaultError(429, 'request rate limit exceeded', { 'Retry-After': '60' }),
      );
      const started = performance.now();
      const error = await failureOf(
        encrypt(service(transport, vault.address, { deadlineMs: 5_000 })),
      );
      expect(error).toMatchObject({ reason: 'rate-limited' });
      expect(vault.requests).toHaveLength(1); // it did not retry after its own short backoff
      expect(performance.now() - started).toBeLessThan(4_000); // nor wait for the deadline
    });

    it('retry: false sends each request once', async () => {
      const vault = await serve(vaultError(500, 'internal error'), encrypted);
      await expect(
        encrypt(service(transport, vault.address, { retry: false })),
      ).rejects.toBeInstanceOf(KmsUnavailableError);
      expect(vault.requests).toHaveLength(1);
    });
  });

  describe('rotation is never repeated blindly', () => {
    it('a lost answer (500) is followed by a key read: a version newer than the last seen is the result', async () => {
      const vault = await serve(encrypted, vaultError(500, 'internal error'), keyObject(2, 0));
      const kms = service(transport, vault.address);
      await encrypt(kms); // the service has seen version 1 (vault:v1:…)
      expect(await rotate(kms)).toBe(2);
      expect(rotations(vault)).toBe(1);
      expect(vault.requests.map((r) => r.method)).toEqual(['POST', 'POST', 'GET']);
    });

    it('a lost answer whose key read shows the version last seen is resent once', async () => {
      const vault = await serve(
        encrypted,
        vaultError(500, 'internal error'),
        keyObject(1, 0),
        keyObject(2, 0),
      );
      const kms = service(transport, vault.address);
      await encrypt(kms);
      expect(await rotate(kms)).toBe(2);
      expect(rotations(vault)).toBe(2);
    });

    it('when nothing tells whether the lost rotation happened, it reports so and rotates no more', async () => {
      // No version seen before, and the latest version is from this very second: undecidable.
      const vault = await serve(vaultError(500, 'internal error'), keyObject(1, 0));
      const error = await failureOf(rotate(service(transport, vault.address)));
      expect(error).toBeInstanceOf(KmsOutcomeUnknownError);
      expect((error as Error).message).toMatch(/whether Vault rotated the key cannot be told/);
      expect(rotations(vault)).toBe(1);
    });

    it('Vault’s own 500 with a latest version older than the call: not rotated, sent once more', async () => {
      const vault = await serve(
        vaultError(500, 'internal error'),
        keyObject(3, 3600),
        keyObject(4, 0),
      );
      expect(await rotate(service(transport, vault.address))).toBe(4);
      expect(rotations(vault)).toBe(2);
    });

    it('a reset (maybe applied later) with no new version is an unknown outcome, not a resend', async () => {
      const vault = await serve(reset, keyObject(3, 3600));
      const error = await failureOf(rotate(service(transport, vault.address)));
      expect(error).toBeInstanceOf(KmsOutcomeUnknownError);
      expect(error).toMatchObject({ retryable: false, code: 'KMS_OUTCOME_UNKNOWN' });
      expect(rotations(vault)).toBe(1);
    });

    it('a version newer than the last seen but provably older than the call is not claimed', async () => {
      // Another instance rotated an hour ago; this rotation got a 502 from a proxy.
      const vault = await serve(encrypted, vaultError(502, 'bad gateway'), keyObject(2, 3600));
      const kms = service(transport, vault.address);
      await encrypt(kms); // seen: version 1
      await expect(rotate(kms)).rejects.toBeInstanceOf(KmsOutcomeUnknownError);
      expect(rotations(vault)).toBe(1);
    });

    it('a rotation Vault provably did not process (sealed) is resent', async () => {
      const vault = await serve(vaultError(503, 'Vault is sealed'), keyObject(2, 0));
      expect(await rotate(service(transport, vault.address))).toBe(2);
      expect(rotations(vault)).toBe(2);
    });

    it('when the key read cannot tell (no Date header), the failure is reported, not retried', async () => {
      const vault = await serve(vaultError(500, 'internal error'), noDate);
      const error = await failureOf(rotate(service(transport, vault.address)));
      expect(error).toBeInstanceOf(KmsOutcomeUnknownError);
      expect(rotations(vault)).toBe(1);
    });
  });

  describe('time limits and cancellation', () => {
    it('the deadline bounds the whole call, retries included', async () => {
      const vault = await serve(hang);
      const started = performance.now();
      const error = await failureOf(
        encrypt(service(transport, vault.address, { timeoutMs: 10_000, deadlineMs: 300 })),
      );
      expect(error).toBeInstanceOf(KmsUnavailableError);
      expect(error).toMatchObject({ reason: 'timeout' });
      expect((error as Error).message).toMatch(/deadlineMs/);
      expect(performance.now() - started).toBeLessThan(5_000);
    });

    it('each attempt gets timeoutMs; a timed-out attempt is retried within the deadline', async () => {
      const vault = await serve(hang, encrypted);
      const wrapped = await encrypt(
        service(transport, vault.address, { timeoutMs: 200, deadlineMs: 5_000 }),
      );
      expect(wrapped.toString()).toBe(CIPHERTEXT);
      expect(vault.requests).toHaveLength(2);
    });

    it('an aborted signal sends nothing', async () => {
      const vault = await serve(encrypted);
      const controller = new AbortController();
      controller.abort();
      await expect(
        encrypt(service(transport, vault.address), controller.signal),
      ).rejects.toBeInstanceOf(KmsAbortedError);
      expect(vault.requests).toHaveLength(0);
    });

    it('aborting cancels a request in flight and a wait between attempts', async () => {
      const vault = await serve(hang);
      const inFlight = new AbortController();
      const pending = failureOf(encrypt(service(transport, vault.address), inFlight.signal));
      setTimeout(() => inFlight.abort(), 50);
      expect(await pending).toBeInstanceOf(KmsAbortedError);

      const slow = await serve(vaultError(503, 'Vault is sealed'));
      const waiting = new AbortController();
      const kms = service(transport, slow.address, {
        retry: { maxAttempts: 5, baseDelayMs: 10_000, maxDelayMs: 10_000 },
      });
      const started = performance.now();
      const backoff = failureOf(encrypt(kms, waiting.signal));
      setTimeout(() => waiting.abort(), 100);
      const error = await backoff;
      expect(error).toBeInstanceOf(KmsAbortedError);
      expect(performance.now() - started).toBeLessThan(5_000);
      expectNoSecrets(error, [TOKEN, DEK]);
    });

    it('a long-lived caller signal keeps no listener once calls end', async () => {
      const vault = await serve(vaultError(500, 'internal error'), encrypted);
      const shutdown = new AbortController();
      const listeners = { count: 0 };
      const add = shutdown.signal.addEventListener.bind(shutdown.signal);
      const remove = shutdown.signal.removeEventListener.bind(shutdown.signal);
      shutdown.signal.addEventListener = ((...args: Parameters<typeof add>) => {
        listeners.count += 1;
        add(...args);
      }) as typeof add;
      shutdown.signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
        listeners.count -= 1;
        remove(...args);
      }) as typeof remove;
      const kms = service(transport, vault.address);
      for (let i = 0; i < 20; i += 1) await encrypt(kms, shutdown.signal); // retries and waits included
      expect(listeners.count).toBe(0);
    });
  });

  describe('circuit breaker', () => {
    it('opens after failureThreshold failed requests, fails fast, and closes when Vault is back', async () => {
      let healthy = false;
      const vault = await serve((req, res, body) =>
        healthy ? encrypted(req, res, body) : vaultError(500, 'internal error')(req, res, body),
      );
      const kms = service(transport, vault.address, {
        retry: false,
        circuitBreaker: { failureThreshold: 3, resetTimeoutMs: 1_000 },
      });
      for (let i = 0; i < 3; i += 1) {
        await expect(encrypt(kms)).rejects.toMatchObject({ reason: 'server-error' });
      }
      const started = performance.now();
      const fast = await failureOf(encrypt(kms));
      expect(fast).toMatchObject({ reason: 'circuit-open', retryable: true });
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(vault.requests).toHaveLength(3); // the refused call sent nothing

      healthy = true;
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect((await encrypt(kms)).toString()).toBe(CIPHERTEXT); // the probe
      expect((await encrypt(kms)).toString()).toBe(CIPHERTEXT); // closed again
    });

    it('a failed probe opens it again', async () => {
      const vault = await serve(vaultError(500, 'internal error'));
      const kms = service(transport, vault.address, {
        retry: false,
        circuitBreaker: { failureThreshold: 1, resetTimeoutMs: 1_000 },
      });
      await expect(encrypt(kms)).rejects.toMatchObject({ reason: 'server-error' });
      await expect(encrypt(kms)).rejects.toMatchObject({ reason: 'circuit-open' });
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      await expect(encrypt(kms)).rejects.toMatchObject({ reason: 'server-error' }); // probe
      await expect(encrypt(kms)).rejects.toMatchObject({ reason: 'circuit-open' });
      expect(vault.requests).toHaveLength(2);
    });

    it('recovers within the reset time even when Vault hangs instead of refusing', async () => {
      let hanging = true;
      const vault = await serve((req, res, body) =>
        hanging ? undefined : encrypted(req, res, body),
      );
      const kms = service(transport, vault.address, {
        retry: false,
        timeoutMs: 5_000,
        deadlineMs: 10_000,
        circuitBreaker: { failureThreshold: 1, resetTimeoutMs: 300 },
      });
      await expect(encrypt(kms)).rejects.toMatchObject({ reason: 'timeout' }); // opens it
      await new Promise((resolve) => setTimeout(resolve, 350));
      // The probe hangs too, but its attempt is capped at resetTimeoutMs, not timeoutMs (5 s).
      const probeStarted = performance.now();
      await expect(encrypt(kms)).rejects.toMatchObject({ reason: 'timeout' });
      expect(performance.now() - probeStarted).toBeLessThan(2_500);
      hanging = false;
      await new Promise((resolve) => setTimeout(resolve, 350));
      expect((await encrypt(kms)).toString()).toBe(CIPHERTEXT);
    });

    it('timeouts spent queueing while Vault serves other requests do not open it', async () => {
      // A slow but healthy Vault behind a one-socket pool: most calls time out in the queue.
      const vault = await serve((req, res, body) =>
        setTimeout(() => encrypted(req, res, body), 60),
      );
      const narrow = new RestSessionPool({ maxSockets: 1 });
      try {
        const kms = service(transport, vault.address, {
          retry: false,
          timeoutMs: 150,
          circuitBreaker: { failureThreshold: 2, resetTimeoutMs: 5_000 },
        });
        const outcomes = await Promise.allSettled(
          Array.from({ length: 12 }, () => narrow.session((s) => kms.encryptDek(s, 'acme', DEK))),
        );
        expect(outcomes.some((o) => o.status === 'rejected')).toBe(true);
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected')
            expect(outcome.reason).toMatchObject({ reason: 'timeout' });
        }
        // Vault never failed: the breaker is still closed.
        expect((await narrow.session((s) => kms.encryptDek(s, 'acme', DEK))).toString()).toBe(
          CIPHERTEXT,
        );
      } finally {
        narrow.close();
      }
    });

    it('4xx answers show Vault is serving: they never open it', async () => {
      const vault = await serve(vaultError(400, 'invalid request'));
      const kms = service(transport, vault.address, {
        circuitBreaker: { failureThreshold: 2, resetTimeoutMs: 5_000 },
      });
      for (let i = 0; i < 5; i += 1)
        await expect(encrypt(kms)).rejects.not.toMatchObject({ reason: 'circuit-open' });
      expect(vault.requests).toHaveLength(5);
    });
  });

  describe('vaultToken as a function', () => {
    it('is called for each request by default', async () => {
      const vault = await serve(encrypted);
      let n = 0;
      const kms = service(transport, vault.address, { vaultToken: () => `s.token-${(n += 1)}` });
      await encrypt(kms);
      await encrypt(kms);
      expect(tokens(vault)).toEqual(['s.token-1', 's.token-2']);
    });

    it('is cached for tokenCacheMs, and an async function works', async () => {
      const vault = await serve(encrypted);
      let n = 0;
      const kms = service(transport, vault.address, {
        vaultToken: async () => `s.token-${(n += 1)}`,
        tokenCacheMs: 60_000,
      });
      await Promise.all([encrypt(kms), encrypt(kms), encrypt(kms)]);
      expect(tokens(vault)).toEqual(['s.token-1', 's.token-1', 's.token-1']);
    });

    it('after a 403, a rotated token is fetched and the call repeated once', async () => {
      let current = 's.old-token';
      const vault = await serve((req, res, body) =>
        req.headers['x-vault-token'] === 's.new-token'
          ? encrypted(req, res, body)
          : vaultError(403, 'permission denied')(req, res, body),
      );
      const kms = service(transport, vault.address, {
        vaultToken: () => current,
        tokenCacheMs: 60_000,
      });
      await expect(encrypt(kms)).rejects.toBeInstanceOf(KmsAccessDeniedError);
      current = 's.new-token'; // an agent rotated the token
      expect((await encrypt(kms)).toString()).toBe(CIPHERTEXT);
      expect(tokens(vault)).toEqual(['s.old-token', 's.old-token', 's.new-token']);
    });

    it('a hung token function is bounded by the deadline and by the caller’s signal', async () => {
      const vault = await serve(encrypted);
      const hung = service(transport, vault.address, {
        vaultToken: () => new Promise<string>(() => undefined),
        deadlineMs: 300,
        circuitBreaker: { failureThreshold: 1, resetTimeoutMs: 5_000 },
      });
      await expect(encrypt(hung)).rejects.toMatchObject({ reason: 'timeout' });
      const controller = new AbortController();
      const aborted = failureOf(encrypt(hung, controller.signal));
      setTimeout(() => controller.abort(), 50);
      expect(await aborted).toBeInstanceOf(KmsAbortedError);
      // Neither counted as a Vault failure: the breaker did not open.
      await expect(encrypt(hung)).rejects.not.toMatchObject({ reason: 'circuit-open' });
      expect(vault.requests).toHaveLength(0);
    });

    it('a trailing line break (a sink file) is not part of the token', async () => {
      const vault = await serve(encrypted);
      await encrypt(service(transport, vault.address, { vaultToken: () => 's.from-a-file\n' }));
      expect(tokens(vault)).toEqual(['s.from-a-file']);
    });

    it('a failing or invalid token function is a configuration error that reveals nothing', async () => {
      const vault = await serve(encrypted);
      const throwing = service(transport, vault.address, {
        vaultToken: () => {
          throw new Error(`cannot read /run/secrets/token: s.leaked-${TOKEN}`);
        },
      });
      const error = await failureOf(encrypt(throwing));
      expect(error).toBeInstanceOf(KmsConfigurationError);
      expectNoSecrets(error, [TOKEN, 'leaked']);
      for (const bad of ['', 'has space', 'line\nbreak', 42]) {
        const kms = service(transport, vault.address, { vaultToken: () => bad as string });
        await expect(encrypt(kms)).rejects.toBeInstanceOf(KmsConfigurationError);
      }
      expect(vault.requests).toHaveLength(0);
    });
  });
});

describe('the in-memory provider (no transport)', () => {
  it('the in-memory provider honours an aborted signal too', async () => {
    const kms = new InMemoryKeyManagementService();
    const controller = new AbortController();
    controller.abort();
    await expect(
      rest.session((s) => kms.generateDek(s, 'acme', { signal: controller.signal })),
    ).rejects.toBeInstanceOf(KmsAbortedError);
  });
});
