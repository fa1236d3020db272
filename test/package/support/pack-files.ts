/** The files besides the build that the package ships, at its root. */
export const rootFiles = ['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json'] as const;

const builtFile = /^dist\/lib\/.+\.(?:js|d\.ts)$/;
const testFile = /(?:^|\/)(?:__\w+__\/|[^/]*\.(?:spec|test)\.)/;

/**
 * The paths of an `npm pack` file list that should not ship: anything but the root files and the
 * library's built JavaScript and declarations (no source maps, specs, tests or sources).
 */
export function unexpectedPackFiles(paths: readonly string[]): string[] {
  return paths
    .filter((path) => {
      if ((rootFiles as readonly string[]).includes(path)) return false;
      return !builtFile.test(path) || testFile.test(path);
    })
    .toSorted();
}

/**
 * What a file list lacks: a root file, or the declaration beside a built module (and the module
 * beside a declaration).
 */
export function missingPackFiles(paths: readonly string[]): string[] {
  const present = new Set(paths);
  const missing: string[] = rootFiles.filter((file) => !present.has(file));
  for (const path of paths) {
    if (path.endsWith('.d.ts')) {
      const module = path.replace(/\.d\.ts$/, '.js');
      if (!present.has(module)) missing.push(module);
    } else if (path.endsWith('.js')) {
      const declaration = path.replace(/\.js$/, '.d.ts');
      if (!present.has(declaration)) missing.push(declaration);
    }
  }
  return missing.toSorted();
}
