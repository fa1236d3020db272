/** A caller waiting for a slot. */
interface Waiter {
  readonly resolve: (leave: () => void) => void;
  readonly reject: (error: Error) => void;
  cleanup: () => void;
  next: Waiter | undefined;
  waiting: boolean;
}

/**
 * At most `limit` requests to Vault in flight; further ones wait in FIFO order, each as a small
 * record — before their request exists (its JSON body, headers, axios config or ClientRequest,
 * kilobytes each). Sized like the agent (`maxSockets`), it changes no throughput: the agent would
 * queue those requests anyway, only heavier.
 */
export class RequestSlots {
  private active = 0;
  private first: Waiter | undefined;
  private last: Waiter | undefined;

  constructor(private readonly limit: number) {}

  /**
   * A slot now (synchronously) when one is free, else a promise of one. The promise rejects with
   * `timedOut()` after `limitMs`, or `aborted()` when `signal` aborts; either way the caller no
   * longer waits. Call the returned `leave` once the request ended.
   */
  enter(
    limitMs: number,
    signal: AbortSignal | undefined,
    timedOut: () => Error,
    aborted: () => Error,
  ): (() => void) | Promise<() => void> {
    if (this.active < this.limit && !this.first) return this.admit();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, cleanup: noop, next: undefined, waiting: true };
      const giveUp = (error: Error): void => {
        if (!waiter.waiting) return;
        waiter.waiting = false; // skipped when its turn comes
        waiter.cleanup();
        reject(error);
      };
      const onAbort = (): void => giveUp(aborted());
      const timer = setTimeout(() => giveUp(timedOut()), limitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      waiter.cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      if (this.last) this.last = this.last.next = waiter;
      else this.first = this.last = waiter;
    });
  }

  private admit(): () => void {
    this.active += 1;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.active -= 1;
      this.wakeNext();
    };
  }

  private wakeNext(): void {
    while (this.first && this.active < this.limit) {
      const waiter = this.first;
      this.first = waiter.next;
      if (!this.first) this.last = undefined;
      waiter.next = undefined;
      if (!waiter.waiting) continue;
      waiter.waiting = false;
      waiter.cleanup();
      waiter.resolve(this.admit());
    }
  }
}

function noop(): void {}
