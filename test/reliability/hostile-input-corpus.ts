/**
 * Hostile-input corpus: tenant ids, DEKs, ciphertexts, oversized values, wrong JavaScript types
 * and sessions that a careless or malicious caller may hand to an {@link IKeyManagementService}.
 * Every case is data: what to pass, which operations to call, and what must come out — a typed
 * error (before any I/O, or from Vault for a well-formed but wrong value), or success that touches
 * only the caller's own key. hostile-input.spec.ts runs each case against every provider.
 */
import { expect } from 'vitest';
import {
  KekNotFoundError,
  KmsDecryptionError,
  KmsInvalidInputError,
  KmsSessionError,
  type IKeyManagementService,
  type ISession,
  type KmsError,
  type TenantId,
} from '../../lib/index.js';

export type Operation =
  'encryptDek' | 'decryptDek' | 'rewrapDek' | 'generateDek' | 'rotateKek' | 'deleteKek';

export const ALL_OPERATIONS: readonly Operation[] = [
  'encryptDek',
  'decryptDek',
  'rewrapDek',
  'generateDek',
  'rotateKek',
  'deleteKek',
];
const WITH_DEK: readonly Operation[] = ['encryptDek'];
const WITH_CIPHERTEXT: readonly Operation[] = ['decryptDek', 'rewrapDek'];

export type Family = 'tenant-id' | 'dek' | 'ciphertext' | 'oversized' | 'wrong-type' | 'session';

/** The tenant whose key the corpus must never touch. */
export const VICTIM = 'victim';
export const VICTIM_KEY = 'tenant-victim';
/** The tenant the hostile caller legitimately owns (its key exists before the corpus runs). */
export const ATTACKER = 'attacker';
export const ATTACKER_KEY = 'tenant-attacker';
/** A tenant whose key is chacha20-poly1305 (the others are aes256-gcm96). */
export const OTHER_KEY_TYPE_TENANT = 'other-type';
export const OTHER_KEY_TYPE_KEY = 'tenant-other-type';
/** Tenants that never get a key: decrypt/rewrap must not create one. */
const GHOST = 'ghost';
const GHOST_KEY = 'tenant-ghost';
const VICTIM_LOOKALIKE = 'vIctim';
const VICTIM_LOOKALIKE_KEY = 'tenant-vIctim';

/** A recognisable 32-byte DEK, used where a case needs a valid one; it must never be echoed. */
export const DEFAULT_DEK = Buffer.from('hostile-corpus-default-dek-32by!');

export interface TenantDek {
  readonly tenantId: string;
  readonly dek: Buffer;
  readonly encryptedDek: Buffer;
}

/** What a provider run prepares before the corpus. */
export interface CorpusContext {
  readonly victim: TenantDek;
  readonly attacker: TenantDek;
  /** A DEK wrapped under the chacha20-poly1305 key of {@link OTHER_KEY_TYPE_TENANT}. */
  readonly otherKeyTypeCiphertext: Buffer;
  /** A session whose callback has already settled. */
  readonly endedSession: ISession;
}

type Make = (ctx: CorpusContext) => unknown;
type ErrorClass = new (...args: never[]) => KmsError;

interface CaseBase {
  /** Unique; names the parameter and the hostile value's shape, never a secret. */
  readonly name: string;
  readonly family: Family;
}

export interface RejectedCase extends CaseBase {
  readonly outcome: 'rejected';
  readonly error: ErrorClass;
  /** True when the library can tell without asking Vault: then no request may go out. */
  readonly beforeIo: boolean;
  readonly operations: readonly Operation[];
  readonly tenantId: Make;
  /** The `dek` of encryptDek (default {@link DEFAULT_DEK}). */
  readonly dek?: Make;
  /** The `encryptedDek` of decryptDek/rewrapDek (default: the attacker's own, valid one). */
  readonly encryptedDek?: Make;
  /** Replaces the pool's session. */
  readonly session?: Make;
  /** The message must match: it names the problem. */
  readonly mentions: RegExp;
  /** For cases that reach Vault: the only key name any request may address. */
  readonly keyName?: string;
  /** Secrets (besides the corpus DEKs) no rendering of the error may contain in any encoding. */
  readonly secrets?: (ctx: CorpusContext) => readonly (string | Buffer)[];
  /** Hostile text no rendering of the error may contain verbatim. */
  readonly notEchoed?: (ctx: CorpusContext) => readonly string[];
}

