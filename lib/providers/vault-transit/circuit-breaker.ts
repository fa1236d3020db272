import { KmsUnavailableError } from '../../errors/kms-unavailable.error.js';
import { messages } from '../../errors/messages.js';
import type { ResolvedCircuitBreaker } from '../../kms-options.js';

/**
 * Stops sending requests to a Vault that keeps failing. Closed: requests go through; after
 * `failureThreshold` consecutive failures it opens and refuses requests at once for
 * `resetTimeoutMs`; then one request probes Vault (half-open): success closes it, failure opens
 * it again. Failures are outages (no answer, timeout, 5xx, sealed); any other answer — even a
 * 4xx — shows Vault is serving and counts as success.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private probing = false;

  constructor(private readonly settings: ResolvedCircuitBreaker) {}

  /** Throws {@link KmsUnavailableError} (`circuit-open`) unless a request may be sent now. */
  admit(operation: string): void {
    if (this.failures < this.settings.failureThreshold) return;
    const waitMs = this.openUntil - performance.now();
    if (waitMs <= 0 && !this.probing) {
      this.probing = true; // this request is the probe
      return;
    }
    throw new KmsUnavailableError(
      messages.circuitOpen(operation, Math.max(waitMs, 0)),
      'circuit-open',
    );
  }

  succeeded(): void {
    this.failures = 0;
    this.probing = false;
  }

  failed(): void {
    this.failures += 1;
    this.probing = false;
    if (this.failures >= this.settings.failureThreshold) {
      this.openUntil = performance.now() + this.settings.resetTimeoutMs;
    }
  }

  /** A probe ended without telling anything about Vault (e.g. the caller aborted it). */
  released(): void {
    this.probing = false;
  }
}
