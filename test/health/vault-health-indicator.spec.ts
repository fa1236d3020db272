import { Controller, Get, Module, type INestApplication, type LoggerService } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VaultHealthIndicator } from '../../lib/health/index.js';
import {
  InMemoryKeyManagementService,
  KEY_MANAGEMENT_SERVICE,
  KmsConfigurationError,
  KmsModule,
  KmsUnavailableError,
  type KmsModuleOptions,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import {
  closedPort,
  startScriptedServer,
  type ScriptedServer,
} from '../support/scripted-server.js';
import { expectNoSecrets } from '../support/secrets.js';
import { TRANSPORTS } from '../support/transports.js';

const TOKEN = 'hvs.health-indicator-token-0123456789abcdef';
/** The indicator's time limit where Vault answers: generous, a loaded machine may be slow. */
const CHECK_TIMEOUT_MS = 5_000;
/** The time limit of the hung-Vault case, well below the module's request timeout. */
const HUNG_CHECK_TIMEOUT_MS = 300;
/** The time limit the controller passes to the indicator (set per test). */
let checkTimeoutMs = CHECK_TIMEOUT_MS;

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly vault: VaultHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.vault.isHealthy('vault', { timeoutMs: checkTimeoutMs })]);
  }
}

/** Everything Nest and terminus log, to search for secrets. */
class RecordingLogger implements LoggerService {
  readonly lines: string[] = [];
  log = (...args: unknown[]) => this.record(args);
  error = (...args: unknown[]) => this.record(args);
  warn = (...args: unknown[]) => this.record(args);
  debug = (...args: unknown[]) => this.record(args);
  verbose = (...args: unknown[]) => this.record(args);
  fatal = (...args: unknown[]) => this.record(args);
  private record(args: unknown[]): void {
    this.lines.push(
      args.map((a) => (a instanceof Error ? `${a.stack}` : JSON.stringify(a))).join(' '),
    );
  }
}

let app: INestApplication | undefined;
let vault: TransitDevServer;
let logger: RecordingLogger;
const scripted: ScriptedServer[] = [];

beforeEach(async () => {
  vault = await startTransitDevServer({ token: TOKEN });
  logger = new RecordingLogger();
  checkTimeoutMs = CHECK_TIMEOUT_MS;
});
afterEach(async () => {
  await app?.close();
  app = undefined;
  await Promise.all([vault.close(), ...scripted.map((s) => s.close())]);
  scripted.length = 0;
});

async function boot(
  vaultAddr: string,
  options: Partial<KmsModuleOptions> = {},
  kms?: InMemoryKeyManagementService,
) {
  @Module({
    imports: [
      TerminusModule, // its logger reports failed checks (searched for secrets below)
      // The module's request timeout is far above the check's: only the check can end it early.
      KmsModule.forRoot({ vaultAddr, vaultToken: TOKEN, timeoutMs: 20_000, ...options }),
    ],
    controllers: [HealthController],
    providers: [VaultHealthIndicator],
  })
  class HealthTestModule {}
  const builder = Test.createTestingModule({ imports: [HealthTestModule] });
  if (kms) builder.overrideProvider(KEY_MANAGEMENT_SERVICE).useValue(kms);
  const moduleRef = await builder.compile();
  app = moduleRef.createNestApplication({ logger });
  await app.init();
  return app;
}

async function getHealth(expected: number): Promise<Record<string, unknown>> {
  if (!app) throw new Error('boot first');
  const response = await request(app.getHttpServer()).get('/health').expect(expected);
  expectNoSecrets(response.text, [TOKEN]);
  return response.body as Record<string, unknown>;
}

const healthRequests = (server: TransitDevServer) =>
  server.requests.filter((r) => r.path === '/v1/sys/health').map((r) => r.status);

describe.each(TRANSPORTS)('VaultHealthIndicator (transport: %s)', (transport) => {
  it('an active Vault is up with its details; a sealed one is down, asked once per check', async () => {
    await boot(vault.address, { transport });
    const up = await getHealth(200);
    expect(up['status']).toBe('ok');
    expect(up['info']).toEqual({
      vault: {
        status: 'up',
        state: 'active',
        statusCode: 200,
        initialized: true,
        sealed: false,
        standby: false,
        performanceStandby: false,
        version: expect.stringMatching(/^1\.\d+/),
        clusterName: 'vault-cluster-transit-dev',
      },
    });
    vault.setSealed(true);
    const down = await getHealth(503);
    expect(down['status']).toBe('error');
    expect(down['error']).toEqual({
      vault: {
        status: 'down',
        message: 'Vault is sealed',
        state: 'sealed',
        statusCode: 503,
        initialized: true,
        sealed: true,
        standby: true,
        performanceStandby: false,
        version: expect.any(String),
      },
    });
    expect(healthRequests(vault)).toEqual([200, 503]);
  });
});

