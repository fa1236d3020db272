import { Controller, Delete, HttpCode, Param, Post } from '@nestjs/common';
import { CurrentSession, type ISession } from '@ascetic-ddd/nestjs-kms';
import { parseTenantId } from '../tenants/tenant-id.js';
import { TenantKeysService } from './tenant-keys.service.js';

/** A tenant's KEK: rotate, rewrap, shred. The request's session arrives by `@CurrentSession()`. */
@Controller('tenants/:tenantId/kek')
export class TenantKeysController {
  constructor(private readonly keys: TenantKeysService) {}

  @Post('rotate')
  @HttpCode(200)
  rotate(
    @Param('tenantId') tenantId: string,
    @CurrentSession() session: ISession,
  ): Promise<{ version: number }> {
    return this.keys.rotate(session, parseTenantId(tenantId));
  }

  @Post('rewrap')
  @HttpCode(200)
  rewrap(
    @Param('tenantId') tenantId: string,
    @CurrentSession() session: ISession,
  ): Promise<{ rewrapped: number }> {
    return this.keys.rewrap(session, parseTenantId(tenantId));
  }

  @Delete()
  @HttpCode(204)
  async shred(
    @Param('tenantId') tenantId: string,
    @CurrentSession() session: ISession,
  ): Promise<void> {
    await this.keys.shred(session, parseTenantId(tenantId));
  }
}
