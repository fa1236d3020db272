/**
 * Bench: what the library's transport costs next to another Vault client and to raw HTTP.
 * A benchmark-style script, not a test:
 *
 *   npm run bench -- --seconds 3
 *
 * It starts the Transit dev server in a separate process (the built `nestjs-kms-dev-vault` bin,
 * `dist/lib/testing/dev-vault-cli.js`, on an ephemeral port), then measures one operation —
 * encrypt a fresh 32-byte DEK, then decrypt it (two requests), same tenant key — at each
 * concurrency for:
 *
 *   service     VaultTransitService, one RestSessionPool session per operation
 *               (maxSockets = concurrency)
 *   node-vault  node-vault 0.12 with its defaults: `write('transit/encrypt/<key>')`, then decrypt
 *   raw         node:http with a keep-alive Agent (maxSockets = concurrency) posting the same JSON
 *
 * Each case gets a warm-up, then a fixed duration; it reports ops/s and p50/p99 latency of an
 * operation, and the ratios, and writes them to docs/BENCHMARKS.md (`--output`, `--no-write`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RestSessionPool, VaultTransitService } from '../lib/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = resolve(ROOT, 'dist/lib/testing/dev-vault-cli.js');
const TENANT = 'bench';
const MOUNT = 'transit';
const LOAD_AT_START = os.loadavg();

const USAGE = `usage: npm run bench -- [options]

  --seconds <n>          measured duration of each case                 default 3
  --warmup <n>           warm-up of each case, in seconds               default 1
  --concurrency <list>   comma-separated concurrencies                  default 1,16,64
  --delay-ms <n>         the dev server delays every answer this long   default 0
  --output <path>        where to write the report                      default docs/BENCHMARKS.md
  --no-write             print only
  --help`;

interface BenchOptions {
  readonly seconds: number;
  readonly warmup: number;
  readonly concurrencies: readonly number[];
  readonly delayMs: number;
  readonly output: string | undefined;
}

function fail(message: string): never {
  console.error(`bench: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function number(name: string, value: string, integer: boolean, min: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
    fail(`--${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got '${value}'`);
  return n;
}

function parseOptions(argv: string[]): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        seconds: { type: 'string', default: '3' },
        warmup: { type: 'string', default: '1' },
        concurrency: { type: 'string', default: '1,16,64' },
        'delay-ms': { type: 'string', default: '0' },
        output: { type: 'string', default: 'docs/BENCHMARKS.md' },
        'no-write': { type: 'boolean', default: false },
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
    seconds: number('seconds', parsed.seconds, false, 0.1),
    warmup: number('warmup', parsed.warmup, false, 0),
    concurrencies: parsed.concurrency
      .split(',')
      .map((part) => number('concurrency', part.trim(), true, 1)),
    delayMs: number('delay-ms', parsed['delay-ms'], true, 0),
    output: parsed['no-write'] ? undefined : resolve(ROOT, parsed.output),
  };
}

/** The dev server in its own process; resolves once it printed its address. */
async function startServer(delayMs: number): Promise<{
  child: ChildProcess;
  address: string;
  token: string;
}> {
  if (!existsSync(CLI)) fail(`${relative(ROOT, CLI)} is missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, [CLI, '--port', '0', '--delay-ms', String(delayMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolveLine, reject) => {
    lines.once('line', resolveLine);
    child.once('exit', (code) =>
      reject(new Error(`the dev server exited (${code}) before starting`)),
    );
  });
  lines.close();
  const match = /^VAULT_ADDR=(\S+) VAULT_TOKEN=(\S+)$/.exec(first);
  if (!match) throw new Error(`unexpected first line from the dev server: ${first}`);
  return { child, address: match[1]!, token: match[2]! };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  await exited;
}

/** One operation: encrypt `dek`, decrypt it; resolves to the plaintext that came back. */
type Operation = (dek: Buffer) => Promise<Buffer>;

interface Client {
  readonly name: string;
  /** A client sized for `concurrency` operations in flight; `close` releases its sockets. */
  create(concurrency: number): { run: Operation; close(): void };
}

/** The parts of node-vault 0.12's client used here (it ships no types). */
interface NodeVaultClient {
  write(path: string, data: Record<string, unknown>): Promise<{ data: Record<string, unknown> }>;
}

/** Requests the service sent (to check it sends two per operation, like the others). */
let serviceRequests = 0;

function clients(address: string, token: string): Client[] {
  const require = createRequire(import.meta.url);
  const nodeVault = require('node-vault') as (options: {
    endpoint: string;
    token: string;
  }) => NodeVaultClient;
  const keyName = new VaultTransitService({ vaultAddr: address, vaultToken: token }).keyNameFor(
    TENANT,
  );
  const url = new URL(address);

  return [
    {
      name: 'service',
      create(concurrency) {
        const pool = new RestSessionPool({ maxSockets: concurrency });
        pool.signals.requestEnded.connect(() => {
          serviceRequests += 1;
        });
        const kms = new VaultTransitService({
          vaultAddr: address,
          vaultToken: token,
          mount: MOUNT,
        });
        return {
          run: (dek) =>
            pool.session(async (session) => {
              const ciphertext = await kms.encryptDek(session, TENANT, dek);
              return kms.decryptDek(session, TENANT, ciphertext);
            }),
          close: () => pool.close(),
        };
      },
    },
    {
      name: 'node-vault',
      create() {
        const vault = nodeVault({ endpoint: address, token });
        return {
          run: async (dek) => {
            const encrypted = await vault.write(`${MOUNT}/encrypt/${keyName}`, {
              plaintext: dek.toString('base64'),
            });
            const decrypted = await vault.write(`${MOUNT}/decrypt/${keyName}`, {
              ciphertext: encrypted.data['ciphertext'],
            });
            return Buffer.from(decrypted.data['plaintext'] as string, 'base64');
          },
          close: () => undefined,
        };
      },
    },
    {
      name: 'raw',
      create(concurrency) {
        const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
        const post = (path: string, body: object): Promise<Record<string, unknown>> =>
          new Promise((done, reject) => {
            const payload = JSON.stringify(body);
            const req = request(
              {
                host: url.hostname,
                port: url.port,
                method: 'POST',
                path: `/v1/${MOUNT}/${path}`,
                agent,
                headers: {
                  'X-Vault-Token': token,
                  'Content-Type': 'application/json',
                  'Content-Length': Buffer.byteLength(payload),
                },
              },
              (res) => {
                const chunks: Buffer[] = [];
                res.on('data', (chunk: Buffer) => chunks.push(chunk));
                res.on('error', reject);
                res.on('end', () => {
                  const text = Buffer.concat(chunks).toString('utf8');
                  if (res.statusCode !== 200) reject(new Error(`${res.statusCode}: ${text}`));
                  else done((JSON.parse(text) as { data: Record<string, unknown> }).data);
                });
              },
            );
            req.on('error', reject);
            req.end(payload);
          });
        return {
          run: async (dek) => {
            const encrypted = await post(`encrypt/${keyName}`, {
              plaintext: dek.toString('base64'),
            });
            const decrypted = await post(`decrypt/${keyName}`, {
              ciphertext: encrypted['ciphertext'],
            });
            return Buffer.from(decrypted['plaintext'] as string, 'base64');
          },
          close: () => agent.destroy(),
        };
      },
    },
  ];
}

interface Result {
  readonly client: string;
  readonly concurrency: number;
  readonly ops: number;
  readonly opsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  /** HTTP requests per operation, where the client reports them. */
  readonly requestsPerOp: number | undefined;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Runs `concurrency` loops of `run` for `seconds`; latencies in ms. */
async function drive(
  run: Operation,
  concurrency: number,
  seconds: number,
): Promise<{ latencies: number[]; errors: number; firstError?: string; elapsed: number }> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const dek = randomBytes(32);
      const t0 = performance.now();
      try {
        const back = await run(dek);
        if (!back.equals(dek)) throw new Error('decrypted to another DEK');
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
        await new Promise((done) => setTimeout(done, 10)); // a failing server: do not spin
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latencies, errors, firstError, elapsed: (performance.now() - started) / 1000 };
}

async function measure(
  client: Client,
  concurrency: number,
  options: BenchOptions,
): Promise<Result> {
  const { run, close } = client.create(concurrency);
  try {
    if (options.warmup > 0) await drive(run, concurrency, options.warmup);
    const requestsBefore = serviceRequests;
    const { latencies, errors, firstError, elapsed } = await drive(
      run,
      concurrency,
      options.seconds,
    );
    const sorted = latencies.toSorted((a, b) => a - b);
    return {
      client: client.name,
      concurrency,
      ops: latencies.length,
      opsPerSecond: latencies.length / elapsed,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      errors,
      firstError,
      requestsPerOp:
        client.name === 'service'
          ? (serviceRequests - requestsBefore) / Math.max(1, latencies.length + errors)
          : undefined,
    };
  } finally {
    close();
  }
}

const fixed = (n: number, digits: number): string => (Number.isNaN(n) ? '—' : n.toFixed(digits));
const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}×` : '—');

function resultsTable(results: readonly Result[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.concurrency} | ${r.client} | ${fixed(r.opsPerSecond, 0)} | ${fixed(r.p50, 2)} | ${fixed(r.p99, 2)} | ${r.errors} |`,
  );
  return [
    '| concurrency | client | ops/s | p50 ms | p99 ms | errors |',
    '| ---: | --- | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

function ratiosTable(results: readonly Result[], concurrencies: readonly number[]): string {
  const rate = (client: string, c: number): number =>
    results.find((r) => r.client === client && r.concurrency === c)?.opsPerSecond ?? 0;
  const rows = concurrencies.map((c) => {
    const [service, nodeVault, raw] = ['service', 'node-vault', 'raw'].map((n) => rate(n, c));
    return `| ${c} | ${ratio(service!, nodeVault!)} | ${ratio(service!, raw!)} | ${ratio(nodeVault!, raw!)} |`;
  });
  return [
    '| concurrency | service / node-vault | service / raw | node-vault / raw |',
    '| ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

function busyNote(): string {
  const cores = os.cpus().length;
  if (LOAD_AT_START[0]! < cores) return '';
  return (
    `\nThe load average at start (${LOAD_AT_START[0]!.toFixed(2)}) was at or above the core count` +
    ': other processes were competing for the CPU too, so expect large run-to-run differences' +
    ' (up to 2× has been seen on a shared 2-core machine).'
  );
}

function targetStatus(results: readonly Result[]): string {
  const at16 = (client: string): number | undefined =>
    results.find((r) => r.client === client && r.concurrency === 16)?.opsPerSecond;
  const service = at16('service');
  const nodeVault = at16('node-vault');
  if (service === undefined || nodeVault === undefined || nodeVault === 0)
    return 'This run did not measure concurrency 16.';
  const r = service / nodeVault;
  return `This run: ${r.toFixed(2)}× — ${r >= 2 ? 'met' : '**not met**'}.`;
}

function machine(): string {
  const cpus = os.cpus();
  const models = [...new Set(cpus.map((cpu) => cpu.model.trim()))].join(', ');
  return [
    `- node ${process.version}`,
    `- ${os.type()} ${os.release()} (${os.platform()}/${os.arch()})`,
    `- ${cpus.length} × ${models || 'unknown CPU'}`,
    `- ${Math.round(os.totalmem() / 1024 / 1024 / 1024)} GiB memory`,
    `- load average at start ${LOAD_AT_START.map((n) => n.toFixed(2)).join(' / ')} (1 / 5 / 15 min)`,
  ].join('\n');
}

function report(
  command: string,
  options: BenchOptions,
  results: readonly Result[],
  date: Date,
): string {
  const errors = results.filter((r) => r.errors > 0);
  return `# Benchmarks

Generated by \`scripts/bench.ts\`; regenerate with:

\`\`\`bash
${command}
\`\`\`

Run on ${date.toISOString()}, on:

${machine()}

## What is measured

One operation = encrypt a fresh 32-byte DEK with the tenant's Transit key, then decrypt the
ciphertext (two HTTP requests), always the same key. The Transit dev server runs in a separate
process (the \`nestjs-kms-dev-vault\` bin, \`--port 0${options.delayMs > 0 ? ` --delay-ms ${options.delayMs}` : ''}\`) on the same machine.
Each case: ${options.warmup} s warm-up, then ${options.seconds} s measured with \`concurrency\`
operations in flight at all times. Latency is per operation.

- **service** — \`VaultTransitService\` (the default transport: axios through a
  \`RestSessionPool\`, one session per operation, \`maxSockets\` = concurrency).
- **node-vault** — node-vault 0.12 with its defaults, \`vault.write('transit/encrypt/<key>', { plaintext })\`
  then \`vault.write('transit/decrypt/<key>', { ciphertext })\`.
- **raw** — \`node:http\` with a keep-alive \`Agent\` (\`maxSockets\` = concurrency) posting the
  same JSON: the floor any client pays for HTTP + JSON.

## Results

${resultsTable(results)}
${errors.length > 0 ? `\nErrors: ${errors.map((r) => `${r.client} at ${r.concurrency}: ${r.firstError}`).join('; ')}\n` : ''}
Throughput ratios:

${ratiosTable(results, options.concurrencies)}

**Noisy numbers.** Client and server share the same small machine (here ${os.cpus().length} cores):
the dev server's own CPU use (AES-GCM, JSON, HTTP parsing) competes with the client being
measured, and at high concurrency the server is usually the bottleneck, which compresses the
ratios. Compare runs on the same machine only, and repeat a run before trusting a ratio.${busyNote()}

## Targets (issue 5)

- Default transport (\`service\` above): ≥ 2× node-vault's throughput at concurrency 16.
  ${targetStatus(results)}
- Direct transport: ≥ 0.7× raw and ≥ 3.5× node-vault. **Not implemented yet**: there is no
  direct transport to measure; the \`raw\` column is its reference.
`;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const options = parseOptions(argv);
  const command = ['npm run bench', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' ');
  const { child, address, token } = await startServer(options.delayMs);
  console.log(`bench: dev server ${address} (pid ${child.pid}), ${options.seconds} s per case`);
  const results: Result[] = [];
  try {
    const all = clients(address, token);
    // Create the key once, so that no case pays for it.
    const pool = new RestSessionPool();
    await pool.session((session) =>
      new VaultTransitService({ vaultAddr: address, vaultToken: token }).encryptDek(
        session,
        TENANT,
        randomBytes(32),
      ),
    );
    pool.close();
    for (const concurrency of options.concurrencies) {
      for (const client of all) {
        const result = await measure(client, concurrency, options);
        results.push(result);
        console.log(
          `c=${String(concurrency).padStart(3)} ${client.name.padEnd(10)} ` +
            `${fixed(result.opsPerSecond, 0).padStart(7)} ops/s  p50 ${fixed(result.p50, 2)} ms  ` +
            `p99 ${fixed(result.p99, 2)} ms  errors ${result.errors}` +
            (result.requestsPerOp === undefined
              ? ''
              : `  ${fixed(result.requestsPerOp, 2)} requests/op`) +
            (result.firstError ? ` (${result.firstError})` : ''),
        );
      }
    }
  } finally {
    await stopServer(child);
  }
  console.log(`\n${resultsTable(results)}\n\n${ratiosTable(results, options.concurrencies)}`);
  if (options.output) {
    mkdirSync(dirname(options.output), { recursive: true });
    writeFileSync(options.output, report(command, options, results, new Date()));
    console.log(`\nbench: wrote ${relative(ROOT, options.output)}`);
  }
  return results.some((r) => r.errors > 0) ? 1 : 0;
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
