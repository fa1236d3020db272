import { readFile } from 'node:fs/promises';
import type { INestApplication } from '@nestjs/common';
import Database from 'better-sqlite3';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import {
  InMemoryKeyManagementService,
  KEY_MANAGEMENT_SERVICE,
  KmsUnavailableError,
  type ISession,
  type TenantId,
} from '../../lib/index.js';
import { SqliteSessionPool } from '../../sample/database/sqlite-session-pool.js';
import { createCustomer, readRows, useSampleFixture } from './support/sample-app.js';
import { Gate } from './support/gate.js';

const sample = useSampleFixture();
const boot = (): Promise<INestApplication> => sample.boot();

/** A KMS whose key deletion succeeds in Vault but whose answer is lost (a timeout). */
class DeleteThenTimeOut extends InMemoryKeyManagementService {
  failDeletes = true;

  override async deleteKek(session: ISession, tenantId: TenantId): Promise<void> {
    await super.deleteKek(session, tenantId);
    if (this.failDeletes) {
      throw new KmsUnavailableError('Vault did not answer delete in time: test fault.', 'timeout');
    }
  }
}

/** A KMS whose first generateDek waits until the test opens the gate (a slow Vault). */
class GatedDekKms extends InMemoryKeyManagementService {
  readonly gate = new Gate();

  override async generateDek(session: ISession, tenantId: TenantId) {
    await this.gate.pass();
    return super.generateDek(session, tenantId);
  }
}

interface Row {
  id: string;
  tenant_id: string;
  encrypted_dek: string;
  payload: Buffer;
}

