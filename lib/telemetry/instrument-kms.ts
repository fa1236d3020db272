import { metrics, trace } from '@opentelemetry/api';
import { KmsConfigurationError } from '../errors/kms-configuration.error.js';
import type { KmsSignals } from '../providers/vault-transit/kms-signals.js';
import type { Disconnect } from '../session/signal.js';
import type { KmsInstrumentationOptions } from './kms-instrumentation.options.js';
import { connectMetrics } from './kms-metric-bridge.js';
import { connectSpans } from './kms-span-bridge.js';
import { INSTRUMENTATION_SCOPE, measuresNothing, tracesNowhere } from './otel-providers.js';
import { createTenantHasher, type TenantHasher } from './tenant-hasher.js';

const SIGNAL_NAMES = [
  'operationStarted',
  'operationEnded',
  'attemptStarted',
  'attemptEnded',
  'cacheHit',
  'cacheMiss',
] as const;

/**
 * Turns a {@link VaultTransitService}'s signals into OpenTelemetry spans and metrics; returns a
 * function that stops it.
 *
 * - Spans: `kms.<operation>` (INTERNAL) per call — batch calls included, one span each — with a
 *   CLIENT span per HTTP request to Vault under it (`http.request.method`, `url.path`,
 *   `url.template`, `http.response.status_code`, `kms.attempt`, `kms.retry`). A failure sets the
 *   status to ERROR with the error's code (`error.type`), never its message.
 * - Metrics: `http.client.request.duration` (s, per request), `kms.operation.duration` (s, per
 *   call), `kms.errors` (failed calls by `error.type`), `kms.cache.hits` and `kms.cache.misses`.
 *
 * Which providers are used is decided now: when the tracer provider is the API's no-op one (no SDK
 * registered), no span listener is connected, and likewise for metrics — with neither, nothing is
 * connected and the service runs exactly as uninstrumented. An SDK registered later is not
 * picked up: call `instrumentKms` after the SDK started (or again, after disposing the first).
 *
 * Throws {@link KmsConfigurationError} for invalid options, before connecting anything.
 * @publicApi
 */
export function instrumentKms(
  service: { readonly signals: KmsSignals },
  options: KmsInstrumentationOptions = {},
): Disconnect {
  const signals = signalsOf(service);
  const hashTenant = checkInstrumentationOptions(options);
  const tracerProvider = options.tracerProvider ?? trace.getTracerProvider();
  const meterProvider = options.meterProvider ?? metrics.getMeterProvider();
  const disconnects: Disconnect[] = [];
  if (!tracesNowhere(tracerProvider)) {
    const tracer = tracerProvider.getTracer(INSTRUMENTATION_SCOPE);
    disconnects.push(connectSpans(signals, tracer, hashTenant));
  }
  if (!measuresNothing(meterProvider)) {
    disconnects.push(connectMetrics(signals, meterProvider.getMeter(INSTRUMENTATION_SCOPE)));
  }
  let connected = true;
  return () => {
    if (!connected) return;
    connected = false;
    for (const disconnect of disconnects) disconnect();
  };
}

function signalsOf(service: unknown): KmsSignals {
  const signals = (service as { signals?: unknown } | null | undefined)?.signals;
  const valid =
    typeof signals === 'object' &&
    signals !== null &&
    SIGNAL_NAMES.every(
      (name) =>
        typeof (signals as Record<string, { connect?: unknown }>)[name]?.connect === 'function',
    );
  if (!valid) {
    throw new KmsConfigurationError(
      invalid('service', 'expected a VaultTransitService (an object with its `signals`)'),
    );
  }
  return signals as KmsSignals;
}

/**
 * Throws {@link KmsConfigurationError} for invalid {@link KmsInstrumentationOptions} (never
 * echoing `tenantHashKey`); returns the tenant hasher they ask for, if any.
 */
export function checkInstrumentationOptions(options: unknown): TenantHasher | undefined {
  if (typeof options !== 'object' || options === null) {
    throw new KmsConfigurationError(invalid('options', 'expected an object'));
  }
  const {
    tenantId = 'omit',
    tenantHashKey,
    tracerProvider,
    meterProvider,
  } = options as KmsInstrumentationOptions;
  if (tracerProvider !== undefined && typeof tracerProvider?.getTracer !== 'function') {
    throw new KmsConfigurationError(invalid('tracerProvider', 'expected a TracerProvider'));
  }
  if (meterProvider !== undefined && typeof meterProvider?.getMeter !== 'function') {
    throw new KmsConfigurationError(invalid('meterProvider', 'expected a MeterProvider'));
  }
  if (tenantId !== 'omit' && tenantId !== 'hash') {
    throw new KmsConfigurationError(invalid('tenantId', "expected 'omit' or 'hash'"));
  }
  if (tenantHashKey === undefined)
    return tenantId === 'hash' ? createTenantHasher(undefined) : undefined;
  if (tenantId !== 'hash') {
    throw new KmsConfigurationError(invalid('tenantHashKey', "only applies with tenantId: 'hash'"));
  }
  const key =
    typeof tenantHashKey === 'string'
      ? Buffer.from(tenantHashKey, 'utf8')
      : tenantHashKey instanceof Uint8Array
        ? tenantHashKey
        : undefined;
  if (key === undefined || key.length === 0) {
    // Never echo the value: it is a secret.
    throw new KmsConfigurationError(
      invalid('tenantHashKey', 'expected a non-empty string or Uint8Array'),
    );
  }
  return createTenantHasher(key);
}

function invalid(option: string, rule: string): string {
  return `Invalid instrumentKms option "${option}": ${rule}.`;
}
