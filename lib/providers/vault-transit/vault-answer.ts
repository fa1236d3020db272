import { ownedFromBase64, ownedFromUtf8 } from '../../bytes.js';
import { KmsUnavailableError } from '../../errors/kms-unavailable.error.js';
import { messages } from '../../errors/messages.js';

const CIPHERTEXT = /^vault:v\d+:[A-Za-z0-9+/]+={0,2}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function malformed(operation: string, field: string): KmsUnavailableError {
  return new KmsUnavailableError(
    messages.badResponse(operation, `data.${field} is missing or malformed`),
    'bad-response',
  );
}

/** `data.ciphertext`, checked to be a Transit ciphertext, as UTF-8 bytes in their own memory. */
export function readCiphertext(
  operation: string,
  data: Record<string, unknown> | undefined,
): Buffer {
  const value = data?.['ciphertext'];
  if (typeof value !== 'string' || !CIPHERTEXT.test(value))
    throw malformed(operation, 'ciphertext');
  return ownedFromUtf8(value);
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
  if (typeof value !== 'string' || value === '' || !BASE64.test(value)) {
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
