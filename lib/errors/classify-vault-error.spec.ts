import { describe, expect, it } from 'vitest';
import { classifyVaultError } from './classify-vault-error.js';
import { KekNotFoundError } from './kek-not-found.error.js';
import { KmsAccessDeniedError } from './kms-access-denied.error.js';
import { KmsConfigurationError } from './kms-configuration.error.js';
import { KmsDecryptionError } from './kms-decryption.error.js';
import { KmsInvalidInputError } from './kms-invalid-input.error.js';
import { KmsUnavailableError } from './kms-unavailable.error.js';

const classify = (status: number, ...errors: string[]) =>
  classifyVaultError({
    operation: 'decryptDek',
    method: status === 404 && errors.length === 0 ? 'GET' : 'POST',
    keyName: 'acme',
    mount: 'transit',
    status,
    errors,
  });

describe('classifyVaultError (status and message)', () => {
  it.each([
    [400, ['encryption key not found'], KekNotFoundError],
    [400, ['key not found'], KekNotFoundError],
    [400, ['no existing key named acme could be found'], KekNotFoundError],
    [400, ['error deleting policy acme: could not delete key; not found'], KekNotFoundError],
    [400, ['invalid key name'], KekNotFoundError],
    [404, [], KekNotFoundError],
    [404, ['1 error occurred:\n\t* unsupported path\n\n'], KmsConfigurationError],
    [404, ['no handler for route "x/encrypt/a". route entry not found.'], KmsConfigurationError],
    [405, ['1 error occurred:\n\t* unsupported operation\n\n'], KmsConfigurationError],
    [400, ['cipher: message authentication failed'], KmsDecryptionError],
    [400, ['invalid ciphertext: version is too new'], KmsDecryptionError],
    [
      400,
      ['ciphertext or signature version is disallowed by policy (too old)'],
      KmsDecryptionError,
    ],
    [400, ['invalid ciphertext length'], KmsDecryptionError],
    [400, ['illegal base64 data at input byte 3'], KmsInvalidInputError],
    [
      400,
      ['error deleting policy acme: deletion is not allowed for this key'],
      KmsInvalidInputError,
    ],
    [413, ['error parsing JSON'], KmsInvalidInputError],
    [403, ['permission denied'], KmsAccessDeniedError],
    [403, ['1 error occurred:\n\t* permission denied\n\n'], KmsAccessDeniedError],
    [429, ['rate limit quota exceeded'], KmsUnavailableError],
    [503, ['Vault is sealed'], KmsUnavailableError],
    [500, ['1 error occurred:\n\t* internal error\n\n'], KmsUnavailableError],
    [302, [], KmsConfigurationError],
    [307, [], KmsConfigurationError],
    [401, ['unauthorized'], KmsAccessDeniedError],
    [407, ['proxy authentication required'], KmsAccessDeniedError],
  ])('%i %j → %o', (status, errors, type) => {
    const error = classify(status, ...errors);
    expect(error).toBeInstanceOf(type);
    expect(error.retryable).toBe(type === KmsUnavailableError);
    expect(error.vaultErrors).toEqual(errors);
    expect(error.status).toBe(status);
  });

  it('keeps Vault’s text in the message, unwrapping the multierror format', () => {
    expect(classify(500, '1 error occurred:\n\t* storage is down\n\n').message).toContain(
      'storage is down',
    );
    expect(classify(500, '1 error occurred:\n\t* storage is down\n\n').message).not.toContain(
      '\t*',
    );
  });

  it('tells an invalid token from a missing capability', () => {
    expect(
      classify(403, '2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n').message,
    ).toMatch(/unknown, expired or revoked/);
    expect(classify(403, '1 error occurred:\n\t* permission denied\n\n').message).toMatch(/policy/);
  });

  it('reads a bare 404 as a missing key only for a read (GET)', () => {
    const answer = {
      operation: 'deleteKek',
      keyName: 'acme',
      mount: 'transit',
      status: 404,
      errors: [],
    };
    expect(classifyVaultError({ ...answer, method: 'GET' })).toBeInstanceOf(KekNotFoundError);
    expect(classifyVaultError({ ...answer, method: 'POST' })).toBeInstanceOf(KmsConfigurationError);
    expect(classifyVaultError({ ...answer, method: 'DELETE' })).toBeInstanceOf(
      KmsConfigurationError,
    );
  });

  it('treats an unwrapped "permission denied" as a token problem', () => {
    expect(classify(403, 'permission denied').message).toMatch(/unknown, expired or revoked/);
  });

  it('gives unavailable errors a reason', () => {
    expect(classify(503, 'Vault is sealed')).toMatchObject({ reason: 'sealed' });
    expect(classify(503, 'upstream')).toMatchObject({ reason: 'server-error' });
    expect(classify(429, 'x')).toMatchObject({ reason: 'rate-limited' });
  });

  it('serializes to its public fields only', () => {
    const error = classify(400, 'encryption key not found');
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: 'KekNotFoundError',
      code: 'KMS_KEK_NOT_FOUND',
      message: error.message,
      retryable: false,
      status: 400,
      vaultErrors: ['encryption key not found'],
    });
  });
});
