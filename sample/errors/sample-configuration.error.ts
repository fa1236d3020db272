/** The sample cannot start with this configuration; the message says what to change. */
export class SampleConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SampleConfigurationError';
  }
}
