import {
  Controller,
  Param,
  Post,
  UseInterceptors,
  type INestApplication,
  type Provider,
} from '@nestjs/common';
import { SpanKind } from '@opentelemetry/api';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CurrentSession,
  InjectKeyManagementService,
  KEY_MANAGEMENT_SERVICE,
  KmsConfigurationError,
  KmsModule,
  SessionInterceptor,
  VaultTransitService,
  type IKeyManagementService,
  type ISession,
} from '../../lib/index.js';
import { instrumentKms, provideKmsTelemetry } from '../../lib/telemetry/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { OtelHarness } from './otel-harness.js';

@Controller('tenants')
@UseInterceptors(SessionInterceptor)
class DeksController {
  constructor(@InjectKeyManagementService() private readonly kms: IKeyManagementService) {}

  @Post(':tenant/deks')
  async create(@Param('tenant') tenant: string, @CurrentSession() session: ISession) {
    const { encryptedDek } = await this.kms.generateDek(session, tenant);
    const dek = await this.kms.decryptDek(session, tenant, encryptedDek);
    return { bytes: dek.length };
  }
}

let vault: TransitDevServer;
let otel: OtelHarness;
let running: INestApplication | undefined;

async function startApp(providers: Provider[] = []): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [KmsModule.forRoot({ vaultAddr: vault.address, vaultToken: vault.token })],
    controllers: [DeksController],
    providers,
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  running = app;
  await app.init();
  return app;
}

beforeEach(async () => {
  vault = await startTransitDevServer();
  otel = new OtelHarness();
});
afterEach(async () => {
  await running?.close();
  running = undefined;
  await vault.close();
  await otel.shutdown();
});

describe('telemetry in a NestJS app', () => {
  it('instrumenting the module’s VaultTransitService traces the calls handlers make', async () => {
    const app = await startApp();
    const kms = app.get(VaultTransitService);
    expect(app.get(KEY_MANAGEMENT_SERVICE)).toBe(kms); // the instance handlers get
    const stop = instrumentKms(kms, {
      tracerProvider: otel.tracerProvider,
      meterProvider: otel.meterProvider,
    });

    await request(app.getHttpServer()).post('/tenants/acme/deks').expect(201, { bytes: 32 });

    const operations = otel.spans().filter((s) => s.kind === SpanKind.INTERNAL);
    expect(operations.map((s) => s.name).toSorted()).toEqual(['kms.decryptDek', 'kms.generateDek']);
    for (const operation of operations) {
      expect(otel.children(operation).length).toBeGreaterThan(0);
      for (const attempt of otel.children(operation)) expect(attempt.kind).toBe(SpanKind.CLIENT);
    }
    expect(otel.spans().filter((s) => s.kind === SpanKind.CLIENT)).toHaveLength(
      vault.requests.length,
    );
    expect(await otel.total('kms.operation.duration')).toBe(2);

    stop();
    await request(app.getHttpServer()).post('/tenants/acme/deks').expect(201);
    expect(otel.spans().filter((s) => s.kind === SpanKind.INTERNAL)).toHaveLength(2);
  });

  it('provideKmsTelemetry instruments at module init and stops at shutdown', async () => {
    const app = await startApp([
      provideKmsTelemetry({
        tracerProvider: otel.tracerProvider,
        meterProvider: otel.meterProvider,
        tenantId: 'hash',
      }),
    ]);
    const kms = app.get(VaultTransitService);
    expect(kms.signals.operationStarted.connected).toBe(true);

    await request(app.getHttpServer()).post('/tenants/acme/deks').expect(201, { bytes: 32 });
    const generate = otel.span('kms.generateDek');
    expect(generate.attributes['kms.tenant.hash']).toMatch(/^[0-9a-f]{16}$/);
    expect(await otel.total('kms.operation.duration')).toBe(2);

    await app.close();
    for (const signal of Object.values(kms.signals)) expect(signal.connected).toBe(false);
  });

  it('provideKmsTelemetry refuses invalid options at once', () => {
    expect(() => provideKmsTelemetry({ tenantId: 'plain' as 'hash' })).toThrow(
      KmsConfigurationError,
    );
    expect(() => provideKmsTelemetry({ tenantHashKey: 'hmac-key-0123456789' })).toThrow(
      /tenantHashKey/,
    );
  });
});