export interface AcceptedCase extends CaseBase {
  readonly outcome: 'accepted';
  /** Exactly the key names the case's requests address. */
  readonly keyNames: readonly string[];
  run(kms: IKeyManagementService, session: ISession, ctx: CorpusContext): Promise<void>;
}

export type HostileCase = RejectedCase | AcceptedCase;

// --- messages --------------------------------------------------------------------------------
const TENANT_NAME = /^Invalid tenant id: this id does not form a valid Vault key name /;
const TENANT_EMPTY = /^Invalid tenant id: it must not be empty\.$/;
const TENANT_NUMBER = /^Invalid tenant id: numbers must be safe integers /;
const tenantType = (type: string): RegExp =>
  new RegExp(`^Invalid tenant id: expected a string, a safe integer or a bigint, got ${type}\\.$`);
const DEK_TYPE = /^Invalid dek: expected a Uint8Array \(e\.g\. a Buffer\), got [\w ]+\.$/;
const DEK_EMPTY = /^Invalid dek: it must not be empty\.$/;
const DEK_TOO_LONG = /^Invalid dek: longer than 1024 bytes; /;
const CIPHERTEXT_TYPE =
  /^Invalid encryptedDek: expected a Uint8Array \(e\.g\. a Buffer\), got [\w ]+\.$/;
const CIPHERTEXT_EMPTY = /^Invalid encryptedDek: it must not be empty\.$/;
const CIPHERTEXT_SHAPE = /^Invalid encryptedDek: not a Vault Transit ciphertext /;
const DECRYPTION = /^Vault could not (?:decryptDek|rewrapDek) with key "tenant-attacker": /;
const SESSION = /session/i;

// --- value helpers ---------------------------------------------------------------------------
const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');
const textOf = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');
/** The base64 part of a `vault:v<N>:<base64>` ciphertext. */
const payloadOf = (ciphertext: Uint8Array): string =>
  textOf(ciphertext).replace(/^vault:v\d+:/, '');
const rawPayloadOf = (ciphertext: Uint8Array): Buffer =>
  Buffer.from(payloadOf(ciphertext), 'base64');
const ciphertextWith = (version: string, payload: Buffer): Buffer =>
  utf8(`vault:${version}:${payload.toString('base64')}`);

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

/** A Uint8Array whose `length` lies (claims 32) about the bytes it holds. */
function lyingLength(bytes: number): Uint8Array {
  const array = new Uint8Array(bytes).fill(0x41);
  Object.defineProperty(array, 'length', { get: () => 32 });
  return array;
}

function detachedView(): Uint8Array {
  const array = new Uint8Array(32).fill(7);
  structuredClone(array.buffer, { transfer: [array.buffer] });
  return array;
}

/** A string of the given length that is not a secret but must not be echoed either. */
const longId = (length: number): string => 'x'.repeat(length);

// --- builders --------------------------------------------------------------------------------
function badTenant(
  family: Family,
  name: string,
  tenantId: unknown,
  mentions: RegExp,
  extra: Partial<RejectedCase> = {},
): RejectedCase {
  return {
    outcome: 'rejected',
    family,
    name: `tenantId: ${name}`,
    error: KmsInvalidInputError,
    beforeIo: true,
    operations: ALL_OPERATIONS,
    tenantId: () => tenantId,
    mentions,
    notEchoed: () => (typeof tenantId === 'string' && tenantId.length >= 4 ? [tenantId] : []),
    ...extra,
  };
}

function badDek(
  family: Family,
  name: string,
  dek: Make,
  mentions: RegExp,
  extra: Partial<RejectedCase> = {},
): RejectedCase {
  return {
    outcome: 'rejected',
    family,
    name: `dek: ${name}`,
    error: KmsInvalidInputError,
    beforeIo: true,
    operations: WITH_DEK,
    tenantId: () => ATTACKER,
    dek,
    mentions,
    ...extra,
  };
}

