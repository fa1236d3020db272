import { randomBytes } from 'node:crypto';
import { decodeGoBase64 } from './go-base64.js';
import { formatCiphertext, parseCiphertext } from './transit-ciphertext.js';
import {
  convergentKeys,
  deriveKey,
  isSymmetricKeyType,
  keyLength,
  NONCE_BYTES,
  open,
  seal,
  SYMMETRIC_KEY_TYPES,
} from './transit-crypto.js';
import { keyState, restoreKey, type TransitKeyState } from './transit-engine-state.js';
import { TransitKey, type KeyVersion } from './transit-key.js';
import { TransitError } from './transit.error.js';

export const VAULT_KEY_NAME_PATTERN = /^\w(([\w\-.]+)?\w)?$/;

const MISSING_CONTEXT =
  "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key";
/** path_rewrap.go ErrNonceNotAllowed: a `nonce` on encrypt/rewrap for a key that is not convergent v1. */
const NONCE_NOT_ALLOWED = 'provided nonce not allowed for this key';
const KNOWN_VAULT_TYPES = new Set<string>([
  ...SYMMETRIC_KEY_TYPES,
  'ed25519',
  'ecdsa-p256',
  'ecdsa-p384',
  'ecdsa-p521',
  'rsa-2048',
  'rsa-3072',
  'rsa-4096',
  'hmac',
]);

export interface CreateKeyParams {
  readonly type?: string;
  readonly derived?: boolean;
  readonly convergentEncryption?: boolean;
  readonly exportable?: boolean;
  readonly allowPlaintextBackup?: boolean;
  readonly autoRotatePeriod?: number;
  readonly keySize?: number;
}

export interface ConfigureKeyParams {
  readonly minDecryptionVersion?: number;
  readonly minEncryptionVersion?: number;
  readonly deletionAllowed?: boolean;
  readonly exportable?: boolean;
  readonly allowPlaintextBackup?: boolean;
  readonly autoRotatePeriod?: number;
}

export interface EncryptItem {
  readonly plaintext: string;
  readonly context?: string;
  readonly key_version?: number;
  readonly associated_data?: string;
  readonly nonce?: string;
  readonly reference?: string;
}

export interface DecryptItem {
  readonly ciphertext: string;
  readonly context?: string;
  readonly associated_data?: string;
  readonly nonce?: string;
  readonly reference?: string;
}

export interface RewrapItem {
  readonly ciphertext: string;
  readonly context?: string;
  readonly key_version?: number;
  readonly nonce?: string;
  readonly reference?: string;
}

/** One batch result item, with Vault's field order (ciphertext, key_version, plaintext, error, reference). */
export interface ItemResult {
  ciphertext?: string;
  key_version?: number;
  plaintext?: string;
  error?: string;
  reference: string;
  /**
   * The item failed with an internal error (Vault's `errutil.InternalError`, e.g. undecodable
   * `associated_data`): it counts for a 500 batch status rather than 400. Never written out.
   */
  internal?: true;
}

export interface EncryptUpsert {
  /** Whether the caller may create the key (Vault: `create` capability and upsert enabled). */
  readonly allowed: boolean;
  readonly type?: string;
  readonly convergentEncryption?: boolean;
}

export interface DataKeyResult {
  readonly ciphertext: string;
  readonly keyVersion: number;
  readonly plaintext: Buffer;
}

export interface ConfigureResult {
  readonly key: Record<string, unknown>;
  readonly warnings: string[];
}

/**
 * Vault's Transit engine semantics over an in-process key store: versions, rotation, min
 * decryption/encryption versions, trimming, deletion, upsert, derived and convergent keys, batch
 * items, Vault's exact error strings. Shared by {@link InMemoryKeyManagementService} and the
 * Transit dev server. Real AES-256-GCM (and AES-128-GCM, ChaCha20-Poly1305); no I/O.
 */
export class TransitEngine {
  private readonly keys = new Map<string, TransitKey>();
  private changes = 0;

  constructor(private readonly now: () => number = () => Math.floor(Date.now() / 1000)) {}

  /**
   * Moves on every change of key state (create, upsert, rotate, config, trim, delete, import,
   * reset) and only then: compare two reads to know whether anything needs persisting.
   */
  get revision(): number {
    return this.changes;
  }