describe('VaultHealthIndicator', () => {
  it('a standby (429) and a performance standby (473) are up, with standby in the details', async () => {
    const standby = await startTransitDevServer({
      token: TOKEN,
      standby: { activeAddress: vault.address },
    });
    try {
      await boot(standby.address);
      expect((await getHealth(200))['info']).toMatchObject({
        vault: { status: 'up', state: 'standby', statusCode: 429, standby: true, sealed: false },
      });
      standby.setStandby({ activeAddress: vault.address, performance: true });
      expect((await getHealth(200))['info']).toMatchObject({
        vault: {
          status: 'up',
          state: 'performance-standby',
          statusCode: 473,
          standby: true,
          performanceStandby: true,
        },
      });
      // One sys/health per check: a standby code is a state, never retried as a rate limit.
      expect(healthRequests(standby)).toEqual([429, 473]);
      expect(vault.requests).toEqual([]);
    } finally {
      await app?.close();
      app = undefined;
      await standby.close();
    }
  });

  it('an uninitialised Vault (501) is down', async () => {
    await boot(vault.address);
    vault.setInitialized(false);
    expect((await getHealth(503))['error']).toEqual({
      vault: {
        status: 'down',
        message: 'Vault is not initialised',
        state: 'uninitialized',
        statusCode: 501,
        initialized: false,
        sealed: true,
        standby: true,
        performanceStandby: false,
        version: expect.any(String),
      },
    });
  });

  it('a hung Vault is down once the check’s timeout has passed, and the check returns', async () => {
    const hung = await startScriptedServer(() => undefined); // never answers
    scripted.push(hung);
    await boot(hung.address);
    checkTimeoutMs = HUNG_CHECK_TIMEOUT_MS;
    const started = performance.now();
    expect((await getHealth(503))['error']).toEqual({
      vault: {
        status: 'down',
        message: `Vault did not answer sys/health within ${HUNG_CHECK_TIMEOUT_MS} ms`,
        timeoutMs: HUNG_CHECK_TIMEOUT_MS,
      },
    });
    // Generous bound: ended by the check's 300 ms, not by the module's 20 s request timeout.
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(hung.requests.map((r) => r.url)).toEqual(['/v1/sys/health']);
  });

  it('an unreachable Vault is down, with the library’s error code', async () => {
    await boot(`http://127.0.0.1:${await closedPort()}`, { retry: false });
    const error = (await getHealth(503))['error'] as Record<string, Record<string, unknown>>;
    expect(error['vault']).toMatchObject({ status: 'down', code: 'KMS_UNAVAILABLE' });
    expect(error['vault']?.['message']).toMatch(/ECONNREFUSED/);
  });

  it('an answer sys/health never gives (a 404 from something that is not Vault) is down', async () => {
    const other = await startScriptedServer((_req, res) => {
      res.writeHead(404, { 'Content-Type': 'text/html' });
      res.end('<html>not found</html>');
    });
    scripted.push(other);
    await boot(other.address);
    expect((await getHealth(503))['error']).toEqual({
      vault: { status: 'down', message: 'sys/health answered HTTP 404', statusCode: 404 },
    });
  });

  it('checks a KEY_MANAGEMENT_SERVICE override (the in-memory provider) by its setup()', async () => {
    const kms = new InMemoryKeyManagementService();
    await boot(`http://127.0.0.1:${await closedPort()}`, {}, kms);
    expect((await getHealth(200))['info']).toEqual({
      vault: { status: 'up', provider: 'InMemoryKeyManagementService' },
    });
    kms.failNext(
      new KmsUnavailableError('Vault is unavailable for setup: told to fail', 'network'),
    );
    expect((await getHealth(503))['error']).toEqual({
      vault: {
        status: 'down',
        message: 'Vault is unavailable for setup: told to fail',
        code: 'KMS_UNAVAILABLE',
      },
    });
    expect(kms.calls.map((call) => call.operation)).toEqual(['setup', 'setup']);
  });

  it('needs no token: up with a token Vault does not know, and with a token function that fails', async () => {
    // A token Vault does not know: sys/health does not care.
    await boot(vault.address, { vaultToken: 'hvs.unknown-token-0123456789abcdef' });
    expect((await getHealth(200))['info']).toMatchObject({ vault: { status: 'up' } });
    await app?.close();
    // A token function that fails: sys/health is sent without asking it for a token.
    let asked = 0;
    await boot(vault.address, {
      vaultToken: () => {
        asked += 1;
        throw new Error(`no token today (${TOKEN})`);
      },
    });
    expect((await getHealth(200))['info']).toMatchObject({
      vault: { status: 'up', state: 'active', statusCode: 200 },
    });
    expect(asked).toBe(0);
    expect(vault.requests.filter((r) => r.path === '/v1/sys/health')).toHaveLength(2);
    for (const line of logger.lines) expectNoSecrets(line, [TOKEN]);
  });

  it('sends sys/health without the X-Vault-Token header', async () => {
    const seen: (string | undefined)[] = [];
    const recording = await startScriptedServer((req, res) => {
      seen.push(req.headers['x-vault-token'] as string | undefined);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ initialized: true, sealed: false, standby: false }));
    });
    scripted.push(recording);
    await boot(recording.address);
    expect((await getHealth(200))['info']).toMatchObject({ vault: { status: 'up' } });
    expect(seen).toEqual([undefined]);
  });

  it('refuses an invalid timeout before any request', async () => {
    const booted = await boot(vault.address);
    const indicator = booted.get(VaultHealthIndicator);
    for (const timeoutMs of [0, -1, 1.5, Number.NaN, 600_001, '100' as unknown as number]) {
      await expect(indicator.isHealthy('vault', { timeoutMs })).rejects.toBeInstanceOf(
        KmsConfigurationError,
      );
    }
    expect(vault.requests).toEqual([]);
  });

  it('never puts the token into answers or logs, whatever the outcome', async () => {
    await boot(vault.address);
    await getHealth(200);
    vault.setSealed(true);
    await getHealth(503);
    vault.setSealed(false);
    vault.injectFault({ kind: 'reset' });
    await getHealth(503);
    vault.injectFault({ kind: 'status', status: 500 });
    await getHealth(503);
    expect(logger.lines.filter((l) => l.includes('Health Check has failed')).length).toBe(3);
    for (const line of logger.lines) expectNoSecrets(line, [TOKEN]);
  });
});
