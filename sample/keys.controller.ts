import { Controller, Param, Post } from '@nestjs/common';
import {
  InjectKeyManagementService,
  RestSessionPool,
  type IKeyManagementService,
} from '@ascetic-ddd/nestjs-kms';

/** A minimal surface of the library; the full sample (repositories, interceptor) comes next. */
@Controller('tenants/:tenantId')
export class KeysController {
  constructor(
    @InjectKeyManagementService() private readonly kms: IKeyManagementService,
    private readonly pool: RestSessionPool,
  ) {}

  @Post('kek/rotate')
  async rotate(@Param('tenantId') tenantId: string): Promise<{ version: number }> {
    return { version: await this.pool.session((s) => this.kms.rotateKek(s, tenantId)) };
  }

  @Post('deks')
  async generate(@Param('tenantId') tenantId: string): Promise<{ encryptedDek: string }> {
    const { dek, encryptedDek } = await this.pool.session((s) => this.kms.generateDek(s, tenantId));
    dek.fill(0);
    return { encryptedDek: encryptedDek.toString('utf8') };
  }
}
