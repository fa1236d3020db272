import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { createCustomer, useSampleFixture } from './support/sample-app.js';

describe('sample app: /health (terminus, VaultHealthIndicator) and an HA Vault', () => {
  const sample = useSampleFixture();
  let standby: TransitDevServer | undefined;
  afterEach(async () => {
    await sample.close();
    await standby?.close();
    standby = undefined;
  });

  it('works through a standby node: calls follow its 307 to the active node, health is up', async () => {
    standby = await startTransitDevServer({
      token: sample.vault.token,
      standby: { activeAddress: sample.vault.address },
    });
    const app = await sample.boot(undefined, { ...sample.env(), VAULT_ADDR: standby.address });
    const http = app.getHttpServer();
    const id = await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    expect((await request(http).get(`/tenants/acme/customers/${id}`).expect(200)).body.name).toBe(
      'Ann',
    );
    expect((await request(http).get('/health').expect(200)).body).toMatchObject({
      status: 'ok',
      info: {
        vault: { status: 'up', state: 'standby', standby: true, statusCode: 429 },
        database: { status: 'up' },
      },
    });
    // The standby served nothing itself but sys/health; the active node did the Transit work.
    const redirected = standby.requests.filter((r) => r.path !== '/v1/sys/health');
    expect(redirected.length).toBeGreaterThan(0);
    expect(redirected.every((r) => r.status === 307)).toBe(true);
    expect(sample.vault.requests.some((r) => r.path.startsWith('/v1/transit/'))).toBe(true);
  });

  it('reports an uninitialised Vault as down (503), the database as up', async () => {
    const http = (await sample.boot()).getHttpServer();
    sample.vault.setInitialized(false);
    expect((await request(http).get('/health').expect(503)).body).toMatchObject({
      status: 'error',
      info: { database: { status: 'up' } },
      error: {
        vault: { status: 'down', state: 'uninitialized', initialized: false, statusCode: 501 },
      },
    });
    sample.vault.setInitialized(true);
    await request(http).get('/health').expect(200);
  });

  it('never shows the Vault token in the health answer', async () => {
    const http = (await sample.boot()).getHttpServer();
    const healthy = await request(http).get('/health').expect(200);
    sample.vault.setSealed(true);
    const sealed = await request(http).get('/health').expect(503);
    for (const text of [healthy.text, sealed.text]) {
      expect(text).not.toContain(sample.vault.token);
      expect(text).not.toMatch(/x-vault-token/i);
    }
  });
});
