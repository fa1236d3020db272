import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeGoBase64 } from './go-base64.js';
import { TransitEngine } from './transit-engine.js';
import { TransitError } from './transit.error.js';

const KEY_00_1F = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const HELLO = Buffer.from('hello world').toString('base64');

function engineWithVectorKey(
  name: string,
  params: { derived?: boolean; convergentEncryption?: boolean } = {},
) {
  const engine = new TransitEngine();
  engine.createKey(name, params);
  engine.importVersionMaterial(name, 1, KEY_00_1F);
  return engine;
}

function errorOf(fn: () => unknown): TransitError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TransitError) return error;
    throw error;
  }
  throw new Error('expected a TransitError');
}

describe('TransitEngine known-answer vectors (vault-transit-api §6)', () => {
  it('decrypts the plain aes256-gcm96 vector', () => {
    const engine = engineWithVectorKey('k');
    const [result] = engine.decrypt(
      'k',
      [{ ciphertext: 'vault:v1:oKGio6Slpqeoqaqrjn0QQSrrddAQCeOsJrBG0xxuRyhGb7FdEMha' }],
      false,
    );
    expect(result?.plaintext).toBe(HELLO);
  });

  it('decrypts the AAD vector only with the same associated data', () => {
    const engine = engineWithVectorKey('k');
    const ciphertext = 'vault:v1:oKGio6Slpqeoqaqrjn0QQSrrddAQCePvWMe4/Ey9qdyDMJsSiCBe';
    expect(
      engine.decrypt('k', [{ ciphertext, associated_data: 'dXNlci00Mg==' }], false)[0]?.plaintext,
    ).toBe(HELLO);
    expect(errorOf(() => engine.decrypt('k', [{ ciphertext }], false)).errors).toEqual([
      'cipher: message authentication failed',
    ]);
  });

  it('decrypts the empty-plaintext vector to ""', () => {
    const engine = engineWithVectorKey('k');
    const [result] = engine.decrypt(
      'k',
      [{ ciphertext: 'vault:v1:oKGio6SlpqeoqaqrXGmWJa9Lk6D4IgoqYRnF0A==' }],
      false,
    );
    expect(result?.plaintext).toBe('');
  });

  it('decrypts the derived vector with its context', () => {
    const engine = engineWithVectorKey('k', { derived: true });
    const [result] = engine.decrypt(
      'k',
      [
        {
          ciphertext: 'vault:v1:oKGio6SlpqeoqaqrOMsnNTMwcnZEwdVQf9F62hgpu5bZCdbbmu6E',
          context: 'dGVuYW50LWE=',
        },
      ],
      false,
    );
    expect(result?.plaintext).toBe(HELLO);
  });

  it('reproduces the convergent v3 vector exactly', () => {
    const engine = engineWithVectorKey('k', { derived: true, convergentEncryption: true });
    const [result] = engine.encrypt('k', [{ plaintext: HELLO, context: 'dGVuYW50LWE=' }], false, {
      allowed: false,
    });
    expect(result?.ciphertext).toBe(
      'vault:v1:+aS0HuJP/6jRw2tlCtschlVc8JBuj9ITZqdvQJNf0nQ/sBkLqXoT',
    );
  });
});

describe('Go base64 decoding', () => {
  it.each([
    ['aGVsbG8=', 'hello'],
    ['aGVs\nbG8=', 'hello'],
    ['', ''],
  ])('decodes %j', (input, expected) => {
    expect(decodeGoBase64(input).toString()).toBe(expected);
  });

  it.each([
    ['aGVsbG8', 'illegal base64 data at input byte 4'],
    ['aGV$', 'illegal base64 data at input byte 3'],
    ['a===', 'illegal base64 data at input byte 1'],
    ['aGVsbG8=x', 'illegal base64 data at input byte 8'],
    ['aGVsbG-_', 'illegal base64 data at input byte 6'],
    ['aG=', 'illegal base64 data at input byte 3'],
  ])('rejects %j like Go', (input, message) => {
    expect(errorOf(() => decodeGoBase64(input)).errors).toEqual([message]);
  });
});

