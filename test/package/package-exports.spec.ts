import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const manifest = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as Record<
  string,
  unknown
>;

/** Imports a specifier of the built package in a plain Node process (no vitest, no aliases). */
function exportedNames(specifier: string): string[] {
  const script = `import(${JSON.stringify(specifier)}).then((m) => console.log(JSON.stringify(Object.keys(m).toSorted())))`;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(output) as string[];
}

beforeAll(() => {
  // Always test what `npm run build` produces now, never a stale dist.
  execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'pipe' });
}, 120_000);

describe('the built package', () => {
  it('exports exactly the public names from "."', () => {
    expect(exportedNames('@ascetic-ddd/nestjs-kms')).toEqual([
      'BaseSession',
      'CompositeSession',
      'CompositeSessionPool',
      'CurrentSession',
      'InMemoryKeyManagementService',
      'InjectKeyManagementService',
      'KEY_MANAGEMENT_SERVICE',
      'KekNotFoundError',
      'KmsAbortedError',
      'KmsAccessDeniedError',
      'KmsConfigurationError',
      'KmsDecryptionError',
      'KmsError',
      'KmsInvalidInputError',
      'KmsModule',
      'KmsOutcomeUnknownError',
      'KmsSessionError',
      'KmsSessionHost',
      'KmsUnavailableError',
      'RestSession',
      'RestSessionPool',
      'SESSION_POOL',
      'SessionInterceptor',
      'VaultTransitService',
      'WithSession',
      'createSessionSignals',
      'extractRequest',
      'openSession',
    ]);
  });

  it('exports exactly the test helpers from "./testing"', () => {
    expect(exportedNames('@ascetic-ddd/nestjs-kms/testing')).toEqual(['startTransitDevServer']);
  });

  it('exports exactly the OpenTelemetry bridge from "./opentelemetry"', () => {
    expect(exportedNames('@ascetic-ddd/nestjs-kms/opentelemetry')).toEqual([
      'instrumentKms',
      'provideKmsTelemetry',
    ]);
    expect(existsSync(`${root}/dist/lib/telemetry/index.d.ts`)).toBe(true);
  });

  it('never loads the optional peer @opentelemetry/api from the main entry', () => {
    // Run where the peer cannot be resolved, as in an app that did not install it.
    const hook = `export async function resolve(specifier, context, next) {
      if (specifier.startsWith('@opentelemetry/')) throw new Error('no @opentelemetry here');
      return next(specifier, context);
    }`;
    const loads = (entry: string) =>
      execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { register } from 'node:module';
          register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});
          import(${JSON.stringify(entry)}).then(
            (m) => console.log('loaded ' + Object.keys(m).length),
            (e) => console.log('failed: ' + e.message),
          );`,
        ],
        { cwd: root, encoding: 'utf8' },
      ).trim();
    expect(loads('@ascetic-ddd/nestjs-kms')).toMatch(/^loaded \d+$/);
    // The hook works: the entry that needs the peer does not load under it.
    expect(loads('@ascetic-ddd/nestjs-kms/opentelemetry')).toBe('failed: no @opentelemetry here');
    // Every module the main entry reaches, by its static imports and re-exports.
    const seen = new Set<string>();
    const pending = [`${root}/dist/lib/index.js`];
    const bare: string[] = [];
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      if (seen.has(file)) continue;
      seen.add(file);
      const code = readFileSync(file, 'utf8');
      for (const [, specifier] of code.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        if (specifier?.startsWith('.')) pending.push(new URL(specifier, `file://${file}`).pathname);
        else if (specifier !== undefined) bare.push(specifier);
      }
    }
    expect(seen.size).toBeGreaterThan(20);
    expect(bare.filter((s) => s.startsWith('@opentelemetry/'))).toEqual([]);
    expect([...seen].filter((f) => f.includes('/telemetry/'))).toEqual([]);
    // Nor do its declarations: a consumer without the peer still type-checks.
    const declarations = [...seen].map((f) => readFileSync(f.replace(/\.js$/, '.d.ts'), 'utf8'));
    expect(declarations.filter((d) => d.includes('@opentelemetry/'))).toEqual([]);
  });

  it('exports exactly VaultHealthIndicator from "./health"', () => {
    expect(exportedNames('@ascetic-ddd/nestjs-kms/health')).toEqual(['VaultHealthIndicator']);
    expect(existsSync(`${root}/dist/lib/health/index.d.ts`)).toBe(true);
  });

  it('imports the main entry where the optional peer @nestjs/terminus is missing', () => {
    // A resolve hook makes @nestjs/terminus unresolvable, as in an app that did not install it.
    const hook = `export async function resolve(specifier, context, next) {
      if (specifier.startsWith('@nestjs/terminus')) throw new Error('no @nestjs/terminus here');
      return next(specifier, context);
    }`;
    const script = (entry: string) => `
      import { register } from 'node:module';
      register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});
      import(${JSON.stringify(entry)}).then(
        (m) => console.log('loaded ' + Object.keys(m).length),
        (e) => console.log('failed: ' + e.message),
      );`;
    const run = (entry: string) =>
      execFileSync(process.execPath, ['--input-type=module', '-e', script(entry)], {
        cwd: root,
        encoding: 'utf8',
      }).trim();
    expect(run('@ascetic-ddd/nestjs-kms')).toMatch(/^loaded \d+$/);
    expect(run('@ascetic-ddd/nestjs-kms/testing')).toMatch(/^loaded \d+$/);
    // The hook works: the health entry, which needs the peer, does not load under it.
    expect(run('@ascetic-ddd/nestjs-kms/health')).toBe('failed: no @nestjs/terminus here');
    // Only the health entry's declarations name the peer: the others type-check without it.
    const declarations = (readdirSync(`${root}/dist/lib`, { recursive: true }) as string[])
      .filter((f) => f.endsWith('.d.ts'))
      .filter((f) => readFileSync(`${root}/dist/lib/${f}`, 'utf8').includes('@nestjs/terminus'));
    expect(declarations.toSorted()).toEqual(['health/vault-transit.health.d.ts']);
  });

  it('keeps internals private', () => {
    expect(() =>
      exportedNames('@ascetic-ddd/nestjs-kms/dist/lib/engine/transit-engine.js'),
    ).toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it('ships declarations for both entries', () => {
    expect(existsSync(`${root}/dist/lib/index.d.ts`)).toBe(true);
    expect(existsSync(`${root}/dist/lib/testing/index.d.ts`)).toBe(true);
  });

  it('runs the dev server and the service from the built code alone', () => {
    const script = `
      import { startTransitDevServer } from '@ascetic-ddd/nestjs-kms/testing';
      import { RestSessionPool, VaultTransitService } from '@ascetic-ddd/nestjs-kms';
      const server = await startTransitDevServer();
      const pool = new RestSessionPool();
      const kms = new VaultTransitService({ vaultAddr: server.address, vaultToken: server.token });
      const { dek, encryptedDek } = await pool.session((s) => kms.generateDek(s, 'plain-node'));
      const back = await pool.session((s) => kms.decryptDek(s, 'plain-node', encryptedDek));
      pool.close();
      await server.close();
      console.log(back.equals(dek) ? 'round-trip ok' : 'mismatch');`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(output.trim()).toBe('round-trip ok');
  });
});

