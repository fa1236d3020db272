import { KmsError } from './kms.error.js';

/**
 * A session was used after its scope ended, or lacks the part an operation needs
 * (for example a KMS call on a session that has no REST part).
 * @publicApi
 */
export class KmsSessionError extends KmsError {
  readonly code = 'KMS_SESSION';
  readonly retryable = false;
}
