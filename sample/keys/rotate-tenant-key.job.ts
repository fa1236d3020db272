import { Injectable } from '@nestjs/common';
import { KmsSessionHost, WithSession } from '@ascetic-ddd/nestjs-kms';
import { parseTenantId } from '../tenants/tenant-id.js';
import { TenantKeysService } from './tenant-keys.service.js';

/**
 * Rotate-and-rewrap outside HTTP — what a queue consumer or a scheduled job would run. The
 * rotation is one unit of work of its own (`@WithSession`, the SQLite transaction plus the Vault
 * session), committed before the rewrap starts; the rewrap then commits page by page.
 *
 * It is an entry point: called inside another unit of work, the rotation's write lock would be
 * held by that unit while the rewrap's pages wait for it, so it refuses to run there.
 */
@Injectable()
export class RotateTenantKeyJob {
  constructor(
    private readonly sessions: KmsSessionHost,
    private readonly keys: TenantKeysService,
  ) {}

  async run(tenantId: string): Promise<{ version: number; rewrapped: number }> {
    if (this.sessions.hasSession) {
      throw new Error('RotateTenantKeyJob is an entry point: run it outside any unit of work.');
    }
    const id = parseTenantId(tenantId);
    const { version } = await this.rotate(id);
    const { rewrapped } = await this.keys.rewrap(id);
    return { version, rewrapped };
  }

  @WithSession({ propagation: 'requires-new' })
  private rotate(tenantId: string): Promise<{ version: number }> {
    return this.keys.rotate(tenantId);
  }
}