function badCiphertext(
  family: Family,
  name: string,
  encryptedDek: Make,
  mentions: RegExp,
  extra: Partial<RejectedCase> = {},
): RejectedCase {
  return {
    outcome: 'rejected',
    family,
    name: `encryptedDek: ${name}`,
    error: KmsInvalidInputError,
    beforeIo: true,
    operations: WITH_CIPHERTEXT,
    tenantId: () => ATTACKER,
    encryptedDek,
    mentions,
    notEchoed: (ctx) => {
      const value = encryptedDek(ctx);
      const text = typeof value === 'string' ? value : undefined;
      return text !== undefined && text.length >= 8 ? [text] : [];
    },
    ...extra,
  };
}

/** Well-formed but wrong: only Vault can tell, so exactly the attacker's key is addressed. */
function wrongCiphertext(name: string, encryptedDek: Make): RejectedCase {
  return {
    outcome: 'rejected',
    family: 'ciphertext',
    name: `encryptedDek: ${name}`,
    error: KmsDecryptionError,
    beforeIo: false,
    operations: WITH_CIPHERTEXT,
    tenantId: () => ATTACKER,
    encryptedDek,
    mentions: DECRYPTION,
    keyName: ATTACKER_KEY,
  };
}

function badSession(name: string, session: Make): RejectedCase {
  return {
    outcome: 'rejected',
    family: 'session',
    name: `session: ${name}`,
    error: KmsSessionError,
    beforeIo: true,
    operations: ALL_OPERATIONS,
    tenantId: () => ATTACKER,
    session,
    mentions: SESSION,
  };
}

/** Generate, decrypt, rotate, rewrap, encrypt, delete: every operation reaches only `keyName`. */
function acceptedTenant(name: string, tenantId: TenantId, keyName: string): AcceptedCase {
  return {
    outcome: 'accepted',
    family: 'tenant-id',
    name: `tenantId: ${name} (valid: own key ${keyName.length > 40 ? `of ${keyName.length} chars` : keyName})`,
    keyNames: [keyName],
    async run(kms, s) {
      const { dek, encryptedDek } = await kms.generateDek(s, tenantId);
      expect(await kms.decryptDek(s, tenantId, encryptedDek)).toEqual(dek);
      expect(await kms.rotateKek(s, tenantId)).toBe(2);
      const rewrapped = await kms.rewrapDek(s, tenantId, encryptedDek);
      expect(textOf(rewrapped)).toMatch(/^vault:v2:/);
      const wrapped = await kms.encryptDek(s, tenantId, DEFAULT_DEK);
      expect(await kms.decryptDek(s, tenantId, wrapped)).toEqual(DEFAULT_DEK);
      await kms.deleteKek(s, tenantId);
      await expect(kms.decryptDek(s, tenantId, rewrapped)).rejects.toBeInstanceOf(KekNotFoundError);
    },
  };
}

/** encryptDek accepts `dek` and wraps exactly its bytes; the caller's array is left as it was. */
function acceptedDek(
  name: string,
  make: () => { dek: Uint8Array; check?: () => void },
): AcceptedCase {
  return {
    outcome: 'accepted',
    family: 'dek',
    name: `dek: ${name} (valid)`,
    keyNames: [ATTACKER_KEY],
    async run(kms, s) {
      const { dek, check } = make();
      const expected = Buffer.from(dek);
      const wrapped = await kms.encryptDek(s, ATTACKER, dek);
      const unwrapped = await kms.decryptDek(s, ATTACKER, wrapped);
      expect(unwrapped.length).toBe(expected.length);
      expect(unwrapped.equals(expected)).toBe(true);
      expect(Buffer.from(dek).equals(expected)).toBe(true);
      check?.();
    },
  };
}

/** decrypt and rewrap accept the ciphertext and read exactly its bytes. */
function acceptedCiphertext(name: string, make: (ciphertext: Buffer) => Uint8Array): AcceptedCase {
  return {
    outcome: 'accepted',
    family: 'ciphertext',
    name: `encryptedDek: ${name} (valid)`,
    keyNames: [ATTACKER_KEY],
    async run(kms, s, ctx) {
      const view = make(ctx.attacker.encryptedDek);
      expect(await kms.decryptDek(s, ATTACKER, view)).toEqual(ctx.attacker.dek);
      const rewrapped = await kms.rewrapDek(s, ATTACKER, view);
      expect(await kms.decryptDek(s, ATTACKER, rewrapped)).toEqual(ctx.attacker.dek);
    },
  };
}

