import { ConfigService } from '@nestjs/config';
import { SampleConfigurationError } from '../errors/sample-configuration.error.js';

/** The sample's configuration, read once from the environment (or `.env`) and checked. */
export interface SampleSettings {
  /** Vault's address; absent = the embedded Transit dev server. */
  readonly vaultAddr: string | undefined;
  readonly vaultToken: string | undefined;
  readonly transitMount: string;
  /** SQLite file, or `:memory:` for a database that lives as long as the process. */
  readonly databasePath: string;
}

/** Where records go when DATABASE_PATH is not set. */
export const DEFAULT_DATABASE_PATH = 'data/customers.db';

export function readSampleSettings(config: ConfigService): SampleSettings {
  const vaultAddr = optional(config, 'VAULT_ADDR');
  const vaultToken = optional(config, 'VAULT_TOKEN');
  if (vaultAddr && !vaultToken) {
    throw new SampleConfigurationError(
      'VAULT_ADDR is set but VAULT_TOKEN is not: set the token of a Vault policy that allows the Transit paths.',
    );
  }
  return {
    vaultAddr,
    vaultToken,
    transitMount: optional(config, 'TRANSIT_MOUNT') ?? 'transit',
    databasePath: optional(config, 'DATABASE_PATH') ?? DEFAULT_DATABASE_PATH,
  };
}

/** The port to listen on (127.0.0.1): PORT, default 3000. */
export function readPort(config: ConfigService): number {
  const raw = optional(config, 'PORT') ?? '3000';
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65_535) {
    throw new SampleConfigurationError('PORT must be a whole number between 0 and 65535.');
  }
  return port;
}

function optional(config: ConfigService, name: string): string | undefined {
  const value = config.get<string>(name);
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
