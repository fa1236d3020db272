import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import {
  InMemoryKeyManagementService,
  KEY_MANAGEMENT_SERVICE,
  KmsSessionHost,
  KmsUnavailableError,
  RestSession,
  SESSION_POOL,
  type ISession,
  type ISessionPool,
  type TenantId,
} from '../../lib/index.js';
import { CustomersRepository } from '../../sample/customers/customers.repository.js';
import { REWRAP_PAGE_SIZE } from '../../sample/keys/rewrap-page-size.constants.js';
import { RotateTenantKeyJob } from '../../sample/keys/rotate-tenant-key.job.js';
import { SqliteSession } from '../../sample/database/sqlite-session.js';
import { closedPort } from '../support/scripted-server.js';
import { createCustomer, readRows, useSampleFixture } from './support/sample-app.js';
import { Gate } from './support/gate.js';

const sample = useSampleFixture();

/** The wrapped DEKs as stored, in insertion order. */
const dekColumn = (): string[] =>
  readRows<{ encrypted_dek: string }>(
    sample.databasePath,
    'SELECT encrypted_dek FROM customers ORDER BY seq',
  ).map((row) => row.encrypted_dek);
const versionOf = (encryptedDek: string): string => encryptedDek.split(':')[1] ?? '';

/** In-memory KMS that cannot generate DEKs for one tenant (its calls fail as an unreachable Vault's). */
class DoomedTenantKms extends InMemoryKeyManagementService {
  constructor(private readonly doomed: string) {
    super();
  }

  override async generateDek(session: ISession, tenantId: TenantId) {
    await new Promise((resolve) => setTimeout(resolve, 2));
    if (tenantId === this.doomed) {
      throw new KmsUnavailableError('Vault is unavailable for datakey: test fault.', 'network');
    }
    return super.generateDek(session, tenantId);
  }
}

/** In-memory KMS whose rotations wait until the test opens the gate (a slow Vault). */
class GatedRotationKms extends InMemoryKeyManagementService {
  readonly gate = new Gate();

  override async rotateKek(session: ISession, tenantId: TenantId): Promise<number> {
    await this.gate.pass();
    return super.rotateKek(session, tenantId);
  }
}

/** In-memory KMS whose n-th rewrap fails as an unreachable Vault would. */
class RewrapFailsAt extends InMemoryKeyManagementService {
  private rewraps = 0;

  constructor(private readonly failing: number) {
    super();
  }

  override async rewrapDek(session: ISession, tenantId: TenantId, encryptedDek: Uint8Array) {
    this.count(1);
    return super.rewrapDek(session, tenantId, encryptedDek);
  }

  /** A batch holding the n-th rewrapped item fails as a whole, as an unreachable Vault would. */
  override async rewrapDeks(
    session: ISession,
    tenantId: TenantId,
    encryptedDeks: readonly Uint8Array[],
  ) {
    this.count(encryptedDeks.length);
    return super.rewrapDeks(session, tenantId, encryptedDeks);
  }

  private count(items: number): void {
    const before = this.rewraps;
    this.rewraps += items;
    if (before < this.failing && this.rewraps >= this.failing) {
      throw new KmsUnavailableError('Vault is unavailable for rewrap: test fault.', 'network');
    }
  }
}

