import type { ISession } from '@ascetic-ddd/nestjs-kms';
import { extractConnection } from '../database/extract-connection.js';
import type { SqliteSessionPool } from '../database/sqlite-session-pool.js';
import { SampleConfigurationError } from '../errors/sample-configuration.error.js';
import type { VaultConnection } from './vault-connection.js';

/**
 * Refuses to start when the database's records cannot have their keys where the app would look:
 * a database written with the embedded Transit server opened against a real Vault (or the
 * reverse), another Transit mount, or an embedded keys file that went missing while records
 * remain. Binds a new database to the key store and mount it is first used with. (Vault's
 * address is not bound: it may change legitimately, e.g. behind a new DNS name.)
 */
export async function verifyKeyStoreBinding(
  database: SqliteSessionPool,
  vault: VaultConnection,
): Promise<void> {
  await database.session((session) => session.atomic((tx) => verify(tx, vault)));
}

async function verify(session: ISession, vault: VaultConnection): Promise<void> {
  const db = extractConnection(session);
  const bound = await db.get<{ value: string }>(
    "SELECT value FROM sample_meta WHERE key = 'key_store'",
  );
  const mount = await db.get<{ value: string }>(
    "SELECT value FROM sample_meta WHERE key = 'transit_mount'",
  );
  const records = (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM customers'))?.n ?? 0;
  if (mount && mount.value !== vault.mount) {
    throw new SampleConfigurationError(
      `DATABASE_PATH holds records whose keys are in the Transit mount "${mount.value}", but ` +
        `TRANSIT_MOUNT is "${vault.mount}": its records could not be decrypted. Set TRANSIT_MOUNT ` +
        'back, or use another DATABASE_PATH.',
    );
  }
  if (bound && bound.value !== vault.keyStore) {
    throw new SampleConfigurationError(
      `DATABASE_PATH holds records whose keys are in the ${bound.value === 'vault' ? 'Vault at VAULT_ADDR' : 'embedded Transit server'}, ` +
        `but the app was started with the ${vault.keyStore === 'vault' ? 'Vault at VAULT_ADDR' : 'embedded Transit server'}: ` +
        'its records could not be decrypted. Start it the same way as before, or use another DATABASE_PATH.',
    );
  }
  if (vault.keyStore === 'embedded' && vault.keysFile && records > 0 && !vault.keysFileExists) {
    throw new SampleConfigurationError(
      `The embedded Transit keys file ${vault.keysFile} is missing, so the ${records} record(s) in ` +
        'DATABASE_PATH cannot be decrypted. Restore the file, or point DATABASE_PATH at a new database.',
    );
  }
  await db.run("INSERT OR IGNORE INTO sample_meta (key, value) VALUES ('key_store', ?)", [
    vault.keyStore,
  ]);
  await db.run("INSERT OR IGNORE INTO sample_meta (key, value) VALUES ('transit_mount', ?)", [
    vault.mount,
  ]);
}
