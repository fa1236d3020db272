import { KmsError } from './kms.error.js';

/**
 * The tenant has no key-encryption key: it was never created, or it was deleted
 * (crypto-shredded). Data wrapped under it cannot be recovered.
 * @publicApi
 */
export class KekNotFoundError extends KmsError {
  readonly code = 'KMS_KEK_NOT_FOUND';
  readonly retryable = false;
}
