import { KmsError } from './kms.error.js';

/**
 * The caller passed something that cannot be used (a bad tenant id, an empty DEK, a string
 * that is not a Vault ciphertext), or Vault rejected the request as malformed.
 * Raised before any I/O whenever the library can tell.
 * @publicApi
 */
export class KmsInvalidInputError extends KmsError {
  readonly code = 'KMS_INVALID_INPUT';
  readonly retryable = false;
}