describe('package.json', () => {
  it('is an ESM package with typed exports for both entries', () => {
    expect(manifest['name']).toBe('@ascetic-ddd/nestjs-kms');
    expect(manifest['type']).toBe('module');
    // Further subpath entries are checked one by one in package-quality.spec.ts.
    expect(manifest['exports']).toMatchObject({
      '.': { types: './dist/lib/index.d.ts', default: './dist/lib/index.js' },
      './testing': {
        types: './dist/lib/testing/index.d.ts',
        default: './dist/lib/testing/index.js',
      },
      './opentelemetry': {
        types: './dist/lib/telemetry/index.d.ts',
        default: './dist/lib/telemetry/index.js',
      },
      './package.json': './package.json',
    });
    // Exactly these subpaths: a new or dropped entry is a public API change.
    expect(Object.keys(manifest['exports'] as object).toSorted()).toEqual([
      '.',
      './health',
      './opentelemetry',
      './package.json',
      './testing',
    ]);
    expect(manifest['engines']).toEqual({ node: '^20.19.0 || ^22.12.0 || ^24.0.0' });
  });

  it('has the scripts CI and users rely on', () => {
    const scripts = manifest['scripts'] as Record<string, string>;
    for (const script of ['build', 'typecheck', 'lint', 'format:check', 'test', 'start']) {
      expect(scripts[script], script).toBeTruthy();
    }
  });

  it('declares NestJS and its companions as peers', () => {
    expect(Object.keys(manifest['peerDependencies'] as object).toSorted()).toEqual([
      '@nestjs/axios',
      '@nestjs/common',
      '@nestjs/core',
      '@nestjs/terminus',
      '@opentelemetry/api',
      'axios',
      'reflect-metadata',
      'rxjs',
    ]);
  });

  it('makes @opentelemetry/api an optional peer, served by the "./opentelemetry" entry', () => {
    expect(manifest['peerDependenciesMeta']).toMatchObject({
      '@opentelemetry/api': { optional: true },
    });
    expect((manifest['exports'] as Record<string, unknown>)['./opentelemetry']).toEqual({
      types: './dist/lib/telemetry/index.d.ts',
      default: './dist/lib/telemetry/index.js',
    });
  });

  it('makes @nestjs/terminus an optional peer, served by the "./health" entry', () => {
    expect(manifest['peerDependenciesMeta']).toMatchObject({
      '@nestjs/terminus': { optional: true },
    });
    expect((manifest['exports'] as Record<string, unknown>)['./health']).toEqual({
      types: './dist/lib/health/index.d.ts',
      default: './dist/lib/health/index.js',
    });
  });
});
