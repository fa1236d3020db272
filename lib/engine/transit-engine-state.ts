import { decodeGoBase64 } from './go-base64.js';
import { isSymmetricKeyType, keyLength, SYMMETRIC_KEY_TYPES } from './transit-crypto.js';
import { TransitKey, type KeyVersion } from './transit-key.js';

/** One version of a persisted key. `key` is the raw material in standard base64. */
export interface TransitKeyVersionState {
  readonly version: number;
  readonly createdAt: number;
  readonly key: string;
}

/**
 * One {@link TransitKey} as a plain JSON value: every field it holds, so a restored key answers
 * `keys/:name` identically and decrypts what the original encrypted. Holds raw key material.
 */
export interface TransitKeyState {
  readonly name: string;
  readonly type: string;
  readonly derived: boolean;
  readonly convergentEncryption: boolean;
  readonly latestVersion: number;
  readonly minDecryptionVersion: number;
  readonly minEncryptionVersion: number;
  readonly minAvailableVersion: number;
  readonly deletionAllowed: boolean;
  readonly exportable: boolean;
  readonly allowPlaintextBackup: boolean;
  readonly autoRotatePeriod: number;
  /** Every version still held, ascending: `max(1, minAvailableVersion)` to `latestVersion`. */
  readonly versions: readonly TransitKeyVersionState[];
}

export function keyState(key: TransitKey): TransitKeyState {
  return {
    name: key.name,
    type: key.type,
    derived: key.derived,
    convergentEncryption: key.convergent,
    latestVersion: key.latestVersion,
    minDecryptionVersion: key.minDecryptionVersion,
    minEncryptionVersion: key.minEncryptionVersion,
    minAvailableVersion: key.minAvailableVersion,
    deletionAllowed: key.deletionAllowed,
    exportable: key.exportable,
    allowPlaintextBackup: key.allowPlaintextBackup,
    autoRotatePeriod: key.autoRotatePeriod,
    versions: [...key.versions]
      .toSorted(([a], [b]) => a - b)
      .map(([version, entry]) => ({
        version,
        createdAt: entry.createdAt,
        key: entry.key.toString('base64'),
      })),
  };
}

/**
 * Rebuilds a key from a {@link TransitKeyState} read back from storage, checking every field and
 * the invariants the engine keeps (version bounds, contiguous versions, material length). Throws
 * an Error saying which field of `where` is wrong; messages never quote a value from the entry
 * (not even the name, which might not be one). The name's Vault rules and uniqueness are the
 * engine's to check.
 */
export function restoreKey(value: unknown, where: string, now: () => number): TransitKey {
  const entry = asRecord(value, where);
  const name = entry['name'];
  if (typeof name !== 'string') throw invalid(where, 'name must be a string');
  const type = entry['type'];
  if (typeof type !== 'string' || !isSymmetricKeyType(type)) {
    throw invalid(where, `type must be one of ${SYMMETRIC_KEY_TYPES.join(', ')}`);
  }
  const flag = (field: string): boolean => {
    const flagValue = entry[field];
    if (typeof flagValue !== 'boolean') throw invalid(where, `${field} must be true or false`);
    return flagValue;
  };
  const integer = (field: string, min: number, max: number, bounds: string): number => {
    const number = entry[field];
    if (!Number.isSafeInteger(number) || (number as number) < min || (number as number) > max) {
      throw invalid(where, `${field} must be an integer ${bounds}`);
    }
    return number as number;
  };
  const derived = flag('derived');
  const convergent = flag('convergentEncryption');
  if (convergent && !derived) throw invalid(where, 'convergentEncryption requires derived');
  const latest = integer('latestVersion', 1, Number.MAX_SAFE_INTEGER, '≥ 1');
  const minDecryption = integer('minDecryptionVersion', 1, latest, 'from 1 to latestVersion');
  const minEncryption = integer('minEncryptionVersion', 0, latest, 'from 0 to latestVersion');
  if (minEncryption > 0 && minEncryption < minDecryption) {
    throw invalid(where, 'minEncryptionVersion must be 0 or ≥ minDecryptionVersion');
  }
  const minAvailable = integer('minAvailableVersion', 0, latest, 'from 0 to latestVersion');
  if (minAvailable > 0 && (minAvailable > minDecryption || minAvailable > minEncryption)) {
    throw invalid(
      where,
      'minAvailableVersion must be 0 or ≤ both minDecryptionVersion and minEncryptionVersion',
    );
  }
  const autoRotatePeriod = integer('autoRotatePeriod', 0, Number.MAX_SAFE_INTEGER, '≥ 0');
  if (autoRotatePeriod > 0 && autoRotatePeriod < 3600) {
    throw invalid(where, 'autoRotatePeriod must be 0 or at least 3600');
  }
  const fields = {
    name,
    type,
    derived,
    convergent,
    latestVersion: latest,
    minDecryptionVersion: minDecryption,
    minEncryptionVersion: minEncryption,
    minAvailableVersion: minAvailable,
    deletionAllowed: flag('deletionAllowed'),
    exportable: flag('exportable'),
    allowPlaintextBackup: flag('allowPlaintextBackup'),
    autoRotatePeriod,
  };
  const versions = restoreVersions(entry['versions'], where, {
    first: Math.max(1, minAvailable),
    latest,
    length: keyLength(type),
  });
  return TransitKey.restore({ ...fields, versions }, now);
}

/**
 * The versions `first`..`latest`, each listed once, in order, with material of `length` bytes.
 * The material decoded so far is zeroed when a later entry is wrong.
 */
function restoreVersions(
  value: unknown,
  where: string,
  expected: { first: number; latest: number; length: number },
): Map<number, KeyVersion> {
  const { first, latest, length } = expected;
  if (!Array.isArray(value) || value.length !== latest - first + 1) {
    throw invalid(
      where,
      'versions must list every version from max(1, minAvailableVersion) to latestVersion',
    );
  }
  const versions = new Map<number, KeyVersion>();
  try {
    value.forEach((item: unknown, index) => {
      const at = `${where}.versions[${index}]`;
      const version = asRecord(item, at);
      if (version['version'] !== first + index) {
        throw invalid(at, `version must be ${first + index} (versions ascending, none missing)`);
      }
      const createdAt = version['createdAt'];
      if (!Number.isSafeInteger(createdAt) || (createdAt as number) < 0) {
        throw invalid(at, 'createdAt must be an integer ≥ 0 (Unix seconds)');
      }
      const material = version['key'];
      if (typeof material !== 'string') throw invalid(at, 'key must be a base64 string');
      let key: Buffer;
      try {
        key = decodeGoBase64(material);
      } catch {
        throw invalid(at, 'key is not valid standard base64');
      }
      if (key.length !== length) {
        key.fill(0);
        throw invalid(at, `key must be ${length} bytes for this key type`);
      }
      versions.set(first + index, { key, createdAt: createdAt as number });
    });
  } catch (error) {
    for (const entry of versions.values()) entry.key.fill(0);
    throw error;
  }
  return versions;
}

function asRecord(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(where, 'must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function invalid(where: string, problem: string): Error {
  return new Error(`${where}: ${problem}`);
}
