/**
 * Buffers the library returns own their memory. `Buffer.from(string)` hands out slices of a
 * shared 8 KiB pool, so a plaintext DEK could sit in the same `ArrayBuffer` as a wrapped DEK or
 * anything else: code that stores `x.buffer` would store its neighbours too. These helpers
 * always allocate exactly the bytes needed, outside the pool.
 */
export function ownedFromBase64(text: string): Buffer {
  return owned(Buffer.from(text, 'base64'));
}

export function ownedFromUtf8(text: string): Buffer {
  const out = Buffer.alloc(Buffer.byteLength(text, 'utf8'));
  out.write(text, 'utf8');
  return out;
}

/** A copy of `bytes` in its own memory; zeroes `bytes` when it was a pooled temporary. */
function owned(bytes: Buffer): Buffer {
  const out = Buffer.alloc(bytes.length);
  bytes.copy(out);
  bytes.fill(0);
  return out;
}

/** Copies bytes into their own memory (e.g. random bytes from a source that may pool). */
export function ownedCopy(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(bytes.length);
  out.set(bytes);
  return out;
}