describe('sample app: a failing request leaves nothing half-written', () => {
  it('a create whose KMS call fails rolls back the tenant row it had written (503, Retry-After)', async () => {
    const app = await sample.boot();
    sample.vault.setSealed(true);
    const response = await request(app.getHttpServer())
      .post('/tenants/acme/customers')
      .send({ name: 'Ann', email: 'ann@example.com' })
      .expect(503);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.body).toEqual({
      statusCode: 503,
      code: 'kms_unavailable',
      message: expect.any(String),
    });
    expect(readRows(sample.databasePath, 'SELECT * FROM tenants')).toEqual([]);
    expect(readRows(sample.databasePath, 'SELECT * FROM customers')).toEqual([]);
    sample.vault.setSealed(false);
    await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    expect(readRows(sample.databasePath, 'SELECT id FROM customers')).toHaveLength(1);
  });

  it('a rewrap page failing between two updates rolls both back, every record still readable', async () => {
    const app = await sample.boot();
    const http = app.getHttpServer();
    const ids: string[] = [];
    for (const n of [1, 2, 3, 4]) {
      ids.push(await createCustomer(app, 'acme', { name: `C${n}`, email: `c${n}@example.com` }));
    }
    await request(http).post('/tenants/acme/kek/rotate').expect(200);
    const before = dekColumn();
    // The second row's update fails after the first row's update ran in the same transaction.
    const replace = CustomersRepository.prototype.replaceEncryptedDek;
    let updates = 0;
    vi.spyOn(CustomersRepository.prototype, 'replaceEncryptedDek').mockImplementation(function (
      this: CustomersRepository,
      ...args
    ) {
      updates += 1;
      if (updates === 2) return Promise.reject(new Error('disk full (test fault)'));
      return replace.apply(this, args);
    });

    await request(http).post('/tenants/acme/kek/rewrap').expect(500);
    expect(updates).toBe(2);
    expect(dekColumn()).toEqual(before);
    for (const id of ids) await request(http).get(`/tenants/acme/customers/${id}`).expect(200);

    vi.restoreAllMocks();
    expect((await request(http).post('/tenants/acme/kek/rewrap').expect(200)).body).toEqual({
      rewrapped: 4,
    });
    expect(dekColumn().map(versionOf)).toEqual(['v2', 'v2', 'v2', 'v2']);
  });

  it('rewrap commits page by page: a failure keeps the pages before it, the next pass resumes', async () => {
    const kms = new RewrapFailsAt(3);
    const app = await sample.boot((builder) =>
      builder
        .overrideProvider(KEY_MANAGEMENT_SERVICE)
        .useValue(kms)
        .overrideProvider(REWRAP_PAGE_SIZE)
        .useValue(2),
    );
    const http = app.getHttpServer();
    for (const n of [1, 2, 3, 4, 5]) {
      await createCustomer(app, 'acme', { name: `C${n}`, email: `c${n}@example.com` });
    }
    await request(http).post('/tenants/acme/kek/rotate').expect(200);

    // Page 1 (rows 1–2) commits; the third rewrap call, in page 2, fails.
    await request(http).post('/tenants/acme/kek/rewrap').expect(503);
    expect(dekColumn().map(versionOf)).toEqual(['v2', 'v2', 'v1', 'v1', 'v1']);

    // The next pass finds rows 1–2 current and does the rest.
    const rewrapsBefore = kms.calls.filter((c) => c.operation === 'rewrapDeks').length;
    expect((await request(http).post('/tenants/acme/kek/rewrap').expect(200)).body).toEqual({
      rewrapped: 3,
    });
    // One batch per page of 2: rows 1–2 (found current), 3–4, 5.
    expect(kms.calls.filter((c) => c.operation === 'rewrapDeks').length - rewrapsBefore).toBe(3);
    expect(dekColumn().map(versionOf)).toEqual(['v2', 'v2', 'v2', 'v2', 'v2']);
  });
});

