/**
 * Base of the sample's own errors. `status` is the HTTP status the exception filter answers
 * with; `code` a stable machine-readable name. Messages never contain record contents or keys.
 */
export abstract class SampleError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
