import { SampleError } from './sample.error.js';

/** No customer with this id in this tenant. Answered with 404. */
export class CustomerNotFoundError extends SampleError {
  readonly status = 404;
  readonly code = 'customer_not_found';

  constructor() {
    super('No customer with this id in this tenant.');
  }
}