describe('sample app: the whole key lifecycle over HTTP (Vault = Transit dev server)', () => {
  it('create → read → rotate → rewrap → read → shred → 410, other tenant intact', async () => {
    const http = (await boot()).getHttpServer();
    const ann = { name: 'Ann Lee', email: 'ann@example.com', notes: 'prefers email' };
    const bob = { name: 'Bob Ray', email: 'bob@example.com' };
    const eve = { name: 'Eve Moss', email: 'eve@example.org', notes: 'other tenant' };
    const annId = await createCustomer(sample.app, 'acme', ann);
    const bobId = await createCustomer(sample.app, 'acme', bob);
    const eveId = await createCustomer(sample.app, 'globex', eve);

    // Read back, one and all.
    expect((await request(http).get(`/tenants/acme/customers/${annId}`).expect(200)).body).toEqual({
      id: annId,
      ...ann,
    });
    expect((await request(http).get('/tenants/acme/customers').expect(200)).body).toEqual([
      { id: annId, ...ann },
      { id: bobId, ...bob, notes: null },
    ]);

    // Stored encrypted: one wrapped DEK per record, no plaintext field in the database file.
    const stored = readRows<Row>(sample.databasePath, 'SELECT * FROM customers ORDER BY seq');
    expect(stored.map((row) => row.encrypted_dek)).toEqual([
      expect.stringMatching(/^vault:v1:/),
      expect.stringMatching(/^vault:v1:/),
      expect.stringMatching(/^vault:v1:/),
    ]);
    expect(new Set(stored.map((row) => row.encrypted_dek)).size).toBe(3);
    // The database file and its write-ahead log (where fresh rows live until a checkpoint).
    const files = Buffer.concat([
      await readFile(sample.databasePath),
      await readFile(`${sample.databasePath}-wal`).catch(() => Buffer.alloc(0)),
    ]);
    expect(files.includes(stored[0]!.encrypted_dek)).toBe(true); // the scan does see the rows
    for (const secret of ['Ann Lee', 'ann@example.com', 'prefers email', 'Eve Moss']) {
      expect(files.includes(secret)).toBe(false);
    }

    // Rotate, then rewrap every stored DEK onto the new version.
    expect((await request(http).post('/tenants/acme/kek/rotate').expect(200)).body).toEqual({
      version: 2,
    });
    expect((await request(http).post('/tenants/acme/kek/rewrap').expect(200)).body).toEqual({
      rewrapped: 2,
    });
    const rewrapped = readRows<Row>(sample.databasePath, 'SELECT * FROM customers ORDER BY seq');
    expect(rewrapped.map((row) => row.encrypted_dek.slice(0, 9))).toEqual([
      'vault:v2:',
      'vault:v2:',
      'vault:v1:', // globex untouched
    ]);
    expect(rewrapped.map((row) => row.payload)).toEqual(stored.map((row) => row.payload));
    // A second pass finds everything current: the service knows the latest version (it rotated
    // the key), so the rewrap costs no request at all, and nothing is updated.
    const rewrapCalls = () =>
      sample.vault.requests.filter((r) => r.path.startsWith('/v1/transit/rewrap/')).length;
    const callsBefore = rewrapCalls();
    expect((await request(http).post('/tenants/acme/kek/rewrap').expect(200)).body).toEqual({
      rewrapped: 0,
    });
    expect(rewrapCalls() - callsBefore).toBe(0);
    expect(readRows<Row>(sample.databasePath, 'SELECT * FROM customers ORDER BY seq')).toEqual(
      rewrapped,
    );
    expect((await request(http).get(`/tenants/acme/customers/${bobId}`).expect(200)).body).toEqual({
      id: bobId,
      ...bob,
      notes: null,
    });

    // Shred acme: its reads answer 410 with a clear body, writes too; globex is unaffected.
    await request(http).delete('/tenants/acme/kek').expect(204);
    const afterShred = sample.vault.requests.length;
    const gone = await request(http).get(`/tenants/acme/customers/${annId}`).expect(410);
    expect(gone.body).toEqual({
      statusCode: 410,
      code: 'tenant_shredded',
      message: expect.stringMatching(/crypto-shredded/),
    });
    await request(http).get('/tenants/acme/customers').expect(410);
    await request(http).post('/tenants/acme/customers').send(bob).expect(410);
    await request(http).post('/tenants/acme/kek/rotate').expect(410);
    await request(http).post('/tenants/acme/kek/rewrap').expect(410);
    // Refused before any KMS call: a write would otherwise create a fresh key for acme.
    expect(sample.vault.requests.slice(afterShred)).toEqual([]);
    await request(http).delete('/tenants/acme/kek').expect(204); // idempotent
    expect(
      (await request(http).get(`/tenants/globex/customers/${eveId}`).expect(200)).body,
    ).toEqual({
      id: eveId,
      ...eve,
    });
  });

  it('a key that vanished without a shred is a 500 key_missing, not a 410; DELETE records it', async () => {
    const http = (await boot()).getHttpServer();
    const id = await createCustomer(sample.app, 'initech', {
      name: 'Pat',
      email: 'pat@example.com',
    });
    // An operator deletes the key directly in Vault.
    const headers = { 'X-Vault-Token': sample.vault.token, 'content-type': 'application/json' };
    await fetch(`${sample.vault.address}/v1/transit/keys/tenant-initech/config`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ deletion_allowed: true }),
    });
    await fetch(`${sample.vault.address}/v1/transit/keys/tenant-initech`, {
      method: 'DELETE',
      headers,
    });
    const response = await request(http).get(`/tenants/initech/customers/${id}`).expect(500);
    expect(response.body).toEqual({
      statusCode: 500,
      code: 'key_missing',
      message: 'Internal server error',
    });
    await request(http).delete('/tenants/initech/kek').expect(204);
    expect(
      (await request(http).get(`/tenants/initech/customers/${id}`).expect(410)).body.code,
    ).toBe('tenant_shredded');
  });

  it('a shred whose key deletion fails half-way keeps the tenant refused, and a retry completes it', async () => {
    const kms = new DeleteThenTimeOut();
    const http = (
      await sample.boot((builder) => builder.overrideProvider(KEY_MANAGEMENT_SERVICE).useValue(kms))
    ).getHttpServer();
    const id = await createCustomer(sample.app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    // Vault deleted the key but the answer was lost: the client sees 503.
    await request(http).delete('/tenants/acme/kek').expect(503);
    const callsAfterShred = kms.calls.length;
    // The tombstone was committed first: no read, no write, no new key for acme.
    await request(http).get(`/tenants/acme/customers/${id}`).expect(410);
    await request(http)
      .post('/tenants/acme/customers')
      .send({ name: 'Bob', email: 'bob@example.com' })
      .expect(410);
    await request(http).post('/tenants/acme/kek/rotate').expect(410);
    expect(kms.calls.length).toBe(callsAfterShred);
    kms.failDeletes = false;
    await request(http).delete('/tenants/acme/kek').expect(204);
  });

  it('a shred waits for a create of the same tenant in flight, then wins: nothing is resurrected', async () => {
    const kms = new GatedDekKms();
    const http = (
      await sample.boot((builder) => builder.overrideProvider(KEY_MANAGEMENT_SERVICE).useValue(kms))
    ).getHttpServer();
    const events: string[] = [];
    const create = request(http)
      .post('/tenants/acme/customers')
      .send({ name: 'Ann', email: 'ann@example.com' })
      .then((r) => {
        events.push(`create ${r.status}`);
        return r.body as { id: string };
      });
    await kms.gate.reached; // the create holds acme's write transaction, waiting on "Vault"
    const shred = request(http)
      .delete('/tenants/acme/kek')
      .then((r) => events.push(`shred ${r.status}`));
    await new Promise((resolve) => setTimeout(resolve, 50));
    events.push('gate opened');
    kms.gate.open();
    const { id } = await create;
    await shred;
    expect(events).toEqual(['gate opened', 'create 201', 'shred 204']);
    expect(kms.calls.map((call) => call.operation)).toEqual(['generateDek', 'deleteKek']);
    await request(http).get(`/tenants/acme/customers/${id}`).expect(410);
    await request(http)
      .post('/tenants/acme/customers')
      .send({ name: 'B', email: 'b@x.org' })
      .expect(410);
    expect(kms.calls.map((call) => call.operation)).toEqual(['generateDek', 'deleteKek']);
  });

  it('rewrap?retire=true retires the versions no stored DEK uses any more', async () => {
    const http = (await boot()).getHttpServer();
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      ids.push(await createCustomer(sample.app, 'acme', { name: `C${n}`, email: `c${n}@x.org` }));
    }
    await request(http).post('/tenants/acme/kek/rotate').expect(200);
    await request(http).post('/tenants/acme/kek/rewrap?retire=maybe').expect(400);
    const batches = () => sample.vault.requests.filter((r) => r.path.includes('/rewrap/')).length;
    const before = batches();
    expect(
      (await request(http).post('/tenants/acme/kek/rewrap?retire=true').expect(200)).body,
    ).toEqual({
      rewrapped: 3,
      retiredBelow: 2,
    });
    expect(batches() - before).toBe(1); // one batch request for the page
    const key = await fetch(`${sample.vault.address}/v1/transit/keys/tenant-acme`, {
      headers: { 'X-Vault-Token': sample.vault.token },
    });
    expect(((await key.json()) as { data: { min_decryption_version: number } }).data).toMatchObject(
      {
        min_decryption_version: 2,
      },
    );
    for (const id of ids) await request(http).get(`/tenants/acme/customers/${id}`).expect(200);
  });

  it('a malformed wrapped DEK in storage is damaged data (500), not the client’s bad request', async () => {
    await boot();
    const id = await createCustomer(sample.app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    await sample.close();
    const db = new Database(sample.databasePath);
    db.prepare("UPDATE customers SET encrypted_dek = 'vault:v1:AAAA' WHERE id = ?").run(id);
    db.close();
    const http = (await boot()).getHttpServer();
    const response = await request(http).get(`/tenants/acme/customers/${id}`).expect(500);
    expect(response.body.code).toBe('record_integrity');
  });

  it('a record moved to another tenant or id fails its integrity check instead of leaking', async () => {
    await boot();
    const a = await createCustomer(sample.app, 'acme', { name: 'Ann', email: 'ann@example.com' });
    const b = await createCustomer(sample.app, 'acme', { name: 'Bob', email: 'bob@example.com' });
    // Swap the two rows' ciphertexts (same tenant, same KEK): AAD binds each to its id.
    const [rowA, rowB] = readRows<Row>(sample.databasePath, 'SELECT * FROM customers ORDER BY seq');
    await sample.close();
    const db = new Database(sample.databasePath);
    const swap = db.prepare('UPDATE customers SET encrypted_dek = ?, payload = ? WHERE id = ?');
    swap.run(rowB!.encrypted_dek, rowB!.payload, a);
    swap.run(rowA!.encrypted_dek, rowA!.payload, b);
    db.close();
    const http = (await boot()).getHttpServer();
    const response = await request(http).get(`/tenants/acme/customers/${a}`).expect(500);
    expect(response.body).toEqual({
      statusCode: 500,
      code: 'record_integrity',
      message: 'Internal server error',
    });
    expect(JSON.stringify(response.body)).not.toMatch(/Bob|bob@/);

    // Moved to another tenant: that tenant's KEK cannot unwrap the DEK.
    const eve = await createCustomer(sample.app, 'globex', { name: 'Eve', email: 'e@x.org' });
    await sample.close();
    const moved = new Database(sample.databasePath);
    moved.prepare("UPDATE customers SET tenant_id = 'globex' WHERE id = ?").run(b);
    moved.close();
    const again = (await boot()).getHttpServer();
    const stolen = await request(again).get(`/tenants/globex/customers/${b}`).expect(500);
    expect(stolen.body.code).toBe('record_integrity');
    await request(again).get(`/tenants/globex/customers/${eve}`).expect(200);
  });

  it('health answers 503 when the database is down, naming it', async () => {
    const http = (await boot()).getHttpServer();
    sample.app.get(SqliteSessionPool).close();
    expect((await request(http).get('/health').expect(503)).body).toMatchObject({
      status: 'error',
      info: { vault: { status: 'up' } },
      error: { database: { status: 'down', message: 'the database did not answer' } },
    });
  });
});
