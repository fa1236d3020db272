import { ownedFromBase64, ownedFromUtf8 } from '../../bytes.js';
import { KmsUnavailableError } from '../../errors/kms-unavailable.error.js';
import { messages } from '../../errors/messages.js';
import { MAX_DEK_BASE64_CHARS, transitCiphertextVersion } from '../../validation/dek-input.js';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function malformed(operation: string, field: string): KmsUnavailableError {
  return new KmsUnavailableError(
    messages.badResponse(operation, `data.${field} is missing or malformed`),
    'bad-response',
  );
}

/**
 * `data.ciphertext`, checked by the same rule as a caller's `encryptedDek` (so it can always be
 * passed back), as UTF-8 bytes in their own memory.
 */
export function readCiphertext(
  operation: string,
  data: Record<string, unknown> | undefined,
): Buffer {
  return readWrappedDek(operation, data).ciphertext;
}

/** {@link readCiphertext} with the KEK version the ciphertext names (`vault:v<N>:`). */
export function readWrappedDek(
  operation: string,
  data: Record<string, unknown> | undefined,
): { readonly ciphertext: Buffer; readonly version: number } {
  const value = data?.['ciphertext'];
  const version = typeof value === 'string' ? transitCiphertextVersion(value) : undefined;
  if (version === undefined) throw malformed(operation, 'ciphertext');
  return { ciphertext: ownedFromUtf8(value as string), version };
}

/**
 * `data.plaintext` (base64) decoded into its own memory; an empty plaintext, or one of another
 * length than `expectedBytes`, is a malformed answer.
 */
export function readPlaintext(
  operation: string,
  data: Record<string, unknown> | undefined,
  expectedBytes?: number,
): Buffer {
  const value = data?.['plaintext'];
  // Bounded before the pattern runs: a DEK is at most MAX_DEK_BYTES, whatever the server says.
  if (
    typeof value !== 'string' ||
    value === '' ||
    value.length > MAX_DEK_BASE64_CHARS ||
    !BASE64.test(value)
  ) {
    throw malformed(operation, 'plaintext');
  }
  const plaintext = ownedFromBase64(value);
  if (expectedBytes !== undefined && plaintext.length !== expectedBytes) {
    plaintext.fill(0);
    throw malformed(operation, 'plaintext');
  }
  return plaintext;
}

/** A positive integer version field of the key object. */
export function readKeyVersion(
  operation: string,
  data: Record<string, unknown> | undefined,
  field: string,
): number {
  const value = data?.[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw malformed(operation, field);
  }
  return value;
}
