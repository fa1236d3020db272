import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { RestSessionPool, VaultTransitService } from '@ascetic-ddd/nestjs-kms';
import type { DevServerProcess } from './dev-server-process.js';

export interface BatchResult {
  readonly delayMs: number;
  readonly deks: number;
  readonly singles: { readonly requests: number; readonly seconds: number };
  readonly batch: { readonly requests: number; readonly seconds: number; readonly calls: number };
}

const TENANT = 'bench-rewrap';
const SINGLES_CONCURRENCY = 16;

/**
 * Rewraps `deks` DEKs wrapped by version 1 of a key rotated once: as `deks` single `rewrapDek`
 * calls, 16 in flight, then as one `rewrapDeks` call (chunks of the default `batchSize`, one
 * after the other). Requests are counted by the pool's request signal.
 */
export async function measureBatchRewrap(
  server: DevServerProcess,
  delayMs: number,
  deks: number,
): Promise<BatchResult> {
  const pool = new RestSessionPool({ maxSockets: SINGLES_CONCURRENCY });
  let requests = 0;
  pool.signals.requestEnded.connect(() => {
    requests += 1;
  });
  const kms = new VaultTransitService({ vaultAddr: server.address, vaultToken: server.token });
  try {
    const wrapped = await pool.session(async (session) => {
      const results = await kms.encryptDeks(
        session,
        TENANT,
        Array.from({ length: deks }, () => randomBytes(32)),
      );
      await kms.rotateKek(session, TENANT);
      return results.map((result) => {
        if (!result.ok) throw new Error(`seeding failed: ${result.error.message}`);
        return result.value;
      });
    });

    requests = 0;
    let started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: SINGLES_CONCURRENCY }, () =>
        pool.session(async (session) => {
          while (next < wrapped.length) {
            const ciphertext = wrapped[next++]!;
            const rewrapped = await kms.rewrapDek(session, TENANT, ciphertext);
            if (!rewrapped.toString('utf8').startsWith('vault:v2:'))
              throw new Error('not rewrapped');
          }
        }),
      ),
    );
    const singles = { requests, seconds: (performance.now() - started) / 1000 };

    requests = 0;
    started = performance.now();
    const results = await pool.session((session) => kms.rewrapDeks(session, TENANT, wrapped));
    const batch = { requests, seconds: (performance.now() - started) / 1000, calls: 1 };
    const failed = results.filter(
      (result) => !result.ok || !result.value.toString('utf8').startsWith('vault:v2:'),
    );
    if (failed.length > 0) throw new Error(`${failed.length} batch rewraps failed`);
    return { delayMs, deks, singles, batch };
  } finally {
    pool.close();
  }
}
