import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Compiles the `nestjs-kms-dev-vault` CLI on its own (it imports only `node:` builtins and
 * lib/testing) into `out`, so that a spec neither waits for nor races with the full build other
 * package tests run. Returns the path of the compiled CLI.
 */
export function compileDevVaultCli(out: string): string {
  execFileSync(
    process.execPath,
    [
      `${root}/node_modules/typescript/bin/tsc`,
      '--ignoreConfig',
      `${root}/lib/testing/dev-vault-cli.ts`,
      '--outDir',
      out,
      '--rootDir',
      `${root}/lib`,
      '--target',
      'ES2022',
      '--lib',
      'ES2023',
      '--module',
      'NodeNext',
      '--moduleResolution',
      'NodeNext',
      '--strict',
      '--skipLibCheck',
      '--types',
      'node',
      '--typeRoots',
      `${root}/node_modules/@types`,
    ],
    { cwd: root, stdio: 'pipe' },
  );
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  return join(out, 'testing', 'dev-vault-cli.js');
}
