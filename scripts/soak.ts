/**
 * Soak: the mixed KMS workload of test/reliability/load.spec.ts, run continuously at a fixed
 * concurrency for minutes or hours. A benchmark-style script, not a test:
 *
 *   npm run soak -- --minutes 5 --concurrency 64 --tenants 50
 *
 * By default it starts the Transit dev server in-process (127.0.0.1, ephemeral port). With
 * VAULT_ADDR and VAULT_TOKEN set it runs against that Vault instead (TRANSIT_MOUNT, default
 * `transit`): keys are created under a fresh `soak-<run>-` prefix, so no existing key is ever
 * touched, and are deleted at the end unless `--keep-keys` (the token then needs `update` on
 * `<mount>/keys/*`/config and `delete` on `<mount>/keys/*`).
 *
 * Every interval it prints one line: elapsed, ops/s, p50/p99 latency of an operation, errors by
 * code, cross-tenant violations (must stay 0), open sockets, rss and heap. At the end it prints
 * totals and exits 1 if any operation failed, any result crossed tenants or the sockets exceeded
 * `--max-sockets`. Ctrl-C stops early and still prints totals.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  KekNotFoundError,
  KmsDecryptionError,
  KmsError,
  RestSessionPool,
  VaultTransitService,
  type ISession,
} from '../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../lib/testing/index.js';
import { numberOption } from './cli-number.js';

const USAGE = `usage: npm run soak -- [options]

  --minutes <n>            how long to run (fractions allowed)          default 1
  --concurrency <n>        operations in flight at all times            default 64
  --tenants <n>            tenants the operations are spread over        default 50
  --max-sockets <n>        RestSessionPool maxSockets                    default 32
  --interval <seconds>     seconds between progress lines                default 10
  --max-rotations <n>      rotateKek calls per tenant at most            default 10
  --keep-keys              external Vault: do not delete the run's keys
  --help

environment: VAULT_ADDR, VAULT_TOKEN (both, or neither for the in-process dev server),
TRANSIT_MOUNT (default transit)`;

interface SoakOptions {
  readonly minutes: number;
  readonly concurrency: number;
  readonly tenants: number;
  readonly maxSockets: number;
  readonly intervalSeconds: number;
  readonly maxRotations: number;
  readonly keepKeys: boolean;
}

function fail(message: string): never {
  console.error(`soak: ${message}\n\n${USAGE}`);
  process.exit(2);
}

const number = numberOption(fail);

function parseOptions(argv: string[]): SoakOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        minutes: { type: 'string', default: '1' },
        concurrency: { type: 'string', default: '64' },
        tenants: { type: 'string', default: '50' },
        'max-sockets': { type: 'string', default: '32' },
        interval: { type: 'string', default: '10' },
        'max-rotations': { type: 'string', default: '10' },
        'keep-keys': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  if (parsed.help) {
    console.log(USAGE);
    process.exit(0);
  }
  return {
    minutes: number('minutes', parsed.minutes, false, 0),
    concurrency: number('concurrency', parsed.concurrency, true, 1),
    tenants: number('tenants', parsed.tenants, true, 2),
    maxSockets: number('max-sockets', parsed['max-sockets'], true, 1),
    intervalSeconds: number('interval', parsed.interval, false, 0.1),
    maxRotations: number('max-rotations', parsed['max-rotations'], true, 0),
    keepKeys: parsed['keep-keys'],
  };
}

/** Latencies in ms, kept in logarithmic buckets (5 % wide): bounded memory for any run length. */
class Histogram {
  private static readonly MIN_MS = 0.01;
  private static readonly RATIO = Math.log(1.05);
  private readonly buckets = new Map<number, number>();
  count = 0;
  max = 0;

  add(ms: number): void {
    const index = Math.max(0, Math.ceil(Math.log(ms / Histogram.MIN_MS) / Histogram.RATIO));
    this.buckets.set(index, (this.buckets.get(index) ?? 0) + 1);
    this.count += 1;
    this.max = Math.max(this.max, ms);
  }

