import type { KmsAccessDeniedError } from '../errors/kms-access-denied.error.js';
import type { Secret } from '../secret.js';
import type { HttpExchange } from '../session/http-exchange.js';

/**
 * What a call offers a token supplier: the calling session's direct transport (the pool's
 * keep-alive agents), over which logins and renewals are sent. A `RestSession` is one.
 */
export interface TokenRequestContext {
  readonly exchange: HttpExchange;
}

/**
 * Where the client's tokens come from: a fixed token, a token function, a token file, or a login
 * method that renews its token. Prints `[REDACTED]`, never a token or a credential.
 */
export interface VaultTokenSupplier {
  /** Whether tokens can change: worth asking again after Vault refused one. */
  readonly dynamic: boolean;
  /** The token for the next request; concurrent callers share one fetch or login. */
  current(context: TokenRequestContext): Promise<Secret>;
  /**
   * Vault refused `token` (undefined when the failure came from getting it) with `error`.
   * Drops it if it is still the current one; returns whether asking again may give a token
   * Vault accepts (false, e.g., for a missing capability, which no new login cures).
   */
  refused(token: Secret | undefined, error: KmsAccessDeniedError): boolean;
  /** Stops renewal timers (on shutdown); tokens are still given on demand. */
  close(): void;
}
