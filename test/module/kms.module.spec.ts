import { inspect } from 'node:util';
import { Injectable, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  InjectKeyManagementService,
  InMemoryKeyManagementService,
  KEY_MANAGEMENT_SERVICE,
  KmsConfigurationError,
  KmsModule,
  RestSessionPool,
  SESSION_POOL,
  VaultTransitService,
  type IKeyManagementService,
  type ISessionPool,
  type KmsModuleOptions,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';

let server: TransitDevServer;
let moduleRef: TestingModule | undefined;

beforeAll(async () => {
  server = await startTransitDevServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await moduleRef?.close();
  moduleRef = undefined;
});

@Injectable()
class CustomerKeys {
  constructor(@InjectKeyManagementService() readonly kms: IKeyManagementService) {}
}

/** Resolves the providers the module promises and proves they work end to end over HTTP. */
async function expectWorkingModule(ref: TestingModule): Promise<void> {
  const kms = ref.get<IKeyManagementService>(KEY_MANAGEMENT_SERVICE);
  expect(kms).toBeInstanceOf(VaultTransitService);
  expect(ref.get(VaultTransitService)).toBe(kms);
  const pool = ref.get<ISessionPool>(SESSION_POOL);
  expect(pool).toBeInstanceOf(RestSessionPool);
  expect(ref.get(RestSessionPool)).toBe(pool);
  const { dek, encryptedDek } = await pool.session((s) => kms.generateDek(s, 'module-tenant'));
  expect(await pool.session((s) => kms.decryptDek(s, 'module-tenant', encryptedDek))).toEqual(dek);
}

const options = (): KmsModuleOptions => ({ vaultAddr: server.address, vaultToken: server.token });

describe('KmsModule', () => {
  it('forRoot registers the service, the pool and their aliases', async () => {
    moduleRef = await Test.createTestingModule({
      imports: [KmsModule.forRoot(options())],
      providers: [CustomerKeys],
    }).compile();
    await expectWorkingModule(moduleRef);
    expect(moduleRef.get(CustomerKeys).kms).toBe(moduleRef.get(KEY_MANAGEMENT_SERVICE));
  });

  it('forRootAsync with useFactory + inject of ConfigService', async () => {
    moduleRef = await Test.createTestingModule({
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          load: [
            () => ({
              VAULT_ADDR: server.address,
              VAULT_TOKEN: server.token,
              TRANSIT_MOUNT: 'transit',
            }),
          ],
        }),
        KmsModule.forRootAsync({
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            vaultAddr: config.getOrThrow<string>('VAULT_ADDR'),
            vaultToken: config.getOrThrow<string>('VAULT_TOKEN'),
            mount: config.get<string>('TRANSIT_MOUNT'),
          }),
        }),
      ],
    }).compile();
    await expectWorkingModule(moduleRef);
  });

  it('forRootAsync with an async factory', async () => {
    moduleRef = await Test.createTestingModule({
      imports: [KmsModule.forRootAsync({ useFactory: async () => options() })],
    }).compile();
    await expectWorkingModule(moduleRef);
  });

  it('forRootAsync with useClass', async () => {
    @Injectable()
    class KmsConfig {
      createKmsOptions(): KmsModuleOptions {
        return options();
      }
    }
    moduleRef = await Test.createTestingModule({
      imports: [KmsModule.forRootAsync({ useClass: KmsConfig })],
    }).compile();
    await expectWorkingModule(moduleRef);
  });

  it('forRootAsync with useExisting', async () => {
    @Injectable()
    class SharedKmsConfig {
      createKmsOptions(): KmsModuleOptions {
        return options();
      }
    }
    @Module({ providers: [SharedKmsConfig], exports: [SharedKmsConfig] })
    class SharedConfigModule {}
    moduleRef = await Test.createTestingModule({
      imports: [
        KmsModule.forRootAsync({ imports: [SharedConfigModule], useExisting: SharedKmsConfig }),
      ],
    }).compile();
    await expectWorkingModule(moduleRef);
  });

  it('isGlobal makes the service injectable from a module that does not import KmsModule', async () => {
    @Module({ providers: [CustomerKeys], exports: [CustomerKeys] })
    class FeatureModule {}
    moduleRef = await Test.createTestingModule({
      imports: [KmsModule.forRoot({ ...options(), isGlobal: true }), FeatureModule],
    }).compile();
    expect(moduleRef.get(CustomerKeys).kms).toBeInstanceOf(VaultTransitService);
  });

  it('without isGlobal, a feature module cannot inject it', async () => {
    @Module({ providers: [CustomerKeys] })
    class IsolatedFeatureModule {}
    await expect(
      Test.createTestingModule({
        imports: [KmsModule.forRoot(options()), IsolatedFeatureModule],
      }).compile(),
    ).rejects.toThrow(/can't resolve dependencies/i);
  });

  it.each([
    ['vaultAddr', { vaultAddr: 'localhost:8200' }],
    ['vaultToken', { vaultToken: '' }],
    ['mount', { mount: '../sys' }],
    ['timeoutMs', { timeoutMs: -1 }],
  ])(
    'fails at bootstrap on a bad %s, with a configuration error naming it',
    async (option, bad) => {
      const error = await Test.createTestingModule({
        imports: [KmsModule.forRootAsync({ useFactory: () => ({ ...options(), ...bad }) })],
      })
        .compile()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KmsConfigurationError);
      expect((error as Error).message).toContain(`"${option}"`);
      expect((error as Error).message).not.toContain(server.token);
    },
  );

  it('lets tests swap in the in-memory provider with overrideProvider', async () => {
    const inMemory = new InMemoryKeyManagementService();
    moduleRef = await Test.createTestingModule({
      imports: [KmsModule.forRoot(options())],
      providers: [CustomerKeys],
    })
      .overrideProvider(KEY_MANAGEMENT_SERVICE)
      .useValue(inMemory)
      .compile();
    const keys = moduleRef.get(CustomerKeys);
    expect(keys.kms).toBe(inMemory);
    const pool = moduleRef.get<ISessionPool>(SESSION_POOL);
    const before = server.requests.length;
    const { encryptedDek } = await pool.session((s) => keys.kms.generateDek(s, 't'));
    expect(encryptedDek.toString()).toMatch(/^vault:v1:/);
    expect(server.requests.length).toBe(before);
  });

  it('never shows the token when its providers are logged or serialized', async () => {
    moduleRef = await Test.createTestingModule({
      imports: [KmsModule.forRoot(options())],
    }).compile();
    for (const token of [
      KEY_MANAGEMENT_SERVICE,
      VaultTransitService,
      SESSION_POOL,
      RestSessionPool,
    ]) {
      const provider: unknown = moduleRef.get(token);
      expect(inspect(provider, { depth: Infinity, showHidden: true })).not.toContain(server.token);
      expect(JSON.stringify(provider) ?? '').not.toContain(server.token);
    }
  });

  it('closes the pool’s keep-alive sockets on application shutdown', async () => {
    moduleRef = await Test.createTestingModule({
      imports: [KmsModule.forRoot(options())],
    }).compile();
    await moduleRef.init();
    await expectWorkingModule(moduleRef);
    const pool = moduleRef.get(RestSessionPool);
    const sockets = Object.values(pool.httpAgent.freeSockets).flat();
    expect(sockets.length).toBeGreaterThan(0);
    await moduleRef.close();
    moduleRef = undefined;
    expect(sockets.every((socket) => socket?.destroyed)).toBe(true);
  });
});
