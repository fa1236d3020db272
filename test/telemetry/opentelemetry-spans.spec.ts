import { createHash, createHmac } from 'node:crypto';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  KekNotFoundError,
  KmsConfigurationError,
  KmsUnavailableError,
  RestSessionPool,
  VaultTransitService,
  type KmsModuleOptions,
} from '../../lib/index.js';
import { instrumentKms, type KmsInstrumentationOptions } from '../../lib/telemetry/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { TRANSPORTS } from '../support/transports.js';
import { OtelHarness } from './otel-harness.js';

let vault: TransitDevServer;
let rest: RestSessionPool;
let otel: OtelHarness;
let dispose: (() => void) | undefined;

beforeEach(async () => {
  vault = await startTransitDevServer();
  rest = new RestSessionPool();
  otel = new OtelHarness();
});
afterEach(async () => {
  dispose?.();
  dispose = undefined;
  rest.close();
  await vault.close();
  await otel.shutdown();
});

function instrumented(
  options: Partial<KmsModuleOptions> = {},
  telemetry: KmsInstrumentationOptions = {},
): VaultTransitService {
  const kms = new VaultTransitService({
    vaultAddr: vault.address,
    vaultToken: vault.token,
    retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
    ...options,
  });
  dispose = instrumentKms(kms, {
    tracerProvider: otel.tracerProvider,
    meterProvider: otel.meterProvider,
    ...telemetry,
  });
  return kms;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);
const ENCRYPT_ROUTE = '/v1/transit/encrypt/{key}';

describe.each(TRANSPORTS)('operation and attempt spans (transport: %s)', (transport) => {
  it('one INTERNAL span per call with a CLIENT child per request', async () => {
    const kms = instrumented({ transport });
    await rest.session((s) => kms.encryptDek(s, 'acme', Buffer.alloc(32, 1)));

    const operation = otel.span('kms.encryptDek');
    expect(operation.kind).toBe(SpanKind.INTERNAL);
    expect(operation.status.code).toBe(SpanStatusCode.UNSET);
    expect(operation.attributes).toEqual({
      'kms.operation': 'encryptDek',
      'kms.mount': 'transit',
      'kms.key.version': 1,
    });
    const [attempt, ...others] = otel.children(operation);
    expect(others).toEqual([]);
    expect(attempt?.name).toBe(`POST ${ENCRYPT_ROUTE}`);
    expect(attempt?.kind).toBe(SpanKind.CLIENT);
    expect(attempt?.spanContext().traceId).toBe(operation.spanContext().traceId);
    expect(attempt?.status.code).toBe(SpanStatusCode.UNSET);
    const { port } = new URL(vault.address);
    expect(attempt?.attributes).toEqual({
      'http.request.method': 'POST',
      'url.path': ENCRYPT_ROUTE,
      'url.template': ENCRYPT_ROUTE,
      'server.address': '127.0.0.1',
      'server.port': Number(port),
      'http.response.status_code': 200,
      'kms.operation': 'encryptDek',
      'kms.attempt': 1,
      'kms.retry': false,
    });
  });

  it('a retried request: two attempts, the first failed with its transport code', async () => {
    const kms = instrumented({ transport });
    await rest.session((s) => kms.rotateKek(s, 'acme'));
    vault.injectFault({
      kind: 'reset',
      when: 'before',
      match: { path: '/v1/transit/encrypt/tenant-acme' },
    });
    await rest.session((s) => kms.encryptDek(s, 'acme', Buffer.alloc(32, 2)));

    const operation = otel.span('kms.encryptDek');
    expect(operation.status.code).toBe(SpanStatusCode.UNSET);
    const attempts = otel.children(operation).toSorted((a, b) => byStart(a, b));
    expect(attempts.map((a) => [a.attributes['kms.attempt'], a.attributes['kms.retry']])).toEqual([
      [1, false],
      [2, true],
    ]);
    const [failed, retried] = attempts as [ReadableSpan, ReadableSpan];
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'ECONNRESET' });
    expect(failed.attributes['error.type']).toBe('ECONNRESET');
    expect(failed.attributes['http.response.status_code']).toBeUndefined();
    expect(retried.attributes['http.response.status_code']).toBe(200);
    expect(retried.status.code).toBe(SpanStatusCode.UNSET);
  });
});

