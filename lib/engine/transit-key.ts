import { newKeyMaterial, type SymmetricKeyType } from './transit-crypto.js';

export interface KeyVersion {
  readonly key: Buffer;
  readonly createdAt: number; // Unix seconds
}

/** Everything a {@link TransitKey} holds, material included: what {@link TransitKey.restore} takes. */
export interface TransitKeyFields {
  readonly name: string;
  readonly type: SymmetricKeyType;
  readonly derived: boolean;
  readonly convergent: boolean;
  /** Owned by the restored key from then on (zeroed when it is trimmed or destroyed). */
  readonly versions: ReadonlyMap<number, KeyVersion>;
  readonly latestVersion: number;
  readonly minDecryptionVersion: number;
  readonly minEncryptionVersion: number;
  readonly minAvailableVersion: number;
  readonly deletionAllowed: boolean;
  readonly exportable: boolean;
  readonly allowPlaintextBackup: boolean;
  readonly autoRotatePeriod: number;
}

/** One named Transit key and its versions (Vault's key policy). Internal to the engine. */
export class TransitKey {
  readonly versions = new Map<number, KeyVersion>();
  latestVersion = 0;
  minDecryptionVersion = 1;
  minEncryptionVersion = 0;
  minAvailableVersion = 0;
  deletionAllowed = false;
  exportable = false;
  allowPlaintextBackup = false;
  autoRotatePeriod = 0;

  constructor(
    readonly name: string,
    readonly type: SymmetricKeyType,
    readonly derived: boolean,
    readonly convergent: boolean,
    private readonly now: () => number,
    restoredVersions?: ReadonlyMap<number, KeyVersion>,
  ) {
    if (restoredVersions) for (const [v, entry] of restoredVersions) this.versions.set(v, entry);
    else this.rotate();
  }

  /** Rebuilds a key exactly as it was (fields already validated by the caller). */
  static restore(fields: TransitKeyFields, now: () => number): TransitKey {
    const key = new TransitKey(
      fields.name,
      fields.type,
      fields.derived,
      fields.convergent,
      now,
      fields.versions,
    );
    key.latestVersion = fields.latestVersion;
    key.minDecryptionVersion = fields.minDecryptionVersion;
    key.minEncryptionVersion = fields.minEncryptionVersion;
    key.minAvailableVersion = fields.minAvailableVersion;
    key.deletionAllowed = fields.deletionAllowed;
    key.exportable = fields.exportable;
    key.allowPlaintextBackup = fields.allowPlaintextBackup;
    key.autoRotatePeriod = fields.autoRotatePeriod;
    return key;
  }

  rotate(): void {
    this.latestVersion += 1;
    this.versions.set(this.latestVersion, {
      key: newKeyMaterial(this.type),
      createdAt: this.now(),
    });
  }

  /** Replaces a version's material (known-answer tests and imports only). */
  setMaterial(version: number, key: Buffer): void {
    const existing = this.versions.get(version);
    if (!existing) throw new Error(`no version ${version}`);
    this.versions.set(version, { key: Buffer.from(key), createdAt: existing.createdAt });
    existing.key.fill(0);
  }

  /** Forgets versions below `minAvailable` for good, zeroing their material. */
  trim(minAvailable: number): void {
    for (const [version, entry] of this.versions) {
      if (version < minAvailable) {
        entry.key.fill(0);
        this.versions.delete(version);
      }
    }
    this.minAvailableVersion = minAvailable;
  }

  destroy(): void {
    for (const entry of this.versions.values()) entry.key.fill(0);
    this.versions.clear();
  }

  /** The key object of vault-transit-api §3 (data keys sorted, as Vault's encoder writes them). */
  toKeyObject(): Record<string, unknown> {
    const keys: Record<string, number> = {};
    for (let v = Math.max(this.minDecryptionVersion, 1); v <= this.latestVersion; v += 1) {
      const entry = this.versions.get(v);
      if (entry) keys[String(v)] = entry.createdAt;
    }
    const object: Record<string, unknown> = {
      allow_plaintext_backup: this.allowPlaintextBackup,
      auto_rotate_period: this.autoRotatePeriod,
      deletion_allowed: this.deletionAllowed,
      derived: this.derived,
      exportable: this.exportable,
      imported_key: false,
      keys,
      latest_version: this.latestVersion,
      min_available_version: this.minAvailableVersion,
      min_decryption_version: this.minDecryptionVersion,
      min_encryption_version: this.minEncryptionVersion,
      name: this.name,
      supports_decryption: true,
      supports_derivation: true,
      supports_encryption: true,
      supports_signing: false,
      type: this.type,
    };
    if (this.derived) {
      object['kdf'] = 'hkdf_sha256';
      object['convergent_encryption'] = this.convergent;
      if (this.convergent) object['convergent_encryption_version'] = -1;
    }
    return Object.fromEntries(
      Object.entries(object).toSorted(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
  }
}
