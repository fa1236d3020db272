import { KmsConfigurationError } from './errors/kms-configuration.error.js';
import { messages } from './errors/messages.js';
import type { KmsModuleOptions, VaultKeyType } from './interfaces/kms-module-options.interface.js';
import { Secret } from './secret.js';
import { DEFAULT_KEY_PREFIX, KEY_PREFIX_PATTERN } from './key-naming/tenant-key-namer.js';

export const VAULT_KEY_TYPES: readonly VaultKeyType[] = [
  'aes256-gcm96',
  'aes128-gcm96',
  'chacha20-poly1305',
];
const MOUNT_PATTERN = /^[\w-]+(?:\.[\w-]+)*(?:\/[\w-]+(?:\.[\w-]+)*)*$/;
const MAX_TIMEOUT_MS = 600_000;

/** Options after validation, with every default applied (defaults live only here). */
export interface ResolvedKmsOptions {
  readonly vaultAddr: string;
  /** Wrapped so that logging or serializing the options never shows it. */
  readonly vaultToken: Secret;
  readonly mount: string;
  readonly keyType: VaultKeyType;
  readonly timeoutMs: number;
  readonly keyPrefix: string;
  readonly keyName: KmsModuleOptions['keyName'];
  readonly maxSockets: number;
}

function invalid(option: string, rule: string): KmsConfigurationError {
  return new KmsConfigurationError(messages.invalidOption(option, rule));
}

/**
 * Validates options and merges defaults. Throws {@link KmsConfigurationError} naming the first
 * bad option; the message never contains the token.
 */
export function resolveKmsOptions(
  options: KmsModuleOptions | ResolvedKmsOptions | undefined,
): ResolvedKmsOptions {
  if (!options || typeof options !== 'object')
    throw invalid('options', 'an options object is required');
  const {
    vaultAddr,
    vaultToken,
    mount = 'transit',
    keyType = 'aes256-gcm96',
    timeoutMs = 10_000,
  } = options;
  const { keyPrefix = DEFAULT_KEY_PREFIX, keyName, maxSockets = 32 } = options;

  if (typeof vaultAddr !== 'string' || !isHttpUrl(vaultAddr)) {
    throw invalid(
      'vaultAddr',
      'must be an absolute http(s) URL without credentials, query or fragment, e.g. http://127.0.0.1:8200',
    );
  }
  const token = vaultToken instanceof Secret ? vaultToken.reveal() : vaultToken;
  if (typeof token !== 'string' || token.length === 0) {
    throw invalid('vaultToken', 'must be a non-empty string');
  }
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw invalid(
      'vaultToken',
      'must contain only visible ASCII characters (no spaces or line breaks)',
    );
  }
  if (typeof mount !== 'string' || !MOUNT_PATTERN.test(mount)) {
    throw invalid(
      'mount',
      'must be a Vault mount path such as "transit" or "kms/transit" (no leading or trailing "/", no "..")',
    );
  }
  if (!VAULT_KEY_TYPES.includes(keyType)) {
    throw invalid('keyType', `must be one of ${VAULT_KEY_TYPES.join(', ')}`);
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    throw invalid(
      'timeoutMs',
      `must be an integer number of milliseconds between 1 and ${MAX_TIMEOUT_MS}`,
    );
  }
  if (
    typeof keyPrefix !== 'string' ||
    !KEY_PREFIX_PATTERN.test(keyPrefix) ||
    keyPrefix.includes('..')
  ) {
    throw invalid(
      'keyPrefix',
      'must be empty or start a valid Vault key name (ASCII letters, digits, "_", then also "-" and ".")',
    );
  }
  if (keyName !== undefined && typeof keyName !== 'function') {
    throw invalid('keyName', 'must be a function from tenant id to key name');
  }
  if (!Number.isInteger(maxSockets) || maxSockets < 1 || maxSockets > 1024) {
    throw invalid('maxSockets', 'must be an integer between 1 and 1024');
  }
  return {
    vaultAddr: vaultAddr.replace(/\/+$/, ''),
    vaultToken: vaultToken instanceof Secret ? vaultToken : new Secret(token),
    mount,
    keyType,
    timeoutMs,
    keyPrefix,
    keyName,
    maxSockets,
  };
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      url.username === '' &&
      url.password === '' &&
      url.search === '' &&
      url.hash === '' &&
      !value.includes('?') &&
      !value.includes('#')
    );
  } catch {
    return false;
  }
}
