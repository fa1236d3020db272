import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { RestSessionPool, VaultTransitService, type ISession } from '@ascetic-ddd/nestjs-kms';
import type { DevServerProcess } from './dev-server-process.js';

export interface CacheResult {
  /** Uncached decrypts timed (after a tenth as many as warm-up). */
  readonly decrypts: number;
  /** Cached decrypts timed (hot: served from memory), likewise after a warm-up. */
  readonly hotDecrypts: number;
  /** Mean µs per `decryptDek` without a cache (every call asks Vault). */
  readonly coldMicros: number;
  /** Mean µs per `decryptDek` served from the DEK cache. */
  readonly hotMicros: number;
  readonly coldRequests: number;
  readonly hotRequests: number;
}

const TENANT = 'bench-cache';
/** A hit costs microseconds: more of them are timed for a stable mean. */
const HOT_FACTOR = 25;

/** Mean µs of `times` decrypts of `wrapped` (after `times / 10` untimed ones: the JIT warms up). */
async function timeDecrypts(
  kms: VaultTransitService,
  session: ISession,
  wrapped: Buffer,
  dek: Buffer,
  times: number,
): Promise<number> {
  for (let i = 0; i < times / 10; i++) (await kms.decryptDek(session, TENANT, wrapped)).fill(0);
  const started = performance.now();
  for (let i = 0; i < times; i++) {
    const plain = await kms.decryptDek(session, TENANT, wrapped);
    if (!plain.equals(dek)) throw new Error('decrypted to another DEK');
    plain.fill(0);
  }
  return ((performance.now() - started) * 1000) / times;
}

/**
 * Decrypts one wrapped DEK one call after the other: `decrypts` times without a cache, 25 times
 * as often with it. Requests are counted by the pool's request signal.
 */
export async function measureCache(
  server: DevServerProcess,
  decrypts: number,
): Promise<CacheResult> {
  const pool = new RestSessionPool();
  let requests = 0;
  pool.signals.requestEnded.connect(() => {
    requests += 1;
  });
  const options = { vaultAddr: server.address, vaultToken: server.token };
  const uncached = new VaultTransitService(options);
  const cached = new VaultTransitService({
    ...options,
    cache: { maxEntries: 1000, maxAgeMs: 600_000 },
  });
  try {
    return await pool.session(async (session) => {
      const dek = randomBytes(32);
      const wrapped = await uncached.encryptDek(session, TENANT, dek);
      const before = requests;
      const coldMicros = await timeDecrypts(uncached, session, wrapped, dek, decrypts);
      const coldRequests = requests - before;
      const hotDecrypts = decrypts * HOT_FACTOR;
      const hotMicros = await timeDecrypts(cached, session, wrapped, dek, hotDecrypts);
      return {
        decrypts,
        hotDecrypts,
        coldMicros,
        hotMicros,
        coldRequests,
        hotRequests: requests - before - coldRequests,
      };
    });
  } finally {
    pool.close();
  }
}