  /** Every key, material included, sorted by name: what the Transit dev server persists. */
  exportState(): TransitKeyState[] {
    return this.listKeys().map((name) => keyState(this.keys.get(name) as TransitKey));
  }

  /**
   * Replaces every key with persisted ones ({@link exportState}'s output read back), all or
   * nothing. Throws an Error naming the wrong entry and field (`keys[2].versions[0]: …`), never
   * quoting key material.
   */
  importState(entries: readonly unknown[]): void {
    const restored = new Map<string, TransitKey>();
    try {
      entries.forEach((entry, index) => {
        const key = restoreKey(entry, `keys[${index}]`, this.now);
        const problem = !isValidKeyName(key.name)
          ? 'name is not a valid Vault key name'
          : restored.has(key.name)
            ? `a second key named ${key.name}`
            : undefined;
        if (problem) {
          key.destroy();
          throw new Error(`keys[${index}]: ${problem}`);
        }
        restored.set(key.name, key);
      });
    } catch (error) {
      for (const key of restored.values()) key.destroy();
      throw error;
    }
    this.reset();
    for (const [name, key] of restored) this.keys.set(name, key);
    this.changes += 1;
  }

  hasKey(name: string): boolean {
    return this.keys.has(name);
  }

  /**
   * path_encrypt.go's existence check, which Vault runs before the ACL (it decides `create` vs
   * `update`): whether the key exists. A name with `..` already fails here, with the clean 400.
   */
  encryptExistenceCheck(name: string): boolean {
    assertStorable(name, true);
    return this.keys.has(name);
  }

  listKeys(): string[] {
    return [...this.keys.keys()].toSorted();
  }

  readKey(name: string): Record<string, unknown> | undefined {
    assertStorable(name, false);
    return this.keys.get(name)?.toKeyObject();
  }

  /** Creates the key, or returns the existing one unchanged (parameters validated, then ignored). */
  createKey(name: string, params: CreateKeyParams = {}): Record<string, unknown> {
    const type = params.type ?? 'aes256-gcm96';
    if (params.autoRotatePeriod !== undefined) assertRotatePeriod(params.autoRotatePeriod);
    if (params.convergentEncryption && !params.derived) {
      throw TransitError.user('convergent encryption requires derivation to be enabled');
    }
    if (!KNOWN_VAULT_TYPES.has(type)) throw TransitError.user(`unknown key type ${type}`);
    if (params.keySize !== undefined && params.keySize !== 0 && type !== 'hmac') {
      throw TransitError.user(`key_size is not valid for algorithm ${type}`);
    }
    assertStorable(name, false);
    const existing = this.keys.get(name);
    if (existing) return existing.toKeyObject();
    if (!isSymmetricKeyType(type)) {
      throw TransitError.user(`key type ${type} is not supported by the Transit dev server`);
    }
    const key = new TransitKey(
      name,
      type,
      params.derived ?? false,
      params.convergentEncryption ?? false,
      this.now,
    );
    key.exportable = params.exportable ?? false;
    key.allowPlaintextBackup = params.allowPlaintextBackup ?? false;
    key.autoRotatePeriod = params.autoRotatePeriod ?? 0;
    this.keys.set(name, key);
    this.changes += 1;
    return key.toKeyObject();
  }

  deleteKey(name: string): void {
    assertStorable(name, false);
    const key = this.keys.get(name);
    if (!key)
      throw TransitError.user(`error deleting policy ${name}: could not delete key; not found`);
    if (!key.deletionAllowed) {
      throw TransitError.user(
        `error deleting policy ${name}: deletion is not allowed for this key`,
      );
    }
    key.destroy();
    this.keys.delete(name);
    this.changes += 1;
  }

  rotateKey(name: string): Record<string, unknown> {
    assertStorable(name, false);
    const key = this.keys.get(name);
    if (!key) throw TransitError.user('key not found');
    key.rotate();
    this.changes += 1;
    return key.toKeyObject();
  }

