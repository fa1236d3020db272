import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import { CompositeSessionPool, KmsModule, type KmsModuleOptions } from '@ascetic-ddd/nestjs-kms';
import { VaultHealthIndicator } from '@ascetic-ddd/nestjs-kms/health';
import { CustomersController } from './customers/customers.controller.js';
import { CustomersRepository } from './customers/customers.repository.js';
import { CustomersService } from './customers/customers.service.js';
import { DatabaseModule } from './database/database.module.js';
import { SqliteSessionPool } from './database/sqlite-session-pool.js';
import { HttpErrorFilter } from './errors/http-error.filter.js';
import { HealthController } from './health/health.controller.js';
import { TenantKeysController } from './keys/tenant-keys.controller.js';
import { DEFAULT_REWRAP_PAGE_SIZE, REWRAP_PAGE_SIZE } from './keys/rewrap-page-size.constants.js';
import { RotateTenantKeyJob } from './keys/rotate-tenant-key.job.js';
import { TenantKeysService } from './keys/tenant-keys.service.js';
import { verifyKeyStoreBinding } from './settings/key-store-binding.js';
import { readSampleSettings } from './settings/sample-settings.js';
import { VaultConnection } from './settings/vault-connection.js';
import { TenantsRepository } from './tenants/tenants.repository.js';

/** Vault (or the embedded Transit server), checked against the database before the app serves. */
@Module({
  imports: [DatabaseModule],
  providers: [
    {
      provide: VaultConnection,
      inject: [ConfigService, SqliteSessionPool],
      useFactory: async (config: ConfigService, database: SqliteSessionPool) => {
        const vault = await VaultConnection.open(readSampleSettings(config));
        try {
          await verifyKeyStoreBinding(database, vault);
        } catch (error) {
          await vault.onApplicationShutdown();
          throw error;
        }
        return vault;
      },
    },
  ],
  exports: [VaultConnection, DatabaseModule],
})
class BackendsModule {}

/**
 * The sample: customers of many tenants, each record encrypted with its own DEK. Every request
 * runs in one unit of work — an SQLite transaction plus the Vault REST session — opened by the
 * SessionInterceptor (mountInterceptor) from a CompositeSessionPool.
 */
@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    KmsModule.forRootAsync({
      imports: [BackendsModule],
      inject: [VaultConnection, SqliteSessionPool],
      useFactory: (vault: VaultConnection, database: SqliteSessionPool): KmsModuleOptions => ({
        vaultAddr: vault.vaultAddr,
        vaultToken: vault.vaultToken,
        mount: vault.mount,
        // Shorter than the database's 10 s lease timeout: a hung Vault call fails its own request
        // before the requests queued behind its write lock give up.
        timeoutMs: 5_000,
        sessionPool: (rest) => new CompositeSessionPool(database, rest),
      }),
      mountInterceptor: true,
    }),
    BackendsModule,
    TerminusModule,
  ],
  controllers: [CustomersController, TenantKeysController, HealthController],
  providers: [
    CustomersService,
    CustomersRepository,
    TenantsRepository,
    TenantKeysService,
    RotateTenantKeyJob,
    VaultHealthIndicator,
    { provide: REWRAP_PAGE_SIZE, useValue: DEFAULT_REWRAP_PAGE_SIZE },
    { provide: APP_FILTER, useClass: HttpErrorFilter },
  ],
})
export class AppModule {}
