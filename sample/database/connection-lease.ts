import { DatabaseBusyError } from './database-busy.error.js';

/** Gives the connection back; calling it again does nothing. */
export type ReleaseLease = () => void;

interface Waiter {
  readonly grant: (release: ReleaseLease) => void;
  readonly reject: (error: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * An asynchronous FIFO mutex over one database connection. better-sqlite3 is synchronous and a
 * connection holds one transaction, so units of work take turns: one holds the lease (for one
 * autocommit statement, or for a whole write transaction), the others wait — without blocking
 * the event loop, unlike SQLite's own `busy_timeout`, which sleeps in the calling thread.
 *
 * Waiters are served in arrival order; one that waits longer than its timeout gets
 * {@link DatabaseBusyError} and leaves the queue.
 */
export class ConnectionLease {
  #held = false;
  readonly #waiters: Waiter[] = [];
  #closed: Error | undefined;

  /** True while some unit of work holds the connection. */
  get held(): boolean {
    return this.#held;
  }

  /** How many units of work wait for the connection. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Resolves with a release function once the connection is free and every earlier waiter has
   * had its turn; rejects with {@link DatabaseBusyError} after `timeoutMs` (no timeout when it
   * is not finite), or with the close reason once {@link close} was called.
   */
  acquire(timeoutMs: number): Promise<ReleaseLease> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve(this.#grant());
    }
    return new Promise<ReleaseLease>((grant, reject) => {
      const waiter: Waiter = { grant, reject };
      if (Number.isFinite(timeoutMs)) {
        waiter.timer = setTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          reject(new DatabaseBusyError(`no connection became free within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.#waiters.push(waiter);
    });
  }

  /** Rejects every waiter and every later `acquire` with `reason`. Idempotent. */
  close(reason: Error): void {
    this.#closed ??= reason;
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(this.#closed);
    }
  }

  #grant(): ReleaseLease {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#handOver();
    };
  }

  /** Passes the lease straight to the next waiter (no barging), or frees it. */
  #handOver(): void {
    const next = this.#waiters.shift();
    if (!next) {
      this.#held = false;
      return;
    }
    clearTimeout(next.timer);
    next.grant(this.#grant());
  }
}
