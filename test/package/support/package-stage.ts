import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** Top-level entries of the repository that never take part in packing. */
const notCopied = new Set(['.git', '.cache', 'node_modules', 'dist', 'coverage']);

export interface PackageManifest {
  name: string;
  version: string;
  license?: string;
  main?: string;
  types?: string;
  bin?: Record<string, string>;
  files?: string[];
  exports: Record<string, string | Record<string, string>>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

export function readManifest(dir: string = repoRoot): PackageManifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageManifest;
}

/**
 * A copy of the repository (without node_modules, .git and old builds) in a new temporary
 * directory, with the library freshly built into its dist/ from the repository's sources. Packing
 * it ships what packing the repository would, without racing other tests that rebuild the
 * repository's own dist/.
 */
export function stagePackage(base: string = mkdtempSync(join(tmpdir(), 'kms-package-'))): string {
  const dir = join(base, 'package-root');
  cpSync(repoRoot, dir, {
    recursive: true,
    filter: (source) => {
      const relative = source.slice(repoRoot.length).replace(/^\/+/, '');
      return !notCopied.has(relative.split('/')[0] ?? '');
    },
  });
  execFileSync(
    process.execPath,
    [
      join(repoRoot, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(repoRoot, 'tsconfig.build.json'),
      '--outDir',
      join(dir, 'dist'),
    ],
    { cwd: repoRoot, stdio: 'pipe' },
  );
  return dir;
}

interface PackResult {
  filename: string;
  files: { path: string }[];
}

/** `npm pack --json` in a directory (scripts off); with dryRun nothing is written. */
export function npmPack(
  dir: string,
  options: { dryRun: boolean; destination?: string },
): PackResult {
  const args = ['pack', '--json', '--ignore-scripts'];
  if (options.dryRun) args.push('--dry-run');
  if (options.destination !== undefined) args.push('--pack-destination', options.destination);
  const output = execFileSync('npm', args, { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
  const [result] = JSON.parse(output) as PackResult[];
  return result!;
}

/**
 * Links the named packages from the repository's node_modules into a consumer's node_modules,
 * as if the consumer had installed them (each resolves its own dependencies where it lives).
 */
export function linkPackages(consumer: string, names: readonly string[]): void {
  for (const name of names) {
    const target = join(consumer, 'node_modules', name);
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(join(repoRoot, 'node_modules', name), target, 'dir');
  }
}

/** The subpaths of an export map that name modules (not ./package.json). */
export function moduleEntries(manifest: PackageManifest): string[] {
  return Object.keys(manifest.exports).filter((subpath) => subpath !== './package.json');
}

/** The import specifier of an export-map subpath. */
export function specifierOf(manifest: PackageManifest, subpath: string): string {
  return subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`;
}
