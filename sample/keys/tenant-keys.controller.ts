import { Controller, Delete, HttpCode, Param, Post } from '@nestjs/common';
import { parseTenantId } from '../tenants/tenant-id.js';
import { TenantKeysService } from './tenant-keys.service.js';

/** A tenant's KEK: rotate, rewrap, shred. */
@Controller('tenants/:tenantId/kek')
export class TenantKeysController {
  constructor(private readonly keys: TenantKeysService) {}

  @Post('rotate')
  @HttpCode(200)
  rotate(@Param('tenantId') tenantId: string): Promise<{ version: number }> {
    return this.keys.rotate(parseTenantId(tenantId));
  }

  @Post('rewrap')
  @HttpCode(200)
  rewrap(@Param('tenantId') tenantId: string): Promise<{ rewrapped: number }> {
    return this.keys.rewrap(parseTenantId(tenantId));
  }

  @Delete()
  @HttpCode(204)
  async shred(@Param('tenantId') tenantId: string): Promise<void> {
    await this.keys.shred(parseTenantId(tenantId));
  }
}
