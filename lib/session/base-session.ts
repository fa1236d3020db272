import { performance } from 'node:perf_hooks';
import { KmsSessionError } from '../errors/kms-session.error.js';
import { messages } from '../errors/messages.js';
import type { ISession, SessionKind } from '../interfaces/session.interface.js';
import { runWithSession } from './session-context.js';
import type { SessionSignals } from './session-signals.js';

/** Where a session belongs: its pool's name and signals, its id, depth and enclosing scope. */
export interface SessionScope {
  readonly pool: string;
  readonly sessionId: string;
  readonly signals: SessionSignals;
  /** 0 for the session itself, n for the n-th nested atomic scope. */
  readonly depth: number;
  /** The session whose `atomic` opened this one (absent for the session itself). */
  readonly parent?: BaseSession;
}

/** Ends a session; module-private so that only the code that opened a session can end it. */
export const endSession: unique symbol = Symbol('endSession');

/**
 * Common behaviour of sessions: the active flag, nestable and exclusive `atomic` with its
 * signals, `part`. A backend implements {@link runAtomic}: begin, run the child, commit when it
 * resolves, roll back when it rejects. Extend it for your own session kinds (a database
 * connection, a queue channel) and open them with {@link openSession}.
 *
 * A session is usable only while its callback runs, its enclosing session is usable, and no
 * atomic scope opened from it is still running (inside a scope, use the session the scope gave
 * you: work done on the outer session would escape the transaction).
 * @publicApi
 */
export abstract class BaseSession implements ISession {
  #ended = false;
  #openChild: BaseSession | undefined;

  protected constructor(protected readonly scope: SessionScope) {}

  get isActive(): boolean {
    return !this.#ended && (this.scope.parent?.isActive ?? true);
  }

  get sessionId(): string {
    return this.scope.sessionId;
  }

  get depth(): number {
    return this.scope.depth;
  }

  part<S extends ISession>(kind: SessionKind<S>): S | undefined {
    return this instanceof kind ? (this as unknown as S) : undefined;
  }

  async atomic<T>(work: (session: ISession) => Promise<T>): Promise<T> {
    this.assertUsable();
    const { signals, pool, sessionId } = this.scope;
    const depth = this.scope.depth + 1;
    const started = performance.now();
    signals.atomicStarted.emit({ pool, sessionId, depth });
    let outcome: 'committed' | 'rolled-back' = 'rolled-back';
    try {
      const result = await this.runAtomic({ ...this.scope, depth, parent: this }, async (child) => {
        this.#openChild = child;
        try {
          // The scope is the current session of everything `work` calls (KmsSessionHost).
          return await runWithSession(child, () => work(child));
        } finally {
          child[endSession]();
          this.#openChild = undefined;
        }
      });
      outcome = 'committed';
      return result;
    } finally {
      signals.atomicEnded.emit({
        pool,
        sessionId,
        depth,
        outcome,
        durationMs: performance.now() - started,
      });
    }
  }

  /** @internal Marks the session ended; called by whoever opened it when its callback settles. */
  [endSession](): void {
    this.#ended = true;
  }

  /**
   * Throws {@link KmsSessionError} unless the session may be used now: its callback is running
   * and it has no atomic scope open (whose session must be used instead).
   */
  protected assertUsable(): void {
    if (!this.isActive) throw new KmsSessionError(messages.sessionInactive());
    if (this.#openChild) throw new KmsSessionError(messages.sessionInScope());
  }

  /**
   * Opens an atomic scope one level deeper, runs `run` with the child session (built from
   * `scope`), then commits when `run` resolves or rolls back when it rejects, rethrowing.
   */
  protected abstract runAtomic<T>(
    scope: SessionScope,
    run: (child: BaseSession) => Promise<T>,
  ): Promise<T>;
}