  configureKey(name: string, params: ConfigureKeyParams): ConfigureResult {
    assertStorable(name, false);
    const key = this.keys.get(name);
    if (!key) throw TransitError.user(`no existing key named ${name} could be found`);
    const before = {
      minDecryptionVersion: key.minDecryptionVersion,
      minEncryptionVersion: key.minEncryptionVersion,
      deletionAllowed: key.deletionAllowed,
      exportable: key.exportable,
      allowPlaintextBackup: key.allowPlaintextBackup,
      autoRotatePeriod: key.autoRotatePeriod,
    };
    const warnings: string[] = [];
    let persist = false;
    try {
      if (params.minDecryptionVersion !== undefined) {
        let version = params.minDecryptionVersion;
        if (version < 0) throw TransitError.user('min decryption version cannot be negative');
        if (version === 0) {
          version = 1;
          warnings.push('since Vault 0.3, transit key numbering starts at 1; forcing minimum to 1');
        }
        if (version !== key.minDecryptionVersion) {
          if (version > key.latestVersion) {
            throw TransitError.user(
              `cannot set min decryption version of ${version}, latest key version is ${key.latestVersion}`,
            );
          }
          key.minDecryptionVersion = version;
          persist = true;
        }
      }
      if (params.minEncryptionVersion !== undefined) {
        const version = params.minEncryptionVersion;
        if (version < 0) throw TransitError.user('min encryption version cannot be negative');
        if (version !== key.minEncryptionVersion) {
          if (version > key.latestVersion) {
            throw TransitError.user(
              `cannot set min encryption version of ${version}, latest key version is ${key.latestVersion}`,
            );
          }
          key.minEncryptionVersion = version;
          persist = true;
        }
      }
      if (
        key.minDecryptionVersion > 0 &&
        key.minEncryptionVersion > 0 &&
        key.minEncryptionVersion < key.minDecryptionVersion
      ) {
        throw TransitError.user(
          `cannot set min encryption/decryption values; min encryption version of ${key.minEncryptionVersion} must be greater than or equal to min decryption version of ${key.minDecryptionVersion}`,
        );
      }
      if (params.deletionAllowed !== undefined && params.deletionAllowed !== key.deletionAllowed) {
        key.deletionAllowed = params.deletionAllowed;
        persist = true;
      }
      // One-way flags: `false` is silently ignored, never an error (path_keys_config.go).
      if (params.exportable && !key.exportable) {
        key.exportable = true;
        persist = true;
      }
      if (params.allowPlaintextBackup && !key.allowPlaintextBackup) {
        key.allowPlaintextBackup = true;
        persist = true;
      }
      if (
        params.autoRotatePeriod !== undefined &&
        params.autoRotatePeriod !== key.autoRotatePeriod
      ) {
        assertRotatePeriod(params.autoRotatePeriod);
        key.autoRotatePeriod = params.autoRotatePeriod;
        persist = true;
      }
      if (persist) {
        if (key.minAvailableVersion > key.minEncryptionVersion) {
          throw TransitError.user(
            'min encryption version should not be less than min available version',
          );
        }
        if (key.minAvailableVersion > key.minDecryptionVersion) {
          throw TransitError.user(
            'min decryption version should not be less then min available version',
          );
        }
      }
    } catch (error) {
      Object.assign(key, before);
      throw error;
    }
    if (persist) this.changes += 1;
    return { key: key.toKeyObject(), warnings };
  }

  trimKey(name: string, minAvailableVersion: number | undefined): Record<string, unknown> {
    assertStorable(name, false);
    const key = this.keys.get(name);
    if (!key) throw TransitError.user('invalid key name');
    if (minAvailableVersion === undefined) throw TransitError.user('missing min_available_version');
    const v = minAvailableVersion;
    if (v < key.minAvailableVersion)
      throw TransitError.user('minimum available version cannot be decremented');
    if (key.minEncryptionVersion === 0) {
      throw TransitError.user(
        'minimum available version cannot be set when minimum encryption version is not set',
      );
    }
    if (key.minDecryptionVersion === 0) {
      throw TransitError.user(
        'minimum available version cannot be set when minimum decryption version is not set',
      );
    }
    if (v > key.minEncryptionVersion) {
      throw TransitError.user(
        'minimum available version cannot be greater than minmum encryption version',
      );
    }
    if (v > key.minDecryptionVersion) {
      throw TransitError.user(
        'minimum available version cannot be greater than minimum decryption version',
      );
    }
    if (v < 0) throw TransitError.user('minimum available version cannot be negative');
    if (v === 0) throw TransitError.user('minimum available version should be positive');
    if (v !== key.minAvailableVersion) this.changes += 1;
    key.trim(v);
    return key.toKeyObject();
  }