describe('sample app: the same unit of work outside HTTP', () => {
  it('a job (queue, cron) rotates in its own committed unit of work; a failed rewrap page rolls back', async () => {
    const kms = new RewrapFailsAt(2);
    const app = await sample.boot((builder) =>
      builder.overrideProvider(KEY_MANAGEMENT_SERVICE).useValue(kms),
    );
    for (const n of [1, 2]) {
      await createCustomer(app, 'acme', { name: `C${n}`, email: `c${n}@example.com` });
    }
    const job = app.get(RotateTenantKeyJob);

    // A tenant the app has never seen: the rotation's own write (its tenant row) is committed.
    expect(await job.run('newco')).toEqual({ version: 1, rewrapped: 0 });
    expect(readRows(sample.databasePath, "SELECT id FROM tenants WHERE id = 'newco'")).toEqual([
      { id: 'newco' },
    ]);

    // The rotation committed; the second rewrap failed, so its page (both rows) rolled back.
    await expect(job.run('acme')).rejects.toBeInstanceOf(KmsUnavailableError);
    expect(dekColumn().map(versionOf)).toEqual(['v1', 'v1']);
    expect(await job.run('acme')).toEqual({ version: 3, rewrapped: 2 });
    expect(dekColumn().map(versionOf)).toEqual(['v3', 'v3']);
  });

  it('a job refuses to run inside another unit of work (its pages would wait for that unit’s lock)', async () => {
    const app = await sample.boot();
    const job = app.get(RotateTenantKeyJob);
    await expect(app.get(KmsSessionHost).withSession(() => job.run('acme'))).rejects.toThrow(
      /entry point/,
    );
  });
});

