import { KmsError } from './kms.error.js';

/**
 * The ciphertext could not be decrypted: it was tampered with, belongs to another tenant or to a
 * deleted and re-created key, or its key version is outside what the key allows.
 * @publicApi
 */
export class KmsDecryptionError extends KmsError {
  readonly code = 'KMS_DECRYPTION_FAILED';
  readonly retryable = false;
}
