import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  type CipherGCM,
  type CipherGCMTypes,
  type DecipherGCM,
} from 'node:crypto';

/** The symmetric key types Vault can upsert, and the only ones this engine implements. */
export const SYMMETRIC_KEY_TYPES = ['aes128-gcm96', 'aes256-gcm96', 'chacha20-poly1305'] as const;
export type SymmetricKeyType = (typeof SYMMETRIC_KEY_TYPES)[number];

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
const HMAC_KEY_BYTES = 32;

export function isSymmetricKeyType(type: string): type is SymmetricKeyType {
  return (SYMMETRIC_KEY_TYPES as readonly string[]).includes(type);
}

export function keyLength(type: SymmetricKeyType): number {
  return type === 'aes128-gcm96' ? 16 : 32;
}

// ChaCha20-Poly1305 has the same AEAD interface as GCM in Node; the cast only narrows the overload.
function cipherName(type: SymmetricKeyType): CipherGCMTypes {
  if (type === 'aes128-gcm96') return 'aes-128-gcm';
  if (type === 'aes256-gcm96') return 'aes-256-gcm';
  return 'chacha20-poly1305' as CipherGCMTypes;
}

/** HKDF-SHA256 with no salt, as Vault derives per-context keys. */
export function deriveKey(versionKey: Buffer, context: Buffer, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', versionKey, Buffer.alloc(0), context, length));
}

export interface SealInput {
  readonly type: SymmetricKeyType;
  readonly key: Buffer;
  readonly plaintext: Buffer;
  readonly aad?: Buffer;
  /** Convergent encryption: nonce = HMAC-SHA256(hmacKey, plaintext)[0..12]. */
  readonly convergentHmacKey?: Buffer;
}

/** AEAD seal: returns nonce ‖ ciphertext ‖ tag, the payload of a `vault:vN:` ciphertext. */
export function seal(input: SealInput): Buffer {
  const nonce = input.convergentHmacKey
    ? createHmac('sha256', input.convergentHmacKey)
        .update(input.plaintext)
        .digest()
        .subarray(0, NONCE_BYTES)
    : randomBytes(NONCE_BYTES);
  const cipher: CipherGCM = createCipheriv(cipherName(input.type), input.key, nonce, {
    authTagLength: TAG_BYTES,
  });
  if (input.aad && input.aad.length > 0)
    cipher.setAAD(input.aad, { plaintextLength: input.plaintext.length });
  const body = Buffer.concat([cipher.update(input.plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/** AEAD open; returns undefined when authentication fails. */
export function open(
  type: SymmetricKeyType,
  key: Buffer,
  payload: Buffer,
  aad?: Buffer,
): Buffer | undefined {
  const nonce = payload.subarray(0, NONCE_BYTES);
  const body = payload.subarray(NONCE_BYTES, payload.length - TAG_BYTES);
  const tag = payload.subarray(payload.length - TAG_BYTES);
  if (tag.length !== TAG_BYTES) return undefined;
  try {
    const decipher: DecipherGCM = createDecipheriv(cipherName(type), key, nonce, {
      authTagLength: TAG_BYTES,
    });
    decipher.setAuthTag(tag);
    if (aad && aad.length > 0) decipher.setAAD(aad, { plaintextLength: body.length });
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    return undefined;
  }
}

/** Splits the convergent derivation output into the encryption key and the HMAC key. */
export function convergentKeys(
  versionKey: Buffer,
  context: Buffer,
  type: SymmetricKeyType,
): { key: Buffer; hmacKey: Buffer } {
  const length = keyLength(type);
  const derived = deriveKey(versionKey, context, length + HMAC_KEY_BYTES);
  return { key: derived.subarray(0, length), hmacKey: derived.subarray(length) };
}

export function newKeyMaterial(type: SymmetricKeyType): Buffer {
  return randomBytes(keyLength(type));
}
