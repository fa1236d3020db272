import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';

/** Starts `node <args>`, pinned to `cpu` with `taskset` when one is given. */
export function spawnNode(
  args: readonly string[],
  cpu: number | undefined,
  stdio: StdioOptions,
): ChildProcess {
  return cpu === undefined
    ? spawn(process.execPath, args, { stdio })
    : spawn('taskset', ['-c', String(cpu), process.execPath, ...args], { stdio });
}

/** Runs `node <args>` (pinned like {@link spawnNode}) and parses what it printed as JSON. */
export function nodeJson<T>(
  args: readonly string[],
  cpu: number | undefined,
  what: string,
): Promise<T> {
  const child = spawnNode(args, cpu, ['ignore', 'pipe', 'inherit']);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      try {
        resolve(JSON.parse(out) as T);
      } catch {
        reject(new Error(`${what} exited ${code} without a JSON result`));
      }
    });
  });
}
