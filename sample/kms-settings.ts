import { Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { KmsModuleOptions } from '@ascetic-ddd/nestjs-kms';
import { startTransitDevServer, type TransitDevServer } from '@ascetic-ddd/nestjs-kms/testing';

/** The in-process Transit dev server the sample starts when no VAULT_ADDR is configured. */
export class EmbeddedVault {
  private server: TransitDevServer | undefined;

  async options(config: ConfigService): Promise<KmsModuleOptions> {
    const vaultAddr = config.get<string>('VAULT_ADDR');
    const mount = config.get<string>('TRANSIT_MOUNT') ?? 'transit';
    if (vaultAddr) {
      return { vaultAddr, vaultToken: config.getOrThrow<string>('VAULT_TOKEN'), mount };
    }
    this.server = await startTransitDevServer({ mount });
    new Logger('Sample').warn(
      `VAULT_ADDR is not set: using the embedded Transit dev server at ${this.server.address}. ` +
        'Its keys live in memory and vanish when the process exits; set VAULT_ADDR and VAULT_TOKEN for a real Vault.',
    );
    return { vaultAddr: this.server.address, vaultToken: this.server.token, mount };
  }

  async close(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
  }
}
