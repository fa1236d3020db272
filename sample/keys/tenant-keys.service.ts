import { Inject, Injectable } from '@nestjs/common';
import {
  InjectKeyManagementService,
  KmsSessionHost,
  type IKeyManagementService,
  type ISession,
} from '@ascetic-ddd/nestjs-kms';
import { CustomersRepository } from '../customers/customers.repository.js';
import { explainStoredKeyError } from '../tenants/stored-key-errors.js';
import { TenantsRepository } from '../tenants/tenants.repository.js';
import { REWRAP_PAGE_SIZE } from './rewrap-page-size.constants.js';

/** The KEK version a Vault ciphertext `vault:v<N>:…` was wrapped with. */
function kekVersion(encryptedDek: string): number {
  return Number(/^vault:v(\d+):/.exec(encryptedDek)?.[1] ?? 0);
}

interface RewrapPage {
  readonly rewrapped: number;
  /** Position of the last row read: the next page starts after it. */
  readonly lastSeq: number;
  readonly full: boolean;
  readonly latestVersion: number;
}

/**
 * Key lifecycle of a tenant: rotate the KEK, rewrap stored DEKs, shred. Works on the current
 * unit of work through {@link KmsSessionHost}, and opens units of its own where a step must be
 * committed on its own (a shredding tombstone, a page of rewrapped rows).
 */
@Injectable()
export class TenantKeysService {
  constructor(
    private readonly sessions: KmsSessionHost,
    @InjectKeyManagementService() private readonly kms: IKeyManagementService,
    private readonly customers: CustomersRepository,
    private readonly tenants: TenantsRepository,
    @Inject(REWRAP_PAGE_SIZE) private readonly pageSize: number,
  ) {}

  /**
   * A new KEK version for new DEKs; existing DEKs stay readable (old versions still decrypt).
   * The tenant row is written first: its write lock serializes the rotation with a concurrent
   * shred, which could otherwise see its key re-created by the rotation.
   */
  async rotate(tenantId: string): Promise<{ version: number }> {
    const session = this.sessions.session;
    await this.tenants.ensureActive(session, tenantId);
    return { version: await this.kms.rotateKek(session, tenantId) };
  }

  /**
   * Moves every stored DEK to the latest KEK version, a page at a time, each page its own
   * committed unit of work (`'requires-new'`: call it from a unit of work that has not written
   * yet, or a page would wait for the write lock its caller holds). Crash-safe at every moment: a row only ever changes from one valid
   * wrapped DEK to another (the DEK, hence the payload, never changes), so an interrupted pass
   * leaves every record readable and the next pass resumes. Rows already on the latest version
   * (learned from Vault's answers) cost no call; a row changed meanwhile by another writer is
   * left as it is (compare-and-set).
   */
  async rewrap(tenantId: string): Promise<{ rewrapped: number; latestVersion: number }> {
    await this.sessions.withSession((session) => this.tenants.assertNotShredded(session, tenantId));
    let rewrapped = 0;
    let afterSeq = 0;
    let latestVersion = 0;
    for (;;) {
      const page = await this.sessions.withSession(
        (session) => this.rewrapPage(session, tenantId, afterSeq, latestVersion),
        { propagation: 'requires-new' },
      );
      rewrapped += page.rewrapped;
      latestVersion = page.latestVersion;
      if (!page.full) return { rewrapped, latestVersion };
      afterSeq = page.lastSeq;
    }
  }

  /**
   * Retires the KEK versions no stored DEK uses any more: below the lowest version among the
   * tenant's rows (and never above `latestVersion`, the newest seen by the rewrap just done).
   * Run it after a complete rewrap; returns the version below which versions were retired, or
   * undefined when there is nothing to retire.
   */
  async retireUnused(tenantId: string, latestVersion: number): Promise<number | undefined> {
    const session = this.sessions.session;
    const lowest = await this.customers.lowestKekVersion(session, tenantId);
    const below = Math.min(lowest ?? latestVersion, latestVersion);
    if (below <= 1) return undefined;
    await this.kms.retireKekVersions(session, tenantId, below);
    return below;
  }

  /**
   * Crypto-shredding. The tombstone is committed first, in a unit of work of its own; then the
   * KEK is destroyed. If destroying fails, the tenant is already refused (410) and repeating the
   * call finishes the job; a tenant is never left readable-but-keyless or resurrected by a
   * concurrent write re-creating its key.
   */
  async shred(tenantId: string): Promise<void> {
    await this.sessions.withSession((session) => this.tenants.markShredded(session, tenantId), {
      propagation: 'requires-new',
    });
    await this.kms.deleteKek(this.sessions.session, tenantId);
  }

  private async rewrapPage(
    session: ISession,
    tenantId: string,
    afterSeq: number,
    knownLatest: number,
  ): Promise<RewrapPage> {
    // Reads and Vault calls first, the writes last: the write lock is held only for the updates.
    const rows = await this.customers.page(session, tenantId, this.pageSize, afterSeq);
    let latestVersion = knownLatest;
    const stale = rows.filter(
      (row) => !(latestVersion > 0 && kekVersion(row.encryptedDek) >= latestVersion),
    );
    // One batch request for the page (chunked by the library's batchSize).
    const results =
      stale.length === 0
        ? []
        : await this.kms
            .rewrapDeks(
              session,
              tenantId,
              stale.map((row) => Buffer.from(row.encryptedDek, 'utf8')),
            )
            .catch((error: unknown) =>
              explainStoredKeyError(error, session, this.tenants, tenantId),
            );
    const updates: { id: string; from: string; to: string }[] = [];
    for (const [index, row] of stale.entries()) {
      const result = results[index];
      if (!result) continue;
      if (!result.ok) await explainStoredKeyError(result.error, session, this.tenants, tenantId);
      if (!result.ok) continue;
      const to = result.value.toString('utf8');
      latestVersion = Math.max(latestVersion, kekVersion(to));
      // Already current (the first rows of a pass can be): keep the stored ciphertext as it is.
      if (kekVersion(to) > kekVersion(row.encryptedDek)) {
        updates.push({ id: row.id, from: row.encryptedDek, to });
      }
    }
    let rewrapped = 0;
    for (const { id, from, to } of updates) {
      if (await this.customers.replaceEncryptedDek(session, tenantId, id, from, to)) rewrapped += 1;
    }
    return {
      rewrapped,
      lastSeq: rows.at(-1)?.seq ?? afterSeq,
      full: rows.length === this.pageSize,
      latestVersion,
    };
  }
}
