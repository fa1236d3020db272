/**
 * Bench: what the library costs next to another Vault client and to raw HTTP, and what its
 * batch operations, DEK cache, SessionInterceptor and memory use come to. A benchmark script,
 * not a test — nothing here is asserted:
 *
 *   npm run bench -- --seconds 3
 *
 * It starts the Transit dev server in a separate process (the built `nestjs-kms-dev-vault` bin,
 * an ephemeral port on 127.0.0.1) and, with two or more CPUs and `taskset`, pins the bench to one
 * CPU and the server to another. Suites (`--suite`, comma-separated; default all):
 *
 *   transport    encrypt + decrypt of a 32-byte DEK at each concurrency: the service (default
 *                and direct transports), node-vault 0.12, a raw node:http loop
 *   batch        rewrap of 10,000 DEKs: single calls vs rewrapDeks, without and with 1 ms
 *                of added latency per request
 *   cache        decryptDek of a hot DEK with the DEK cache vs without
 *   interceptor  the sample's read route under autocannon with and without SessionInterceptor
 *   memory       10,000 concurrent decrypts: open sockets and RSS
 *
 * It writes the figures, the machine and the command to docs/BENCHMARKS.md (`--output`,
 * `--no-write`).
 */
import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { measureBatchRewrap, type BatchResult } from './bench/batch-bench.js';
import { measureCache } from './bench/cache-bench.js';
import {
  canPin,
  pinSelf,
  ROOT,
  startDevServer,
  type DevServerProcess,
} from './bench/dev-server-process.js';
import { fixed } from './bench/drive.js';
import { measureInterceptor, measureInterceptorCalls } from './bench/interceptor-bench.js';
import { measureMemoryInChild } from './bench/memory-bench.js';
import { renderReport, type BenchReport } from './bench/report.js';
import {
  createBenchKey,
  measureTransport,
  transportClients,
  type TransportResult,
} from './bench/transport-bench.js';
import { numberOption } from './cli-number.js';

const SUITES = ['transport', 'batch', 'cache', 'interceptor', 'memory'] as const;
type Suite = (typeof SUITES)[number];

const USAGE = `usage: npm run bench -- [options]

  --suite <list>         comma-separated: ${SUITES.join(', ')}   default all
  --seconds <n>          measured duration of each transport case        default 3
  --warmup <n>           warm-up of each transport case, in seconds      default 1
  --concurrency <list>   comma-separated transport concurrencies         default 1,16,64
  --rounds <n>           transport rounds (the median one is reported)   default 3
  --deks <n>             DEKs in the batch rewrap                        default 10000
  --decrypts <n>         concurrent decrypts in the memory suite         default 10000
  --no-pin               do not pin the bench and the server to CPUs
  --output <path>        where to write the report                      default docs/BENCHMARKS.md
  --no-write             print only
  --help`;

interface BenchOptions {
  readonly suites: readonly Suite[];
  readonly seconds: number;
  readonly warmup: number;
  readonly concurrencies: readonly number[];
  readonly rounds: number;
  readonly deks: number;
  readonly decrypts: number;
  readonly pin: boolean;
  readonly output: string | undefined;
}

function fail(message: string): never {
  console.error(`bench: ${message}\n\n${USAGE}`);
  process.exit(2);
}

const number = numberOption(fail);

function parseOptions(argv: string[]): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        suite: { type: 'string', default: SUITES.join(',') },
        seconds: { type: 'string', default: '3' },
        warmup: { type: 'string', default: '1' },
        concurrency: { type: 'string', default: '1,16,64' },
        rounds: { type: 'string', default: '3' },
        deks: { type: 'string', default: '10000' },
        decrypts: { type: 'string', default: '10000' },
        'no-pin': { type: 'boolean', default: false },
        output: { type: 'string', default: 'docs/BENCHMARKS.md' },
        'no-write': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const suites = values.suite.split(',').map((s) => s.trim());
  for (const suite of suites) {
    if (!SUITES.includes(suite as Suite)) fail(`unknown suite '${suite}'`);
  }
  return {
    suites: suites as Suite[],
    seconds: number('seconds', values.seconds, false, 0.1),
    warmup: number('warmup', values.warmup, false, 0),
    concurrencies: values.concurrency.split(',').map((c) => number('concurrency', c, true, 1)),
    rounds: number('rounds', values.rounds, true, 1),
    deks: number('deks', values.deks, true, 1),
    decrypts: number('decrypts', values.decrypts, true, 1),
    pin: !values['no-pin'],
    output: values['no-write'] ? undefined : resolve(ROOT, values.output),
  };
}

async function withServer<T>(
  options: { delayMs?: number; cpu: number | undefined },
  work: (server: DevServerProcess) => Promise<T>,
): Promise<T> {
  const server = await startDevServer(options);
  try {
    return await work(server);
  } finally {
    await server.stop();
  }
}

/**
 * Each concurrency: `rounds` rounds, each measuring every client once in turn (so that a burst
 * of load from elsewhere hits all of them alike); per client, the round with the median
 * throughput is reported.
 */
