import type { MeterProvider, TracerProvider } from '@opentelemetry/api';

/** What a span says about the tenant of a call. @publicApi */
export type KmsTenantAttribute = 'omit' | 'hash';

/**
 * Options of {@link instrumentKms}.
 * @publicApi
 */
export interface KmsInstrumentationOptions {
  /**
   * Whether spans identify the tenant. Vault key names are derived from tenant ids, so the
   * tenant shows wherever a key name would:
   * - `omit`: no span attribute names it; `url.path` has the key name replaced by `{key}`.
   * - `hash`: spans carry `kms.tenant.hash`, the first 16 hex digits (64 bits) of the SHA-256 of
   *   the key name — HMAC-SHA-256 with {@link tenantHashKey} when given — and `url.path` has the
   *   key name replaced by it. The same tenant always gets the same hash, so its calls can be
   *   found; without a key a guessable tenant id (a number, a short name) is found by hashing
   *   candidates, so treat an unkeyed hash as a pseudonym, not as anonymity.
   *
   * Metrics never carry the tenant either way (it would make one series per tenant).
   * @default 'omit'
   */
  readonly tenantId?: KmsTenantAttribute;
  /**
   * The HMAC key for `tenantId: 'hash'`: a non-empty string (UTF-8) or byte array. Keep it
   * secret and stable (changing it changes every tenant's hash). Only with `tenantId: 'hash'`.
   * @default none (plain SHA-256)
   */
  readonly tenantHashKey?: string | Uint8Array;
  /**
   * The tracer provider spans are created with.
   * @default the global one (`trace.getTracerProvider()`)
   */
  readonly tracerProvider?: TracerProvider;
  /**
   * The meter provider the instruments are created with.
   * @default the global one (`metrics.getMeterProvider()`)
   */
  readonly meterProvider?: MeterProvider;
}
