import { createNoopMeter, type MeterProvider, type TracerProvider } from '@opentelemetry/api';

/** The instrumentation scope name of the spans and instruments. */
export const INSTRUMENTATION_SCOPE = '@ascetic-ddd/nestjs-kms';

/**
 * Whether spans from `provider` go nowhere: the API's global proxy before any SDK registered a
 * delegate. Duck-typed, so a proxy from another copy of `@opentelemetry/api` is recognised too.
 */
export function tracesNowhere(provider: TracerProvider): boolean {
  const proxy = provider as { getDelegateTracer?: (name: string) => unknown };
  return (
    typeof proxy.getDelegateTracer === 'function' &&
    proxy.getDelegateTracer(INSTRUMENTATION_SCOPE) === undefined
  );
}

/** Whether instruments of `provider` record nothing: the API's no-op meter provider. */
export function measuresNothing(provider: MeterProvider): boolean {
  return provider.getMeter(INSTRUMENTATION_SCOPE) === createNoopMeter();
}