describe('Go base64 decoding: fast path and Go edge cases', () => {
  it.each([
    ['AB==', [0x00]],
    ['aGVsbA=\n=', [...Buffer.from('hell')]],
    ['\r\naGVs\r\nbG8=\r\n', [...Buffer.from('hello')]],
    ['aGVsbG8=\n\n', [...Buffer.from('hello')]],
    ['\n', []],
  ])('decodes %j like Go', (input, expected) => {
    expect([...decodeGoBase64(input)]).toEqual(expected);
  });

  it.each([
    ['aGVsbG8=\nx', 'illegal base64 data at input byte 9'],
    ['Zm9v=', 'illegal base64 data at input byte 4'],
    ['Zm9v====', 'illegal base64 data at input byte 4'],
    ['ÿÿÿÿ', 'illegal base64 data at input byte 0'],
    // U+0141 would read as 'A' (0x41) to a decoder that truncates UTF-16 code units.
    ['Łm9v', 'illegal base64 data at input byte 0'],
    ['Zm9v Zm9v', 'illegal base64 data at input byte 4'],
  ])('rejects %j like Go', (input, message) => {
    expect(errorOf(() => decodeGoBase64(input)).errors).toEqual([message]);
  });

  it('decodes 8 MiB correctly, into an unpooled buffer of its own', () => {
    const bytes = randomBytes(8 * 1024 * 1024 + 1);
    const decoded = decodeGoBase64(bytes.toString('base64'));
    expect(decoded.equals(bytes)).toBe(true);
    expect(decoded.byteOffset).toBe(0);
    expect(decoded.buffer.byteLength).toBe(decoded.length);
    const small = decodeGoBase64(HELLO);
    expect(small.buffer.byteLength).toBe(small.length);
  });

  it('reports Go offsets past the end of a large valid prefix', () => {
    const text = randomBytes(3 * 100_000).toString('base64');
    expect(errorOf(() => decodeGoBase64(`${text}x`)).errors).toEqual([
      `illegal base64 data at input byte ${text.length}`,
    ]);
  });
});

const AAD_ERROR =
  'unable to get associated_data/additional_data from factory[0]: illegal base64 data at input byte 0';

describe('TransitEngine: associated_data is decoded last, as an internal error', () => {
  it('batch: the item carries the bare message, flagged internal, index factory[0]', () => {
    const engine = new TransitEngine();
    const results = engine.encrypt(
      'k',
      [
        { plaintext: HELLO, reference: 'a' },
        { plaintext: HELLO, associated_data: '$$', reference: 'b' },
      ],
      true,
      { allowed: true },
    );
    expect(results[0]?.error).toBeUndefined();
    expect(results[1]).toEqual({ error: AAD_ERROR, reference: 'b', internal: true });
  });

  it('single: throws the wrapped 500', () => {
    const engine = new TransitEngine();
    const error = errorOf(() =>
      engine.encrypt('k', [{ plaintext: HELLO, associated_data: '$$' }], false, { allowed: true }),
    );
    expect(error.status).toBe(500);
    expect(error.errors).toEqual([`1 error occurred:\n\t* ${AAD_ERROR}\n\n`]);
  });

  it('comes after the ciphertext, version and derivation checks', () => {
    const engine = new TransitEngine();
    engine.createKey('k');
    engine.createKey('d', { derived: true });
    const decrypt = errorOf(() =>
      engine.decrypt('k', [{ ciphertext: 'nope', associated_data: '$$' }], false),
    );
    expect([decrypt.status, ...decrypt.errors]).toEqual([400, 'invalid ciphertext: no prefix']);
    const version = errorOf(() =>
      engine.encrypt('k', [{ plaintext: HELLO, key_version: 99, associated_data: '$$' }], false, {
        allowed: false,
      }),
    );
    expect(version.errors).toEqual([
      'requested version for encryption is higher than the latest key version',
    ]);
    const derived = errorOf(() =>
      engine.encrypt('d', [{ plaintext: HELLO, associated_data: '$$' }], false, { allowed: false }),
    );
    expect(derived.errors[0]).toMatch(/^missing 'context' for key derivation/);
  });

  it('rewrap keeps user errors per item', () => {
    const engine = new TransitEngine();
    const [sealed] = engine.encrypt('k', [{ plaintext: HELLO }], false, { allowed: true });
    const results = engine.rewrap(
      'k',
      [{ ciphertext: sealed?.ciphertext as string }, { ciphertext: 'nope' }],
      true,
    );
    expect(results.map((r) => r.error)).toEqual([undefined, 'invalid ciphertext: no prefix']);
  });
});

