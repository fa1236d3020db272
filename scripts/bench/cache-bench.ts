import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { RestSessionPool, VaultTransitService } from '@ascetic-ddd/nestjs-kms';
import type { DevServerProcess } from './dev-server-process.js';

export interface CacheResult {
  readonly decrypts: number;
  /** Mean µs per `decryptDek` without a cache (every call asks Vault). */
  readonly coldMicros: number;
  /** Mean µs per `decryptDek` served from the DEK cache. */
  readonly hotMicros: number;
  readonly coldRequests: number;
  readonly hotRequests: number;
}

const TENANT = 'bench-cache';

/** Decrypts one wrapped DEK `decrypts` times, one after the other, without and with the cache. */
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
      const time = async (
        kms: VaultTransitService,
      ): Promise<{ micros: number; requests: number }> => {
        for (let i = 0; i < 200; i++) (await kms.decryptDek(session, TENANT, wrapped)).fill(0);
        requests = 0;
        const started = performance.now();
        for (let i = 0; i < decrypts; i++) {
          const plain = await kms.decryptDek(session, TENANT, wrapped);
          if (!plain.equals(dek)) throw new Error('decrypted to another DEK');
          plain.fill(0);
        }
        return { micros: ((performance.now() - started) * 1000) / decrypts, requests };
      };
      const cold = await time(uncached);
      const hot = await time(cached);
      return {
        decrypts,
        coldMicros: cold.micros,
        hotMicros: hot.micros,
        coldRequests: cold.requests,
        hotRequests: hot.requests,
      };
    });
  } finally {
    pool.close();
  }
}
