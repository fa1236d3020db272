import { Controller, Delete, HttpCode, Param, Post, Query } from '@nestjs/common';
import { InvalidRequestError } from '../errors/invalid-request.error.js';
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

  /**
   * Moves every stored DEK to the latest KEK version; with `?retire=true`, then retires the
   * versions no stored DEK uses any more (they stop decrypting).
   */
  @Post('rewrap')
  @HttpCode(200)
  async rewrap(
    @Param('tenantId') tenantId: string,
    @Query('retire') retire?: string,
  ): Promise<{ rewrapped: number; retiredBelow?: number }> {
    if (retire !== undefined && retire !== 'true' && retire !== 'false') {
      throw new InvalidRequestError('"retire" must be true or false.');
    }
    const id = parseTenantId(tenantId);
    const { rewrapped, latestVersion } = await this.keys.rewrap(id);
    if (retire !== 'true') return { rewrapped };
    const retiredBelow = await this.keys.retireUnused(id, latestVersion);
    return retiredBelow === undefined ? { rewrapped } : { rewrapped, retiredBelow };
  }

  @Delete()
  @HttpCode(204)
  async shred(@Param('tenantId') tenantId: string): Promise<void> {
    await this.keys.shred(parseTenantId(tenantId));
  }
}
