import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { KEY_MANAGEMENT_SERVICE, SESSION_POOL } from './kms.constants.js';
import { KMS_RESOLVED_OPTIONS } from './kms.internal-constants.js';
import {
  KMS_MODULE_OPTIONS,
  KmsConfigurableModule,
  type KMS_ASYNC_OPTIONS_TYPE,
  type KMS_OPTIONS_TYPE,
} from './kms.module-definition.js';
import type { KmsModuleOptions } from './interfaces/kms-module-options.interface.js';
import { resolveKmsOptions, type ResolvedKmsOptions } from './kms-options.js';
import { VaultTransitService } from './providers/vault-transit/vault-transit.service.js';
import { RestSessionPool } from './session/rest-session-pool.js';

const EXPORTED = [KEY_MANAGEMENT_SERVICE, VaultTransitService, SESSION_POOL, RestSessionPool];

/** Options → pool and service, each a factory, so sync and async registration share one path. */
const derivedProviders: Provider[] = [
  {
    provide: KMS_RESOLVED_OPTIONS,
    useFactory: (options: KmsModuleOptions) => resolveKmsOptions(options),
    inject: [KMS_MODULE_OPTIONS],
  },
  {
    provide: RestSessionPool,
    useFactory: (options: ResolvedKmsOptions) =>
      new RestSessionPool({ maxSockets: options.maxSockets }),
    inject: [KMS_RESOLVED_OPTIONS],
  },
  { provide: SESSION_POOL, useExisting: RestSessionPool },
  {
    provide: VaultTransitService,
    useFactory: (options: ResolvedKmsOptions) => new VaultTransitService(options),
    inject: [KMS_RESOLVED_OPTIONS],
  },
  { provide: KEY_MANAGEMENT_SERVICE, useExisting: VaultTransitService },
];

/**
 * Registers {@link VaultTransitService} under {@link KEY_MANAGEMENT_SERVICE} and a
 * {@link RestSessionPool} under {@link SESSION_POOL}. Invalid options fail at bootstrap with a
 * `KmsConfigurationError` naming the option. The pool's sockets close on application shutdown.
 * @publicApi
 */
@Module({})
export class KmsModule extends KmsConfigurableModule {
  static override forRoot(options: typeof KMS_OPTIONS_TYPE): DynamicModule {
    return withDerivedProviders(super.forRoot(options));
  }

  static override forRootAsync(options: typeof KMS_ASYNC_OPTIONS_TYPE): DynamicModule {
    return withDerivedProviders(super.forRootAsync(options));
  }
}

function withDerivedProviders(module: DynamicModule): DynamicModule {
  return {
    ...module,
    providers: [...(module.providers ?? []), ...derivedProviders],
    exports: [...(module.exports ?? []), ...EXPORTED],
  };
}
