import { existsSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Logger, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTransitDevServer } from '../../lib/testing/index.js';
import { SampleConfigurationError } from '../../sample/errors/sample-configuration.error.js';
import { bootSample, createCustomer, temporaryDirectory } from './support/sample-app.js';

let dir: Awaited<ReturnType<typeof temporaryDirectory>>;
let app: INestApplication | undefined;
let databasePath: string;

beforeEach(async () => {
  dir = await temporaryDirectory();
  databasePath = join(dir.path, 'customers.db');
});
afterEach(async () => {
  await app?.close();
  app = undefined;
  vi.restoreAllMocks();
  await dir.remove();
  vi.unstubAllEnvs();
});

async function restart(env: Parameters<typeof bootSample>[0]): Promise<INestApplication> {
  await app?.close();
  app = await bootSample(env);
  return app;
}

describe('sample app without VAULT_ADDR: the embedded Transit dev server', () => {
  it('warns once, and keeps keys and records together across restarts', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    app = await bootSample({ DATABASE_PATH: databasePath });
    const warnings = warn.mock.calls.map(([message]) => String(message));
    expect(warnings.filter((m) => m.includes('VAULT_ADDR is not set'))).toHaveLength(1);
    expect(warnings.join('\n')).toMatch(/customers\.db\.transit-keys\.json/);

    const id = await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    const keysFile = `${databasePath}.transit-keys.json`;
    expect(existsSync(keysFile)).toBe(true);
    expect(statSync(keysFile).mode & 0o777).toBe(0o600);

    const again = await restart({ DATABASE_PATH: databasePath });
    const read = await request(again.getHttpServer()).get(`/tenants/acme/customers/${id}`);
    expect(read.status).toBe(200);
    expect(read.body.name).toBe('Ann');
  });

  it('with an in-memory database, keys and records are both ephemeral (no keys file)', async () => {
    app = await bootSample({ DATABASE_PATH: ':memory:' });
    const id = await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    await request(app.getHttpServer()).get(`/tenants/acme/customers/${id}`).expect(200);
    expect(existsSync(`:memory:.transit-keys.json`)).toBe(false);
  });

  it('refuses to start when the keys file of a database with records is missing', async () => {
    app = await bootSample({ DATABASE_PATH: databasePath });
    await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    await app.close();
    app = undefined;
    await rm(`${databasePath}.transit-keys.json`);
    const failure = await bootSample({ DATABASE_PATH: databasePath }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(SampleConfigurationError);
    expect((failure as Error).message).toMatch(/keys file .* is missing.*1 record/);
  });

  it('refuses to open a database bound to one key store with the other', async () => {
    app = await bootSample({ DATABASE_PATH: databasePath });
    await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    await app.close();
    app = undefined;
    const vault = await startTransitDevServer();
    try {
      const failure = await bootSample({
        VAULT_ADDR: vault.address,
        VAULT_TOKEN: vault.token,
        DATABASE_PATH: databasePath,
      }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(SampleConfigurationError);
      expect((failure as Error).message).toMatch(/embedded Transit server.*VAULT_ADDR/);
      expect((failure as Error).message).not.toContain(vault.token);
    } finally {
      await vault.close();
    }
  });

  it('refuses VAULT_ADDR without VAULT_TOKEN, naming the variable', async () => {
    const failure = await bootSample({
      VAULT_ADDR: 'http://127.0.0.1:8200',
      DATABASE_PATH: ':memory:',
    }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(SampleConfigurationError);
    expect((failure as Error).message).toMatch(/VAULT_TOKEN/);
  });
});
