import { SampleError } from './sample.error.js';

/**
 * A stored record failed its AES-GCM authentication: it was altered, or moved to another
 * tenant or id. Answered with 500 (the store is damaged, not the request).
 */
export class RecordIntegrityError extends SampleError {
  readonly status = 500;
  readonly code = 'record_integrity';

  constructor(options?: ErrorOptions) {
    super('A stored record failed its integrity check; it was altered or moved.', options);
  }
}