  /**
   * Encrypts items (single mode when `batch` is false: an item error becomes the whole answer).
   * Whole-request failures throw; item failures are returned in place.
   */
  encrypt(
    name: string,
    items: readonly EncryptItem[],
    batch: boolean,
    upsert: EncryptUpsert,
  ): ItemResult[] {
    if (batch && items.length === 0) throw TransitError.user('missing batch input to process');
    assertConsistentContext(items);
    assertStorable(name, true);
    let key = this.keys.get(name);
    if (!key) {
      if (!upsert.allowed) throw TransitError.user('encryption key not found');
      const type = upsert.type ?? 'aes256-gcm96';
      const derived = hasValue(items[0]?.context);
      if (upsert.convergentEncryption && !derived) {
        throw TransitError.user(
          'convergent encryption requires derivation to be enabled, so context is required',
        );
      }
      if (type.startsWith('ecdsa-'))
        throw TransitError.user(`key type ${type} not supported for this operation`);
      if (!isSymmetricKeyType(type)) throw TransitError.user(`unknown key type ${type}`);
      key = new TransitKey(name, type, derived, upsert.convergentEncryption ?? false, this.now);
      this.keys.set(name, key);
      this.changes += 1;
    }
    const target = key;
    // path_encrypt.go: plaintext, context and nonce are decoded first (in that order), then the
    // nonce is refused, then EncryptWithFactory runs its checks (version, derivation, AAD).
    return this.runItems(items, batch, (item) => {
      const plaintext = decodeGoBase64(item.plaintext);
      try {
        const context = decodeOptional(item.context);
        if (hasValue(item.nonce)) {
          decodeGoBase64(item.nonce as string).fill(0);
          throw TransitError.user(NONCE_NOT_ALLOWED);
        }
        return this.sealItem(target, plaintext, {
          context,
          keyVersion: item.key_version,
          associatedData: item.associated_data,
        });
      } finally {
        plaintext.fill(0);
      }
    });
  }

  decrypt(name: string, items: readonly DecryptItem[], batch: boolean): ItemResult[] {
    if (batch && items.length === 0) throw TransitError.user('missing batch input to process');
    assertConsistentContext(items);
    const key = this.requireKey(name);
    return this.runItems(
      items,
      batch,
      (item) => {
        if (!item.ciphertext) throw TransitError.user('missing ciphertext to decrypt');
        const context = decodeOptional(item.context);
        // Decrypt decodes a nonce but only a convergent v1 key would use it (none here).
        if (hasValue(item.nonce)) decodeGoBase64(item.nonce as string).fill(0);
        const plaintext = this.openItem(key, item.ciphertext, context, item.associated_data);
        try {
          return { plaintext: plaintext.toString('base64') };
        } finally {
          plaintext.fill(0);
        }
      },
      { keepEmptyPlaintext: true },
    );
  }

  rewrap(name: string, items: readonly RewrapItem[], batch: boolean): ItemResult[] {
    if (batch && items.length === 0) throw TransitError.user('missing batch input to process');
    assertConsistentContext(items);
    const key = this.requireKey(name);
    return this.runItems(
      items,
      batch,
      (item) => {
        if (!item.ciphertext) throw TransitError.user('missing ciphertext to decrypt');
        const context = decodeOptional(item.context);
        if (hasValue(item.nonce)) {
          decodeGoBase64(item.nonce as string).fill(0);
          throw TransitError.user(NONCE_NOT_ALLOWED);
        }
        const plaintext = this.openItem(key, item.ciphertext, context, undefined);
        try {
          return this.sealItem(key, plaintext, { context, keyVersion: item.key_version });
        } finally {
          plaintext.fill(0);
        }
      },
      // path_rewrap.go: a non-user error aborts the whole request.
      { abortOnInternal: true },
    );
  }

