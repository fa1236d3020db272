import { inspect } from 'node:util';
import type { Secret } from '../secret.js';
import { readSecretFile } from './secret-file.js';
import type { VaultTokenSupplier } from './vault-token-supplier.js';

/** How long a token read from the file is used before the file is read again. */
export const TOKEN_FILE_REREAD_MS = 1_000;

/**
 * Tokens from a file another process keeps current (a Vault Agent sink, replaced by rename):
 * read at most once per {@link TOKEN_FILE_REREAD_MS}, and again at once after Vault refused the
 * token read last. Concurrent callers share one read.
 */
export class TokenFileSource implements VaultTokenSupplier {
  readonly dynamic = true;
  #cached: { token: Secret; until: number } | undefined;
  #pending: Promise<Secret> | undefined;
  /** Bumped by a refusal: a read begun before it neither serves later callers nor is cached. */
  #generation = 0;

  constructor(private readonly path: string) {}

  current(): Promise<Secret> {
    const cached = this.#cached;
    if (cached && performance.now() < cached.until) return Promise.resolve(cached.token);
    if (!this.#pending) {
      const pending = this.read().finally(() => {
        if (this.#pending === pending) this.#pending = undefined;
      });
      this.#pending = pending;
    }
    return this.#pending;
  }

  refused(token: Secret | undefined): boolean {
    if (token === undefined) return false;
    if (this.#cached?.token.reveal() === token.reveal()) {
      // Like TokenSource.invalidate: a read in flight may have begun before the file changed.
      this.#cached = undefined;
      this.#pending = undefined;
      this.#generation += 1;
    }
    return true;
  }

  close(): void {}

  private async read(): Promise<Secret> {
    const generation = this.#generation;
    const token = await readSecretFile('Vault token', this.path);
    if (generation === this.#generation) {
      this.#cached = { token, until: performance.now() + TOKEN_FILE_REREAD_MS };
    }
    return token;
  }

  toJSON(): string {
    return '[REDACTED]';
  }

  [inspect.custom](): string {
    return '[REDACTED]';
  }
}
