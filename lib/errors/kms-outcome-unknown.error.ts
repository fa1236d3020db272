import { KmsError } from './kms.error.js';

/**
 * A call that changes state (a rotation) was sent, its answer was lost, and whether Vault
 * applied it cannot be told. Not retryable: repeating it might apply it twice. Read the state
 * (e.g. the key's `latest_version`) before deciding to call again.
 * @publicApi
 */
export class KmsOutcomeUnknownError extends KmsError {
  readonly code = 'KMS_OUTCOME_UNKNOWN';
  readonly retryable = false;
}
