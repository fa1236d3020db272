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
import { chmodSync, writeFileSync } from 'node:fs';
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
  --tls                 serve HTTPS with a CA and server certificate generated at start
                        (valid for 127.0.0.1, localhost and --host)
  --tls-ca-out <path>   write the CA certificate (PEM) there, for clients to trust
  --tls-client-auth     require a client certificate from that CA (mutual TLS); needs:
  --tls-client-cert-out <path>  where to write a client certificate it issues (PEM)
  --tls-client-key-out <path>   where to write its private key (PEM, mode 0600)
  --help

On start it prints one line to stdout:
  VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=hvs.…
with --tls an https address, followed by VAULT_CACERT=<path> (and VAULT_CLIENT_CERT,
VAULT_CLIENT_KEY with --tls-client-auth) for the files written.`;

/** What the command line asks for. */
export interface DevVaultCliOptions {
  readonly port: number;
  readonly host: string;
  readonly allowRemote: boolean;
  readonly token: string | undefined;
  readonly mount: string;
  readonly stateFile: string | undefined;
  readonly delayMs: number;
  /** `--tls`: HTTPS with generated certificates. */
  readonly tls: boolean;
  readonly tlsCaOut: string | undefined;
  /** `--tls-client-auth`: mutual TLS (then both client outputs are set). */
  readonly tlsClientAuth: boolean;
  readonly tlsClientCertOut: string | undefined;
  readonly tlsClientKeyOut: string | undefined;
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
        tls: { type: 'boolean', default: false },
        'tls-ca-out': { type: 'string' },
        'tls-client-auth': { type: 'boolean', default: false },
        'tls-client-cert-out': { type: 'string' },
        'tls-client-key-out': { type: 'string' },
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
  checkTlsArgs(values);
  return {
    port: integer('port', values.port, 0, 65_535),
    host,
    allowRemote: values['allow-remote'],
    token: values.token,
    mount,
    stateFile: values['state-file'],
    delayMs: integer('delay-ms', values['delay-ms'], 0, MAX_DELAY_MS),
    tls: values.tls,
    tlsCaOut: values['tls-ca-out'],
    tlsClientAuth: values['tls-client-auth'],
    tlsClientCertOut: values['tls-client-cert-out'],
    tlsClientKeyOut: values['tls-client-key-out'],
  };
}

/** The `--tls*` flags: outputs need `--tls`, mutual TLS needs both client outputs. */
function checkTlsArgs(values: Record<string, string | boolean | undefined>): void {
  const outputs = ['tls-ca-out', 'tls-client-cert-out', 'tls-client-key-out'];
  for (const name of outputs)
    if (values[name] === '') throw new UsageError(`--${name} must not be empty`);
  for (const name of ['tls-client-auth', ...outputs]) {
    if (values[name] !== undefined && values[name] !== false && !values.tls)
      throw new UsageError(`--${name} needs --tls`);
  }
  const clientOutputs =
    values['tls-client-cert-out'] !== undefined || values['tls-client-key-out'] !== undefined;
  if (values['tls-client-auth']) {
    if (values['tls-client-cert-out'] === undefined || values['tls-client-key-out'] === undefined)
      throw new UsageError(
        '--tls-client-auth needs --tls-client-cert-out and --tls-client-key-out',
      );
  } else if (clientOutputs) {
    throw new UsageError('--tls-client-cert-out and --tls-client-key-out need --tls-client-auth');
  }
}

/**
 * Writes the PEM files the `--tls-*-out` flags name (the key with mode 0600) and returns the
 * variables that name them, for the start line.
 */
function writeTlsFiles(options: DevVaultCliOptions, server: TransitDevServer): string[] {
  const tls = server.tls;
  if (!tls) return [];
  const written: string[] = [];
  if (options.tlsCaOut !== undefined) {
    writeFileSync(options.tlsCaOut, tls.ca, { mode: 0o644 });
    written.push(`VAULT_CACERT=${options.tlsCaOut}`);
  }
  if (options.tlsClientCertOut !== undefined && options.tlsClientKeyOut !== undefined) {
    writeFileSync(options.tlsClientCertOut, tls.clientCert ?? '', { mode: 0o644 });
    // An existing file keeps its mode on write: make it private before the key goes in.
    writeFileSync(options.tlsClientKeyOut, '', { mode: 0o600 });
    chmodSync(options.tlsClientKeyOut, 0o600);
    writeFileSync(options.tlsClientKeyOut, tls.clientKey ?? '');
    written.push(
      `VAULT_CLIENT_CERT=${options.tlsClientCertOut}`,
      `VAULT_CLIENT_KEY=${options.tlsClientKeyOut}`,
    );
  }
  return written;
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
      ...(options.tls ? { tls: { requireClientCert: options.tlsClientAuth } } : {}),
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

  let tlsFiles: string[];
  try {
    tlsFiles = writeTlsFiles(options, server);
  } catch (error) {
    err(
      `${NAME}: could not write the TLS files: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
    await server.close();
    return 1;
  }
  process.stdout.write(
    `${[`VAULT_ADDR=${server.address}`, `VAULT_TOKEN=${server.token}`, ...tlsFiles].join(' ')}\n`,
  );
  err(
    `${NAME}: Transit mounted at ${options.mount}/` +
      `${options.stateFile === undefined ? ', keys in memory' : `, keys in ${options.stateFile}`}` +
      `${options.delayMs > 0 ? `, every answer delayed ${options.delayMs} ms` : ''}` +
      `${options.tls ? `, HTTPS${options.tlsClientAuth ? ' with client certificates' : ''}` : ''}` +
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
