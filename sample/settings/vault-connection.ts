import { existsSync } from 'node:fs';
import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { startTransitDevServer, type TransitDevServer } from '@ascetic-ddd/nestjs-kms/testing';
import type { SampleSettings } from './sample-settings.js';

/** Where the keys of the sample's tenants live. */
export type KeyStore = 'vault' | 'embedded';

/**
 * How the sample reaches Transit: the configured Vault, or — without VAULT_ADDR — the Transit dev
 * server started in this process and reached over HTTP like a real Vault. The embedded server
 * persists its keys exactly when the database persists its records (a keys file next to the
 * database file), so restarts never leave records whose keys are gone.
 */
export class VaultConnection implements OnApplicationShutdown {
  private constructor(
    readonly keyStore: KeyStore,
    readonly vaultAddr: string,
    readonly vaultToken: string,
    readonly mount: string,
    /** The embedded server's keys file (absent for Vault or an in-memory database). */
    readonly keysFile: string | undefined,
    private readonly embedded: TransitDevServer | undefined,
  ) {}

  static async open(settings: SampleSettings): Promise<VaultConnection> {
    const mount = settings.transitMount;
    if (settings.vaultAddr && settings.vaultToken) {
      return new VaultConnection(
        'vault',
        settings.vaultAddr,
        settings.vaultToken,
        mount,
        undefined,
        undefined,
      );
    }
    const keysFile = embeddedKeysFile(settings.databasePath);
    const server = await startTransitDevServer({
      mount,
      ...(keysFile ? { stateFile: keysFile } : {}),
    });
    new Logger('Sample').warn(
      `VAULT_ADDR is not set: using the embedded Transit dev server at ${server.address}. ` +
        (keysFile
          ? `Its keys are kept in ${keysFile} next to the database, unencrypted: for development only.`
          : 'Its keys, like the in-memory database, vanish when the process exits.') +
        ' Set VAULT_ADDR and VAULT_TOKEN to use a real Vault.',
    );
    return new VaultConnection('embedded', server.address, server.token, mount, keysFile, server);
  }

  /** Whether the embedded server's keys file exists (false for Vault). */
  get keysFileExists(): boolean {
    return this.keysFile !== undefined && existsSync(this.keysFile);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.embedded?.close();
  }
}

/** The embedded keys file that belongs to a database file; none for an in-memory database. */
export function embeddedKeysFile(databasePath: string): string | undefined {
  return databasePath === ':memory:' ? undefined : `${databasePath}.transit-keys.json`;
}
