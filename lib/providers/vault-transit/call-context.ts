import { KmsAbortedError } from '../../errors/kms-aborted.error.js';
import { KmsUnavailableError } from '../../errors/kms-unavailable.error.js';
import { messages } from '../../errors/messages.js';

/** See {@link CallContext.attemptSignal}. */
export interface AttemptSignal {
  readonly signal: AbortSignal;
  /** Whether the attempt's own time limit (not the caller) aborted it. */
  readonly timedOut: boolean;
  dispose(): void;
}

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

  /**
   * Settles like `work`, unless the caller aborts or the deadline passes first (then rejects
   * with the matching error; `work` is left to finish unobserved).
   */
  race<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const { signal } = this;
      const stop = (error: Error): void => {
        cleanup();
        reject(error);
      };
      const onAbort = (): void => stop(this.abortedError());
      const timer = setTimeout(() => stop(this.deadlineError()), Math.max(0, this.remainingMs));
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      if (signal?.aborted) {
        stop(this.abortedError());
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      work.then(
        (value) => {
          cleanup();
          resolve(value);
        },
        (error: unknown) => {
          cleanup();
          reject(error);
        },
      );
    });
  }

  /**
   * The signal of one attempt: aborted when the caller aborts or after `limitMs`. Call
   * `dispose()` when the attempt ends — it clears the timer and the listener on the caller's
   * signal, so a long-lived caller signal collects nothing per call.
   */
  attemptSignal(limitMs: number): AttemptSignal {
    const controller = new AbortController();
    const { signal } = this;
    let timedOut = false;
    const onAbort = (): void => controller.abort();
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, limitMs);
    if (signal?.aborted) controller.abort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    return {
      signal: controller.signal,
      get timedOut() {
        return timedOut;
      },
      dispose: () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      },
    };
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
