/**
 * Runs one memory measurement in a process of its own (started by the bench), so that its RSS
 * starts from a fresh heap: `node --expose-gc memory-child.js <address> <token> <decrypts>
 * <transport>`. Prints the result as one line of JSON.
 */
import type { KmsTransport } from '@ascetic-ddd/nestjs-kms';
import type { DevServerProcess } from './dev-server-process.js';
import { measureMemory } from './memory-bench.js';

const [address, token, decrypts, transport] = process.argv.slice(2);
const server = { address, token } as DevServerProcess;
measureMemory(server, Number(decrypts), transport as KmsTransport).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  },
  (error: unknown) => {
    console.error('memory-child: failed:', error);
    process.exitCode = 1;
  },
);
