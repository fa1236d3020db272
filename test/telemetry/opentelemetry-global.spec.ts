import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RestSessionPool, VaultTransitService } from '../../lib/index.js';
import { instrumentKms } from '../../lib/telemetry/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { OtelHarness } from './otel-harness.js';

let vault: TransitDevServer;
let rest: RestSessionPool;
let otel: OtelHarness;
let kms: VaultTransitService;

/** No global SDK: the API's own no-op providers, as in an application that registers none. */
function unregisterGlobals(): void {
  trace.disable();
  metrics.disable();
  context.disable();
}

function registerGlobals(): void {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  expect(trace.setGlobalTracerProvider(otel.tracerProvider)).toBe(true);
  expect(metrics.setGlobalMeterProvider(otel.meterProvider)).toBe(true);
}

const connectedSignals = () =>
  Object.entries(kms.signals)
    .filter(([, signal]) => signal.connected)
    .map(([name]) => name);

beforeEach(async () => {
  unregisterGlobals();
  vault = await startTransitDevServer();
  rest = new RestSessionPool();
  otel = new OtelHarness();
  kms = new VaultTransitService({ vaultAddr: vault.address, vaultToken: vault.token });
});
afterEach(async () => {
  unregisterGlobals();
  rest.close();
  await vault.close();
  await otel.shutdown();
});

describe('instrumentKms with the global providers', () => {
  it('no SDK registered: connects no listener at all, and the service works as before', async () => {
    const dispose = instrumentKms(kms, { tenantId: 'hash' });
    expect(connectedSignals()).toEqual([]);
    const { dek, encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
    expect(await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek))).toEqual(dek);
    dispose();
  });

  it('an SDK registered later is not picked up until instrumentKms is called again', async () => {
    const early = instrumentKms(kms);
    registerGlobals();
    await rest.session((s) => kms.rotateKek(s, 'acme'));
    expect(otel.spans()).toEqual([]);
    expect(connectedSignals()).toEqual([]);
    early();

    const dispose = instrumentKms(kms);
    await rest.session((s) => kms.rotateKek(s, 'acme'));
    expect(otel.names()).toEqual(['POST /v1/transit/keys/{key}/rotate', 'kms.rotateKek']);
    expect(await otel.total('kms.operation.duration')).toBe(1);
    dispose();
    expect(connectedSignals()).toEqual([]);
  });

  it('only traces: the metric listeners stay disconnected', () => {
    expect(trace.setGlobalTracerProvider(otel.tracerProvider)).toBe(true);
    const dispose = instrumentKms(kms);
    expect(connectedSignals().toSorted()).toEqual(
      Object.keys(kms.signals).toSorted(), // spans use every signal
    );
    dispose();
    expect(metrics.setGlobalMeterProvider(otel.meterProvider)).toBe(true);
    trace.disable();
    const metricsOnly = instrumentKms(kms);
    expect(connectedSignals().toSorted()).toEqual([
      'attemptEnded',
      'cacheHit',
      'cacheMiss',
      'operationEnded',
    ]);
    metricsOnly();
  });

  it("the caller's active span is the parent of the operation span", async () => {
    registerGlobals();
    const dispose = instrumentKms(kms);
    const tracer = trace.getTracer('app');
    await tracer.startActiveSpan('POST /orders', async (request) => {
      await rest.session((s) => kms.generateDek(s, 'acme'));
      request.end();
    });
    const request = otel.span('POST /orders');
    const [operation, ...others] = otel.children(request);
    expect(others).toEqual([]);
    expect(operation?.name).toBe('kms.generateDek');
    expect(operation?.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(otel.children(operation!).length).toBeGreaterThan(0);
    dispose();
  });
});
