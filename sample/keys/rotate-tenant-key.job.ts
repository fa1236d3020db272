import { Injectable } from '@nestjs/common';
import { KmsSessionHost, WithSession } from '@ascetic-ddd/nestjs-kms';
import { parseTenantId } from '../tenants/tenant-id.js';
import { TenantKeysService } from './tenant-keys.service.js';

/**
 * Rewrap outside HTTP — what a queue consumer or a nightly cron job after a rotation would call.
 * `@WithSession()` gives it the unit of work the interceptor gives a request: one SQLite
 * transaction plus the Vault session, committed when `run` resolves, rolled back if it throws.
 */
@Injectable()
export class RewrapTenantJob {
  constructor(
    private readonly sessions: KmsSessionHost,
    private readonly keys: TenantKeysService,
  ) {}

  @WithSession()
  async run(tenantId: string): Promise<{ rewrapped: number }> {
    return this.keys.rewrap(this.sessions.session, parseTenantId(tenantId));
  }
}
