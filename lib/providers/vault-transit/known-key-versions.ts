/** Most keys remembered; beyond it the oldest entries are forgotten (a hint, not a record). */
const MAX_KEYS = 10_000;

interface KnownVersion {
  readonly version: number;
  /** When an answer last showed this version (performance.now()). */
  readonly confirmedAt: number;
}

/**
 * The latest version of each key seen in Vault's answers (ciphertexts' `vault:vN:`, rotations,
 * key reads): a lower bound of the key's current version — another process may have rotated it
 * since — used to tell after a lost answer whether a rotation happened, and to skip rewrapping
 * what is current. Forgotten when the key is deleted.
 */
export class KnownKeyVersions {
  private readonly versions = new Map<string, KnownVersion>();

  get(keyName: string): number | undefined {
    return this.versions.get(keyName)?.version;
  }

  /** The known version, if an answer showed it within the last `maxAgeMs`. */
  confirmed(keyName: string, maxAgeMs: number): number | undefined {
    const known = this.versions.get(keyName);
    return known && performance.now() - known.confirmedAt <= maxAgeMs ? known.version : undefined;
  }

  /** An answer showed `version`: raises the known version, or confirms it again. */
  observe(keyName: string, version: number | undefined): void {
    if (version === undefined || !Number.isSafeInteger(version) || version < 1) return;
    const known = this.versions.get(keyName);
    if (known !== undefined && known.version > version) return;
    this.versions.delete(keyName); // re-insert: the most recently updated entries live longest
    this.versions.set(keyName, { version, confirmedAt: performance.now() });
    if (this.versions.size > MAX_KEYS) {
      const oldest = this.versions.keys().next().value;
      if (oldest !== undefined) this.versions.delete(oldest);
    }
  }

  forget(keyName: string): void {
    this.versions.delete(keyName);
  }
}
