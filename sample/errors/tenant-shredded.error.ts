import { SampleError } from './sample.error.js';

/** The tenant's key was destroyed (crypto-shredding): its data is gone for good. Answered with 410. */
export class TenantShreddedError extends SampleError {
  readonly status = 410;
  readonly code = 'tenant_shredded';

  constructor() {
    super("This tenant's key was destroyed (crypto-shredded): its data can never be read again.");
  }
}
