import { inspect } from 'node:util';
import { KmsConfigurationError } from '../../errors/kms-configuration.error.js';
import { messages } from '../../errors/messages.js';
import type { VaultTokenProvider } from '../../interfaces/kms-module-options.interface.js';
import { Secret } from '../../secret.js';
import type { VaultTokenSupplier } from '../../auth/vault-token-supplier.js';

/** A token Vault accepts in a header: visible ASCII, no spaces or line breaks. */
export const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

/**
 * Where each request's token comes from: a fixed token, or the user's function, called per
 * request or at most once per `cacheMs`. Never prints a token or the function (whose source
 * could contain one).
 */
export class TokenSource implements VaultTokenSupplier {
  #cached: { token: Secret; until: number } | undefined;
  #pending: Promise<Secret> | undefined;

  private constructor(
    private readonly fixed: Secret | undefined,
    private readonly provider: VaultTokenProvider | undefined,
    private readonly cacheMs: number,
    private readonly timeoutMs: number,
  ) {}

  static fixed(token: Secret): TokenSource {
    return new TokenSource(token, undefined, 0, 0);
  }

  /** A token function; a call of it that takes longer than `timeoutMs` fails and is dropped. */
  static from(provider: VaultTokenProvider, cacheMs: number, timeoutMs: number): TokenSource {
    return new TokenSource(undefined, provider, cacheMs, timeoutMs);
  }

  /** Whether tokens can change (a function): worth asking again after a 403. */
  get dynamic(): boolean {
    return this.provider !== undefined;
  }

  /** The token for the next request. Concurrent callers share one call of the function. */
  async current(): Promise<Secret> {
    if (this.fixed) return this.fixed;
    const cached = this.#cached;
    if (cached && performance.now() < cached.until) return cached.token;
    if (!this.#pending) {
      const pending = this.fetchWithin().finally(() => {
        if (this.#pending === pending) this.#pending = undefined;
      });
      this.#pending = pending;
    }
    return this.#pending;
  }

  /** One call of the function, abandoned after `timeoutMs` (a hung function frees its callers). */
  private fetchWithin(): Promise<Secret> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new KmsConfigurationError(messages.tokenProviderTimedOut(this.timeoutMs))),
        this.timeoutMs,
      );
    });
    return Promise.race([this.fetch(), expired]).finally(() => clearTimeout(timer));
  }

  /**
   * Forgets the cached token (after Vault refused it); a fetch already under way is not joined
   * any more, since it may return the refused token.
   */
  invalidate(): void {
    this.#cached = undefined;
    this.#pending = undefined;
  }

  /** A function may have a newer token than the one Vault refused: always worth asking again. */
  refused(): boolean {
    if (!this.provider) return false;
    this.invalidate();
    return true;
  }

  /** Nothing to stop: a token given directly is never renewed by the library. */
  close(): void {}

  private async fetch(): Promise<Secret> {
    let value: unknown;
    try {
      value = await (this.provider as VaultTokenProvider)();
    } catch {
      // Nothing of the error: its message, even its name, is the user's and could hold anything.
      throw new KmsConfigurationError(messages.tokenProviderFailed());
    }
    // A sink file usually ends with a line break: surrounding whitespace is not part of a token.
    const text = typeof value === 'string' ? value.trim() : undefined;
    if (text === undefined || !TOKEN_PATTERN.test(text)) {
      throw new KmsConfigurationError(messages.tokenProviderInvalid());
    }
    const token = new Secret(text);
    if (this.cacheMs > 0) this.#cached = { token, until: performance.now() + this.cacheMs };
    return token;
  }

  toJSON(): string {
    return '[REDACTED]';
  }

  [inspect.custom](): string {
    return '[REDACTED]';
  }
}