describe('sample app: concurrency and sessions', () => {
  it('parallel requests across tenants stay isolated, failing ones leaving nothing', async () => {
    const kms = new DoomedTenantKms('doomed');
    const app = await sample.boot((builder) =>
      builder.overrideProvider(KEY_MANAGEMENT_SERVICE).useValue(kms),
    );
    const http = app.getHttpServer();
    const tenants = Array.from({ length: 8 }, (_, i) => `tenant${i}`);
    const doomed = Array.from({ length: 10 }, (_, n) =>
      request(http)
        .post('/tenants/doomed/customers')
        .send({ name: `D${n}`, email: 'd@x.example' }),
    );
    const created = await Promise.all(
      tenants.flatMap((tenant) =>
        [1, 2, 3, 4, 5].map(async (n) => {
          const response = await request(http)
            .post(`/tenants/${tenant}/customers`)
            .send({ name: `${tenant} customer ${n}`, email: `c${n}@${tenant}.example` });
          expect(response.status).toBe(201);
          return { tenant, id: (response.body as { id: string }).id, n };
        }),
      ),
    );
    for (const failed of await Promise.all(doomed)) expect(failed.status).toBe(503);
    // The failing tenant's requests wrote their tenant row before the KMS failed: all rolled back.
    expect(readRows(sample.databasePath, "SELECT * FROM tenants WHERE id = 'doomed'")).toEqual([]);
    expect(readRows(sample.databasePath, 'SELECT id FROM customers')).toHaveLength(40);
    const lists = await Promise.all(
      tenants.map((tenant) => request(http).get(`/tenants/${tenant}/customers`).expect(200)),
    );
    lists.forEach((list, i) => {
      const names = (list.body as { name: string }[]).map((c) => c.name).toSorted();
      expect(names).toEqual([1, 2, 3, 4, 5].map((n) => `${tenants[i]} customer ${n}`));
    });
    // Another tenant's record id is simply not there.
    const [first] = created;
    await request(http).get(`/tenants/tenant1/customers/${first!.id}`).expect(404);
    const reads = await Promise.all(
      created.map(({ tenant, id }) => request(http).get(`/tenants/${tenant}/customers/${id}`)),
    );
    reads.forEach((read, i) => {
      expect(read.status).toBe(200);
      expect(read.body.name).toBe(`${created[i]!.tenant} customer ${created[i]!.n}`);
    });
  });

  it('a slow Vault call of one tenant does not hold up another tenant’s reads', async () => {
    const kms = new GatedRotationKms();
    const app = await sample.boot((builder) =>
      builder.overrideProvider(KEY_MANAGEMENT_SERVICE).useValue(kms),
    );
    const http = app.getHttpServer();
    const eve = await createCustomer(app, 'globex', { name: 'Eve', email: 'eve@example.org' });
    const rotation = request(http)
      .post('/tenants/acme/kek/rotate')
      .then((r) => r.status);
    await kms.gate.reached; // acme's request holds its write transaction, waiting on "Vault"
    const read = await request(http).get(`/tenants/globex/customers/${eve}`);
    expect(read.status).toBe(200);
    expect(
      await request(http)
        .get('/health')
        .then((r) => r.status),
    ).toBe(200);
    kms.gate.open();
    expect(await rotation).toBe(200);
  });

  it('the interceptor’s session is the one the repository and the KMS used', async () => {
    const kms = new InMemoryKeyManagementService();
    const app = await sample.boot((builder) =>
      builder.overrideProvider(KEY_MANAGEMENT_SERVICE).useValue(kms),
    );
    const opened: string[] = [];
    const pool = app.get<ISessionPool>(SESSION_POOL);
    pool.signals.atomicStarted.connect((event) => opened.push(`${event.sessionId}/${event.depth}`));
    // The interceptor's session: what KmsSessionHost.withSession hands the request's work.
    const interceptorSessions: ISession[] = [];
    const withSession = KmsSessionHost.prototype.withSession;
    vi.spyOn(KmsSessionHost.prototype, 'withSession').mockImplementation(function (
      this: KmsSessionHost,
      work,
      options,
    ) {
      return withSession.call(
        this,
        (session) => {
          interceptorSessions.push(session);
          return work(session);
        },
        options,
      );
    });
    const inserted: ISession[] = [];
    const insert = CustomersRepository.prototype.insert;
    vi.spyOn(CustomersRepository.prototype, 'insert').mockImplementation(function (
      this: CustomersRepository,
      session,
      customer,
    ) {
      inserted.push(session);
      return insert.call(this, session, customer);
    });

    await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });

    expect(opened).toHaveLength(1); // one unit of work for the request
    expect(interceptorSessions).toHaveLength(1);
    const [session] = interceptorSessions;
    expect(inserted).toEqual([session]);
    expect(`${(session as unknown as { sessionId: string }).sessionId}/1`).toBe(opened[0]);
    expect(kms.calls.map((call) => call.operation)).toEqual(['generateDek']);
    expect(kms.calls[0]!.session).toBe(session);
    expect(session!.part(SqliteSession)).toBeDefined(); // the transaction the rows went into
    expect(session!.part(RestSession)).toBeDefined(); // the HTTP client the KMS would use
    expect(session!.isActive).toBe(false); // closed with the request
  });

  it('boots with KEY_MANAGEMENT_SERVICE overridden by the in-memory provider (no Vault at all)', async () => {
    const kms = new InMemoryKeyManagementService();
    const nowhere = `http://127.0.0.1:${await closedPort()}`;
    const app = await sample.boot(
      (builder) => builder.overrideProvider(KEY_MANAGEMENT_SERVICE).useValue(kms),
      { VAULT_ADDR: nowhere, VAULT_TOKEN: 'unused', DATABASE_PATH: ':memory:' },
    );
    const http = app.getHttpServer();
    const id = await createCustomer(app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    expect((await request(http).get(`/tenants/acme/customers/${id}`).expect(200)).body.name).toBe(
      'Ann',
    );
    expect((await request(http).post('/tenants/acme/kek/rotate').expect(200)).body).toEqual({
      version: 2,
    });
    await request(http).delete('/tenants/acme/kek').expect(204);
    await request(http).get(`/tenants/acme/customers/${id}`).expect(410);
    expect(kms.calls.map((call) => call.operation)).toEqual([
      'generateDek',
      'decryptDek',
      'rotateKek',
      'deleteKek',
    ]);
    expect((await request(http).get('/health').expect(200)).body).toMatchObject({
      status: 'ok',
      // The health check follows the override: the in-memory provider's setup(), no Vault.
      info: {
        vault: { status: 'up', provider: 'InMemoryKeyManagementService' },
        database: { status: 'up' },
      },
    });
  });
});
