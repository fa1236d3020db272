import { KmsInvalidInputError } from '../errors/kms-invalid-input.error.js';
import { messages } from '../errors/messages.js';
import type { TenantId } from '../interfaces/key-management-service.interface.js';

/** Vault's GenericNameRegex, anchored, ASCII `\w` as in Go. */
const VAULT_KEY_NAME = /^\w(?:[\w\-.]*\w)?$/;
export const MAX_KEY_NAME_LENGTH = 255;
/**
 * Default prefix of tenant key names: keeps tenant keys apart from any other key in the mount
 * (an operator's key, another application's), so no tenant id can address one of those.
 */
export const DEFAULT_KEY_PREFIX = 'tenant-';
/** What a key-name prefix may look like: empty, or the valid start of a key name. */
export const KEY_PREFIX_PATTERN = /^(?:\w[\w\-.]*)?$/;

/** Maps a tenant id to its Vault key name, or throws {@link KmsInvalidInputError}. */
export type TenantKeyNamer = (tenantId: TenantId) => string;

export function isValidVaultKeyName(name: string): boolean {
  return name.length <= MAX_KEY_NAME_LENGTH && VAULT_KEY_NAME.test(name) && !name.includes('..');
}

/** The canonical text of a tenant id: strings as they are, integers in decimal. */
export function tenantIdText(tenantId: unknown): string {
  if (typeof tenantId === 'string') {
    if (tenantId.length === 0) throw new KmsInvalidInputError(messages.tenantIdEmpty());
    return tenantId;
  }
  if (typeof tenantId === 'bigint') return tenantId.toString(10);
  if (typeof tenantId === 'number') {
    if (!Number.isSafeInteger(tenantId)) throw new KmsInvalidInputError(messages.tenantIdNumber());
    return String(tenantId === 0 ? 0 : tenantId);
  }
  throw new KmsInvalidInputError(
    messages.tenantIdType(tenantId === null ? 'null' : typeof tenantId),
  );
}

/**
 * Builds the tenant → key-name mapping. The default is `prefix + id` (prefix `tenant-`), which is
 * injective for a fixed prefix; ids that cannot form a valid Vault key name are refused rather than encoded, so
 * no id can smuggle `/`, `%2F`, `..` or spaces into a request path. A custom mapping's result is
 * checked against the same rule before any I/O.
 */
export function createTenantKeyNamer(options: {
  readonly keyPrefix?: string;
  readonly keyName?: (tenantId: TenantId) => string;
}): TenantKeyNamer {
  const custom = options.keyName;
  const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  return (tenantId) => {
    const text = tenantIdText(tenantId);
    const name = custom ? custom(tenantId) : prefix + text;
    if (typeof name !== 'string') throw new KmsInvalidInputError(messages.keyNameMapperFailed());
    if (!isValidVaultKeyName(name)) {
      throw new KmsInvalidInputError(
        messages.keyNameInvalid(custom ? 'the keyName mapping of this id' : 'this id'),
      );
    }
    return name;
  };
}
