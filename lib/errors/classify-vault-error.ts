import { KekNotFoundError } from './kek-not-found.error.js';
import { KmsAccessDeniedError } from './kms-access-denied.error.js';
import { KmsConfigurationError } from './kms-configuration.error.js';
import { KmsDecryptionError } from './kms-decryption.error.js';
import type { KmsError } from './kms.error.js';
import { KmsInvalidInputError } from './kms-invalid-input.error.js';
import { KmsUnavailableError } from './kms-unavailable.error.js';
import { messages } from './messages.js';

/** A Vault error answer: its status and its `errors` strings. */
export interface VaultErrorAnswer {
  readonly operation: string;
  /** HTTP method of the request: a bare 404 means "not found" only for a read (GET). */
  readonly method: string;
  readonly keyName: string;
  readonly mount: string;
  readonly status: number;
  readonly errors: readonly string[];
}

const NOT_FOUND_400 = [
  'encryption key not found',
  'no existing key named',
  'could not delete key; not found',
];
const NOT_FOUND_EXACT_400 = ['key not found', 'invalid key name'];
const DECRYPTION_400 = [
  'cipher: message authentication failed',
  'invalid ciphertext',
  'disallowed by policy (too old)',
  'no such key version',
];

/**
 * Maps Vault's status *and* message to the error family (vault-transit-api §1.3, §4): a 400
 * "encryption key not found" is a missing KEK, a 404 "unsupported path" is a bad mount, any 403 is
 * access denied. Vault's text is kept verbatim in `vaultErrors` and in the message.
 */
export function classifyVaultError(answer: VaultErrorAnswer): KmsError {
  const { operation, method, keyName, mount, status, errors } = answer;
  const text = errors.map(flattenMultiError).join('; ') || `HTTP ${status}`;
  const options = { status, vaultErrors: errors };
  const has = (needle: string) => errors.some((e) => e.includes(needle));

  if (status === 403 || status === 401 || status === 407) {
    // An unwrapped "permission denied" is the no-token / unknown-token answer (Vault <= 1.16);
    // a missing capability comes wrapped in the multierror format.
    const invalidToken = has('invalid token') || errors.includes('permission denied');
    return new KmsAccessDeniedError(messages.accessDenied(operation, text, invalidToken), options);
  }
  if (status >= 300 && status < 400) {
    return new KmsConfigurationError(messages.redirected(operation, status), options);
  }
  if (status === 429)
    return new KmsUnavailableError(messages.unavailable(operation, text), 'rate-limited', options);
  if (status === 503 && has('Vault is sealed')) {
    return new KmsUnavailableError(messages.unavailable(operation, text), 'sealed', options);
  }
  if (status >= 500)
    return new KmsUnavailableError(messages.unavailable(operation, text), 'server-error', options);
  if (status === 404) {
    // `{"errors":[]}` is "a read returned nothing" only for GET; elsewhere it is a path outside
    // /v1/ (a wrong address prefix), which must never pass for a missing key.
    if (errors.length === 0 && method === 'GET') {
      return new KekNotFoundError(messages.kekNotFound(operation, keyName), options);
    }
    return new KmsConfigurationError(messages.unsupportedPath(operation, mount, text), options);
  }
  if (status === 405)
    return new KmsConfigurationError(messages.unsupportedPath(operation, mount, text), options);
  if (status === 400) {
    if (NOT_FOUND_400.some(has) || errors.some((e) => NOT_FOUND_EXACT_400.includes(e))) {
      return new KekNotFoundError(messages.kekNotFound(operation, keyName), options);
    }
    if (DECRYPTION_400.some(has)) {
      return new KmsDecryptionError(messages.decryptionFailed(operation, keyName, text), options);
    }
  }
  if (status >= 400 && status < 500) {
    return new KmsInvalidInputError(messages.invalidRequest(operation, keyName, text), options);
  }
  return new KmsUnavailableError(
    messages.badResponse(operation, `unexpected HTTP status ${status}`),
    'bad-response',
    options,
  );
}

/** `"1 error occurred:\n\t* unsupported path\n\n"` → `"unsupported path"`. */
function flattenMultiError(message: string): string {
  if (!/^\d+ errors? occurred:\n/.test(message)) return message;
  return message
    .split('\n')
    .filter((line) => line.startsWith('\t* '))
    .map((line) => line.slice(3))
    .join('; ');
}