  dataKey(
    name: string,
    params: { bits?: number; context?: string; nonce?: string; key_version?: number },
  ): DataKeyResult {
    let context: Buffer | undefined;
    try {
      context = decodeOptional(params.context);
    } catch {
      throw TransitError.user('failed to base64-decode context');
    }
    let nonce: Buffer | undefined;
    try {
      nonce = decodeOptional(params.nonce);
    } catch {
      throw TransitError.user('failed to base64-decode nonce');
    }
    const key = this.requireKey(name);
    const bits = params.bits ?? 256;
    if (bits !== 128 && bits !== 256 && bits !== 512) throw TransitError.user('invalid bit length');
    const plaintext = randomBytes(bits / 8);
    try {
      // EncryptWithFactory refuses the nonce only after the version checks.
      const sealed = this.sealItem(key, plaintext, {
        context,
        keyVersion: params.key_version,
        nonce,
      });
      return {
        ciphertext: sealed.ciphertext as string,
        keyVersion: sealed.key_version as number,
        plaintext,
      };
    } catch (error) {
      plaintext.fill(0);
      throw error;
    }
  }

  /** Replaces the material of a key version. For known-answer tests only; never reachable over HTTP. */
  importVersionMaterial(name: string, version: number, material: Buffer): void {
    const key = this.keys.get(name);
    if (!key) throw new Error(`no key ${name}`);
    key.setMaterial(version, material);
    this.changes += 1;
  }

  /** Forgets every key, zeroing its material. */
  reset(): void {
    if (this.keys.size > 0) this.changes += 1;
    for (const key of this.keys.values()) key.destroy();
    this.keys.clear();
  }

  private requireKey(name: string): TransitKey {
    assertStorable(name, false);
    const key = this.keys.get(name);
    if (!key) throw TransitError.user('encryption key not found');
    return key;
  }

  /**
   * Runs each item. Single mode: an error propagates as the whole answer. Batch mode: any
   * {@link TransitError} becomes the item's `error`, flagged `internal` when it is a 500 (or, with
   * `abortOnInternal`, aborts the request as path_rewrap.go does).
   */
  private runItems<T>(
    items: readonly T[],
    batch: boolean,
    run: (item: T) => Omit<ItemResult, 'reference'>,
    options: { keepEmptyPlaintext?: boolean; abortOnInternal?: boolean } = {},
  ): ItemResult[] {
    return items.map((item) => {
      const reference = (item as { reference?: string }).reference ?? '';
      try {
        return { ...run(item), reference };
      } catch (error) {
        if (!batch || !(error instanceof TransitError)) throw error;
        const internal = error.status >= 500;
        if (internal && options.abortOnInternal) throw error;
        const failed: ItemResult = options.keepEmptyPlaintext
          ? { plaintext: '', error: error.itemMessage, reference }
          : { error: error.itemMessage, reference };
        if (internal) failed.internal = true;
        return failed;
      }
    });
  }

  /**
   * keysutil EncryptWithFactory after the plaintext is decoded: version rules, the datakey nonce
   * rule, key derivation, then the associated data (an InternalError when undecodable).
   */
  private sealItem(
    key: TransitKey,
    plaintext: Buffer,
    options: { context?: Buffer; keyVersion?: number; nonce?: Buffer; associatedData?: string },
  ): Omit<ItemResult, 'reference'> {
    let version = options.keyVersion ?? 0;
    if (version === 0) version = key.latestVersion;
    else if (version < 0) throw TransitError.user('requested version for encryption is negative');
    else if (version > key.latestVersion) {
      throw TransitError.user(
        'requested version for encryption is higher than the latest key version',
      );
    } else if (version < key.minEncryptionVersion) {
      throw TransitError.user(
        'requested version for encryption is less than the minimum encryption key version',
      );
    }
    if (options.nonce && options.nonce.length > 0)
      throw TransitError.user('nonce provided when not allowed');
    const entry = keyEntry(key, version, options.context);
    let material = entry.key;
    let convergentHmacKey: Buffer | undefined;
    if (key.derived) {
      const context = options.context as Buffer;
      if (key.convergent) {
        const derived = convergentKeys(entry.key, context, key.type);
        material = derived.key;
        convergentHmacKey = derived.hmacKey;
      } else {
        material = deriveKey(entry.key, context, keyLength(key.type));
      }
    }
    let aad: Buffer | undefined;
    try {
      aad = options.associatedData ? decodeAad(options.associatedData) : undefined;
      const payload = seal({
        type: key.type,
        key: material,
        plaintext,
        ...(aad ? { aad } : {}),
        ...(convergentHmacKey ? { convergentHmacKey } : {}),
      });
      return { ciphertext: formatCiphertext(version, payload), key_version: version };
    } finally {
      aad?.fill(0);
      if (key.derived) {
        material.fill(0);
        convergentHmacKey?.fill(0);
      }
    }
  }

