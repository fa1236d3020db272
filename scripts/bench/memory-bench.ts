import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { RestSessionPool, VaultTransitService, type KmsTransport } from '@ascetic-ddd/nestjs-kms';
import type { DevServerProcess } from './dev-server-process.js';
import { nodeJson } from './node-child.js';

export interface MemoryResult {
  readonly transport: KmsTransport;
  readonly decrypts: number;
  readonly maxSockets: number;
  readonly peakSockets: number;
  readonly rssBeforeMb: number;
  readonly rssPeakMb: number;
  readonly rssAfterMb: number;
  readonly seconds: number;
  readonly errors: number;
}

const TENANT = 'bench-memory';
const MB = 1024 * 1024;

/**
 * Starts `decrypts` `decryptDek` calls at once (each in its own session, as concurrent requests
 * of an app would), sampling the pool's open sockets and the process's RSS every 5 ms.
 */
export async function measureMemory(
  server: DevServerProcess,
  decrypts: number,
  transport: KmsTransport,
  maxSockets = 32,
): Promise<MemoryResult> {
  const pool = new RestSessionPool({ maxSockets });
  const kms = new VaultTransitService({
    vaultAddr: server.address,
    vaultToken: server.token,
    maxSockets,
    transport,
  });
  try {
    const wrapped = await pool.session(async (session) => {
      const results = await kms.encryptDeks(
        session,
        TENANT,
        Array.from({ length: 100 }, () => randomBytes(32)),
      );
      return results.map((result) => {
        if (!result.ok) throw new Error('seeding failed');
        return result.value;
      });
    });
    // A running service is warm: its code compiled, its connections open.
    for (let i = 0; i < 200; i++) {
      await pool.session(async (session) => {
        (await kms.decryptDek(session, TENANT, wrapped[i % wrapped.length]!)).fill(0);
      });
    }
    collectGarbage();
    const rssBefore = process.memoryUsage.rss();
    let rssPeak = rssBefore;
    let peakSockets = 0;
    const sample = (): void => {
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
      // In use and idle alike: every socket the agent holds open.
      const open = [pool.httpAgent.sockets, pool.httpAgent.freeSockets]
        .flatMap((byOrigin) => Object.values(byOrigin))
        .reduce((sum, sockets) => sum + (sockets?.length ?? 0), 0);
      peakSockets = Math.max(peakSockets, open);
    };
    const sampler = setInterval(sample, 5);
    const started = performance.now();
    const outcomes = await Promise.allSettled(
      Array.from({ length: decrypts }, (_, i) =>
        pool.session(async (session) => {
          const plain = await kms.decryptDek(session, TENANT, wrapped[i % wrapped.length]!);
          plain.fill(0);
        }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    sample();
    collectGarbage();
    return {
      transport,
      decrypts,
      maxSockets,
      peakSockets,
      rssBeforeMb: rssBefore / MB,
      rssPeakMb: rssPeak / MB,
      rssAfterMb: process.memoryUsage.rss() / MB,
      seconds,
      errors: outcomes.filter((outcome) => outcome.status === 'rejected').length,
    };
  } finally {
    pool.close();
  }
}

/** A full collection when node runs with --expose-gc (the bench script does). */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** {@link measureMemory} in a fresh node process (see memory-child.ts), pinned to `cpu`. */
export function measureMemoryInChild(
  server: DevServerProcess,
  decrypts: number,
  transport: KmsTransport,
  cpu: number | undefined,
): Promise<MemoryResult> {
  const script = fileURLToPath(new URL('memory-child.js', import.meta.url));
  const args = ['--expose-gc', script, server.address, server.token, String(decrypts), transport];
  return nodeJson<MemoryResult>(args, cpu, 'the memory measurement');
}
