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
