import { Agent } from 'node:http';
import { getEventListeners } from 'node:events';
import { HttpService } from '@nestjs/axios';
import axios, { type AxiosAdapter } from 'axios';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  KmsAbortedError,
  KmsSessionError,
  KmsUnavailableError,
  RestSession,
  RestSessionPool,
  VaultTransitService,
  type ISession,
  type ISessionPool,
  type KmsModuleOptions,
} from '../../lib/index.js';
import {
  createLeanHttpAdapter,
  EXCHANGE_TIMEOUT_MS,
  isLeanHttpAdapter,
} from '../../lib/session/lean-http-adapter.js';
import { openSession } from '../../lib/session/open-session.js';
import { createSessionSignals } from '../../lib/session/session-signals.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { startScriptedServer } from '../support/scripted-server.js';

/** Sessions over an HttpService the library did not make: axios's own adapter, no lean one. */
class PlainAxiosPool implements ISessionPool {
  readonly signals = createSessionSignals();
  readonly name = 'plain-axios';
  readonly agent = new Agent({ keepAlive: true, maxSockets: 4 });
  readonly http = new HttpService(axios.create({ httpAgent: this.agent }));

  session<T>(work: (session: ISession) => Promise<T>): Promise<T> {
    return openSession(this, (scope) => new RestSession(this.http, scope), work);
  }

  close(): void {
    this.agent.destroy();
  }
}

const never: AxiosAdapter = () => new Promise(() => undefined);

let vault: TransitDevServer;
beforeEach(async () => {
  vault = await startTransitDevServer();
});
afterEach(async () => {
  await vault.close();
});

const service = (options: Partial<KmsModuleOptions> = {}) =>
  new VaultTransitService({
    vaultAddr: vault.address,
    vaultToken: vault.token,
    retry: false,
    timeoutMs: 300,
    ...options,
  });

/**
 * The timed-out request's connection was closed by the client (the dev server logs a delayed
 * request whose client left with status 0) — not left hanging until the server answers.
 */
async function expectRequestAbandoned(): Promise<void> {
  await vi.waitFor(() => expect(vault.requests.some((r) => r.status === 0)).toBe(true), {
    timeout: 2_000,
  });
}

async function elapsed<T>(work: () => Promise<T>): Promise<{ ms: number; error: unknown }> {
  const started = performance.now();
  const error = await work().then(
    () => undefined,
    (e: unknown) => e,
  );
  return { ms: performance.now() - started, error };
}

