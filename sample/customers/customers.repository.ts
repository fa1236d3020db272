import { Injectable } from '@nestjs/common';
import type { ISession } from '@ascetic-ddd/nestjs-kms';
import { extractConnection } from '../database/extract-connection.js';

/** A customer row as stored: the wrapped DEK beside the payload it encrypts. */
export interface StoredCustomer {
  /** Insertion order within the table (a stable cursor). */
  readonly seq: number;
  readonly id: string;
  readonly tenantId: string;
  /** The Vault ciphertext of the record's DEK (`vault:vN:…`). */
  readonly encryptedDek: string;
  /** AES-256-GCM of the record's fields under the DEK (see sealRecord). */
  readonly payload: Buffer;
}

interface CustomerRow {
  seq: number;
  id: string;
  tenant_id: string;
  encrypted_dek: string;
  payload: Buffer;
}

/**
 * Customer rows. Takes the session it is given and gets its database handle from it — the same
 * way the KMS gets its HTTP client — so every statement runs in the request's transaction.
 */
@Injectable()
export class CustomersRepository {
  async insert(session: ISession, customer: Omit<StoredCustomer, 'seq'>): Promise<void> {
    await extractConnection(session).run(
      `INSERT INTO customers (id, tenant_id, encrypted_dek, payload, created_at)
       VALUES (?, ?, ?, ?, ?)`,
      [
        customer.id,
        customer.tenantId,
        customer.encryptedDek,
        customer.payload,
        new Date().toISOString(),
      ],
    );
  }

  async find(session: ISession, tenantId: string, id: string): Promise<StoredCustomer | undefined> {
    const row = await extractConnection(session).get<CustomerRow>(
      'SELECT seq, id, tenant_id, encrypted_dek, payload FROM customers WHERE tenant_id = ? AND id = ?',
      [tenantId, id],
    );
    return row && toStored(row);
  }

  /** One page of a tenant's customers in insertion order, after position `afterSeq`. */
  async page(
    session: ISession,
    tenantId: string,
    limit: number,
    afterSeq: number,
  ): Promise<StoredCustomer[]> {
    const rows = await extractConnection(session).all<CustomerRow>(
      `SELECT seq, id, tenant_id, encrypted_dek, payload FROM customers
       WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
      [tenantId, afterSeq, limit],
    );
    return rows.map(toStored);
  }

  /** The lowest KEK version among the tenant's wrapped DEKs (`vault:v<N>:…`), if any. */
  async lowestKekVersion(session: ISession, tenantId: string): Promise<number | undefined> {
    const row = await extractConnection(session).get<{ lowest: number | null }>(
      `SELECT MIN(CAST(substr(encrypted_dek, 8, instr(substr(encrypted_dek, 8), ':') - 1) AS INTEGER))
         AS lowest
       FROM customers WHERE tenant_id = ?`,
      [tenantId],
    );
    return row?.lowest ?? undefined;
  }

  /**
   * Replaces a record's wrapped DEK if it is still `expected` (another writer may have changed
   * it meanwhile). Returns whether the row was updated. The payload is untouched: rewrapping
   * changes the KEK version protecting the DEK, never the DEK.
   */
  async replaceEncryptedDek(
    session: ISession,
    tenantId: string,
    id: string,
    expected: string,
    replacement: string,
  ): Promise<boolean> {
    const { changes } = await extractConnection(session).run(
      'UPDATE customers SET encrypted_dek = ? WHERE tenant_id = ? AND id = ? AND encrypted_dek = ?',
      [replacement, tenantId, id, expected],
    );
    return changes === 1;
  }
}

function toStored(row: CustomerRow): StoredCustomer {
  return {
    seq: row.seq,
    id: row.id,
    tenantId: row.tenant_id,
    encryptedDek: row.encrypted_dek,
    payload: row.payload,
  };
}
