#!/usr/bin/env node
/**
 * `nestjs-kms-dev-vault`: the Transit dev server in its own process, for local development and
 * benchmarks. Development only: keys live in memory (or in `--state-file`, unencrypted).
 *
 *   npx nestjs-kms-dev-vault --port 8200
 *
 * On start it prints one line to stdout, `VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=hvs.…`;
 * everything else goes to stderr. SIGINT/SIGTERM close it (a second signal exits at once).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';
import { startTransitDevServer, type TransitDevServer } from './transit-dev-server.js';

const NAME = 'nestjs-kms-dev-vault';
const MAX_DELAY_MS = 2_147_483_647;

const USAGE = `usage: ${NAME} [options]

Runs the Transit dev server of @ascetic-ddd/nestjs-kms (HashiCorp Vault's Transit HTTP API,
in memory) until SIGINT/SIGTERM. Development only: not a secure key store.

  --port <n>            port to listen on (0: an ephemeral one)         default 8200
  --host <host>         address to listen on; only loopback addresses    default 127.0.0.1
                        unless --allow-remote
  --allow-remote        allow a non-loopback --host (anyone who can reach it and has
                        the token can use the keys)
  --token <token>       the root token (visible in the process list)     default: random
  --mount <path>        where Transit is mounted                         default transit
  --state-file <path>   keep the keys in this JSON file across restarts (raw key material,
                        mode 0600; one server per file)                  default: memory only
  --delay-ms <n>        wait this long before answering every request (stands in for a
                        network hop)                                     default 0
  --help

On start it prints one line to stdout:
  VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=hvs.…`;

/** What the command line asks for. */
export interface DevVaultCliOptions {
  readonly port: number;
  readonly host: string;
  readonly allowRemote: boolean;
  readonly token: string | undefined;
  readonly mount: string;
  readonly stateFile: string | undefined;
  readonly delayMs: number;
}

class UsageError extends Error {}

function integer(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${value}'`);
  return n;
}

/** Parses the arguments; `undefined` for `--help`. Throws a UsageError for bad ones. */
export function parseDevVaultArgs(argv: readonly string[]): DevVaultCliOptions | undefined {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string', default: '8200' },
        host: { type: 'string', default: '127.0.0.1' },
        'allow-remote': { type: 'boolean', default: false },
        token: { type: 'string' },
        mount: { type: 'string', default: 'transit' },
        'state-file': { type: 'string' },
        'delay-ms': { type: 'string', default: '0' },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return undefined;
  const host = values.host.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new UsageError('--host must not be empty');
  if (values.token !== undefined && values.token.trim() === '')
    throw new UsageError('--token must not be empty');
  const mount = values.mount.replace(/^\/+|\/+$/g, '');
  if (mount === '') throw new UsageError('--mount must not be empty');
  if (values['state-file'] === '') throw new UsageError('--state-file must not be empty');
  return {
    port: integer('port', values.port, 0, 65_535),
    host,
    allowRemote: values['allow-remote'],
    token: values.token,
    mount,
    stateFile: values['state-file'],
    delayMs: integer('delay-ms', values['delay-ms'], 0, MAX_DELAY_MS),
  };
}

/** `localhost` or a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.x.x). */
export function isLoopbackHost(host: string): boolean {
  const lower = host.toLowerCase();
  if (lower === 'localhost') return true;
  if (isIPv4(lower)) return lower.startsWith('127.');
  if (isIPv6(lower)) {
    if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}

const err = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function main(argv: readonly string[]): Promise<number> {
  let options;
  try {
    options = parseDevVaultArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(`${NAME}: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!isLoopbackHost(options.host)) {
    if (!options.allowRemote) {
      err(
        `${NAME}: refusing to listen on non-loopback host '${options.host}': the dev server is ` +
          `not a secure key store. Pass --allow-remote to do it anyway.`,
      );
      return 2;
    }
    err(
      `${NAME}: WARNING: listening on non-loopback host '${options.host}' (--allow-remote): ` +
        `anyone who can reach it and has the token can use the keys; development only.`,
    );
  }

  let server: TransitDevServer;
  try {
    server = await startTransitDevServer({
      port: options.port,
      host: options.host,
      mount: options.mount,
      ...(options.token === undefined ? {} : { token: options.token }),
      ...(options.stateFile === undefined ? {} : { stateFile: options.stateFile }),
    });
  } catch (error) {
    err(`${NAME}: could not start: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  if (options.delayMs > 0)
    server.injectFault({ kind: 'delay', ms: options.delayMs, times: Infinity });

  // The server logs every request it answers; nobody reads the log here, so keep it empty.
  const trimLog = setInterval(() => {
    (server.requests as unknown[]).length = 0;
  }, 5_000);
  trimLog.unref();

  process.stdout.write(`VAULT_ADDR=${server.address} VAULT_TOKEN=${server.token}\n`);
  err(
    `${NAME}: Transit mounted at ${options.mount}/` +
      `${options.stateFile === undefined ? ', keys in memory' : `, keys in ${options.stateFile}`}` +
      `${options.delayMs > 0 ? `, every answer delayed ${options.delayMs} ms` : ''}` +
      `; development only. Ctrl-C to stop.`,
  );

  return new Promise<number>((resolve) => {
    let closing = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (closing) {
        err(`${NAME}: ${signal} again, exiting now`);
        process.exit(130);
      }
      closing = true;
      err(`${NAME}: ${signal}, closing (again to exit at once)`);
      clearInterval(trimLog);
      server.close().then(
        () => resolve(0),
        (error: unknown) => {
          err(`${NAME}: close failed: ${error instanceof Error ? error.message : String(error)}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    err(`${NAME}: crashed: ${error instanceof Error ? (error.stack ?? error.message) : error}`);
    process.exitCode = 1;
  },
);
