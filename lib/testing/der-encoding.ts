import { isIPv4, isIPv6 } from 'node:net';

/**
 * A minimal ASN.1 DER encoder: the few types an X.509 v3 certificate needs (ITU-T X.690 §8, §10).
 * Each function returns the whole TLV (tag, length, content). Internal to the dev server.
 */

/** A TLV with the given tag byte around `content`. */
export function derTlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.of(tag), derLength(content.length), content]);
}

/** The definite length: short form below 128, else 0x80 | count of big-endian length bytes. */
function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.of(0x80 | bytes.length, ...bytes);
}

export function derSequence(...items: Buffer[]): Buffer {
  return derTlv(0x30, Buffer.concat(items));
}

export function derSet(...items: Buffer[]): Buffer {
  return derTlv(0x31, Buffer.concat(items));
}

export function derBoolean(value: boolean): Buffer {
  return derTlv(0x01, Buffer.of(value ? 0xff : 0x00));
}

/** An INTEGER from a non-negative safe integer or unsigned big-endian bytes (minimal form). */
export function derInteger(value: number | Buffer): Buffer {
  let bytes: Buffer;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError('a non-negative integer');
    const digits: number[] = [];
    for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) digits.unshift(rest % 256);
    bytes = Buffer.from(digits);
  } else {
    bytes = value;
  }
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  let content = bytes.subarray(start);
  if (content.length === 0) content = Buffer.of(0);
  // A set high bit would read as negative: a leading zero byte keeps it positive.
  if (content[0]! & 0x80) content = Buffer.concat([Buffer.of(0), content]);
  return derTlv(0x02, content);
}

/** An OBJECT IDENTIFIER from its dotted form, e.g. `2.5.29.17`. */
export function derOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((arc) => !Number.isSafeInteger(arc) || arc < 0))
    throw new RangeError(`not an object identifier: ${dotted}`);
  const [first, second, ...rest] = arcs as [number, number, ...number[]];
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const base128: number[] = [arc % 128];
    for (let high = Math.floor(arc / 128); high > 0; high = Math.floor(high / 128))
      base128.unshift(0x80 | (high % 128));
    bytes.push(...base128);
  }
  return derTlv(0x06, Buffer.from(bytes));
}

/** A BIT STRING of whole bytes (no unused bits), e.g. a public key or a signature. */
export function derBitString(bytes: Buffer): Buffer {
  return derTlv(0x03, Buffer.concat([Buffer.of(0), bytes]));
}

/**
 * A named-bit BIT STRING (e.g. keyUsage) with the given bits set, bit 0 first: trailing zero bits
 * are dropped, as DER requires.
 */
export function derNamedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return derTlv(0x03, Buffer.of(0));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[Math.floor(bit / 8)]! |= 0x80 >> (bit % 8);
  const unused = 7 - (highest % 8);
  return derTlv(0x03, Buffer.concat([Buffer.of(unused), bytes]));
}

export function derOctetString(bytes: Buffer): Buffer {
  return derTlv(0x04, bytes);
}

export function derNull(): Buffer {
  return Buffer.of(0x05, 0x00);
}

export function derUtf8String(text: string): Buffer {
  return derTlv(0x0c, Buffer.from(text, 'utf8'));
}

/**
 * A certificate validity time: UTCTime (`YYMMDDHHMMSSZ`) for the years 1950–2049, GeneralizedTime
 * (`YYYYMMDDHHMMSSZ`) otherwise (RFC 5280 §4.1.2.5), whole seconds.
 */
export function derTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const rest =
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) +
    'Z';
  if (year >= 1950 && year < 2050)
    return derTlv(0x17, Buffer.from(two(year % 100) + rest, 'ascii'));
  return derTlv(0x18, Buffer.from(String(year).padStart(4, '0') + rest, 'ascii'));
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** `[n] EXPLICIT`: a constructed context-specific tag around one encoded value. */
export function derExplicit(tagNumber: number, value: Buffer): Buffer {
  return derTlv(0xa0 | tagNumber, value);
}

/** `[n] IMPLICIT` of a primitive type: a context-specific tag around its raw content. */
export function derImplicit(tagNumber: number, content: Buffer): Buffer {
  return derTlv(0x80 | tagNumber, content);
}

/** The 4 or 16 bytes of an IP address (an iPAddress GeneralName's content). */
export function ipAddressBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  if (!isIPv6(address) || address.includes('.'))
    throw new RangeError(`not an IPv4 or plain IPv6 address: ${address}`);
  const [head = '', tail] = address.split('::') as [string, string | undefined];
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const middle = Array.from({ length: 8 - left.length - right.length }, () => 0);
  const bytes = Buffer.alloc(16);
  [...left, ...middle, ...right].forEach((group, i) => bytes.writeUInt16BE(group, i * 2));
  return bytes;
}

/** The 16-bit groups of one side of an IPv6 address's `::`. */
function groups(part: string): number[] {
  return part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16));
}
