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
const utf8 = new TextDecoder('utf-8', { fatal: true });

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

/** Checks a plaintext DEK before any I/O. */
export function assertDek(dek: unknown): asserts dek is Uint8Array {
  if (!(dek instanceof Uint8Array))
    throw new KmsInvalidInputError(messages.dekType('dek', describe(dek)));
  if (dek.length === 0) throw new KmsInvalidInputError(messages.dekEmpty('dek'));
  if (dek.length > MAX_DEK_BYTES)
    throw new KmsInvalidInputError(messages.dekTooLong('dek', MAX_DEK_BYTES));
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
  if (!(encryptedDek instanceof Uint8Array)) {
    throw new KmsInvalidInputError(messages.dekType('encryptedDek', describe(encryptedDek)));
  }
  if (encryptedDek.length === 0) throw new KmsInvalidInputError(messages.dekEmpty('encryptedDek'));
  if (encryptedDek.length > MAX_CIPHERTEXT_CHARS)
    throw new KmsInvalidInputError(messages.encryptedDekShape());
  let text: string;
  try {
    text = utf8.decode(encryptedDek);
  } catch {
    throw new KmsInvalidInputError(messages.encryptedDekShape());
  }
  const version = transitCiphertextVersion(text);
  if (version === undefined) throw new KmsInvalidInputError(messages.encryptedDekShape());
  return { ciphertext: text, version };
}
