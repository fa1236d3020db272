import { KmsError } from './kms.error.js';

/**
 * The caller aborted the call through its `AbortSignal`. Not retryable: the caller asked to stop.
 * Whether Vault already applied a request that was in flight is unknown (encrypt, decrypt,
 * datakey and rewrap change nothing; a rotation may have happened).
 * @publicApi
 */
export class KmsAbortedError extends KmsError {
  readonly code = 'KMS_ABORTED';
  readonly retryable = false;
}
