import {
  KmsUnavailableError,
  type KmsUnavailableReason,
} from '../../errors/kms-unavailable.error.js';
import type { ResolvedRetry } from '../../kms-options.js';

/** Outages worth another attempt of a request that is safe to repeat. */
const RETRYABLE: ReadonlySet<KmsUnavailableReason> = new Set([
  'network',
  'timeout',
  'sealed',
  'rate-limited',
  'server-error',
]);

/** Transport codes that prove the request never reached Vault. */
const NEVER_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * How a request may be repeated: `always` when repeating it cannot do harm (reads, encrypt,
 * decrypt, datakey, rewrap, key creation, config, delete); `if-not-processed` when it must
 * happen at most once (rotate): only when Vault provably did not process the attempt.
 */
export type Repeatable = 'always' | 'if-not-processed';

/** Whether an error proves Vault did not process the request (sealed, throttled, never sent). */
export function provablyNotProcessed(error: unknown): boolean {
  if (!(error instanceof KmsUnavailableError)) return false;
  if (error.reason === 'sealed' || error.reason === 'rate-limited') return true;
  if (error.reason !== 'network') return false;
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && NEVER_SENT.has(code);
}

/** Capped exponential backoff with full jitter; `Retry-After` wins when Vault sends one. */
export class RetryPolicy {
  constructor(
    private readonly settings: ResolvedRetry,
    private readonly random: () => number = Math.random,
  ) {}

  get maxAttempts(): number {
    return this.settings.maxAttempts;
  }

  /** Whether `error` after `attempt` attempts calls for another one. */
  shouldRetry(repeatable: Repeatable, error: unknown, attempt: number): boolean {
    if (attempt >= this.settings.maxAttempts) return false;
    if (!(error instanceof KmsUnavailableError) || !RETRYABLE.has(error.reason)) return false;
    return repeatable === 'always' || provablyNotProcessed(error);
  }

  /** How long to wait before attempt `attempt + 1`. */
  delayMs(attempt: number, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) return retryAfterMs;
    const { baseDelayMs, maxDelayMs } = this.settings;
    const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
    return Math.floor(this.random() * ceiling);
  }
}

/** `Retry-After` in milliseconds (delta-seconds or an HTTP date), if present and sane. */
export function parseRetryAfter(header: unknown, now = Date.now()): number | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