// --- the corpus ------------------------------------------------------------------------------
const TENANT_IDS: readonly HostileCase[] = [
  badTenant('tenant-id', 'empty string', '', TENANT_EMPTY),
  badTenant('tenant-id', 'a single space', ' ', TENANT_NAME),
  badTenant('tenant-id', 'tab before the victim id', '\tvictim', TENANT_NAME),
  badTenant('tenant-id', 'parent traversal to the victim', '../victim', TENANT_NAME),
  badTenant('tenant-id', 'bare parent segment', '..', TENANT_NAME),
  badTenant('tenant-id', 'traversal inside the id', 'victim/../x', TENANT_NAME),
  badTenant('tenant-id', 'a slash', 'a/b', TENANT_NAME),
  badTenant('tenant-id', 'a sub-route of the victim key (/rotate)', 'victim/rotate', TENANT_NAME),
  badTenant('tenant-id', 'a trailing slash', 'victim/', TENANT_NAME),
  badTenant('tenant-id', 'an encoded slash (%2F)', 'a%2Fb', TENANT_NAME),
  badTenant(
    'tenant-id',
    'an encoded slash to the victim config (%2f)',
    'victim%2fconfig',
    TENANT_NAME,
  ),
  badTenant('tenant-id', 'encoded dots (%2e%2e)', '%2e%2e', TENANT_NAME),
  badTenant('tenant-id', 'a backslash sub-route', 'victim\\rotate', TENANT_NAME),
  badTenant('tenant-id', 'a trailing NUL', 'victim\u0000', TENANT_NAME),
  badTenant('tenant-id', 'CRLF header injection', 'a\r\nX-Vault-Token: x', TENANT_NAME),
  badTenant('tenant-id', 'a query string', 'victim?list=true', TENANT_NAME),
  badTenant('tenant-id', 'a fragment', '#frag', TENANT_NAME),
  badTenant('tenant-id', 'a Cyrillic homoglyph of the victim', 'v\u0456ctim', TENANT_NAME),
  badTenant('tenant-id', 'fullwidth letters', '\uff56\uff49\uff43\uff54\uff49\uff4d', TENANT_NAME),
  badTenant('tenant-id', 'a zero-width space', 'vic\u200btim', TENANT_NAME),
  badTenant('tenant-id', 'a combining accent', 'victim\u0301', TENANT_NAME),
  badTenant('tenant-id', 'an emoji', '\u{1f511}', TENANT_NAME),
  badTenant('tenant-id', 'a lone surrogate', '\ud800', TENANT_NAME),
  badTenant('tenant-id', 'a trailing hyphen', 'trailing-', TENANT_NAME),
  badTenant('tenant-id', 'a trailing dot', 'victim.', TENANT_NAME),
  badTenant('tenant-id', 'a double dot inside', 'a..b', TENANT_NAME),
  badTenant(
    'tenant-id',
    'a base64 secret pasted as id',
    'c2VjcmV0LWtleS1tYXRlcmlhbC0wMTIz+/4=',
    TENANT_NAME,
    { secrets: () => ['c2VjcmV0LWtleS1tYXRlcmlhbC0wMTIz+/4='] },
  ),
  acceptedTenant('negative number -1', -1, 'tenant--1'),
  acceptedTenant('negative zero', -0, 'tenant-0'),
  acceptedTenant('Number.MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER, 'tenant-9007199254740991'),
  acceptedTenant('Number.MIN_SAFE_INTEGER', Number.MIN_SAFE_INTEGER, 'tenant--9007199254740991'),
  acceptedTenant('bigint 2^64', 2n ** 64n, 'tenant-18446744073709551616'),
  acceptedTenant('a leading hyphen', '-leading', 'tenant--leading'),
  acceptedTenant('the victim in upper case', 'VICTIM', 'tenant-VICTIM'),
  acceptedTenant("the victim's key name", 'tenant-victim', 'tenant-tenant-victim'),
  acceptedTenant('a dot inside', 'victim.1', 'tenant-victim.1'),
  acceptedTenant('248 chars (255-char key name)', longId(248), `tenant-${longId(248)}`),
];

const WRONG_TYPE_TENANT_IDS: readonly HostileCase[] = [
  badTenant('wrong-type', 'NaN', Number.NaN, TENANT_NUMBER),
  badTenant('wrong-type', 'Infinity', Number.POSITIVE_INFINITY, TENANT_NUMBER),
  badTenant('wrong-type', '-Infinity', Number.NEGATIVE_INFINITY, TENANT_NUMBER),
  badTenant('wrong-type', 'a fraction 1.5', 1.5, TENANT_NUMBER),
  badTenant('wrong-type', '2^53 (unsafe integer)', 2 ** 53, TENANT_NUMBER),
  badTenant('wrong-type', '1e21 (prints as 1e+21)', 1e21, TENANT_NUMBER),
  badTenant('wrong-type', 'null', null, tenantType('null')),
  badTenant('wrong-type', 'undefined', undefined, tenantType('undefined')),
  badTenant('wrong-type', 'a boolean', true, tenantType('boolean')),
  badTenant('wrong-type', 'a symbol', Symbol('victim'), tenantType('symbol')),
  badTenant(
    'wrong-type',
    'a function returning the victim id',
    () => VICTIM,
    tenantType('function'),
  ),
  badTenant(
    'wrong-type',
    'an object whose toString is ../victim',
    { toString: () => '../victim' },
    tenantType('object'),
  ),
  badTenant(
    'wrong-type',
    'an object whose toPrimitive is the victim id',
    { [Symbol.toPrimitive]: () => VICTIM },
    tenantType('object'),
  ),
  badTenant('wrong-type', 'an array holding the victim id', [VICTIM], tenantType('object')),
  badTenant('wrong-type', 'a String object', new String(VICTIM), tenantType('object')),
  badTenant('wrong-type', 'a Number object', new Number(1), tenantType('object')),
  badTenant('wrong-type', 'a boxed bigint', Object(1n), tenantType('object')),
  badTenant('wrong-type', 'a Date', new Date(0), tenantType('object')),
  badTenant('wrong-type', 'a revoked Proxy', revokedProxy(), tenantType('object')),
];

const OVERSIZED: readonly HostileCase[] = [
  badTenant('oversized', '249 chars (256-char key name)', longId(249), TENANT_NAME),
  badTenant('oversized', '300 chars', longId(300), TENANT_NAME),
  badTenant('oversized', '1,000,000 chars', longId(1_000_000), TENANT_NAME),
  badTenant('oversized', 'bigint 10^300 (301 digits)', 10n ** 300n, TENANT_NAME, {
    notEchoed: () => [(10n ** 300n).toString()],
  }),
  badDek('oversized', '1025 bytes', () => new Uint8Array(1025).fill(1), DEK_TOO_LONG),
  badDek('oversized', '10 MB', () => new Uint8Array(10 * 1024 * 1024).fill(2), DEK_TOO_LONG),
  // The size rule must hold for the bytes that would be sent, not for what `length` claims.
  badDek(
    'oversized',
    '4096 bytes behind a length getter claiming 32',
    () => lyingLength(4096),
    DEK_TOO_LONG,
  ),
  badCiphertext(
    'oversized',
    "'vault:v1:' + 2,000,000 base64 chars",
    () => utf8(`vault:v1:${'A'.repeat(2_000_000)}`),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'oversized',
    'well-formed but wrapping 1100 bytes (more than any DEK)',
    () => ciphertextWith('v1', Buffer.alloc(1100, 3)),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'oversized',
    '4096 bytes behind a length getter claiming 32',
    () => lyingLength(4096),
    CIPHERTEXT_SHAPE,
  ),
];

const SECRET_DEK = Buffer.from(
  '0f1e2d3c4b5a69788796a5b4c3d2e1f0ffeeddccbbaa99887766554433221100',
  'hex',
);
const INJECTED = 'dek-5ecret-name\r\nX-Vault-Token: forged';

const DEKS: readonly HostileCase[] = [
  badDek('dek', 'empty Uint8Array', () => new Uint8Array(0), DEK_EMPTY),
  badDek('dek', 'a view of a detached (transferred) buffer', detachedView, DEK_EMPTY),
  acceptedDek('1 byte', () => ({ dek: new Uint8Array([0x42]) })),
  acceptedDek('1024 bytes (the limit)', () => ({ dek: new Uint8Array(1024).fill(0x24) })),
  acceptedDek('a view at an offset into a larger buffer', () => {
    const backing = new Uint8Array(96).fill(0xee);
    const dek = backing.subarray(32, 64);
    dek.set(DEFAULT_DEK);
    return {
      dek,
      check: () => {
        expect(backing.subarray(0, 32).every((b) => b === 0xee)).toBe(true);
        expect(backing.subarray(64).every((b) => b === 0xee)).toBe(true);
      },
    };
  }),
  acceptedDek('a pooled Buffer slice', () => ({
    dek: Buffer.from('pooled-slice-dek-32-bytes-long!!'),
  })),
  acceptedDek('backed by a SharedArrayBuffer', () => {
    const dek = new Uint8Array(new SharedArrayBuffer(32));
    dek.set(DEFAULT_DEK);
    return { dek };
  }),
];

const WRONG_TYPE_DEKS: readonly HostileCase[] = [
  badDek(
    'wrong-type',
    'a base64 string of a secret',
    () => SECRET_DEK.toString('base64'),
    DEK_TYPE,
    {
      secrets: () => [SECRET_DEK],
    },
  ),
  badDek('wrong-type', 'a number', () => 42, DEK_TYPE),
  badDek('wrong-type', 'null', () => null, DEK_TYPE),
  badDek('wrong-type', 'undefined', () => undefined, DEK_TYPE),
  badDek('wrong-type', 'an array of numbers', () => [...SECRET_DEK], DEK_TYPE, {
    secrets: () => [SECRET_DEK],
  }),
  badDek(
    'wrong-type',
    'a Buffer after a JSON round trip',
    () => JSON.parse(JSON.stringify(SECRET_DEK)),
    DEK_TYPE,
    {
      secrets: () => [SECRET_DEK],
    },
  ),
  badDek('wrong-type', 'an ArrayBuffer', () => new Uint8Array(SECRET_DEK).buffer, DEK_TYPE, {
    secrets: () => [SECRET_DEK],
  }),
  badDek(
    'wrong-type',
    'a DataView',
    () => new DataView(new Uint8Array(SECRET_DEK).buffer),
    DEK_TYPE,
    {
      secrets: () => [SECRET_DEK],
    },
  ),
  badDek('wrong-type', 'a Uint16Array', () => new Uint16Array(16), DEK_TYPE),
  badDek('wrong-type', 'an array-like object', () => ({ length: 32, 0: 1, 1: 2 }), DEK_TYPE),
  // From JSON.parse of a request body: `constructor.name` is attacker-chosen text.
  badDek(
    'wrong-type',
    'a parsed JSON object with an attacker-chosen constructor.name',
    () => JSON.parse(JSON.stringify({ constructor: { name: INJECTED } })),
    DEK_TYPE,
    { notEchoed: () => ['dek-5ecret-name', 'forged'] },
  ),
  badDek(
    'wrong-type',
    'an object whose constructor getter throws',
    () => ({
      get constructor(): never {
        throw new RangeError('hostile getter');
      },
    }),
    DEK_TYPE,
  ),
  badDek('wrong-type', 'a revoked Proxy', revokedProxy, DEK_TYPE),
];

const CIPHERTEXTS: readonly HostileCase[] = [
  badCiphertext('ciphertext', 'empty Uint8Array', () => new Uint8Array(0), CIPHERTEXT_EMPTY),
  badCiphertext('ciphertext', "'vault:'", () => utf8('vault:'), CIPHERTEXT_SHAPE),
  badCiphertext(
    'ciphertext',
    "'vault:v1:' (no payload)",
    () => utf8('vault:v1:'),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    "'vault:v0:' + a valid payload",
    (ctx) => utf8(`vault:v0:${payloadOf(ctx.attacker.encryptedDek)}`),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    "'vault:v-1:' + a valid payload",
    (ctx) => utf8(`vault:v-1:${payloadOf(ctx.attacker.encryptedDek)}`),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    "'vault:v01:' (leading zero)",
    (ctx) => utf8(`vault:v01:${payloadOf(ctx.attacker.encryptedDek)}`),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    "'vault:v2147483648:' (beyond int32)",
    (ctx) => utf8(`vault:v2147483648:${payloadOf(ctx.attacker.encryptedDek)}`),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    "'vault:v1:not base64!'",
    () => utf8('vault:v1:not base64!'),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    'a valid one with a trailing newline',
    (ctx) => utf8(`${textOf(ctx.attacker.encryptedDek)}\n`),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    'a valid one with an embedded NUL',
    (ctx) => {
      const text = textOf(ctx.attacker.encryptedDek);
      return utf8(`${text.slice(0, 20)}\u0000${text.slice(20)}`);
    },
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    'a valid one behind a UTF-8 BOM',
    (ctx) => utf8(`\ufeff${textOf(ctx.attacker.encryptedDek)}`),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    'a valid one wrapped in JSON',
    (ctx) => utf8(JSON.stringify({ ciphertext: textOf(ctx.attacker.encryptedDek) })),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    'an upper-case prefix',
    (ctx) => utf8(`VAULT:V1:${payloadOf(ctx.attacker.encryptedDek)}`),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    'a space inside the payload',
    (ctx) => {
      const payload = payloadOf(ctx.attacker.encryptedDek);
      return utf8(`vault:v1:${payload.slice(0, 40)} ${payload.slice(40)}`);
    },
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    'a base64url payload',
    () => utf8(`vault:v1:${Buffer.alloc(60, 0xfb).toString('base64url')}`),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    'an unpadded payload',
    () => utf8(`vault:v1:${Buffer.alloc(61, 9).toString('base64').replace(/=+$/, '')}`),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    'a 28-byte payload (shorter than nonce + tag + 1)',
    () => ciphertextWith('v1', Buffer.alloc(28, 1)),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    'a double prefix',
    (ctx) => utf8(`vault:v1:${textOf(ctx.attacker.encryptedDek)}`),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    'invalid UTF-8 bytes',
    () => Buffer.from([0x76, 0xff, 0xfe, 0xc0, 0x80]),
    CIPHERTEXT_SHAPE,
  ),
  badCiphertext(
    'ciphertext',
    'a valid one encoded as UTF-16LE',
    (ctx) => Buffer.from(textOf(ctx.attacker.encryptedDek), 'utf16le'),
    CIPHERTEXT_SHAPE,
  ),
  // A caller mix-up: the plaintext DEK where the wrapped one belongs. It must not be echoed.
  badCiphertext(
    'ciphertext',
    'the plaintext DEK itself',
    (ctx) => ctx.attacker.dek,
    CIPHERTEXT_SHAPE,
    {
      secrets: (ctx) => [ctx.attacker.dek],
    },
  ),
  wrongCiphertext(
    "another tenant's (the victim's) valid ciphertext",
    (ctx) => ctx.victim.encryptedDek,
  ),
  wrongCiphertext('truncated by 3 bytes (still well-formed)', (ctx) => {
    const raw = rawPayloadOf(ctx.attacker.encryptedDek);
    return ciphertextWith('v1', raw.subarray(0, raw.length - 3));
  }),
  wrongCiphertext('one bit flipped in the payload', (ctx) => {
    const raw = rawPayloadOf(ctx.attacker.encryptedDek);
    raw[20] = (raw[20] ?? 0) ^ 0x01;
    return ciphertextWith('v1', raw);
  }),
  wrongCiphertext("a future version 'vault:v999:'", (ctx) =>
    utf8(`vault:v999:${payloadOf(ctx.attacker.encryptedDek)}`),
  ),
  wrongCiphertext("the largest version 'vault:v2147483647:'", (ctx) =>
    utf8(`vault:v2147483647:${payloadOf(ctx.attacker.encryptedDek)}`),
  ),
  wrongCiphertext('29 zero bytes (the smallest well-formed payload)', () =>
    ciphertextWith('v1', Buffer.alloc(29)),
  ),
  wrongCiphertext(
    'from a chacha20-poly1305 key of another tenant',
    (ctx) => ctx.otherKeyTypeCiphertext,
  ),
  {
    outcome: 'rejected',
    family: 'ciphertext',
    name: 'encryptedDek: valid, for a tenant that has no key (must not create one)',
    error: KekNotFoundError,
    beforeIo: false,
    operations: WITH_CIPHERTEXT,
    tenantId: () => GHOST,
    encryptedDek: (ctx) => ctx.attacker.encryptedDek,
    mentions: /^No KEK "tenant-ghost" for (?:decryptDek|rewrapDek): /,
    keyName: GHOST_KEY,
  },
  {
    outcome: 'rejected',
    family: 'ciphertext',
    name: "encryptedDek: the victim's, under a case variant of the victim id (no key)",
    error: KekNotFoundError,
    beforeIo: false,
    operations: WITH_CIPHERTEXT,
    tenantId: () => VICTIM_LOOKALIKE,
    encryptedDek: (ctx) => ctx.victim.encryptedDek,
    mentions: /^No KEK "tenant-vIctim" for (?:decryptDek|rewrapDek): /,
    keyName: VICTIM_LOOKALIKE_KEY,
  },
  acceptedCiphertext('a view at an offset into a larger buffer of junk', (ciphertext) => {
    const backing = new Uint8Array(ciphertext.length + 64).fill(0x41);
    backing.set(ciphertext, 32);
    return backing.subarray(32, 32 + ciphertext.length);
  }),
  acceptedCiphertext('backed by a SharedArrayBuffer', (ciphertext) => {
    const view = new Uint8Array(new SharedArrayBuffer(ciphertext.length));
    view.set(ciphertext);
    return view;
  }),
];

const WRONG_TYPE_CIPHERTEXTS: readonly HostileCase[] = [
  badCiphertext(
    'wrong-type',
    'a valid one as a string',
    (ctx) => textOf(ctx.attacker.encryptedDek),
    CIPHERTEXT_TYPE,
  ),
  badCiphertext('wrong-type', 'null', () => null, CIPHERTEXT_TYPE),
  badCiphertext(
    'wrong-type',
    'an array of byte values',
    (ctx) => [...ctx.attacker.encryptedDek],
    CIPHERTEXT_TYPE,
  ),
  badCiphertext(
    'wrong-type',
    'an ArrayBuffer',
    (ctx) => new Uint8Array(ctx.attacker.encryptedDek).buffer,
    CIPHERTEXT_TYPE,
  ),
  badCiphertext(
    'wrong-type',
    'a Buffer after a JSON round trip',
    (ctx) => JSON.parse(JSON.stringify(ctx.attacker.encryptedDek)),
    CIPHERTEXT_TYPE,
  ),
  badCiphertext('wrong-type', 'a revoked Proxy', revokedProxy, CIPHERTEXT_TYPE),
];

const SESSIONS: readonly HostileCase[] = [
  badSession('null', () => null),
  badSession('undefined', () => undefined),
  badSession('a plain object', () => ({})),
  badSession('one whose callback has settled', (ctx) => ctx.endedSession),
  badSession('an object whose part is not a function', () => ({ part: 'rest' })),
];

export const HOSTILE_CORPUS: readonly HostileCase[] = [
  ...TENANT_IDS,
  ...WRONG_TYPE_TENANT_IDS,
  ...OVERSIZED,
  ...DEKS,
  ...WRONG_TYPE_DEKS,
  ...CIPHERTEXTS,
  ...WRONG_TYPE_CIPHERTEXTS,
  ...SESSIONS,
];

/** Every key name the corpus may address (besides the victim's, which it never may). */
export const CORPUS_KEY_NAMES: ReadonlySet<string> = new Set([
  ATTACKER_KEY,
  OTHER_KEY_TYPE_KEY,
  ...HOSTILE_CORPUS.flatMap((c) =>
    c.outcome === 'accepted' ? c.keyNames : c.keyName ? [c.keyName] : [],
  ),
]);
