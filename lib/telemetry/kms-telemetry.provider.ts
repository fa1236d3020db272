import type { OnApplicationShutdown, OnModuleInit, Provider } from '@nestjs/common';
import { VaultTransitService } from '../providers/vault-transit/vault-transit.service.js';
import type { Disconnect } from '../session/signal.js';
import { checkInstrumentationOptions, instrumentKms } from './instrument-kms.js';
import type { KmsInstrumentationOptions } from './kms-instrumentation.options.js';

/** Instruments the module's service when the module initialises, and stops on shutdown. */
class KmsTelemetry implements OnModuleInit, OnApplicationShutdown {
  #stop: Disconnect | undefined;

  constructor(
    private readonly service: VaultTransitService,
    private readonly options: KmsInstrumentationOptions,
  ) {}

  onModuleInit(): void {
    this.#stop ??= instrumentKms(this.service, this.options);
  }

  onApplicationShutdown(): void {
    this.#stop?.();
    this.#stop = undefined;
  }
}

/**
 * A provider that calls {@link instrumentKms} on the `VaultTransitService` of `KmsModule` when
 * its module initialises, and stops it on application shutdown. Put it in a module that imports
 * `KmsModule` (or where `KmsModule` is global):
 *
 * ```ts
 * @Module({
 *   imports: [KmsModule.forRoot({ vaultAddr, vaultToken })],
 *   providers: [provideKmsTelemetry({ tenantId: 'hash' })],
 * })
 * ```
 *
 * The OpenTelemetry SDK must be started before the application is created (see
 * {@link instrumentKms} on SDKs registered later). Invalid options throw
 * {@link KmsConfigurationError} at once.
 * @publicApi
 */
export function provideKmsTelemetry(options: KmsInstrumentationOptions = {}): Provider {
  checkInstrumentationOptions(options);
  return {
    provide: KmsTelemetry,
    useFactory: (service: VaultTransitService) => new KmsTelemetry(service, options),
    inject: [VaultTransitService],
  };
}