describe('the default transport bounds every attempt, whatever adapter the HttpService has', () => {
  it('RestSessionPool (lean adapter): a hanging answer times out after timeoutMs, no AbortController needed', async () => {
    const pool = new RestSessionPool();
    try {
      const kms = service();
      const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
      vault.injectFault({ kind: 'delay', ms: 5_000 });
      const { ms, error } = await elapsed(() =>
        pool.session((s) => kms.decryptDek(s, 'acme', encryptedDek)),
      );
      expect(error).toBeInstanceOf(KmsUnavailableError);
      expect((error as KmsUnavailableError).reason).toBe('timeout');
      expect(ms).toBeLessThan(3_000);
      await expectRequestAbandoned();
    } finally {
      pool.close();
    }
  });

  it('RestSessionPool: a body sent slowly past timeoutMs times out too (the whole exchange is bounded)', async () => {
    const pool = new RestSessionPool();
    try {
      const kms = service();
      const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
      vault.injectFault({ kind: 'slow-body', ms: 5_000, chunks: 50 });
      const { error } = await elapsed(() =>
        pool.session((s) => kms.decryptDek(s, 'acme', encryptedDek)),
      );
      expect((error as KmsUnavailableError).reason).toBe('timeout');
    } finally {
      pool.close();
    }
  });

  it('an HttpService with axios’s own adapter: works, and its attempts are bounded as well', async () => {
    const pool = new PlainAxiosPool();
    try {
      const kms = service();
      const { dek, encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
      expect(await pool.session((s) => kms.decryptDek(s, 'acme', encryptedDek))).toEqual(dek);
      vault.injectFault({ kind: 'slow-body', ms: 5_000, chunks: 50 });
      const { ms, error } = await elapsed(() =>
        pool.session((s) => kms.decryptDek(s, 'acme', encryptedDek)),
      );
      expect((error as KmsUnavailableError).reason).toBe('timeout');
      expect(ms).toBeLessThan(3_000);
    } finally {
      pool.close();
    }
  });

  it('an interceptor that swaps in an adapter that never answers: the attempt still ends, shortly after timeoutMs', async () => {
    const pool = new RestSessionPool();
    const http = await pool.session(async (s) => s.part(RestSession)!.request);
    http.axiosRef.interceptors.request.use((config) => ({ ...config, adapter: never }));
    try {
      const kms = service();
      const { ms, error } = await elapsed(() =>
        pool.session((s) => kms.encryptDek(s, 'acme', Buffer.alloc(32, 1))),
      );
      expect((error as KmsUnavailableError).reason).toBe('timeout');
      expect(ms).toBeGreaterThanOrEqual(300);
      expect(ms).toBeLessThan(3_000);
    } finally {
      pool.close();
    }
  });

  it('the caller’s signal aborts an attempt on the lean path and leaves no listener on it', async () => {
    const pool = new RestSessionPool();
    try {
      const kms = service({ timeoutMs: 10_000 });
      const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
      const controller = new AbortController();
      for (let i = 0; i < 20; i++) {
        await pool.session((s) =>
          kms.decryptDek(s, 'acme', encryptedDek, { signal: controller.signal }),
        );
      }
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      vault.injectFault({ kind: 'delay', ms: 5_000 });
      const pending = pool.session((s) =>
        kms.decryptDek(s, 'acme', encryptedDek, { signal: controller.signal }),
      );
      setTimeout(() => controller.abort(), 100);
      await expect(pending).rejects.toBeInstanceOf(KmsAbortedError);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    } finally {
      pool.close();
    }
  });
});

describe('the lean adapter’s exchangeTimeoutMs', () => {
  it('bounds a request it hands to its fallback (here: one with params) with an AbortController', async () => {
    const agent = new Agent({ keepAlive: true });
    const client = axios.create({
      adapter: createLeanHttpAdapter(),
      httpAgent: agent,
      maxRedirects: 0,
      proxy: false,
    });
    try {
      vault.injectFault({ kind: 'delay', ms: 5_000 });
      const controller = new AbortController();
      const error: unknown = await client
        .get(`${vault.address}/v1/sys/health`, {
          params: { standbyok: true },
          signal: controller.signal,
          ...({ [EXCHANGE_TIMEOUT_MS]: 200 } as object),
        })
        .catch((e: unknown) => e);
      expect(axios.isAxiosError(error) && error.code).toBe('ETIMEDOUT');
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      await expectRequestAbandoned();
    } finally {
      agent.destroy();
    }
  });

  it('is recognised on the adapter the pool installs, and only there', () => {
    const pool = new RestSessionPool();
    try {
      expect(isLeanHttpAdapter(createLeanHttpAdapter())).toBe(true);
      expect(isLeanHttpAdapter(axios.getAdapter('http'))).toBe(false);
      expect(isLeanHttpAdapter(undefined)).toBe(false);
      return pool.session(async (s) => {
        expect(isLeanHttpAdapter(s.part(RestSession)!.request.axiosRef.defaults.adapter)).toBe(
          true,
        );
      });
    } finally {
      pool.close();
    }
  });
});

describe.each(['http-service', 'direct'] as const)('both transports (%s)', (transport) => {
  it('an upper-case scheme in vaultAddr works (the transport picks its agent by scheme)', async () => {
    const pool = new RestSessionPool();
    try {
      const kms = service({ transport, vaultAddr: vault.address.replace('http:', 'HTTP:') });
      const { dek, encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
      expect(await pool.session((s) => kms.decryptDek(s, 'acme', encryptedDek))).toEqual(dek);
    } finally {
      pool.close();
    }
  });

  it('a session that opened an atomic scope while a call waited for its token: a session error, not an outage', async () => {
    const pool = new RestSessionPool();
    try {
      const kms = service({
        transport,
        retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
        circuitBreaker: { failureThreshold: 1, resetTimeoutMs: 10_000 },
        vaultToken: async () => {
          await new Promise((r) => setTimeout(r, 30));
          return vault.token;
        },
      });
      const error = await pool.session(async (s) => {
        const call = kms.encryptDek(s, 'acme', Buffer.alloc(32, 1)).catch((e: unknown) => e);
        await s.atomic(async () => {
          await new Promise((r) => setTimeout(r, 100));
        });
        return call;
      });
      expect(error).toBeInstanceOf(KmsSessionError);
      expect(vault.requests).toHaveLength(0);
      // Not counted by the breaker (threshold 1): the next call goes through.
      await pool.session((s) => kms.encryptDek(s, 'acme', Buffer.alloc(32, 1)));
    } finally {
      pool.close();
    }
  });
});

describe('an answer larger than Vault ever sends (16 MiB)', () => {
  it('through axios’s own adapter: a bad answer, not retried, not an outage', async () => {
    const huge = 'A'.repeat(17 * 1024 * 1024);
    const scripted = await startScriptedServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ data: { ciphertext: huge } }));
    });
    const pool = new PlainAxiosPool();
    try {
      const kms = new VaultTransitService({
        vaultAddr: scripted.address,
        vaultToken: 'hvs.test-token',
        retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
      });
      const error = await pool
        .session((s) => kms.encryptDek(s, 'acme', Buffer.alloc(32, 1)))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KmsUnavailableError);
      expect((error as KmsUnavailableError).reason).toBe('bad-response');
      expect(scripted.requests).toHaveLength(1);
    } finally {
      pool.close();
      await scripted.close();
    }
  });
});
