import { Injectable } from '@nestjs/common';
import {
  InjectKeyManagementService,
  type IKeyManagementService,
  type ISession,
} from '@ascetic-ddd/nestjs-kms';
import { CustomersRepository } from '../customers/customers.repository.js';
import { TenantsRepository } from '../tenants/tenants.repository.js';

/** How many rows rewrap reads at a time (bounds memory, not the transaction). */
const REWRAP_PAGE = 500;

/** Key lifecycle of a tenant: rotate the KEK, rewrap stored DEKs, shred. */
@Injectable()
export class TenantKeysService {
  constructor(
    @InjectKeyManagementService() private readonly kms: IKeyManagementService,
    private readonly customers: CustomersRepository,
    private readonly tenants: TenantsRepository,
  ) {}

  /** A new KEK version for new DEKs; existing DEKs stay readable (old versions still decrypt). */
  async rotate(session: ISession, tenantId: string): Promise<{ version: number }> {
    await this.tenants.ensureActive(session, tenantId);
    return { version: await this.kms.rotateKek(session, tenantId) };
  }

  /**
   * Moves every stored DEK to the latest KEK version. Crash-safe: each row is updated in place
   * from one valid wrapped DEK to another (the DEK, hence the payload, never changes), and the
   * whole pass commits or rolls back with the request's transaction — at no moment is a record
   * undecryptable. A row changed meanwhile by someone else is left as it is.
   */
  async rewrap(session: ISession, tenantId: string): Promise<{ rewrapped: number }> {
    await this.tenants.ensureActive(session, tenantId);
    let rewrapped = 0;
    let after: string | undefined;
    for (;;) {
      const page = await this.customers.page(session, tenantId, REWRAP_PAGE, after);
      for (const row of page) {
        const next = await this.kms.rewrapDek(
          session,
          tenantId,
          Buffer.from(row.encryptedDek, 'utf8'),
        );
        const replaced = await this.customers.replaceEncryptedDek(
          session,
          tenantId,
          row.id,
          row.encryptedDek,
          next.toString('utf8'),
        );
        if (replaced) rewrapped += 1;
      }
      if (page.length < REWRAP_PAGE) return { rewrapped };
      after = page.at(-1)?.id;
    }
  }

  /**
   * Crypto-shredding: records the tombstone, then destroys the KEK, in one unit of work. If
   * Vault fails, the tombstone rolls back and nothing changed; if the commit fails after the key
   * is gone, reads still answer 410 (the key is missing) and repeating the call completes it.
   */
  async shred(session: ISession, tenantId: string): Promise<void> {
    await this.tenants.markShredded(session, tenantId);
    await this.kms.deleteKek(session, tenantId);
  }
}