async function transportSuite(
  options: BenchOptions,
  serverCpu: number | undefined,
): Promise<TransportResult[]> {
  return withServer({ cpu: serverCpu }, async (server) => {
    await createBenchKey(server);
    const results: TransportResult[] = [];
    for (const concurrency of options.concurrencies) {
      const rounds = new Map<string, TransportResult[]>();
      for (let round = 0; round < options.rounds; round++) {
        for (const client of transportClients(server)) {
          const r = await measureTransport(server, client, concurrency, options);
          rounds.set(r.client, [...(rounds.get(r.client) ?? []), r]);
          console.log(
            `transport c=${String(concurrency).padStart(3)} ${r.client.padEnd(14)} ` +
              `${fixed(r.opsPerSecond, 0).padStart(6)} ops/s  p50 ${fixed(r.p50, 2)} ms  ` +
              `p99 ${fixed(r.p99, 2)} ms  client ${fixed(r.clientCpuPerOp, 0)} µs/op  ` +
              `server ${fixed(r.serverCpuPerOp, 0)} µs/op  errors ${r.errors}` +
              (r.requestsPerOp === undefined ? '' : `  ${fixed(r.requestsPerOp, 2)} requests/op`) +
              (r.firstError ? ` (${r.firstError})` : ''),
          );
        }
      }
      for (const measured of rounds.values()) results.push(median(measured));
    }
    return results;
  });
}

/** The result with the median throughput (the lower middle one for an even count). */
function median(results: readonly TransportResult[]): TransportResult {
  const sorted = results.toSorted((a, b) => a.opsPerSecond - b.opsPerSecond);
  return { ...sorted[Math.floor((sorted.length - 1) / 2)]!, errors: sum(results, 'errors') };
}

function sum(results: readonly TransportResult[], field: 'errors'): number {
  return results.reduce((total, r) => total + r[field], 0);
}

async function batchSuite(
  options: BenchOptions,
  serverCpu: number | undefined,
): Promise<BatchResult[]> {
  const results: BatchResult[] = [];
  for (const delayMs of [0, 1]) {
    const result = await withServer({ delayMs, cpu: serverCpu }, (server) =>
      measureBatchRewrap(server, delayMs, options.deks),
    );
    results.push(result);
    console.log(
      `batch delay ${delayMs} ms: singles ${result.singles.requests} requests ` +
        `${fixed(result.singles.seconds, 2)} s, batch ${result.batch.requests} requests ` +
        `${fixed(result.batch.seconds, 2)} s`,
    );
  }
  return results;
}

async function main(): Promise<number> {
  const loadAtStart = os.loadavg();
  const argv = process.argv.slice(2);
  const options = parseOptions(argv);
  const command = ['npm run bench', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' ');
  const pinned =
    options.pin && os.cpus().length >= 2 && canPin() && pinSelf(0)
      ? { client: 0, server: 1 }
      : undefined;
  const serverCpu = pinned?.server;
  console.log(
    pinned ? 'bench: pinned to CPU 0, the dev server to CPU 1' : 'bench: processes not pinned',
  );
  const has = (suite: Suite): boolean => options.suites.includes(suite);
  const report: BenchReport = {
    command,
    date: new Date(),
    loadAtStart,
    pinned,
    timing: options,
    ...(has('transport') ? { transport: await transportSuite(options, serverCpu) } : {}),
    ...(has('batch') ? { batch: await batchSuite(options, serverCpu) } : {}),
    ...(has('cache')
      ? { cache: await withServer({ cpu: serverCpu }, (server) => measureCache(server, 2000)) }
      : {}),
    ...(has('interceptor') ? { interceptorCalls: await measureInterceptorCalls(50_000) } : {}),
    ...(has('interceptor')
      ? {
          interceptor: await withServer({ cpu: serverCpu }, (server) =>
            measureInterceptor(server, {
              seconds: options.seconds,
              connections: 16,
              rounds: 4,
              loadCpu: serverCpu,
            }),
          ),
        }
      : {}),
    ...(has('memory')
      ? {
          memory: [
            await withServer({ cpu: serverCpu }, (server) =>
              measureMemoryInChild(server, options.decrypts, 'http-service', pinned?.client),
            ),
            await withServer({ cpu: serverCpu }, (server) =>
              measureMemoryInChild(server, options.decrypts, 'direct', pinned?.client),
            ),
          ],
        }
      : {}),
  };
  const text = renderReport(report);
  console.log(`\n${text}`);
  if (options.output) {
    mkdirSync(dirname(options.output), { recursive: true });
    writeFileSync(options.output, text);
    console.log(`bench: wrote ${relative(ROOT, options.output)}`);
  }
  const failed =
    (report.transport ?? []).some((r) => r.errors > 0) ||
    (report.interceptor ?? []).some((r) => r.errors > 0 || r.non2xx > 0) ||
    (report.memory ?? []).some((m) => m.errors > 0);
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error('bench: crashed:', error);
    process.exitCode = 1;
  },
);
