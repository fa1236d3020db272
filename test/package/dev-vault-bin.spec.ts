import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileDevVaultCli } from '../support/compile-dev-vault-cli.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const manifest = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as {
  bin?: Record<string, string>;
  files?: string[];
};

// The CLI compiled on its own (compileDevVaultCli): no waiting for, or racing with, the full build.
let out: string;
let cli: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'dev-vault-bin-'));
  cli = compileDevVaultCli(out);
}, 60_000);

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(out, { recursive: true, force: true });
});

function run(args: string[]): { child: ChildProcess; firstLine: Promise<string> } {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout! });
  const firstLine = new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`exited ${code} before printing`)));
  });
  firstLine.catch(() => undefined); // a child expected to fail prints nothing
  return { child, firstLine };
}

const exitOf = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

describe('the nestjs-kms-dev-vault bin', () => {
  it('is declared in package.json and ships in the package', () => {
    const bin = manifest.bin?.['nestjs-kms-dev-vault'];
    expect(bin).toBe('dist/lib/testing/dev-vault-cli.js');
    expect(manifest.files).toContain('dist/lib');
    expect(existsSync(`${root}/lib/testing/dev-vault-cli.ts`)).toBe(true);
    expect(readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('starts with --port 0, prints the address and token, serves, and stops on SIGTERM', async () => {
    const { child, firstLine } = run(['--port', '0', '--token', 'bin-test-token']);
    const line = await firstLine;
    const match = /^VAULT_ADDR=(http:\/\/127\.0\.0\.1:\d+) VAULT_TOKEN=(\S+)$/.exec(line);
    expect(match?.[2]).toBe('bin-test-token');
    const health = await fetch(`${match![1]}/v1/sys/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ initialized: true, sealed: false });
    const encrypt = await fetch(`${match![1]}/v1/transit/encrypt/bin`, {
      method: 'POST',
      headers: { 'X-Vault-Token': 'bin-test-token' },
      body: JSON.stringify({ plaintext: Buffer.from('x').toString('base64') }),
    });
    expect(encrypt.status).toBe(200);
    child.kill('SIGTERM');
    expect(await exitOf(child)).toBe(0);
  });

  it('makes a random token when none is given, and delays answers with --delay-ms', async () => {
    const { child, firstLine } = run(['--port', '0', '--delay-ms', '150']);
    const match = /^VAULT_ADDR=(\S+) VAULT_TOKEN=(hvs\.\S+)$/.exec(await firstLine);
    expect(match).not.toBeNull();
    const started = performance.now();
    expect((await fetch(`${match![1]}/v1/sys/health`)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    child.kill('SIGINT');
    expect(await exitOf(child)).toBe(0);
  });

  it('refuses a non-loopback host without --allow-remote, and bad options', async () => {
    expect(await exitOf(run(['--host', '0.0.0.0', '--port', '0']).child)).toBe(2);
    expect(await exitOf(run(['--port', '70000']).child)).toBe(2);
    expect(await exitOf(run(['--nope']).child)).toBe(2);
  });
});
