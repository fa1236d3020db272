import { Controller, Param, Post, UseInterceptors, type INestApplication } from '@nestjs/common';
import { SpanKind } from '@opentelemetry/api';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CurrentSession,
  InjectKeyManagementService,
  KEY_MANAGEMENT_SERVICE,
  KmsModule,
  SessionInterceptor,
  VaultTransitService,
  type IKeyManagementService,
  type ISession,
} from '../../lib/index.js';
import { instrumentKms } from '../../lib/telemetry/index.js';
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
let app: INestApplication;

beforeEach(async () => {
  vault = await startTransitDevServer();
  otel = new OtelHarness();
  const moduleRef = await Test.createTestingModule({
    imports: [KmsModule.forRoot({ vaultAddr: vault.address, vaultToken: vault.token })],
    controllers: [DeksController],
  }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.init();
});
afterEach(async () => {
  await app.close();
  await vault.close();
  await otel.shutdown();
});

describe('telemetry in a NestJS app', () => {
  it('instrumenting the module’s VaultTransitService traces the calls handlers make', async () => {
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
});
