import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileDevVaultCli } from '../support/compile-dev-vault-cli.js';
import {
  KmsUnavailableError,
  RestSessionPool,
  VaultTransitService,
  type KmsTlsOptions,
} from '../../lib/index.js';

let out: string;
let cli: string;
let files: string;
const children: ChildProcess[] = [];

// The CLI compiled on its own (compileDevVaultCli), so that this file does not wait for the build.
beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'dev-vault-tls-bin-'));
  files = mkdtempSync(join(tmpdir(), 'dev-vault-tls-files-'));
  cli = compileDevVaultCli(out);
}, 120_000);
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(out, { recursive: true, force: true });
  rmSync(files, { recursive: true, force: true });
});

interface Run {
  readonly child: ChildProcess;
  readonly firstLine: Promise<string>;
  readonly output: () => string;
}

function run(args: string[]): Run {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const lines = createInterface({ input: child.stdout! });
  const firstLine = new Promise<string>((resolve, reject) => {
    lines.once('line', (line) => {
      output += `${line}\n`;
      resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before printing: ${output}`)));
  });
  firstLine.catch(() => undefined);
  return { child, firstLine, output: () => output };
}

const exitOf = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

/** The variables of the start line. */
function variables(line: string): Record<string, string> {
  return Object.fromEntries(line.split(' ').map((pair) => pair.split('=', 2) as [string, string]));
}

async function roundTrip(
  vars: Record<string, string>,
  tls: KmsTlsOptions | undefined,
): Promise<void> {
  const pool = new RestSessionPool({ maxSockets: 2, ...(tls ? { tls } : {}) });
  try {
    const kms = new VaultTransitService({
      vaultAddr: vars.VAULT_ADDR!,
      vaultToken: vars.VAULT_TOKEN!,
      retry: false,
      ...(tls ? { tls } : {}),
    });
    const { dek, encryptedDek } = await pool.session((s) => kms.generateDek(s, 'cli-tenant'));
    expect(await pool.session((s) => kms.decryptDek(s, 'cli-tenant', encryptedDek))).toEqual(dek);
  } finally {
    pool.close();
  }
}

describe('nestjs-kms-dev-vault --tls', () => {
  it('serves HTTPS, prints an https VAULT_ADDR and writes the CA to --tls-ca-out', async () => {
    const caPath = join(files, 'ca.pem');
    const { child, firstLine } = run(['--port', '0', '--tls', '--tls-ca-out', caPath]);
    const vars = variables(await firstLine);
    expect(vars.VAULT_ADDR).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(vars.VAULT_CACERT).toBe(caPath);
    expect(readFileSync(caPath, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    await roundTrip(vars, { ca: caPath });
    // Without the CA, the server is not trusted.
    await expect(roundTrip(vars, undefined)).rejects.toBeInstanceOf(KmsUnavailableError);
    child.kill('SIGTERM');
    expect(await exitOf(child)).toBe(0);
  });

  it('with --tls-client-auth writes a client certificate and a private key (0600) that mutual TLS accepts', async () => {
    const paths = {
      ca: join(files, 'm-ca.pem'),
      cert: join(files, 'client.pem'),
      key: join(files, 'client-key.pem'),
    };
    writeFileSync(paths.key, 'old', { mode: 0o644 }); // an existing file is made private first
    const { child, firstLine, output } = run([
      '--port',
      '0',
      '--tls',
      '--tls-client-auth',
      '--tls-ca-out',
      paths.ca,
      '--tls-client-cert-out',
      paths.cert,
      '--tls-client-key-out',
      paths.key,
    ]);
    const vars = variables(await firstLine);
    expect(vars).toMatchObject({ VAULT_CLIENT_CERT: paths.cert, VAULT_CLIENT_KEY: paths.key });
    expect(statSync(paths.key).mode & 0o777).toBe(0o600);
    const key = readFileSync(paths.key, 'utf8');
    expect(key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    await roundTrip(vars, paths);
    await expect(roundTrip(vars, { ca: paths.ca })).rejects.toBeInstanceOf(KmsUnavailableError);
    child.kill('SIGTERM');
    expect(await exitOf(child)).toBe(0);
    // The key went to its file only, never to the terminal.
    for (const line of key.split('\n').filter((l) => l !== '' && !l.startsWith('-----')))
      expect(output()).not.toContain(line);
  });

  it.each([
    [['--tls-ca-out', 'x.pem'], '--tls-ca-out needs --tls'],
    [['--tls-client-auth'], '--tls-client-auth needs --tls'],
    [['--tls', '--tls-client-auth'], '--tls-client-auth needs --tls-client-cert-out'],
    [['--tls', '--tls-client-key-out', 'k.pem'], 'need --tls-client-auth'],
    [['--tls', '--tls-ca-out', ''], '--tls-ca-out must not be empty'],
  ])('refuses %j with a usage error', async (args, message) => {
    const { child, output } = run(['--port', '0', ...args]);
    expect(await exitOf(child)).toBe(2);
    expect(output()).toContain(message);
  });

  it('exits 1 when it cannot write a TLS file', async () => {
    const caPath = join(files, 'no-such-dir', 'ca.pem');
    const { child, output } = run(['--port', '0', '--tls', '--tls-ca-out', caPath]);
    expect(await exitOf(child)).toBe(1);
    expect(output()).toContain('could not write the TLS files: ENOENT');
  });
});