  /**
   * keysutil DecryptWithFactory: prefix and version checks, payload base64, key derivation, then
   * the associated data (an InternalError when undecodable), then length and authentication.
   */
  private openItem(
    key: TransitKey,
    ciphertext: string,
    context: Buffer | undefined,
    associatedData: string | undefined,
  ): Buffer {
    const { version, encoded } = parseCiphertext(ciphertext);
    if (version > key.latestVersion)
      throw TransitError.user('invalid ciphertext: version is too new');
    if (key.minDecryptionVersion > 0 && version < key.minDecryptionVersion) {
      throw TransitError.user('ciphertext or signature version is disallowed by policy (too old)');
    }
    let payload: Buffer;
    try {
      payload = decodeGoBase64(encoded);
    } catch {
      throw TransitError.user('invalid ciphertext: could not decode base64');
    }
    const entry = keyEntry(key, version, context);
    const material = key.derived
      ? deriveKey(entry.key, context as Buffer, keyLength(key.type))
      : entry.key;
    let aad: Buffer | undefined;
    try {
      aad = associatedData ? decodeAad(associatedData) : undefined;
      if (payload.length < NONCE_BYTES) throw TransitError.user('invalid ciphertext length');
      const plaintext = open(key.type, material, payload, aad);
      if (!plaintext) throw TransitError.user('cipher: message authentication failed');
      return plaintext;
    } finally {
      aad?.fill(0);
      if (key.derived) material.fill(0);
    }
  }
}

/**
 * keysutil GetKey: a derived key needs a context (checked first), then the version must still be
 * held (not archived below min_decryption_version, not trimmed).
 */
function keyEntry(key: TransitKey, version: number, context: Buffer | undefined): KeyVersion {
  if (key.derived && !context) throw TransitError.user(MISSING_CONTEXT);
  const entry = version >= key.minDecryptionVersion ? key.versions.get(version) : undefined;
  if (!entry) throw TransitError.user('no such key version');
  return entry;
}

/** A name Vault routes (the key-name pattern) and stores (no `..`). */
function isValidKeyName(name: string): boolean {
  return VAULT_KEY_NAME_PATTERN.test(name) && !name.includes('..');
}

function decodeOptional(value: string | undefined): Buffer | undefined {
  return hasValue(value) ? decodeGoBase64(value as string) : undefined;
}

function hasValue(value: string | undefined): boolean {
  return value !== undefined && value !== '';
}

function assertConsistentContext(items: readonly { context?: string }[]): void {
  if (items.length === 0) return;
  const first = hasValue(items[0]?.context);
  if (items.some((item) => hasValue(item.context) !== first)) {
    throw TransitError.user('context should be set either in all the request blocks or in none');
  }
}

/**
 * The AssocDataFactory of path_encrypt.go: its decoding error is an InternalError, and the factory
 * index is always 0 (it counts EncryptWithFactory's factories, not batch items).
 */
function decodeAad(value: string): Buffer {
  try {
    return decodeGoBase64(value);
  } catch (error) {
    const detail = error instanceof TransitError ? error.errors[0] : 'illegal base64 data';
    throw TransitError.internal(
      `unable to get associated_data/additional_data from factory[0]: ${detail}`,
    );
  }
}

function assertRotatePeriod(seconds: number): void {
  if (seconds !== 0 && seconds < 3600) {
    throw TransitError.user('auto rotate period must be 0 to disable or at least an hour');
  }
}

/**
 * Vault's storage layer refuses names with `..` (vault-transit-api §2): clean on encrypt, whose
 * existence check hits storage and CheckToken turns the error into a UserError; multierror-wrapped
 * (still 400) everywhere else, where the handler's GetPolicy returns it as a plain error.
 */
function assertStorable(name: string, clean: boolean): void {
  if (name.includes('..')) {
    throw clean
      ? TransitError.user('relative paths not supported')
      : new TransitError(400, [`1 error occurred:\n\t* relative paths not supported\n\n`]);
  }
}
