export { KmsError, type KmsErrorOptions } from './kms.error.js';
export { KekNotFoundError } from './kek-not-found.error.js';
export { KmsInvalidInputError } from './kms-invalid-input.error.js';
export { KmsDecryptionError } from './kms-decryption.error.js';
export { KmsAccessDeniedError } from './kms-access-denied.error.js';
export { KmsUnavailableError, type KmsUnavailableReason } from './kms-unavailable.error.js';
export { KmsConfigurationError } from './kms-configuration.error.js';
export { KmsSessionError } from './kms-session.error.js';
export { KmsAbortedError } from './kms-aborted.error.js';
