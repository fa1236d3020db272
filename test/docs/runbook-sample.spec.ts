// docs/RUNBOOK.md, as the sample app shows it: the answers its incident table promises (status,
// code, Retry-After, /health's status, log lines) and its key-lifecycle routes, over the real app booted
// against the Transit dev server.
import { inspect } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import request from 'supertest';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createCustomer, useSampleFixture } from '../sample/support/sample-app.js';

const sample = useSampleFixture();
let logged: string[] = [];

beforeEach(() => {
  logged = [];
  for (const level of ['log', 'warn', 'error', 'debug', 'verbose', 'fatal'] as const) {
    vi.spyOn(Logger.prototype, level).mockImplementation((...args: unknown[]) => {
      logged.push(inspect(args, { depth: Infinity }));
    });
  }
});

/** What an operator's `vault read transit/keys/<key>` shows, straight from the dev server. */
async function readKey(key: string): Promise<Record<string, unknown> | undefined> {
  const response = await fetch(`${sample.vault.address}/v1/transit/keys/${key}`, {
    headers: { 'X-Vault-Token': sample.vault.token },
  });
  if (response.status === 404) return undefined;
  return ((await response.json()) as { data: Record<string, unknown> }).data;
}

/** An operator's `vault write`/`vault delete` on the dev server. */
async function vaultCall(method: string, path: string, body?: unknown): Promise<number> {
  const response = await fetch(`${sample.vault.address}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': sample.vault.token, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  await response.arrayBuffer();
  return response.status;
}

/** Polls /health until it answers `status`, within a generous bound. */
async function healthBecomes(http: unknown, status: number): Promise<unknown> {
  const until = Date.now() + 20_000;
  for (;;) {
    const response = await request(http as Parameters<typeof request>[0]).get('/health');
    if (response.status === status || Date.now() > until) return response.body;
    await sleep(200);
  }
}

describe('runbook, with the sample app', () => {
  it('rotate → rewrap → retire: the routes, and the key state an operator reads', async () => {
    const app = await sample.boot();
    const http = app.getHttpServer();
    const id = await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    expect((await request(http).post('/tenants/acme/kek/rotate').expect(200)).body).toEqual({
      version: 2,
    });
    expect((await request(http).post('/tenants/acme/kek/rewrap').expect(200)).body).toEqual({
      rewrapped: 1,
    });
    const retired = await request(http).post('/tenants/acme/kek/rewrap?retire=true').expect(200);
    expect(retired.body).toEqual({ rewrapped: 0, retiredBelow: 2 });
    expect(await readKey('tenant-acme')).toMatchObject({
      latest_version: 2,
      min_decryption_version: 2,
    });
    await request(http).get(`/tenants/acme/customers/${id}`).expect(200);
  });

  it('a version retired while still stored: 500 record_integrity; lowering it again repairs reads', async () => {
    const app = await sample.boot();
    const http = app.getHttpServer();
    const id = await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    await request(http).post('/tenants/acme/kek/rotate').expect(200);
    // Retired blindly below the latest version, without a rewrap first:
    await vaultCall('POST', 'transit/keys/tenant-acme/config', { min_decryption_version: 2 });
    const read = await request(http).get(`/tenants/acme/customers/${id}`).expect(500);
    expect(read.body).toMatchObject({ code: 'record_integrity' });
    await vaultCall('POST', 'transit/keys/tenant-acme/config', { min_decryption_version: 1 });
    await request(http).get(`/tenants/acme/customers/${id}`).expect(200);
  });

  it('shred: 204 (repeatable), then 410 tenant_shredded; no key left in Vault', async () => {
    const app = await sample.boot();
    const http = app.getHttpServer();
    const id = await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    await request(http).delete('/tenants/acme/kek').expect(204);
    await request(http).delete('/tenants/acme/kek').expect(204);
    const gone = await request(http).get(`/tenants/acme/customers/${id}`).expect(410);
    expect(gone.body).toMatchObject({ code: 'tenant_shredded' });
    expect(await readKey('tenant-acme')).toBeUndefined();
  });

  it('sealed: 503 kms_unavailable with Retry-After, /health 503, a log line; unsealed: recovers without a restart', async () => {
    const app = await sample.boot();
    const http = app.getHttpServer();
    const id = await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    sample.vault.setSealed(true);
    const read = await request(http).get(`/tenants/acme/customers/${id}`).expect(503);
    expect(read.headers['retry-after']).toBe('5');
    expect(read.body).toMatchObject({ code: 'kms_unavailable' });
    expect(logged.join('\n')).toMatch(/kms_unavailable: KmsUnavailableError \[KMS_UNAVAILABLE\]/);
    // Readiness: 503, with Vault reported down (whatever the body's exact shape).
    const health = await request(http).get('/health').expect(503);
    expect(health.body).toMatchObject({ status: 'error' });
    expect(JSON.stringify(health.body)).toContain('down');

    sample.vault.setSealed(false);
    expect(await healthBecomes(http, 200)).toMatchObject({ status: 'ok' });
    await request(http).get(`/tenants/acme/customers/${id}`).expect(200);
    for (const line of logged) expect(line).not.toContain(sample.vault.token);
  });

  it('token revoked: 500 kms_error, a log line, nothing logged holds the token', async () => {
    const token = sample.vault.createToken();
    const app = await sample.boot(undefined, { ...sample.env(), VAULT_TOKEN: token });
    const http = app.getHttpServer();
    const id = await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    sample.vault.revokeToken(token);
    const read = await request(http).get(`/tenants/acme/customers/${id}`).expect(500);
    expect(read.body).toEqual({
      statusCode: 500,
      code: 'kms_error',
      message: 'Internal server error',
    });
    expect(logged.join('\n')).toMatch(/kms_error: KmsAccessDeniedError \[KMS_ACCESS_DENIED\]/);
    for (const line of logged) expect(line).not.toContain(token);
  });

  it('key missing (deleted outside the app): 500 key_missing, not 410', async () => {
    const app = await sample.boot();
    const http = app.getHttpServer();
    const id = await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    await vaultCall('POST', 'transit/keys/tenant-acme/config', { deletion_allowed: true });
    expect(await vaultCall('DELETE', 'transit/keys/tenant-acme')).toBe(204);
    const read = await request(http).get(`/tenants/acme/customers/${id}`).expect(500);
    expect(read.body).toMatchObject({ code: 'key_missing' });
  });
});
