/** Most keys remembered; beyond it the oldest entries are forgotten (a hint, not a record). */
const MAX_KEYS = 10_000;

/**
 * The latest version of each key seen in Vault's answers (ciphertexts' `vault:vN:`, rotations,
 * key reads): a lower bound of the key's current version, used to tell after a lost answer
 * whether a rotation happened. Forgotten when the key is deleted.
 */
export class KnownKeyVersions {
  private readonly versions = new Map<string, number>();

  get(keyName: string): number | undefined {
    return this.versions.get(keyName);
  }

  observe(keyName: string, version: number | undefined): void {
    if (version === undefined || !Number.isSafeInteger(version) || version < 1) return;
    const known = this.versions.get(keyName);
    if (known !== undefined && known >= version) return;
    this.versions.delete(keyName); // re-insert: the most recently updated entries live longest
    this.versions.set(keyName, version);
    if (this.versions.size > MAX_KEYS) {
      const oldest = this.versions.keys().next().value;
      if (oldest !== undefined) this.versions.delete(oldest);
    }
  }

  forget(keyName: string): void {
    this.versions.delete(keyName);
  }
}
