// The `@ascetic-ddd/nestjs-kms/opentelemetry` entry: the only place that imports the optional
// peer `@opentelemetry/api`. Every export is listed by name.
export { instrumentKms } from './instrument-kms.js';
export { provideKmsTelemetry } from './kms-telemetry.provider.js';
export type {
  KmsInstrumentationOptions,
  KmsTenantAttribute,
} from './kms-instrumentation.options.js';
