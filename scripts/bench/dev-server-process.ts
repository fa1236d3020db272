import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { spawnNode } from './node-child.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = resolve(ROOT, 'dist/lib/testing/dev-vault-cli.js');

/** The Transit dev server in its own process (the `nestjs-kms-dev-vault` bin). */
export interface DevServerProcess {
  readonly address: string;
  readonly token: string;
  readonly pid: number;
  /** CPU time the server process has used so far, in µs (Linux only; NaN elsewhere). */
  cpuMicros(): number;
  stop(): Promise<void>;
}

/** Whether `taskset` can pin processes to CPUs here. */
export function canPin(): boolean {
  return spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Pins this process (and the threads it starts later) to `cpu`; false when it cannot. */
export function pinSelf(cpu: number): boolean {
  return (
    spawnSync('taskset', ['-a', '-cp', String(cpu), String(process.pid)], {
      stdio: 'ignore',
    }).status === 0
  );
}

/**
 * Starts the dev server (`--port 0`, an ephemeral port on 127.0.0.1), pinned to `cpu` when
 * given; resolves once it printed its address.
 */
export async function startDevServer(options: {
  readonly delayMs?: number;
  readonly cpu?: number;
}): Promise<DevServerProcess> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const args = [CLI, '--port', '0', '--delay-ms', String(options.delayMs ?? 0)];
  const child: ChildProcess = spawnNode(args, options.cpu, ['ignore', 'pipe', 'ignore']);
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', kill);
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
  const pid = child.pid!;
  return {
    address: match[1]!,
    token: match[2]!,
    pid,
    cpuMicros: () => processCpuMicros(pid),
    stop: async () => {
      process.off('exit', kill);
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((done) => child.once('exit', () => done()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** User + system CPU time of a process from /proc, in µs (taskset execs node in place). */
function processCpuMicros(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1_000_000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return Number.NaN;
  }
}
