import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingPackFiles, rootFiles, unexpectedPackFiles } from './support/pack-files.js';
import {
  linkPackages,
  moduleEntries,
  npmPack,
  readManifest,
  repoRoot,
  specifierOf,
  stagePackage,
  type PackageManifest,
} from './support/package-stage.js';

// Everything here works on a staged copy: the library built into a temporary directory, packed
// with npm, and the tarball unpacked into a consumer project that links only the package's
// declared dependencies and peers (optional ones included) from the repository's node_modules.
let base: string;
let staged: string;
let manifest: PackageManifest;
let packed: string[];
let consumer: string;

beforeAll(() => {
  staged = stagePackage();
  base = dirname(staged);
  manifest = readManifest(staged);
  packed = npmPack(staged, { dryRun: true }).files.map((file) => file.path);
}, 180_000);

afterAll(() => {
  if (base !== undefined) rmSync(base, { recursive: true, force: true });
});

describe('npm pack --dry-run', () => {
  it('ships only the built library, README, LICENSE, CHANGELOG and package.json', () => {
    expect(unexpectedPackFiles(packed)).toEqual([]);
    expect(missingPackFiles(packed)).toEqual([]);
    expect(packed.filter((path) => !path.startsWith('dist/')).toSorted()).toEqual([...rootFiles]);
  });

  it('ships a built module for every library source', () => {
    const sources = execFileSync('find', ['lib', '-name', '*.ts', '-not', '-name', '*.spec.ts'], {
      cwd: staged,
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
    expect(sources.length).toBeGreaterThan(10);
    const shipped = new Set(packed);
    const unshipped = sources.filter(
      (source) => !shipped.has(`dist/${source.replace(/\.ts$/, '.js')}`),
    );
    expect(unshipped).toEqual([]);
  });

  it('flags a stray file and a stray folder in `files`', () => {
    const stray = join(base, 'stray-root');
    cpSync(staged, stray, { recursive: true });
    writeFileSync(join(stray, 'dist/lib/leftover.spec.js'), 'export {};\n');
    writeFileSync(join(stray, 'dist/lib/index.js.map'), '{}\n');
    writeFileSync(join(stray, 'notes.txt'), 'not for users\n');
    writeFileSync(join(stray, 'dist/lib/.env'), 'VAULT_TOKEN=hvs.not-a-real-token\n');
    const strayManifest = readManifest(stray);
    // Without the exclusion of source maps, and with two entries nobody should ship.
    strayManifest.files = [
      ...(strayManifest.files ?? []).filter((entry) => !entry.startsWith('!')),
      'notes.txt',
      'test/package',
    ];
    writeFileSync(join(stray, 'package.json'), JSON.stringify(strayManifest, null, 2));
    const files = npmPack(stray, { dryRun: true }).files.map((file) => file.path);
    const flagged = unexpectedPackFiles(files);
    expect(flagged).toContain('dist/lib/leftover.spec.js');
    expect(flagged).toContain('dist/lib/index.js.map');
    expect(flagged).toContain('notes.txt');
    expect(flagged).toContain('dist/lib/.env');
    expect(flagged).toContain('test/package/package-quality.spec.ts');
    expect(missingPackFiles(packed.filter((path) => path !== 'dist/lib/index.d.ts'))).toEqual([
      'dist/lib/index.d.ts',
    ]);
    expect(missingPackFiles(packed.filter((path) => path !== 'CHANGELOG.md'))).toEqual([
      'CHANGELOG.md',
    ]);
  }, 60_000);

  it('ships LICENSE with the license package.json names, and a CHANGELOG for this version', () => {
    expect(manifest.license).toBe('MIT');
    expect(readFileSync(join(staged, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n/);
    const changelog = readFileSync(join(staged, 'CHANGELOG.md'), 'utf8');
    expect(changelog).toMatch(/^# Changelog\n/);
    expect(changelog).toContain(`## [${manifest.version}]`);
  });
});

describe('the export map', () => {
  it('has the main entry, ./testing and ./package.json', () => {
    expect(moduleEntries(manifest)).toEqual(expect.arrayContaining(['.', './testing']));
    expect(manifest.exports['./package.json']).toBe('./package.json');
  });

  it('points every entry at shipped files, types first', () => {
    const shipped = new Set(packed);
    for (const subpath of moduleEntries(manifest)) {
      const target = manifest.exports[subpath];
      expect(typeof target, subpath).toBe('object');
      const conditions = target as Record<string, string>;
      // TypeScript takes the first matching condition: "types" must come before "default".
      expect(Object.keys(conditions), subpath).toEqual(['types', 'default']);
      expect(conditions['types'], subpath).toMatch(/^\.\/dist\/lib\/.+\.d\.ts$/);
      expect(conditions['default'], subpath).toBe(conditions['types']!.replace(/\.d\.ts$/, '.js'));
      expect(shipped.has(conditions['types']!.slice(2)), subpath).toBe(true);
      expect(shipped.has(conditions['default']!.slice(2)), subpath).toBe(true);
    }
    const root = manifest.exports['.'] as Record<string, string>;
    expect(`./${manifest.main?.replace(/^\.\//, '')}`).toBe(root['default']);
    expect(`./${manifest.types?.replace(/^\.\//, '')}`).toBe(root['types']);
    for (const bin of Object.values(manifest.bin ?? {})) expect(shipped.has(bin), bin).toBe(true);
  });
});

describe('a consumer project installing the packed tarball', () => {
  const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');

  beforeAll(() => {
    consumer = join(base, 'consumer');
    const installed = join(consumer, 'node_modules', manifest.name);
    mkdirSync(installed, { recursive: true });
    const { filename } = npmPack(staged, { dryRun: false, destination: base });
    execFileSync('tar', ['-xzf', join(base, filename), '-C', installed, '--strip-components=1']);
    // What a user installs next to the package: its dependencies and peers (optional ones too),
    // Node's types. Nothing else of the repository is reachable from the installed package.
    linkPackages(consumer, [
      ...Object.keys(manifest.dependencies ?? {}),
      ...Object.keys(manifest.peerDependencies ?? {}),
      '@types/node',
    ]);
    writeFileSync(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'kms-consumer', private: true, type: 'module' }),
    );
  }, 120_000);

  it('type-checks imports of every entry under NodeNext, ESM and CommonJS', () => {
    const entries = moduleEntries(manifest);
    mkdirSync(join(consumer, 'src'), { recursive: true });
    const esm = entries.flatMap((subpath, index) => {
      const specifier = JSON.stringify(specifierOf(manifest, subpath));
      return [
        `import * as entry${index} from ${specifier};`,
        // Fails (as an unused directive) if the entry resolved to untyped `any`.
        '// @ts-expect-error the entry has typed exports, and not this one',
        `import { notExportedByThisEntry${index} } from ${specifier};`,
        `export const names${index}: string[] = Object.keys(entry${index});`,
      ];
    });
    esm.push(
      `import { KmsConfigurationError, KmsError, KmsModule } from '${manifest.name}';`,
      `import { startTransitDevServer } from '${manifest.name}/testing';`,
      'export const forRoot: (...args: never[]) => unknown = KmsModule.forRoot;',
      "export const typed: KmsError = new KmsConfigurationError('bad option');",
      'export type Address = Awaited<ReturnType<typeof startTransitDevServer>>["address"];',
      "export const address: Address = 'http://127.0.0.1:8200';",
    );
    writeFileSync(join(consumer, 'src/esm-consumer.ts'), `${esm.join('\n')}\n`);
    writeFileSync(
      join(consumer, 'src/cjs-consumer.cts'),
      [
        `import kms = require('${manifest.name}');`,
        `import testing = require('${manifest.name}/testing');`,
        'export const module: typeof kms.KmsModule = kms.KmsModule;',
        'export const start: typeof testing.startTransitDevServer = testing.startTransitDevServer;',
        '',
      ].join('\n'),
    );
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2023'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
      },
      include: ['src'],
    };
    writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    // A control in the same compilation: a name no entry exports must be the one error reported.
    writeFileSync(
      join(consumer, 'src/wrong-consumer.ts'),
      `import { NoSuchExport } from '${manifest.name}';\nexport const x: unknown = NoSuchExport;\n`,
    );
    const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], {
      cwd: consumer,
      encoding: 'utf8',
    });
    const errors = (result.stdout + result.stderr).split('\n').filter((line) => line.trim() !== '');
    expect(result.status).not.toBe(0);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^src\/wrong-consumer\.ts\(1,10\): error TS2305: .*NoSuchExport/);
  }, 180_000);

  it('a CommonJS app require()s every entry and gets the same names as an ESM import', () => {
    const specifiers = moduleEntries(manifest).map((subpath) => specifierOf(manifest, subpath));
    writeFileSync(
      join(consumer, 'names.cjs'),
      `const names = {};
for (const specifier of ${JSON.stringify(specifiers)}) {
  names[specifier] = Object.keys(require(specifier)).toSorted();
}
names.packageName = require('${manifest.name}/package.json').name;
console.log(JSON.stringify(names));
`,
    );
    writeFileSync(
      join(consumer, 'names.mjs'),
      `const names = {};
for (const specifier of ${JSON.stringify(specifiers)}) {
  names[specifier] = Object.keys(await import(specifier)).toSorted();
}
console.log(JSON.stringify(names));
`,
    );
    const run = (file: string): Record<string, unknown> =>
      JSON.parse(
        execFileSync(process.execPath, [file], { cwd: consumer, encoding: 'utf8', stdio: 'pipe' }),
      ) as Record<string, unknown>;
    const required = run('names.cjs');
    const imported = run('names.mjs');
    expect(required['packageName']).toBe(manifest.name);
    for (const specifier of specifiers) {
      expect(required[specifier], specifier).toEqual(imported[specifier]);
      expect((required[specifier] as string[]).length, specifier).toBeGreaterThan(0);
    }
    expect(required[manifest.name]).toContain('KmsModule');
    expect(required[`${manifest.name}/testing`]).toEqual(['startTransitDevServer']);
  }, 120_000);

  it('a CommonJS app encrypts and decrypts through the required package', () => {
    writeFileSync(
      join(consumer, 'round-trip.cjs'),
      `const { RestSessionPool, VaultTransitService } = require('${manifest.name}');
const { startTransitDevServer } = require('${manifest.name}/testing');
(async () => {
  const server = await startTransitDevServer();
  const pool = new RestSessionPool();
  const kms = new VaultTransitService({ vaultAddr: server.address, vaultToken: server.token });
  const { dek, encryptedDek } = await pool.session((s) => kms.generateDek(s, 'cjs-consumer'));
  const back = await pool.session((s) => kms.decryptDek(s, 'cjs-consumer', encryptedDek));
  pool.close();
  await server.close();
  console.log(back.equals(dek) ? 'ok' : 'mismatch');
})().catch((error) => { console.error(error); process.exitCode = 1; });
`,
    );
    const output = execFileSync(process.execPath, ['round-trip.cjs'], {
      cwd: consumer,
      encoding: 'utf8',
      stdio: 'pipe',
    });
    expect(output.trim()).toBe('ok');
  }, 120_000);

  it('loads every entry without file-type, which @nestjs/common 12 imports only lazily', () => {
    // npm ci warns that file-type@22 (a dependency of @nestjs/common 12) wants Node >= 22.
    // @nestjs/common imports it only inside FileTypeValidator (upload validation), which
    // nothing here uses: with file-type made unresolvable, every entry still loads.
    const hook = `export async function resolve(specifier, context, next) {
      if (specifier === 'file-type' || specifier.startsWith('file-type/')) {
        throw new Error('file-type is not loaded here');
      }
      return next(specifier, context);
    }`;
    // Reachable from the consumer, so that only the hook can keep it out (the control below).
    linkPackages(consumer, ['file-type']);
    const specifiers = moduleEntries(manifest).map((subpath) => specifierOf(manifest, subpath));
    const script = `
      import { register } from 'node:module';
      register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});
      const loaded = [];
      for (const specifier of ${JSON.stringify(specifiers)}) {
        loaded.push(Object.keys(await import(specifier)).length > 0);
      }
      await import('file-type').then(
        () => console.log(loaded.join(',') + ' file-type-loaded'),
        () => console.log(loaded.join(',') + ' file-type-blocked'),
      );`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: consumer,
      encoding: 'utf8',
      stdio: 'pipe',
    });
    expect(output.trim()).toBe(`${specifiers.map(() => 'true').join(',')} file-type-blocked`);
  }, 120_000);

  it('require() refuses an ESM graph with top-level await, so the checks above would notice one', () => {
    const probe = join(consumer, 'node_modules/tla-probe');
    mkdirSync(probe, { recursive: true });
    writeFileSync(
      join(probe, 'package.json'),
      JSON.stringify({ name: 'tla-probe', type: 'module', exports: './index.js' }),
    );
    writeFileSync(join(probe, 'index.js'), 'export const value = await Promise.resolve(1);\n');
    const result = spawnSync(process.execPath, ['-e', "require('tla-probe')"], {
      cwd: consumer,
      encoding: 'utf8',
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('ERR_REQUIRE_ASYNC_MODULE');
  });
});
