import { KmsError, type KmsErrorOptions } from './kms.error.js';

/** Why Vault could not serve the call. */
export type KmsUnavailableReason =
  | 'network'
  | 'timeout'
  | 'sealed'
  | 'rate-limited'
  | 'server-error'
  | 'bad-response'
  /** The circuit breaker is open: recent calls failed, this one was not sent. */
  | 'circuit-open';

/**
 * Vault could not be reached or could not serve the call right now (network failure, timeout,
 * sealed, rate limited, 5xx, an answer that is not Vault's). The only retryable family.
 * @publicApi
 */
export class KmsUnavailableError extends KmsError {
  readonly code = 'KMS_UNAVAILABLE';
  readonly retryable = true;
  readonly reason: KmsUnavailableReason;

  constructor(message: string, reason: KmsUnavailableReason, options?: KmsErrorOptions) {
    super(message, options);
    this.reason = reason;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), reason: this.reason };
  }
}
