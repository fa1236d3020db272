import { SampleError } from './sample.error.js';

/** The request is malformed: a bad id, a missing or ill-typed field. Answered with 400. */
export class InvalidRequestError extends SampleError {
  readonly status = 400;
  readonly code = 'invalid_request';
}
