import { TransitError } from './transit.error.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE_MAP = new Int16Array(256).fill(-1);
for (let i = 0; i < ALPHABET.length; i += 1) DECODE_MAP[ALPHABET.charCodeAt(i)] = i;
const IN_ALPHABET = new Uint8Array(256);
for (let i = 0; i < ALPHABET.length; i += 1) IN_ALPHABET[ALPHABET.charCodeAt(i)] = 1;
const alphabetBit = (byte: number | undefined): number => IN_ALPHABET[byte as number] as number;
const PAD = 0x3d; // '='
const isNewline = (byte: number | undefined): boolean => byte === 0x0a || byte === 0x0d;

/**
 * Decodes standard base64 with padding exactly as Go's `base64.StdEncoding.DecodeString` does,
 * including the byte offset it reports in `illegal base64 data at input byte N` (Vault's message).
 * Returns the bytes (never a pooled buffer), or throws a 400 {@link TransitError}.
 *
 * Fast path: one pass over the bytes checks that the input is well-formed (alphabet, then at most
 * two `=` at the end, `\r`/`\n` anywhere, length a multiple of 4), then Node's native decoder
 * writes straight into the result. A single anchored regex such as
 * `^(?:[A-Za-z0-9+/]{4})*(?:…)?$` cannot be used: V8 overflows its backtracking stack on
 * multi-megabyte inputs. Only malformed input goes through the byte-by-byte Go decoder, to
 * compute Go's error offset.
 */
export function decodeGoBase64(text: string): Buffer {
  const src = Buffer.from(text, 'utf8');
  try {
    const checked = checkWellFormed(src);
    if (checked) {
      const bytes = Buffer.alloc(checked.length);
      // Go skips `\r` and `\n` anywhere; Node would too, but only canonical input reaches here.
      bytes.write(checked.newlines ? text.replace(/[\r\n]/g, '') : text, 'base64');
      return bytes;
    }
    return decodeSlow(src);
  } finally {
    // The UTF-8 copy may hold plaintext's base64 (and comes from Node's pool when small).
    src.fill(0);
  }
}

/** The decoded length when `src` is well-formed padded std base64 (newlines aside), else undefined. */
function checkWellFormed(src: Buffer): { length: number; newlines: boolean } | undefined {
  const end = src.length;
  // Bulk: runs of alphabet bytes, four at a time (most of any real input).
  let i = 0;
  while (
    i + 3 < end &&
    (alphabetBit(src[i]) &
      alphabetBit(src[i + 1]) &
      alphabetBit(src[i + 2]) &
      alphabetBit(src[i + 3])) ===
      1
  ) {
    i += 4;
  }
  let chars = i;
  let padding = 0;
  let newlines = false;
  for (; i < end; i += 1) {
    const byte = src[i] as number;
    if (alphabetBit(byte) === 1) {
      if (padding > 0) return undefined;
      chars += 1;
    } else if (byte === PAD) {
      padding += 1;
      if (padding > 2) return undefined;
    } else if (isNewline(byte)) {
      newlines = true;
    } else {
      return undefined;
    }
  }
  // With 0, 1 or 2 pad characters, a total that is a multiple of 4 implies a valid last quantum
  // (`xxxx`, `xxx=` or `xx==`).
  if ((chars + padding) % 4 !== 0) return undefined;
  return { length: Math.floor((chars * 3) / 4), newlines };
}

/** Go's decoder, byte by byte: reached for malformed input, to throw Go's exact offset. */
function decodeSlow(src: Buffer): Buffer {
  const out = Buffer.alloc(Math.ceil(src.length / 4) * 3);
  try {
    const written = decodeInto(src, out);
    const bytes = Buffer.alloc(written);
    out.copy(bytes, 0, 0, written);
    return bytes;
  } finally {
    out.fill(0);
  }
}

function decodeInto(src: Buffer, out: Buffer): number {
  let si = 0;
  let written = 0;
  for (;;) {
    let quantum = 0;
    let dlen = 4;
    let trailingError: number | undefined;
    for (let j = 0; j < 4; j += 1) {
      if (si === src.length) {
        if (j === 0) return written;
        throw corrupt(si - j);
      }
      const byte = src[si] as number;
      si += 1;
      const value = DECODE_MAP[byte] as number;
      if (value >= 0) {
        quantum |= value << (18 - 6 * j);
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
    for (let k = 0; k < dlen - 1; k += 1) {
      out[written] = (quantum >> (16 - 8 * k)) & 0xff;
      written += 1;
    }
    if (trailingError !== undefined) throw corrupt(trailingError);
    // Padding ends the input; anything after it was reported above.
    if (dlen < 4) return written;
  }
}

function corrupt(offset: number): TransitError {
  return TransitError.user(`illegal base64 data at input byte ${offset}`);
}
