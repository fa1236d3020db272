import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { RecordIntegrityError } from '../errors/record-integrity.error.js';

const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + IV_BYTES + TAG_BYTES;

/**
 * Encrypts a record with its DEK: AES-256-GCM, a fresh 96-bit IV, and `aad` bound into the tag
 * (so a record copied to another tenant or id fails to open). Layout: format byte, IV, tag,
 * ciphertext.
 */
export function sealRecord(dek: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  assertDek(dek);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', dek, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(FORMAT), iv, cipher.getAuthTag(), ciphertext]);
}

/** Opens what {@link sealRecord} produced; throws RecordIntegrityError if anything was altered. */
export function openRecord(dek: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  assertDek(dek);
  if (sealed.length < HEADER_BYTES || sealed[0] !== FORMAT) throw new RecordIntegrityError();
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const tag = sealed.subarray(1 + IV_BYTES, HEADER_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', dek, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(sealed.subarray(HEADER_BYTES)), decipher.final()]);
  } catch {
    throw new RecordIntegrityError();
  }
}

function assertDek(dek: Buffer): void {
  if (dek.length !== 32) throw new RangeError('A record DEK must be 32 bytes (AES-256).');
}
