import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { KEY_MANAGEMENT_SERVICE, SESSION_POOL } from './kms.constants.js';
import {
  KMS_MODULE_OPTIONS,
  KmsConfigurableModule,
  type KMS_ASYNC_OPTIONS_TYPE,
  type KMS_OPTIONS_TYPE,
} from './kms.module-definition.js';
import type { KmsModuleOptions } from './interfaces/kms-module-options.interface.js';
import { resolveKmsOptions } from './kms-options.js';
import { VaultTransitService } from './providers/vault-transit/vault-transit.service.js';
import { RestSessionPool } from './session/rest-session-pool.js';
import { KmsSessionHost } from './session/kms-session.host.js';
import { SessionInterceptor } from './session/session.interceptor.js';
import { createModuleSessionPool } from './session/module-session-pool.js';

const EXPORTED = [
  KEY_MANAGEMENT_SERVICE,
  VaultTransitService,
  SESSION_POOL,
  RestSessionPool,
  KmsSessionHost,
  SessionInterceptor,
];

/**
 * Options → pool and service, each a factory, so sync and async registration share one path.
 * Both factories validate the options (cheap), so whichever Nest builds first fails the bootstrap
 * on a bad option; validated options, which hold the token, are never registered in DI.
 */
const derivedProviders: Provider[] = [
  {
    provide: RestSessionPool,
    useFactory: (options: KmsModuleOptions) =>
      new RestSessionPool({
        maxSockets: resolveKmsOptions(options).maxSockets,
        ...(options.tls === undefined ? {} : { tls: options.tls }),
      }),
    inject: [KMS_MODULE_OPTIONS],
  },
  {
    provide: SESSION_POOL,
    useFactory: createModuleSessionPool,
    inject: [KMS_MODULE_OPTIONS, RestSessionPool],
  },
  {
    provide: VaultTransitService,
    useFactory: (options: KmsModuleOptions) => new VaultTransitService(options),
    inject: [KMS_MODULE_OPTIONS],
  },
  { provide: KEY_MANAGEMENT_SERVICE, useExisting: VaultTransitService },
  KmsSessionHost,
  SessionInterceptor,
];

/**
 * Registers {@link VaultTransitService} under {@link KEY_MANAGEMENT_SERVICE}, a
 * {@link RestSessionPool}, the session pool under {@link SESSION_POOL} (the REST pool, or what the
 * `sessionPool` option builds from it), {@link KmsSessionHost} and {@link SessionInterceptor}
 * (mounted for every route with the `mountInterceptor` extra). Invalid options fail at bootstrap
 * with a `KmsConfigurationError` naming the option. The pool's sockets close on shutdown.
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
