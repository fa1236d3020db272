import { existsSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Logger } from '@nestjs/common';
import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import { SampleConfigurationError } from '../../sample/errors/sample-configuration.error.js';
import { createCustomer, useSampleFixture } from './support/sample-app.js';

const sample = useSampleFixture();

/** The embedded default: no VAULT_ADDR, only a database path. */
const embedded = () => ({ DATABASE_PATH: sample.databasePath });
const bootFailure = (env: Parameters<typeof sample.boot>[1]): Promise<unknown> =>
  sample.boot(undefined, env).then(
    () => new Error('the sample booted'),
    (error: unknown) => error,
  );

describe('sample app without VAULT_ADDR: the embedded Transit dev server', () => {
  it('warns once, and keeps keys and records together across restarts', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const app = await sample.boot(undefined, embedded());
    const warnings = warn.mock.calls.map(([message]) => String(message));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/VAULT_ADDR is not set/);
    expect(warnings.join('\n')).toMatch(/customers\.db\.transit-keys\.json/);

    const id = await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    const keysFile = `${sample.databasePath}.transit-keys.json`;
    expect(existsSync(keysFile)).toBe(true);
    expect(statSync(keysFile).mode & 0o777).toBe(0o600);

    const again = await sample.boot(undefined, embedded());
    const read = await request(again.getHttpServer()).get(`/tenants/acme/customers/${id}`);
    expect(read.status).toBe(200);
    expect(read.body.name).toBe('Ann');
  });

  it('with an in-memory database, keys and records are both ephemeral (no keys file)', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const app = await sample.boot(undefined, { DATABASE_PATH: ':memory:' });
    const id = await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    await request(app.getHttpServer()).get(`/tenants/acme/customers/${id}`).expect(200);
    // Where a keys file for ':memory:' would go (the working directory): nothing was written.
    expect(existsSync(`:memory:.transit-keys.json`)).toBe(false);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/vanish when the process exits/);
  });

  it('refuses to start when the keys file of a database with records is missing', async () => {
    const app = await sample.boot(undefined, embedded());
    await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    await sample.close();
    await rm(`${sample.databasePath}.transit-keys.json`);
    const failure = await bootFailure(embedded());
    expect(failure).toBeInstanceOf(SampleConfigurationError);
    expect((failure as Error).message).toMatch(/keys file .* is missing.*1 record/);
  });

  it('refuses to open a database bound to one key store with the other', async () => {
    const app = await sample.boot(undefined, embedded());
    await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    await sample.close();
    const failure = await bootFailure(sample.env());
    expect(failure).toBeInstanceOf(SampleConfigurationError);
    expect((failure as Error).message).toMatch(/embedded Transit server.*VAULT_ADDR/);
    expect((failure as Error).message).not.toContain(sample.vault.token);
  });

  it('refuses to open a database with another Transit mount than its records’ keys', async () => {
    const app = await sample.boot();
    await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    await sample.close();
    const failure = await bootFailure({ ...sample.env(), TRANSIT_MOUNT: 'other' });
    expect(failure).toBeInstanceOf(SampleConfigurationError);
    expect((failure as Error).message).toMatch(/mount "transit".*TRANSIT_MOUNT is "other"/);
  });

  it('refuses VAULT_ADDR without VAULT_TOKEN, naming the variable', async () => {
    const failure = await bootFailure({
      VAULT_ADDR: sample.vault.address,
      DATABASE_PATH: ':memory:',
    });
    expect(failure).toBeInstanceOf(SampleConfigurationError);
    expect((failure as Error).message).toMatch(/VAULT_TOKEN/);
  });
});
