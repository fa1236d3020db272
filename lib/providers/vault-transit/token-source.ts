import { inspect } from 'node:util';
import { KmsConfigurationError } from '../../errors/kms-configuration.error.js';
import { messages } from '../../errors/messages.js';
import type { VaultTokenProvider } from '../../interfaces/kms-module-options.interface.js';
import { Secret } from '../../secret.js';

/** A token Vault accepts in a header: visible ASCII, no spaces or line breaks. */
export const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

/**
 * Where each request's token comes from: a fixed token, or the user's function, called per
 * request or at most once per `cacheMs`. Never prints a token or the function (whose source
 * could contain one).
 */
export class TokenSource {
  #cached: { token: Secret; until: number } | undefined;
  #pending: Promise<Secret> | undefined;

  private constructor(
    private readonly fixed: Secret | undefined,
    private readonly provider: VaultTokenProvider | undefined,
    private readonly cacheMs: number,
  ) {}

  static fixed(token: Secret): TokenSource {
    return new TokenSource(token, undefined, 0);
  }

  static from(provider: VaultTokenProvider, cacheMs: number): TokenSource {
    return new TokenSource(undefined, provider, cacheMs);
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
    this.#pending ??= this.fetch().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** Forgets the cached token (after Vault refused it). */
  invalidate(): void {
    this.#cached = undefined;
  }

  private async fetch(): Promise<Secret> {
    let value: unknown;
    try {
      value = await (this.provider as VaultTokenProvider)();
    } catch (error) {
      // Only the error's class: its message is the user's and could hold anything.
      const name = error instanceof Error ? error.name : typeof error;
      throw new KmsConfigurationError(messages.tokenProviderFailed(name));
    }
    if (typeof value !== 'string' || !TOKEN_PATTERN.test(value)) {
      throw new KmsConfigurationError(messages.tokenProviderInvalid());
    }
    const token = new Secret(value);
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
