import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Controller,
  Module,
  Param,
  Post,
  type DynamicModule,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  InjectKeyManagementService,
  KmsError,
  KmsModule,
  KmsSessionHost,
  KmsUnavailableError,
  type IKeyManagementService,
  type KmsModuleOptions,
  type KmsTlsOptions,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';

let vault: TransitDevServer;
let dir: string;
let app: INestApplication | undefined;

beforeAll(async () => {
  vault = await startTransitDevServer({ tls: { requireClientCert: true } });
  dir = mkdtempSync(join(tmpdir(), 'kms-tls-module-'));
});
afterAll(async () => {
  await vault.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** A route that makes a DEK and decrypts it again inside the request's session. */
@Controller('deks')
class DeksController {
  constructor(
    private readonly sessions: KmsSessionHost,
    @InjectKeyManagementService() private readonly kms: IKeyManagementService,
  ) {}

  @Post(':tenant')
  async roundTrip(@Param('tenant') tenant: string): Promise<Record<string, unknown>> {
    try {
      const { dek, encryptedDek } = await this.kms.generateDek(this.sessions.session, tenant);
      const again = await this.kms.decryptDek(this.sessions.session, tenant, encryptedDek);
      return { same: Buffer.compare(dek, again) === 0 };
    } catch (error) {
      if (!(error instanceof KmsError)) throw error;
      const reason = error instanceof KmsUnavailableError ? error.reason : undefined;
      return { error: error.name, reason, message: error.message };
    }
  }
}

async function boot(imports: DynamicModule[]): Promise<INestApplication> {
  @Module({ imports, controllers: [DeksController] })
  class AppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

const options = (tls: KmsTlsOptions): KmsModuleOptions => ({
  vaultAddr: vault.address,
  vaultToken: vault.token,
  maxSockets: 2,
  tls,
});

describe('KmsModule over mutual TLS', () => {
  it('forRoot with PEM text: requests of a Nest app round-trip DEKs over at most maxSockets TLS connections', async () => {
    const tls = { ca: vault.tls!.ca, cert: vault.tls!.clientCert!, key: vault.tls!.clientKey! };
    const server = await boot([KmsModule.forRoot({ ...options(tls), mountInterceptor: true })]);
    const before = vault.tls!.secureConnections;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        request(server.getHttpServer()).post(`/deks/module-${i % 3}`),
      ),
    );
    for (const answer of answers) {
      expect(answer.status).toBe(201);
      expect(answer.body).toEqual({ same: true });
    }
    expect(vault.tls!.secureConnections - before).toBeGreaterThanOrEqual(1);
    expect(vault.tls!.secureConnections - before).toBeLessThanOrEqual(2);
  });

  it('forRootAsync with file paths from a factory', async () => {
    const tls = {
      ca: join(dir, 'ca.pem'),
      cert: join(dir, 'client.pem'),
      key: join(dir, 'client-key.pem'),
    };
    writeFileSync(tls.ca, vault.tls!.ca);
    writeFileSync(tls.cert, vault.tls!.clientCert!);
    writeFileSync(tls.key, vault.tls!.clientKey!, { mode: 0o600 });
    const server = await boot([
      KmsModule.forRootAsync({
        useFactory: async () => options(tls),
        mountInterceptor: true,
      }),
    ]);
    const answer = await request(server.getHttpServer()).post('/deks/async-tenant');
    expect(answer.body).toEqual({ same: true });
  });

  it('without the client certificate, a call fails with KmsUnavailableError (network) that names no secret', async () => {
    const server = await boot([
      KmsModule.forRoot({
        ...options({ ca: vault.tls!.ca }),
        retry: false,
        mountInterceptor: true,
      }),
    ]);
    const answer = await request(server.getHttpServer()).post('/deks/refused');
    expect(answer.body).toMatchObject({ error: 'KmsUnavailableError', reason: 'network' });
    const keyLines = vault
      .tls!.clientKey!.split('\n')
      .filter((line) => line !== '' && !line.startsWith('-----'));
    expectNoSecrets(answer.text, [vault.token, ...keyLines]);
  });
});
