import { join } from 'node:path';
import { inspect } from 'node:util';
import { Logger, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { bootSample, createCustomer, temporaryDirectory } from './support/sample-app.js';

let vault: TransitDevServer;
let dir: Awaited<ReturnType<typeof temporaryDirectory>>;
let app: INestApplication;
let customerId: string;
/** Everything the app logged while this file ran (through Nest's Logger). */
const logged: string[] = [];

beforeAll(async () => {
  for (const level of ['log', 'warn', 'error', 'debug', 'verbose', 'fatal'] as const) {
    vi.spyOn(Logger.prototype, level).mockImplementation((...args: unknown[]) => {
      logged.push(inspect(args, { depth: Infinity }));
    });
  }
  vault = await startTransitDevServer();
  dir = await temporaryDirectory();
  app = await bootSample({
    VAULT_ADDR: vault.address,
    VAULT_TOKEN: vault.token,
    DATABASE_PATH: join(dir.path, 'customers.db'),
  });
  customerId = await createCustomer(app, 'acme', {
    name: 'Ann',
    email: 'ann@example.com',
    notes: 'the secret note',
  });
});
afterAll(async () => {
  vi.restoreAllMocks();
  await app.close();
  await vault.close();
  await dir.remove();
  vi.unstubAllEnvs();
});

const UNKNOWN_ID = '3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b';

/** Nothing an error answer may contain. */
function expectCleanError(body: unknown): void {
  const text = JSON.stringify(body);
  expect(text).not.toContain(vault.token);
  expect(text).not.toMatch(/\bat .*\.(js|ts):\d+/); // stack frames
  expect(text).not.toContain('the secret note');
  expect(text).not.toMatch(/vault:v\d+:/);
}

describe('sample app: errors map to HTTP with clean JSON bodies', () => {
  it.each([
    ['a malformed tenant id', 'post', '/tenants/..%2Fsys/customers', { name: 'A', email: 'a@b.c' }],
    ['a tenant id ending in "-"', 'get', '/tenants/acme-/customers', undefined],
    ['a missing name', 'post', '/tenants/acme/customers', { email: 'a@example.com' }],
    ['a non-string email', 'post', '/tenants/acme/customers', { name: 'A', email: 42 }],
    ['an invalid email', 'post', '/tenants/acme/customers', { name: 'A', email: 'nope' }],
    [
      'an unknown field',
      'post',
      '/tenants/acme/customers',
      { name: 'A', email: 'a@b.co', role: 1 },
    ],
    ['an array body', 'post', '/tenants/acme/customers', [{ name: 'A' }]],
    [
      'notes too long',
      'post',
      '/tenants/acme/customers',
      { name: 'A', email: 'a@b.co', notes: 'x'.repeat(10_001) },
    ],
    ['a customer id that is not a UUID', 'get', '/tenants/acme/customers/42', undefined],
    ['a limit out of range', 'get', '/tenants/acme/customers?limit=1000', undefined],
    ['an unknown "after" cursor', 'get', `/tenants/acme/customers?after=${UNKNOWN_ID}`, undefined],
  ])('400 for %s, before any Vault call', async (_label, method, path, body) => {
    const before = vault.requests.length;
    const call =
      method === 'post'
        ? request(app.getHttpServer()).post(path).send(body)
        : request(app.getHttpServer()).get(path);
    const response = await call.expect(400);
    expect(response.body).toEqual({
      statusCode: 400,
      code: 'invalid_request',
      message: expect.any(String),
    });
    expectCleanError(response.body);
    expect(vault.requests.length).toBe(before);
  });

  it('400 for malformed JSON (Nest’s own answer, no stack)', async () => {
    const response = await request(app.getHttpServer())
      .post('/tenants/acme/customers')
      .set('content-type', 'application/json')
      .send('{"name":')
      .expect(400);
    expectCleanError(response.body);
  });

  it('404 for an unknown customer', async () => {
    const response = await request(app.getHttpServer())
      .get(`/tenants/acme/customers/${UNKNOWN_ID}`)
      .expect(404);
    expect(response.body).toEqual({
      statusCode: 404,
      code: 'customer_not_found',
      message: expect.any(String),
    });
  });

  it('pages through a tenant’s customers with limit and after', async () => {
    const http = app.getHttpServer();
    const second = await createCustomer(app, 'paged', { name: 'P1', email: 'p1@example.com' });
    await createCustomer(app, 'paged', { name: 'P2', email: 'p2@example.com' });
    const first = await request(http).get('/tenants/paged/customers?limit=1').expect(200);
    expect(first.body.map((c: { id: string }) => c.id)).toEqual([second]);
    const next = await request(http)
      .get(`/tenants/paged/customers?limit=1&after=${second}`)
      .expect(200);
    expect(next.body.map((c: { name: string }) => c.name)).toEqual(['P2']);
  });

  it('health: 200 when Vault and the database answer, 503 when Vault is sealed', async () => {
    const http = app.getHttpServer();
    expect((await request(http).get('/health').expect(200)).body).toMatchObject({
      status: 'ok',
      info: { vault: { status: 'up', state: 'active' }, database: { status: 'up' } },
      error: {},
    });
    vault.setSealed(true);
    try {
      expect((await request(http).get('/health').expect(503)).body).toMatchObject({
        status: 'error',
        info: { database: { status: 'up' } },
        error: { vault: { status: 'down', message: 'Vault is sealed', sealed: true } },
      });
      const read = await request(http).get(`/tenants/acme/customers/${customerId}`).expect(503);
      expect(read.headers['retry-after']).toBe('5');
      expectCleanError(read.body);
    } finally {
      vault.setSealed(false);
    }
  });

  it('a revoked token answers a generic 500 that reveals neither token nor Vault details', async () => {
    const http = app.getHttpServer();
    await vault.revokeToken(vault.token);
    const response = await request(http).get(`/tenants/acme/customers/${customerId}`).expect(500);
    expect(response.body).toEqual({
      statusCode: 500,
      code: 'kms_error',
      message: 'Internal server error',
    });
    expectCleanError(response.body);
  });

  it('logged the 5xx causes, and nothing it logged holds the token or a customer’s data', () => {
    expect(logged.join('\n')).toMatch(/kms_unavailable|kms_error/);
    for (const line of logged) {
      expect(line).not.toContain(vault.token);
      expect(line).not.toContain('the secret note');
      expect(line).not.toContain('ann@example.com');
    }
  });
});