  /** Upper bound of the bucket holding the `p`-th percentile. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (const index of [...this.buckets.keys()].toSorted((a, b) => a - b)) {
      seen += this.buckets.get(index)!;
      if (seen >= rank)
        return Math.min(this.max, Histogram.MIN_MS * Math.exp(index * Histogram.RATIO));
    }
    return this.max;
  }
}

/** Exact percentile of a (per-interval) sample. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** What was wrapped: the tenant it belongs to and the DEK it must decrypt to. */
interface Wrapped {
  readonly tenant: string;
  readonly dek: Buffer;
  readonly ciphertext: Buffer;
}

type Kind =
  | 'generateDek'
  | 'encryptDek'
  | 'decryptDek'
  | 'rewrapDek'
  | 'rotateKek'
  | 'crossTenantProbe'
  | 'shred';

/** Relative weights of the mix (rotations are also capped per tenant). */
const WEIGHTS: readonly (readonly [Kind, number])[] = [
  ['generateDek', 30],
  ['encryptDek', 25],
  ['decryptDek', 28],
  ['rewrapDek', 12],
  ['crossTenantProbe', 3],
  ['rotateKek', 1.5],
  ['shred', 0.5],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((sum, [, w]) => sum + w, 0);
/** Recent ciphertexts kept per tenant for decrypts and rewraps (bounded memory). */
const KEPT_PER_TENANT = 32;

function versionOf(ciphertext: Buffer): number {
  const match = /^vault:v(\d+):/.exec(ciphertext.toString('utf8'));
  return match ? Number(match[1]) : Number.NaN;
}

function errorCode(error: unknown): string {
  if (error instanceof KmsError) {
    const reason = (error as { reason?: unknown }).reason;
    return typeof reason === 'string' ? `${error.code}/${reason}` : error.code;
  }
  return error instanceof Error ? error.name : typeof error;
}

const mb = (bytes: number): string => `${Math.round(bytes / 1024 / 1024)}MB`;
const ms = (value: number): string => `${value < 10 ? value.toFixed(2) : value.toFixed(0)}ms`;
const codes = (errors: Map<string, number>): string =>
  errors.size === 0 ? '0' : [...errors].map(([code, n]) => `${code}×${n}`).join(' ');

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const runId = randomBytes(4).toString('hex');
  const external = process.env['VAULT_ADDR'];
  let server: TransitDevServer | undefined;
  let vaultAddr: string;
  let vaultToken: string;
  if (external !== undefined && external !== '') {
    const token = process.env['VAULT_TOKEN'];
    if (!token) fail('VAULT_ADDR is set but VAULT_TOKEN is not');
    vaultAddr = external;
    vaultToken = token;
  } else {
    server = await startTransitDevServer();
    vaultAddr = server.address;
    vaultToken = server.token;
  }
  const mount = process.env['TRANSIT_MOUNT'] || 'transit';
  // A fresh prefix per run against a real Vault, so the run only ever touches its own keys.
  const keyPrefix = server ? 'soak-' : `soak-${runId}-`;
  const pool = new RestSessionPool({ maxSockets: options.maxSockets });
  const kms = new VaultTransitService({ vaultAddr, vaultToken, mount, keyPrefix });
  const tenants = Array.from({ length: options.tenants }, (_, i) => `t${i}`);
  const gc = (globalThis as { gc?: () => void }).gc;

  console.log(
    `soak: ${options.minutes} min, concurrency ${options.concurrency}, ${options.tenants} tenants,` +
      ` maxSockets ${options.maxSockets}, against ${server ? `the in-process dev server (${vaultAddr})` : `${vaultAddr} mount ${mount}, keys ${keyPrefix}*`}` +
      `${gc ? '' : ' (no --expose-gc: heap figures include garbage)'}`,
  );

  // State: recent ciphertexts per tenant, rotations per tenant, tenants whose key exists.
  const kept = new Map<string, Wrapped[]>(tenants.map((t) => [t, []]));
  const rotations = new Map<string, number>();
  let shredCounter = 0;

  // Counters: per interval, and in all.
  let intervalLatencies: number[] = [];
  let intervalOps = 0;
  let intervalErrors = new Map<string, number>();
  let intervalRequests = 0;
  const total = {
    ops: 0,
    ok: 0,
    requests: 0,
    violations: 0,
    probesRefused: 0,
    rotations: 0,
    shreds: 0,
    errors: new Map<string, number>(),
    latency: new Histogram(),
  };
  const violationSamples: string[] = [];
  const violation = (what: string): void => {
    total.violations += 1;
    if (violationSamples.length < 10) violationSamples.push(what);
  };
  pool.signals.requestEnded.connect(() => {
    intervalRequests += 1;
    total.requests += 1;
  });

  const random = Math.random;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const keep = (entry: Wrapped): void => {
    const list = kept.get(entry.tenant)!;
    if (list.length < KEPT_PER_TENANT) list.push(entry);
    else list[Math.floor(random() * KEPT_PER_TENANT)] = entry;
  };
  const check = (tenant: string, entry: Wrapped, dek: Buffer): void => {
    if (entry.tenant !== tenant) violation(`${tenant} decrypted ${entry.tenant}'s DEK`);
    else if (!dek.equals(entry.dek)) violation(`${tenant} decrypted to another DEK`);
  };
  const chooseKind = (): Kind => {
    let draw = random() * TOTAL_WEIGHT;
    for (const [kind, weight] of WEIGHTS) {
      draw -= weight;
      if (draw < 0) return kind;
    }
    return 'generateDek';
  };

  /** One logical operation of the mix, inside its own session (every fifth one atomic). */
  const runOperation = (session: ISession): Promise<void> => {
    const kind = chooseKind();
    const tenant = pick(tenants);
    const own = kept.get(tenant)!;
    switch (kind) {
      case 'encryptDek':
        return (async () => {
          const dek = randomBytes(32);
          keep({ tenant, dek, ciphertext: await kms.encryptDek(session, tenant, dek) });
        })();
      case 'decryptDek':
      case 'rewrapDek':
        if (own.length > 0) {
          const entry = pick(own);
          return kind === 'decryptDek'
            ? kms
                .decryptDek(session, tenant, entry.ciphertext)
                .then((dek) => check(tenant, entry, dek))
            : kms.rewrapDek(session, tenant, entry.ciphertext).then((ciphertext) => {
                if (!(versionOf(ciphertext) >= versionOf(entry.ciphertext)))
                  violation(`rewrap for ${tenant} did not keep or raise the version`);
                keep({ tenant, dek: entry.dek, ciphertext });
              });
        }
        break;
      case 'crossTenantProbe': {
        const owner = pick(tenants);
        const entries = kept.get(owner)!;
        // Only probe a tenant whose key exists: its refusal must be a decryption failure.
        if (owner !== tenant && entries.length > 0 && own.length > 0) {
          const entry = pick(entries);
          return kms.decryptDek(session, tenant, entry.ciphertext).then(
            () => violation(`${tenant} decrypted ${owner}'s ciphertext`),
            (error: unknown) => {
              if (!(error instanceof KmsDecryptionError)) throw error;
              total.probesRefused += 1;
            },
          );
        }
        break;
      }
      case 'rotateKek':
        if ((rotations.get(tenant) ?? 0) < options.maxRotations && own.length > 0) {
          rotations.set(tenant, (rotations.get(tenant) ?? 0) + 1);
          return kms.rotateKek(session, tenant).then(() => {
            total.rotations += 1;
          });
        }
        break;
      case 'shred':
        return (async () => {
          // A throwaway tenant: create, shred, and its DEK must be gone for good.
          const doomed = `shred${(shredCounter += 1)}`;
          const { encryptedDek } = await kms.generateDek(session, doomed);
          await kms.deleteKek(session, doomed);
          try {
            await kms.decryptDek(session, doomed, encryptedDek);
            violation(`${doomed} still decrypts after deleteKek`);
          } catch (error) {
            if (!(error instanceof KekNotFoundError)) throw error;
            total.shreds += 1;
          }
        })();
      case 'generateDek':
        break;
    }
    return kms.generateDek(session, tenant).then(({ dek, encryptedDek }) => {
      keep({ tenant, dek, ciphertext: encryptedDek });
    });
  };

  // Sockets: in use and idle, both agents; the interval's maximum is sampled every 50 ms.
  const openSockets = (): number => {
    let n = 0;
    for (const agent of [pool.httpAgent, pool.httpsAgent]) {
      for (const list of Object.values(agent.sockets)) n += list?.length ?? 0;
      for (const list of Object.values(agent.freeSockets)) n += list?.length ?? 0;
    }
    return n;
  };
  let intervalMaxSockets = 0;
  let maxSockets = 0;
  const sampler = setInterval(() => {
    intervalMaxSockets = Math.max(intervalMaxSockets, openSockets());
  }, 50);

  const memory = (): { rss: number; heapUsed: number } => {
    gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    return { rss, heapUsed };
  };
  const memoryAtStart = memory();
  let peakRss = memoryAtStart.rss;

  const started = performance.now();
  const deadline = started + options.minutes * 60_000;
  let stopping = false;
  let lastReport = started;

  const report = (): void => {
    const now = performance.now();
    const seconds = (now - lastReport) / 1000;
    lastReport = now;
    const sorted = intervalLatencies.toSorted((a, b) => a - b);
    intervalMaxSockets = Math.max(intervalMaxSockets, openSockets());
    maxSockets = Math.max(maxSockets, intervalMaxSockets);
    const { rss, heapUsed } = memory();
    peakRss = Math.max(peakRss, rss);
    console.log(
      `[${((now - started) / 1000).toFixed(0).padStart(5)}s] ` +
        `${(intervalOps / seconds).toFixed(0).padStart(6)} ops/s ` +
        `(${(intervalRequests / seconds).toFixed(0)} req/s)  ` +
        `p50 ${ms(percentile(sorted, 50))} p99 ${ms(percentile(sorted, 99))}  ` +
        `errors ${codes(intervalErrors)}  cross-tenant violations ${total.violations}  ` +
        `sockets ${openSockets()} (max ${intervalMaxSockets}/${options.maxSockets})  ` +
        `rss ${mb(rss)} heap ${mb(heapUsed)}`,
    );
    // The in-process dev server logs every request it answers; drop that log so that the
    // figures show the library's memory, not the log's.
    if (server) (server.requests as unknown[]).length = 0;
    intervalLatencies = [];
    intervalOps = 0;
    intervalRequests = 0;
    intervalErrors = new Map();
    intervalMaxSockets = 0;
  };
  const ticker = setInterval(report, options.intervalSeconds * 1000);

  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    stopping = true;
    console.log('soak: stopping (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSigint);

  const keepRunning = (): boolean => !stopping && performance.now() < deadline;
  let sequence = 0;
  const worker = async (): Promise<void> => {
    while (keepRunning()) {
      const index = (sequence += 1);
      const t0 = performance.now();
      try {
        await pool.session((session) =>
          index % 5 === 0 ? session.atomic(runOperation) : runOperation(session),
        );
        total.ok += 1;
      } catch (error) {
        const code = errorCode(error);
        intervalErrors.set(code, (intervalErrors.get(code) ?? 0) + 1);
        total.errors.set(code, (total.errors.get(code) ?? 0) + 1);
        // A failing Vault (or an open circuit) fails calls at once: pause so that the worker
        // does not spin, and the progress timer still runs.
        await sleep(10);
      }
      const elapsed = performance.now() - t0;
      intervalLatencies.push(elapsed);
      total.latency.add(elapsed);
      intervalOps += 1;
      total.ops += 1;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const duration = (performance.now() - started) / 1000;
  clearInterval(ticker);
  if (intervalOps > 0) report();
  clearInterval(sampler);
  process.off('SIGINT', onSigint);

  // An external Vault keeps nothing of the run unless asked to.
  let cleanupFailures = 0;
  if (!server && !options.keepKeys) {
    const used = tenants.filter((t) => (kept.get(t)?.length ?? 0) > 0);
    for (const tenant of used) {
      try {
        await pool.session((session) => kms.deleteKek(session, tenant));
      } catch (error) {
        cleanupFailures += 1;
        if (cleanupFailures === 1)
          console.error(`soak: could not delete ${kms.keyNameFor(tenant)}: ${errorCode(error)}`);
      }
    }
    if (cleanupFailures > 0)
      console.error(
        `soak: ${cleanupFailures} key(s) ${keyPrefix}* left in ${vaultAddr} mount ${mount}`,
      );
  }

  const memoryAtEnd = memory();
  const totalErrors = [...total.errors.values()].reduce((sum, n) => sum + n, 0);
  const socketsBreached = maxSockets > options.maxSockets;
  console.log(
    `soak totals: ${total.ops} ops in ${duration.toFixed(1)} s (${(total.ops / duration).toFixed(0)} ops/s,` +
      ` ${total.requests} requests); ok ${total.ok}; errors ${codes(total.errors)};` +
      ` cross-tenant violations ${total.violations}; cross-tenant probes refused ${total.probesRefused};` +
      ` rotations ${total.rotations}; tenants shredded ${total.shreds};` +
      ` latency p50 ${ms(total.latency.percentile(50))} p99 ${ms(total.latency.percentile(99))} max ${ms(total.latency.max)};` +
      ` sockets max ${maxSockets}/${options.maxSockets};` +
      ` heap ${mb(memoryAtStart.heapUsed)} → ${mb(memoryAtEnd.heapUsed)}, rss ${mb(memoryAtStart.rss)} → ${mb(memoryAtEnd.rss)} (peak ${mb(peakRss)})`,
  );
  for (const sample of violationSamples) console.error(`soak: violation: ${sample}`);

  pool.close();
  await server?.close();
  const failed = totalErrors > 0 || total.violations > 0 || socketsBreached;
  console.log(failed ? 'soak: FAILED' : 'soak: OK');
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error('soak: crashed:', error);
    process.exitCode = 1;
  },
);