describe('operation spans', () => {
  it('a failed call: status ERROR with the error code, no message or exception recorded', async () => {
    const kms = instrumented();
    const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
    await rest.session((s) => kms.deleteKek(s, 'acme'));
    await expect(
      rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek)),
    ).rejects.toBeInstanceOf(KekNotFoundError);

    const operation = otel.span('kms.decryptDek');
    expect(operation.status).toEqual({ code: SpanStatusCode.ERROR, message: 'KMS_KEK_NOT_FOUND' });
    expect(operation.attributes['error.type']).toBe('KMS_KEK_NOT_FOUND');
    expect(operation.attributes['kms.key.version']).toBe(1);
    expect(operation.events).toEqual([]);
    const [attempt] = otel.children(operation);
    expect(attempt?.attributes['error.type']).toBe(
      String(attempt?.attributes['http.response.status_code']),
    );
    expect(attempt?.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('an unavailable Vault: the reason too, and one attempt span per try', async () => {
    const kms = instrumented();
    vault.injectFault({ kind: 'sealed', times: Infinity });
    await expect(rest.session((s) => kms.rotateKek(s, 'acme'))).rejects.toBeInstanceOf(
      KmsUnavailableError,
    );
    const operation = otel.span('kms.rotateKek');
    expect(operation.status).toEqual({ code: SpanStatusCode.ERROR, message: 'KMS_UNAVAILABLE' });
    expect(operation.attributes['kms.error.reason']).toBe('sealed');
    const attempts = otel.children(operation);
    expect(attempts.map((a) => a.attributes['kms.attempt']).toSorted()).toEqual([1, 2, 3]);
    for (const attempt of attempts) {
      expect(attempt.name).toBe('POST /v1/transit/keys/{key}/rotate');
      expect(attempt.attributes['http.response.status_code']).toBe(503);
      expect(attempt.attributes['error.type']).toBe('503');
    }
  });

  it('a key created on first use: every request of the call under its one span', async () => {
    const kms = instrumented();
    await rest.session((s) => kms.generateDek(s, 'fresh'));
    const operation = otel.span('kms.generateDek');
    expect(operation.status.code).toBe(SpanStatusCode.UNSET);
    expect(operation.attributes['kms.key.version']).toBe(1);
    const routes = otel
      .children(operation)
      .toSorted(byStart)
      .map((a) => a.name);
    expect(routes).toEqual(
      vault.requests.map((r) => `${r.method} ${r.path.replace('tenant-fresh', '{key}')}`),
    );
    expect(routes.length).toBeGreaterThan(1);
  });

  it('a batch call is one span with its size and one attempt per chunk', async () => {
    const kms = instrumented({ batchSize: 2 });
    const deks = [1, 2, 3].map((n) => Buffer.alloc(32, n));
    await rest.session((s) => kms.encryptDeks(s, 'acme', deks));
    const operation = otel.span('kms.encryptDeks');
    expect(operation.attributes['kms.batch.size']).toBe(3);
    expect(otel.children(operation).map((a) => a.name)).toEqual([
      `POST ${ENCRYPT_ROUTE}`,
      `POST ${ENCRYPT_ROUTE}`,
    ]);
    expect(otel.spans()).toHaveLength(3);
  });

  it('rotateKek records the version it created', async () => {
    const kms = instrumented();
    await rest.session((s) => kms.rotateKek(s, 'acme'));
    await rest.session((s) => kms.rotateKek(s, 'acme'));
    expect(
      otel
        .spans()
        .filter((s) => s.name === 'kms.rotateKek')
        .map((s) => s.attributes['kms.key.version'])
        .toSorted(),
    ).toEqual([1, 2]);
  });

  it('cache hit and miss on the decryptDek span; a hit sends no request', async () => {
    const kms = instrumented({ cache: { maxEntries: 10, maxAgeMs: 60_000 } });
    const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
    await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
    await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
    const [miss, hit] = otel
      .spans()
      .filter((s) => s.name === 'kms.decryptDek')
      .toSorted(byStart) as [ReadableSpan, ReadableSpan];
    expect(miss.attributes['kms.cache.hit']).toBe(false);
    expect(otel.children(miss)).toHaveLength(1);
    expect(hit.attributes['kms.cache.hit']).toBe(true);
    expect(otel.children(hit)).toEqual([]);
  });

  it('setup is a span too', async () => {
    const kms = instrumented();
    await rest.session((s) => kms.setup(s));
    expect(otel.span('kms.setup').attributes).toEqual({
      'kms.operation': 'setup',
      'kms.mount': 'transit',
    });
  });

  it('stops when disposed: no listener left, no more spans', async () => {
    const kms = instrumented();
    expect(kms.signals.operationStarted.connected).toBe(true);
    dispose?.();
    dispose?.(); // a second call is harmless
    for (const signal of Object.values(kms.signals)) expect(signal.connected).toBe(false);
    await rest.session((s) => kms.generateDek(s, 'acme'));
    expect(otel.spans()).toEqual([]);
  });
});

describe('the tenant on spans', () => {
  it('omit (the default): nothing names the tenant or its key', async () => {
    const kms = instrumented();
    const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme-corp'));
    await rest.session((s) => kms.decryptDek(s, 'acme-corp', encryptedDek));
    expect(otel.spans().length).toBeGreaterThan(3);
    for (const value of attributeValues()) expect(value).not.toContain('acme-corp');
    for (const span of otel.spans()) expect(span.attributes['kms.tenant.hash']).toBeUndefined();
  });

  it('hash: a truncated SHA-256 of the key name on every span and in url.path', async () => {
    const kms = instrumented({}, { tenantId: 'hash' });
    await rest.session((s) => kms.encryptDek(s, 'acme-corp', Buffer.alloc(32, 3)));
    await rest.session((s) => kms.encryptDek(s, 'globex', Buffer.alloc(32, 4)));
    const acme = sha256('tenant-acme-corp');
    const globex = sha256('tenant-globex');
    expect(acme).toMatch(/^[0-9a-f]{16}$/);
    const hashes = otel.spans().map((s) => s.attributes['kms.tenant.hash']);
    expect(new Set(hashes)).toEqual(new Set([acme, globex]));
    const paths = otel.spans().flatMap((s) => s.attributes['url.path'] ?? []);
    expect(paths).toContain(`/v1/transit/encrypt/${acme}`);
    expect(paths).toContain(`/v1/transit/encrypt/${globex}`);
    for (const value of attributeValues()) expect(value).not.toContain('acme-corp');
  });

  it('hash with a key: HMAC-SHA-256 instead', async () => {
    const key = 'telemetry-hash-key-0123456789';
    const kms = instrumented({}, { tenantId: 'hash', tenantHashKey: key });
    await rest.session((s) => kms.encryptDek(s, 'acme-corp', Buffer.alloc(32, 3)));
    const expected = createHmac('sha256', key)
      .update('tenant-acme-corp')
      .digest('hex')
      .slice(0, 16);
    expect(otel.span('kms.encryptDek').attributes['kms.tenant.hash']).toBe(expected);
    expect(expected).not.toBe(sha256('tenant-acme-corp'));
  });

  it('a tenant id that cannot be mapped: the span has no tenant, the call its typed error', async () => {
    const kms = instrumented({}, { tenantId: 'hash' });
    await expect(rest.session((s) => kms.rotateKek(s, '../sys/seal'))).rejects.toMatchObject({
      code: 'KMS_INVALID_INPUT',
    });
    const operation = otel.span('kms.rotateKek');
    expect(operation.attributes['kms.tenant.hash']).toBeUndefined();
    expect(operation.attributes['error.type']).toBe('KMS_INVALID_INPUT');
    expect(vault.requests).toEqual([]);
  });
});

describe('instrumentKms options', () => {
  it.each([
    [{ tenantId: 'plain' }, /tenantId/],
    [{ tenantHashKey: 'secret-hash-key' }, /tenantHashKey.*only applies/],
    [{ tenantId: 'hash', tenantHashKey: '' }, /tenantHashKey/],
    [{ tenantId: 'hash', tenantHashKey: 42 }, /tenantHashKey/],
  ])('refuses %j with a KmsConfigurationError, connecting nothing', (options, message) => {
    const service = unusedService();
    const attempt = () =>
      instrumentKms(service, { ...providers(), ...(options as KmsInstrumentationOptions) });
    expect(attempt).toThrow(KmsConfigurationError);
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('secret-hash-key');
    }
    for (const signal of Object.values(service.signals)) expect(signal.connected).toBe(false);
  });

  it('refuses something that is not the service', () => {
    expect(() => instrumentKms({} as VaultTransitService, providers())).toThrow(
      KmsConfigurationError,
    );
    expect(() =>
      instrumentKms(unusedService(), null as unknown as KmsInstrumentationOptions),
    ).toThrow(KmsConfigurationError);
  });
});

const attributeValues = () =>
  otel.spans().flatMap((s) => [s.name, ...Object.values(s.attributes).map(String)]);
const unusedService = () =>
  new VaultTransitService({ vaultAddr: 'http://127.0.0.1:1', vaultToken: 't' });
const providers = () => ({
  tracerProvider: otel.tracerProvider,
  meterProvider: otel.meterProvider,
});

function byStart(a: ReadableSpan, b: ReadableSpan): number {
  const [as, ans] = a.startTime;
  const [bs, bns] = b.startTime;
  return as - bs || ans - bns;
}
