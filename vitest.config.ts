import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const source = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  oxc: {
    decorator: { legacy: true, emitDecoratorMetadata: true },
  },
  resolve: {
    alias: [
      // The sample imports the package by name; point the self-reference at the source in tests.
      {
        find: /^@ascetic-ddd\/nestjs-kms\/testing$/,
        replacement: source('./lib/testing/index.ts'),
      },
      {
        find: /^@ascetic-ddd\/nestjs-kms\/health$/,
        replacement: source('./lib/health/index.ts'),
      },
      { find: /^@ascetic-ddd\/nestjs-kms$/, replacement: source('./lib/index.ts') },
    ],
  },
  test: {
    include: ['lib/**/*.spec.ts', 'test/**/*.spec.ts', 'sample/**/*.spec.ts'],
    environment: 'node',
    testTimeout: 20_000,
    hookTimeout: 30_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
