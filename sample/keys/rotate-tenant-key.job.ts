import { Injectable } from '@nestjs/common';
import { WithSession } from '@ascetic-ddd/nestjs-kms';
import { parseTenantId } from '../tenants/tenant-id.js';
import { TenantKeysService } from './tenant-keys.service.js';

/**
 * Rotate-and-rewrap outside HTTP — what a queue consumer or a scheduled job would run.
 * `@WithSession()` gives it the unit of work the interceptor gives a request (the SQLite
 * transaction plus the Vault session): the rotation commits when it succeeds; the rewrap that
 * follows commits page by page in units of its own.
 */
@Injectable()
export class RotateTenantKeyJob {
  constructor(private readonly keys: TenantKeysService) {}

  async run(tenantId: string): Promise<{ version: number; rewrapped: number }> {
    const id = parseTenantId(tenantId);
    const { version } = await this.rotate(id);
    const { rewrapped } = await this.keys.rewrap(id);
    return { version, rewrapped };
  }

  @WithSession()
  private rotate(tenantId: string): Promise<{ version: number }> {
    return this.keys.rotate(tenantId);
  }
}
