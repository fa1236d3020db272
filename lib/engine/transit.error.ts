/**
 * An error answer of the Transit engine, shaped like Vault's: an HTTP status and Vault's exact
 * error strings (`{"errors":[...]}`). Internal: the dev server writes it out as the response, the
 * providers classify it into a {@link KmsError}.
 */
export class TransitError extends Error {
  readonly status: number;
  readonly errors: readonly string[];
  /**
   * The bare Go error text of an internal error (Vault's `errutil.InternalError`), before the
   * multierror wrapping: what a batch item carries in its `error` field.
   */
  readonly detail: string | undefined;

  constructor(status: number, errors: readonly string[], detail?: string) {
    super(errors[0] ?? `HTTP ${status}`);
    this.name = 'TransitError';
    this.status = status;
    this.errors = errors;
    this.detail = detail;
  }

  /** The text a failed batch item carries: the plain message, never the multierror wrapper. */
  get itemMessage(): string {
    return this.detail ?? this.errors[0] ?? '';
  }

  /** A clean user error (400 unless said otherwise), as Vault's error responses are. */
  static user(message: string, status = 400): TransitError {
    return new TransitError(status, [message]);
  }

  /** A Go error that went through Vault's multierror wrapper (500, 404 unsupported path, 405). */
  static wrapped(message: string, status = 500): TransitError {
    return new TransitError(status, [multiError([message])]);
  }

  /**
   * An `errutil.InternalError` from the policy layer: 500 with the wrapped message as a whole
   * answer, the bare message (and the 500 flag) as a batch item.
   */
  static internal(message: string): TransitError {
    return new TransitError(500, [multiError([message])], message);
  }

  static unsupportedPath(): TransitError {
    return TransitError.wrapped('unsupported path', 404);
  }

  static unsupportedOperation(): TransitError {
    return TransitError.wrapped('unsupported operation', 405);
  }

  static permissionDenied(): TransitError {
    return TransitError.user('permission denied', 403);
  }
}

/** go-multierror's formatting. */
export function multiError(messages: readonly string[]): string {
  const head = messages.length === 1 ? '1 error occurred:' : `${messages.length} errors occurred:`;
  return `${head}\n${messages.map((m) => `\t* ${m}`).join('\n')}\n\n`;
}
