import { performance } from 'node:perf_hooks';

/** What one measured case produced. */
export interface Measured {
  readonly ops: number;
  readonly seconds: number;
  readonly opsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  /** CPU time this process used per operation, in µs. */
  readonly clientCpuPerOp: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * Runs `concurrency` loops of `operation` for `seconds`, each operation timed (ms). An operation
 * that throws counts as an error; the loop then pauses 10 ms so a failing server is not spun on.
 */
export async function drive(
  operation: () => Promise<void>,
  concurrency: number,
  seconds: number,
): Promise<Measured> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await operation();
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
        await new Promise((done) => setTimeout(done, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = latencies.toSorted((a, b) => a - b);
  return {
    ops: latencies.length,
    seconds: elapsed,
    opsPerSecond: latencies.length / elapsed,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors,
    firstError,
    clientCpuPerOp: (cpu.user + cpu.system) / Math.max(1, latencies.length),
  };
}

/** `n` with `digits` decimals, '—' for NaN. */
export const fixed = (n: number, digits: number): string =>
  Number.isFinite(n) ? n.toFixed(digits) : '—';

/** `a / b` as `1.23×`, '—' when undefined. */
export const times = (a: number, b: number): string =>
  b > 0 && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '—';
