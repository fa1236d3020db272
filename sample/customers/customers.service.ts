import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import {
  InjectKeyManagementService,
  KmsSessionHost,
  type IKeyManagementService,
  type ISession,
} from '@ascetic-ddd/nestjs-kms';
import { openRecord, sealRecord } from '../crypto/record-cipher.js';
import { CustomerNotFoundError } from '../errors/customer-not-found.error.js';
import { InvalidRequestError } from '../errors/invalid-request.error.js';
import { explainStoredKeyError } from '../tenants/stored-key-errors.js';
import { TenantsRepository } from '../tenants/tenants.repository.js';
import type { Customer, CustomerData } from './customer.js';
import { customerAad } from './customer-aad.js';
import { CustomersRepository, type StoredCustomer } from './customers.repository.js';

/**
 * Envelope encryption per record: each customer gets its own DEK from the tenant's KEK
 * (`generateDek`), the fields are sealed locally with AES-256-GCM, and only the wrapped DEK is
 * stored beside them. Plaintext DEKs are zeroed as soon as they are used.
 *
 * The service takes the request's session from {@link KmsSessionHost} (AsyncLocalStorage); the
 * KMS and the repositories receive that same session, so the database transaction and the Vault
 * calls form one unit of work.
 */
@Injectable()
export class CustomersService {
  constructor(
    private readonly sessions: KmsSessionHost,
    @InjectKeyManagementService() private readonly kms: IKeyManagementService,
    private readonly customers: CustomersRepository,
    private readonly tenants: TenantsRepository,
  ) {}

  async create(tenantId: string, data: CustomerData): Promise<{ id: string }> {
    const session = this.sessions.session;
    // Before any KMS call: generateDek would create a fresh key for a shredded tenant.
    await this.tenants.ensureActive(session, tenantId);
    const id = randomUUID();
    const { dek, encryptedDek } = await this.kms.generateDek(session, tenantId);
    let payload: Buffer;
    try {
      payload = sealRecord(
        dek,
        Buffer.from(JSON.stringify(data), 'utf8'),
        customerAad(tenantId, id),
      );
    } finally {
      dek.fill(0);
    }
    await this.customers.insert(session, {
      id,
      tenantId,
      encryptedDek: encryptedDek.toString('utf8'),
      payload,
    });
    return { id };
  }

  async get(tenantId: string, id: string): Promise<Customer> {
    const session = this.sessions.session;
    await this.tenants.assertNotShredded(session, tenantId);
    const stored = await this.customers.find(session, tenantId, id);
    if (!stored) throw new CustomerNotFoundError();
    return this.decrypt(session, stored);
  }

  async list(tenantId: string, limit: number, after?: string): Promise<Customer[]> {
    const session = this.sessions.session;
    await this.tenants.assertNotShredded(session, tenantId);
    const cursor =
      after === undefined ? undefined : await this.customers.find(session, tenantId, after);
    if (after !== undefined && !cursor) {
      throw new InvalidRequestError('"after" is not a customer of this tenant.');
    }
    const page = await this.customers.page(session, tenantId, limit, cursor?.seq ?? 0);
    const customers: Customer[] = [];
    for (const stored of page) customers.push(await this.decrypt(session, stored));
    return customers;
  }

  private async decrypt(session: ISession, stored: StoredCustomer): Promise<Customer> {
    const dek = await this.kms
      .decryptDek(session, stored.tenantId, Buffer.from(stored.encryptedDek, 'utf8'))
      .catch((error: unknown) =>
        explainStoredKeyError(error, session, this.tenants, stored.tenantId),
      );
    let plaintext: Buffer | undefined;
    try {
      plaintext = openRecord(dek, stored.payload, customerAad(stored.tenantId, stored.id));
      const data = JSON.parse(plaintext.toString('utf8')) as CustomerData;
      return { id: stored.id, name: data.name, email: data.email, notes: data.notes };
    } finally {
      dek.fill(0);
      plaintext?.fill(0);
    }
  }
}
