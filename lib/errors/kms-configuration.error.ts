import { KmsError } from './kms.error.js';

/**
 * The library is set up wrongly: an invalid module option (the message names it), or a Vault
 * mount that does not exist or is not a Transit engine.
 * @publicApi
 */
export class KmsConfigurationError extends KmsError {
  readonly code = 'KMS_CONFIGURATION';
  readonly retryable = false;
}
