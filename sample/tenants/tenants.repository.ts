import { Injectable } from '@nestjs/common';
import type { ISession } from '@ascetic-ddd/nestjs-kms';
import { extractConnection } from '../database/extract-connection.js';
import { TenantShreddedError } from '../errors/tenant-shredded.error.js';

/**
 * Tenants and their shredding tombstones. A tombstone outlives the key: once a tenant is
 * shredded, the app refuses its reads (410) and its writes — a write would otherwise create a
 * fresh key and quietly bring the tenant back.
 */
@Injectable()
export class TenantsRepository {
  /** Registers the tenant if new; throws TenantShreddedError if it was shredded. */
  async ensureActive(session: ISession, tenantId: string): Promise<void> {
    const db = extractConnection(session);
    await db.run('INSERT OR IGNORE INTO tenants (id, created_at) VALUES (?, ?)', [
      tenantId,
      new Date().toISOString(),
    ]);
    await this.assertNotShredded(session, tenantId);
  }

  /** Throws TenantShreddedError if the tenant was shredded (unknown tenants pass). */
  async assertNotShredded(session: ISession, tenantId: string): Promise<void> {
    const row = await extractConnection(session).get<{ shredded_at: string | null }>(
      'SELECT shredded_at FROM tenants WHERE id = ?',
      [tenantId],
    );
    if (row?.shredded_at) throw new TenantShreddedError();
  }

  /** Records that the tenant was shredded (idempotent: the first date is kept). */
  async markShredded(session: ISession, tenantId: string): Promise<void> {
    const now = new Date().toISOString();
    await extractConnection(session).run(
      `INSERT INTO tenants (id, created_at, shredded_at) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET shredded_at = COALESCE(shredded_at, excluded.shredded_at)`,
      [tenantId, now, now],
    );
  }
}
