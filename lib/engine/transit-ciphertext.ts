import { TransitError } from './transit.error.js';

export const CIPHERTEXT_PREFIX = 'vault:v';

export function formatCiphertext(version: number, payload: Buffer): string {
  return `${CIPHERTEXT_PREFIX}${version}:${payload.toString('base64')}`;
}

/**
 * Splits `vault:v<N>:<base64>` the way Vault does (prefix, then one split on `:`), with Vault's
 * messages. Version 0 reads as 1 (legacy). The payload is returned undecoded.
 */
export function parseCiphertext(ciphertext: string): { version: number; encoded: string } {
  if (!ciphertext.startsWith(CIPHERTEXT_PREFIX))
    throw TransitError.user('invalid ciphertext: no prefix');
  const rest = ciphertext.slice(CIPHERTEXT_PREFIX.length);
  const colon = rest.indexOf(':');
  if (colon < 0) throw TransitError.user('invalid ciphertext: wrong number of fields');
  const versionText = rest.slice(0, colon);
  // Go's strconv.Atoi: optional sign, decimal digits, fits in int64.
  if (!/^[+-]?\d+$/.test(versionText) || !Number.isSafeInteger(Number(versionText))) {
    throw TransitError.user('invalid ciphertext: version number could not be decoded');
  }
  const version = Number(versionText);
  return { version: version === 0 ? 1 : version, encoded: rest.slice(colon + 1) };
}
