import { types } from 'node:util';
import { KmsInvalidInputError } from '../errors/kms-invalid-input.error.js';
import { messages } from '../errors/messages.js';

/** Largest plaintext DEK accepted: keys are 16–64 bytes; anything much larger is a misuse. */
export const MAX_DEK_BYTES = 1024;
/** nonce (12) + tag (16): the smallest payload of a non-empty Transit AEAD ciphertext is 29 bytes. */
const MIN_PAYLOAD_BYTES = 29;
/** Base64 length of the largest DEK. */
export const MAX_DEK_BASE64_CHARS = Math.ceil(MAX_DEK_BYTES / 3) * 4;
const MAX_CIPHERTEXT_CHARS = 'vault:v2147483647:'.length + Math.ceil((MAX_DEK_BYTES + 28) / 3) * 4;
const VAULT_CIPHERTEXT =
  /^vault:v([1-9]\d{0,9}):((?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)$/;
// ignoreBOM: a leading BOM stays part of the text (and fails the shape check) instead of being
// dropped, so exactly one byte string is accepted for each ciphertext.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// The typed-array intrinsics: own properties or getters a caller defines on an instance (a
// `length` claiming 32 on a 4 KiB array) cannot change what is measured and sent.
const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
const intrinsic = (name: string): ((this: unknown) => unknown) =>
  Object.getOwnPropertyDescriptor(typedArrayPrototype, name)?.get as (this: unknown) => unknown;
const bufferOf = intrinsic('buffer');
const byteOffsetOf = intrinsic('byteOffset');
const byteLengthOf = intrinsic('byteLength');

/**
 * What a wrong value is, for a message: a fixed vocabulary that never reads a property of the
 * value (a getter could throw, or a JSON-parsed `constructor.name` inject text into logs).
 */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  try {
    if (types.isProxy(value)) return 'a proxy';
    if (Array.isArray(value)) return 'an array';
    if (types.isArrayBuffer(value) || types.isSharedArrayBuffer(value)) return 'an ArrayBuffer';
    if (types.isDataView(value)) return 'a DataView';
    if (types.isTypedArray(value)) return 'another typed array';
  } catch {
    return 'object';
  }
  return 'object';
}

/**
 * The exact bytes of a Uint8Array (a Buffer included), read through the intrinsics, or
 * undefined for anything else — proxies included, which never reach a getter or a trap.
 */
function exactBytes(value: unknown): Uint8Array | undefined {
  if (!types.isUint8Array(value) || types.isProxy(value)) return undefined;
  const byteLength = byteLengthOf.call(value) as number;
  // 0 also for a view of a detached (transferred) buffer, which cannot be viewed again.
  if (byteLength === 0) return new Uint8Array(0);
  return new Uint8Array(
    bufferOf.call(value) as ArrayBufferLike,
    byteOffsetOf.call(value) as number,
    byteLength,
  );
}

/**
 * Checks a plaintext DEK before any I/O and returns a view of exactly its bytes (send that view:
 * the value's own `length`, `buffer` or `byteOffset` may lie).
 */
export function checkDek(dek: unknown): Uint8Array {
  const bytes = exactBytes(dek);
  if (!bytes) throw new KmsInvalidInputError(messages.dekType('dek', describe(dek)));
  if (bytes.byteLength === 0) throw new KmsInvalidInputError(messages.dekEmpty('dek'));
  if (bytes.byteLength > MAX_DEK_BYTES)
    throw new KmsInvalidInputError(messages.dekTooLong('dek', MAX_DEK_BYTES));
  return bytes;
}

/**
 * Checks a plaintext DEK (see {@link checkDek}) and returns its exact bytes in base64, as
 * Transit takes plaintexts. Encoded from a view, not a copy: no duplicate of the DEK is left in
 * Node's buffer pool.
 */
export function dekAsBase64(dek: unknown): string {
  const bytes = checkDek(dek);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export interface ParsedEncryptedDek {
  readonly ciphertext: string;
  readonly version: number;
}

/**
 * The version of a well-formed Transit ciphertext wrapping a DEK (`vault:v<N>:` and strict padded
 * base64 of nonce + tag + 1..MAX_DEK_BYTES bytes), or undefined. The length is bounded before the
 * pattern runs, so no input can make it expensive. Shared by input checks and answer checks, so
 * every ciphertext the service returns is one it accepts back.
 */
export function transitCiphertextVersion(text: string): number | undefined {
  if (text.length > MAX_CIPHERTEXT_CHARS) return undefined;
  const match = VAULT_CIPHERTEXT.exec(text);
  if (!match) return undefined;
  const version = Number(match[1]);
  const payloadChars = match[2]?.length ?? 0;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const payloadBytes = (payloadChars / 4) * 3 - padding;
  return version <= 2 ** 31 - 1 && payloadBytes >= MIN_PAYLOAD_BYTES ? version : undefined;
}

/** Checks a wrapped DEK is a well-formed Transit ciphertext and returns it as text, before any I/O. */
export function parseEncryptedDek(encryptedDek: unknown): ParsedEncryptedDek {
  const bytes = exactBytes(encryptedDek);
  if (!bytes) {
    throw new KmsInvalidInputError(messages.dekType('encryptedDek', describe(encryptedDek)));
  }
  if (bytes.byteLength === 0) throw new KmsInvalidInputError(messages.dekEmpty('encryptedDek'));
  if (bytes.byteLength > MAX_CIPHERTEXT_CHARS)
    throw new KmsInvalidInputError(messages.encryptedDekShape());
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new KmsInvalidInputError(messages.encryptedDekShape());
  }
  const version = transitCiphertextVersion(text);
  if (version === undefined) throw new KmsInvalidInputError(messages.encryptedDekShape());
  return { ciphertext: text, version };
}

/** Checks a KEK version number given by a caller (e.g. to retire versions below it). */
export function assertKeyVersion(version: unknown): asserts version is number {
  if (
    !Number.isSafeInteger(version) ||
    (version as number) < 1 ||
    (version as number) > 2 ** 31 - 1
  ) {
    throw new KmsInvalidInputError(messages.keyVersionInvalid());
  }
}
