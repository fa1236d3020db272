import { TransitError } from './transit.error.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE_MAP = new Int16Array(256).fill(-1);
for (let i = 0; i < ALPHABET.length; i += 1) DECODE_MAP[ALPHABET.charCodeAt(i)] = i;
const PAD = 0x3d; // '='
const isNewline = (byte: number | undefined): boolean => byte === 0x0a || byte === 0x0d;

/**
 * Decodes standard base64 with padding exactly as Go's `base64.StdEncoding.DecodeString` does,
 * including the byte offset it reports in `illegal base64 data at input byte N` (Vault's message).
 * Returns the bytes, or throws a 400 {@link TransitError}.
 */
export function decodeGoBase64(text: string): Buffer {
  const src = Buffer.from(text, 'utf8');
  const out: number[] = [];
  try {
    decodeInto(src, out);
    const bytes = Buffer.alloc(out.length);
    bytes.set(out);
    return bytes;
  } finally {
    // Both may hold plaintext (or its base64): leave nothing behind in the pool or the heap.
    src.fill(0);
    out.fill(0);
  }
}

function decodeInto(src: Buffer, out: number[]): void {
  let si = 0;
  for (;;) {
    const quantum = [0, 0, 0, 0];
    let dlen = 4;
    let trailingError: number | undefined;
    let j = 0;
    for (; j < 4; j += 1) {
      if (si === src.length) {
        if (j === 0) return;
        throw corrupt(si - j);
      }
      const byte = src[si] as number;
      si += 1;
      const value = DECODE_MAP[byte] as number;
      if (value >= 0) {
        quantum[j] = value;
        continue;
      }
      if (isNewline(byte)) {
        j -= 1;
        continue;
      }
      if (byte !== PAD) throw corrupt(si - 1);
      if (j === 0 || j === 1) throw corrupt(si - 1);
      if (j === 2) {
        while (si < src.length && isNewline(src[si])) si += 1;
        if (si === src.length) throw corrupt(src.length);
        if (src[si] !== PAD) throw corrupt(si - 1);
        si += 1;
      }
      while (si < src.length && isNewline(src[si])) si += 1;
      if (si < src.length) trailingError = si;
      dlen = j;
      break;
    }
    const value =
      ((quantum[0] as number) << 18) |
      ((quantum[1] as number) << 12) |
      ((quantum[2] as number) << 6) |
      (quantum[3] as number);
    const bytes = [(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
    out.push(...bytes.slice(0, dlen - 1));
    if (trailingError !== undefined) throw corrupt(trailingError);
    if (dlen < 4) {
      // Padding ends the input; anything after it was reported above.
      return;
    }
  }
}

function corrupt(offset: number): TransitError {
  return TransitError.user(`illegal base64 data at input byte ${offset}`);
}
