import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KekNotFoundError, RestSessionPool, VaultTransitService } from '../../lib/index.js';
import { instrumentKms } from '../../lib/telemetry/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { OtelHarness } from './otel-harness.js';

let vault: TransitDevServer;
let rest: RestSessionPool;
let otel: OtelHarness;
let kms: VaultTransitService;
let dispose: () => void;

beforeEach(async () => {
  vault = await startTransitDevServer();
  rest = new RestSessionPool();
  otel = new OtelHarness();
  kms = new VaultTransitService({
    vaultAddr: vault.address,
    vaultToken: vault.token,
    retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
    cache: { maxEntries: 10, maxAgeMs: 60_000 },
  });
  dispose = instrumentKms(kms, {
    tracerProvider: otel.tracerProvider,
    meterProvider: otel.meterProvider,
    tenantId: 'hash',
  });
});
afterEach(async () => {
  dispose();
  rest.close();
  await vault.close();
  await otel.shutdown();
});

describe('KMS metrics', () => {
  it('http.client.request.duration: one point per request, in seconds, by route and status', async () => {
    await rest.session((s) => kms.rotateKek(s, 'acme'));
    vault.injectFault({ kind: 'status', status: 502, match: { path: /\/encrypt\// } });
    await rest.session((s) => kms.encryptDek(s, 'acme', Buffer.alloc(32, 1)));
    await rest.session((s) => kms.encryptDek(s, 'acme', Buffer.alloc(32, 2)));

    const requests = (await otel.points()).filter((p) => p.name === 'http.client.request.duration');
    expect(requests.every((p) => p.unit === 's')).toBe(true);
    const encrypts = requests.filter(
      (p) => p.attributes['url.template'] === '/v1/transit/encrypt/{key}',
    );
    const byStatus = Object.fromEntries(
      encrypts.map((p) => [p.attributes['http.response.status_code'], p.value]),
    );
    expect(byStatus).toEqual({ 200: 2, 502: 1 });
    const failed = encrypts.find((p) => p.attributes['http.response.status_code'] === 502);
    expect(failed?.attributes).toMatchObject({
      'http.request.method': 'POST',
      'error.type': '502',
      'kms.operation': 'encryptDek',
      'server.address': '127.0.0.1',
    });
    // Vault's own count of requests is the histogram's count.
    expect(requests.reduce((n, p) => n + p.value, 0)).toBe(vault.requests.length);
    for (const point of requests) {
      expect(point.sum).toBeGreaterThan(0);
      expect(point.sum).toBeLessThan(point.value * 10); // seconds, not milliseconds
    }
  });

  it('kms.operation.duration per call and kms.errors by code', async () => {
    const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
    await rest.session((s) => kms.deleteKek(s, 'acme'));
    for (let i = 0; i < 2; i += 1) {
      await expect(
        rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek)),
      ).rejects.toBeInstanceOf(KekNotFoundError);
    }
    await expect(
      rest.session((s) => kms.decryptDek(s, 'acme', Buffer.from('not a wrapped dek'))),
    ).rejects.toMatchObject({ code: 'KMS_INVALID_INPUT' });

    expect(await otel.total('kms.errors', { 'error.type': 'KMS_KEK_NOT_FOUND' })).toBe(2);
    expect(await otel.total('kms.errors', { 'error.type': 'KMS_INVALID_INPUT' })).toBe(1);
    expect(await otel.total('kms.errors')).toBe(3);
    expect(await otel.total('kms.operation.duration', { 'kms.operation': 'generateDek' })).toBe(1);
    expect(await otel.total('kms.operation.duration', { 'kms.operation': 'decryptDek' })).toBe(3);
    const [generate] = (await otel.points()).filter(
      (p) => p.name === 'kms.operation.duration' && p.attributes['kms.operation'] === 'generateDek',
    );
    expect(generate?.unit).toBe('s');
    expect(generate?.attributes).toEqual({
      'kms.operation': 'generateDek',
      'kms.mount': 'transit',
    });
  });

  it('kms.errors keeps the reason of an unavailable Vault', async () => {
    vault.injectFault({ kind: 'sealed', times: Infinity });
    await expect(rest.session((s) => kms.rotateKek(s, 'acme'))).rejects.toMatchObject({
      code: 'KMS_UNAVAILABLE',
    });
    expect(
      await otel.total('kms.errors', {
        'error.type': 'KMS_UNAVAILABLE',
        'kms.error.reason': 'sealed',
      }),
    ).toBe(1);
  });

  it('kms.cache.hits and kms.cache.misses', async () => {
    const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
    for (let i = 0; i < 3; i += 1)
      await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
    expect(await otel.total('kms.cache.misses')).toBe(1);
    expect(await otel.total('kms.cache.hits')).toBe(2);
    expect(vault.requests.filter((r) => r.path.includes('/decrypt/'))).toHaveLength(1);
  });

  it('no metric attribute names the tenant, even with tenantId: hash', async () => {
    const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme-corp'));
    await rest.session((s) => kms.decryptDek(s, 'acme-corp', encryptedDek));
    await rest.session((s) => kms.rotateKek(s, 'acme-corp'));
    const points = await otel.points();
    expect(points.length).toBeGreaterThan(4);
    const text = JSON.stringify(points);
    expect(text).not.toContain('acme-corp');
    expect(text).not.toContain('kms.tenant.hash');
  });
});