describe('TransitEngine: nonces', () => {
  it('rewrap refuses a nonce; a bad one is a base64 error first', () => {
    const engine = new TransitEngine();
    const [sealed] = engine.encrypt('k', [{ plaintext: HELLO }], false, { allowed: true });
    const ciphertext = sealed?.ciphertext as string;
    expect(
      errorOf(() => engine.rewrap('k', [{ ciphertext, nonce: 'AAAA' }], false)).errors,
    ).toEqual(['provided nonce not allowed for this key']);
    expect(errorOf(() => engine.rewrap('k', [{ ciphertext, nonce: 'A$' }], false)).errors).toEqual([
      'illegal base64 data at input byte 1',
    ]);
  });

  it('decrypt rejects a non-base64 nonce and ignores a valid one', () => {
    const engine = new TransitEngine();
    const [sealed] = engine.encrypt('k', [{ plaintext: HELLO }], false, { allowed: true });
    const ciphertext = sealed?.ciphertext as string;
    expect(errorOf(() => engine.decrypt('k', [{ ciphertext, nonce: '$' }], false)).errors).toEqual([
      'illegal base64 data at input byte 0',
    ]);
    expect(engine.decrypt('k', [{ ciphertext, nonce: 'AAAA' }], false)[0]?.plaintext).toBe(HELLO);
  });

  it('encrypt decodes plaintext before context', () => {
    const engine = new TransitEngine();
    expect(
      errorOf(() =>
        engine.encrypt('k', [{ plaintext: 'aGV$', context: '$' }], false, { allowed: true }),
      ).errors,
    ).toEqual(['illegal base64 data at input byte 3']);
  });

  it('datakey checks versions, then the nonce, then derivation', () => {
    const engine = new TransitEngine();
    engine.createKey('k');
    engine.createKey('d', { derived: true });
    expect(errorOf(() => engine.dataKey('k', { nonce: 'AAAA', key_version: 99 })).errors).toEqual([
      'requested version for encryption is higher than the latest key version',
    ]);
    expect(errorOf(() => engine.dataKey('d', { nonce: 'AAAA' })).errors).toEqual([
      'nonce provided when not allowed',
    ]);
    expect(errorOf(() => engine.dataKey('k', { nonce: '$' })).errors).toEqual([
      'failed to base64-decode nonce',
    ]);
  });
});

describe('TransitEngine: configuration and names', () => {
  it('ignores turning exportable / allow_plaintext_backup off', () => {
    const engine = new TransitEngine();
    engine.createKey('k', { exportable: true, allowPlaintextBackup: true });
    const result = engine.configureKey('k', { exportable: false, allowPlaintextBackup: false });
    expect(result.warnings).toEqual([]);
    expect(result.key).toMatchObject({ exportable: true, allow_plaintext_backup: true });
  });

  it('refuses `..` names: clean on encrypt, wrapped everywhere else', () => {
    const engine = new TransitEngine();
    const wrapped = ['1 error occurred:\n\t* relative paths not supported\n\n'];
    expect(
      errorOf(() => engine.encrypt('a..b', [{ plaintext: HELLO }], false, { allowed: true }))
        .errors,
    ).toEqual(['relative paths not supported']);
    expect(errorOf(() => engine.encryptExistenceCheck('a..b')).errors).toEqual([
      'relative paths not supported',
    ]);
    for (const attempt of [
      () => engine.readKey('a..b'),
      () => engine.createKey('a..b'),
      () => engine.trimKey('a..b', 1),
      () => engine.rotateKey('a..b'),
      () => engine.deleteKey('a..b'),
      () => engine.configureKey('a..b', {}),
      () => engine.decrypt('a..b', [{ ciphertext: 'vault:v1:AAAA' }], false),
      () => engine.rewrap('a..b', [{ ciphertext: 'vault:v1:AAAA' }], false),
      () => engine.dataKey('a..b', {}),
    ]) {
      const error = errorOf(attempt);
      expect([error.status, ...error.errors]).toEqual([400, ...wrapped]);
    }
  });
});
