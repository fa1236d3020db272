import { KmsInvalidInputError } from '../errors/kms-invalid-input.error.js';
import { messages } from '../errors/messages.js';

/** Largest plaintext DEK accepted: keys are 16–64 bytes; anything much larger is a misuse. */
export const MAX_DEK_BYTES = 1024;
/** nonce (12) + tag (16): the smallest payload of a non-empty Transit AEAD ciphertext is 29 bytes. */
const MIN_PAYLOAD_BYTES = 29;
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
  const match = VAULT_CIPHERTEXT.exec(text);
  const version = Number(match?.[1]);
  const payloadChars = match?.[2]?.length ?? 0;
  const payloadBytes =
    (payloadChars / 4) * 3 - (text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0);
  if (!match || version > 2 ** 31 - 1 || payloadBytes < MIN_PAYLOAD_BYTES) {
    throw new KmsInvalidInputError(messages.encryptedDekShape());
  }
  return { ciphertext: text, version };
}
