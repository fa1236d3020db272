import { KmsUnavailableError } from '../../errors/kms-unavailable.error.js';
import { messages } from '../../errors/messages.js';
import type { ResolvedCircuitBreaker } from '../../kms-options.js';

/** What a request admitted by the breaker reports back: exactly one of these, once. */
export interface BreakerTicket {
  /** Vault answered (any status but 5xx): it is serving. */
  succeeded(): void;
  /** An outage: no answer, a timeout, a 5xx, sealed. */
  failed(): void;
  /** Nothing learnt about Vault (aborted, a token function failure, a saturated socket pool). */
  released(): void;
  /** The longest the attempt may take: a probe must end within the reset time. */
  readonly maxAttemptMs: number | undefined;
}

const NO_OP: BreakerTicket = {
  succeeded: () => undefined,
  failed: () => undefined,
  released: () => undefined,
  maxAttemptMs: undefined,
};

/**
 * Stops sending requests to a Vault that keeps failing. Closed: requests go through; after
 * `failureThreshold` consecutive failed requests it opens and refuses requests at once for
 * `resetTimeoutMs`; then exactly one request probes Vault (half-open), its attempt capped at
 * `resetTimeoutMs` so a hanging Vault cannot hold recovery back: success closes the breaker,
 * anything else opens it again. Reports from requests admitted before it last opened are
 * ignored (they say nothing about Vault since), so stale failures cannot extend an open period
 * and stale completions cannot free the probe slot. Counts requests, not calls: one call's
 * retries count one each. Any answer but a 5xx — even a 4xx or a 429 — shows Vault is serving.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private generation = 0;
  private probe: object | undefined;

  constructor(private readonly settings: ResolvedCircuitBreaker) {}

  /** A ticket for one request, or {@link KmsUnavailableError} (`circuit-open`) at once. */
  admit(operation: string): BreakerTicket {
    if (this.failures < this.settings.failureThreshold) return this.ticket(false);
    const waitMs = this.openUntil - performance.now();
    if (waitMs <= 0 && this.probe === undefined) return this.ticket(true);
    throw new KmsUnavailableError(
      messages.circuitOpen(operation, Math.max(waitMs, 0)),
      'circuit-open',
    );
  }

  private ticket(probe: boolean): BreakerTicket {
    const generation = this.generation;
    const identity = {};
    if (probe) this.probe = identity;
    let settled = false;
    const settle = (outcome: 'succeeded' | 'failed' | 'released'): void => {
      if (settled) return;
      settled = true;
      const isProbe = this.probe === identity;
      if (isProbe) this.probe = undefined;
      if (generation !== this.generation && !isProbe) return; // stale: admitted before it opened
      if (outcome === 'succeeded') this.failures = 0;
      else if (outcome === 'failed') this.recordFailure();
      else if (isProbe) this.reopen(); // a probe that told nothing: wait another period
    };
    return {
      succeeded: () => settle('succeeded'),
      failed: () => settle('failed'),
      released: () => settle('released'),
      maxAttemptMs: probe ? this.settings.resetTimeoutMs : undefined,
    };
  }

  private recordFailure(): void {
    this.failures += 1;
    if (this.failures >= this.settings.failureThreshold) this.reopen();
  }

  private reopen(): void {
    this.generation += 1;
    this.openUntil = performance.now() + this.settings.resetTimeoutMs;
  }
}

/** A ticket for when there is no breaker. */
export const NO_BREAKER: BreakerTicket = NO_OP;
