import { KmsAbortedError } from '../../errors/kms-aborted.error.js';
import { KmsUnavailableError } from '../../errors/kms-unavailable.error.js';
import { messages } from '../../errors/messages.js';

/**
 * One call's time budget and its caller's AbortSignal, shared by all its requests (retries,
 * a key read after a rotation, the two steps of a delete).
 */
export class CallContext {
  private readonly ends: number;

  constructor(
    readonly operation: string,
    private readonly deadlineMs: number,
    readonly signal: AbortSignal | undefined,
  ) {
    this.ends = performance.now() + deadlineMs;
  }

  /** Milliseconds left before the deadline (≤ 0 once it passed). */
  get remainingMs(): number {
    return this.ends - performance.now();
  }

  /** Throws if the caller aborted or the deadline passed: no new request may start. */
  assertCanContinue(): void {
    if (this.signal?.aborted) throw this.abortedError();
    if (this.remainingMs <= 0) throw this.deadlineError();
  }

  abortedError(): KmsAbortedError {
    return new KmsAbortedError(messages.callAborted(this.operation));
  }

  deadlineError(): KmsUnavailableError {
    return new KmsUnavailableError(
      messages.deadlineExceeded(this.operation, this.deadlineMs),
      'timeout',
    );
  }

  /** Waits `ms`, or rejects with {@link KmsAbortedError} as soon as the caller aborts. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const { signal } = this;
      if (signal?.aborted) {
        reject(this.abortedError());
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(this.abortedError());
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
