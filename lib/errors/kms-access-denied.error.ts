import { KmsError } from './kms.error.js';

/**
 * Vault refused the token (missing, expired, revoked) or its policy lacks a capability.
 * @publicApi
 */
export class KmsAccessDeniedError extends KmsError {
  readonly code = 'KMS_ACCESS_DENIED';
  readonly retryable = false;
}
