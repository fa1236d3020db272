import { createHash, createHmac } from 'node:crypto';

/** Hex digits kept: 64 bits, ample to tell tenants apart, short enough to read. */
const HASH_HEX_DIGITS = 16;

/** Maps a key name to its `kms.tenant.hash`: truncated SHA-256, or HMAC-SHA-256 under `key`. */
export type TenantHasher = (keyName: string) => string;

export function createTenantHasher(key: Uint8Array | undefined): TenantHasher {
  if (key === undefined) {
    return (keyName) =>
      createHash('sha256').update(keyName, 'utf8').digest('hex').slice(0, HASH_HEX_DIGITS);
  }
  const secret = Buffer.from(key);
  return (keyName) =>
    createHmac('sha256', secret).update(keyName, 'utf8').digest('hex').slice(0, HASH_HEX_DIGITS);
}
