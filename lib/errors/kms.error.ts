/** Options shared by every {@link KmsError}. */
export interface KmsErrorOptions {
  /** A sanitized description of what went wrong underneath (never a raw HTTP error). */
  readonly cause?: Error;
  /** HTTP status Vault answered with, when there was an answer. */
  readonly status?: number;
  /** Vault's own error strings, kept verbatim. */
  readonly vaultErrors?: readonly string[];
}

/**
 * Base class of every error the library throws. `code` is stable and meant for programs;
 * `message` is for people and says what to do next. No instance ever holds a token, request
 * headers, configuration, a plaintext DEK or key material.
 * @publicApi
 */
export abstract class KmsError extends Error {
  /** A stable, machine-readable code such as `KMS_KEK_NOT_FOUND`. */
  abstract readonly code: string;
  /** True only when repeating the same call later may succeed (the unavailable family). */
  abstract readonly retryable: boolean;
  /** HTTP status Vault answered with, if the error comes from an answer. */
  declare readonly status?: number;
  /** Vault's error strings, verbatim. */
  declare readonly vaultErrors?: readonly string[];

  constructor(message: string, options: KmsErrorOptions = {}) {
    super(message, options.cause ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    if (options.status !== undefined) this.status = options.status;
    if (options.vaultErrors !== undefined) this.vaultErrors = [...options.vaultErrors];
  }

  /** What `JSON.stringify` prints: the public fields, never more. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.status !== undefined ? { status: this.status } : {}),
      ...(this.vaultErrors !== undefined ? { vaultErrors: this.vaultErrors } : {}),
    };
  }
}
