import { performance } from 'node:perf_hooks';
import { KmsSessionError } from '../errors/kms-session.error.js';
import { messages } from '../errors/messages.js';
import type { ISession, SessionKind } from '../interfaces/session.interface.js';
import type { SessionSignals } from './session-signals.js';

/** Where a session belongs: its pool's name and signals, its id and atomic depth. */
export interface SessionScope {
  readonly pool: string;
  readonly sessionId: string;
  readonly signals: SessionSignals;
  /** 0 for the session itself, n for the n-th nested atomic scope. */
  readonly depth: number;
}

/**
 * Common behaviour of sessions: the active flag, nestable `atomic` with its signals, `part`.
 * A backend implements {@link runAtomic}: begin, run the child, commit on success, roll back on
 * failure. Extend it for your own session kinds (a database connection, a queue channel).
 * @publicApi
 */
export abstract class BaseSession implements ISession {
  #active = true;

  protected constructor(protected readonly scope: SessionScope) {}

  get isActive(): boolean {
    return this.#active;
  }

  get sessionId(): string {
    return this.scope.sessionId;
  }

  get depth(): number {
    return this.scope.depth;
  }

  /** Throws {@link KmsSessionError} if the session's callback has settled. */
  assertActive(): void {
    if (!this.#active) throw new KmsSessionError(messages.sessionInactive());
  }

  part<S extends ISession>(kind: SessionKind<S>): S | undefined {
    return this instanceof kind ? (this as unknown as S) : undefined;
  }

  async atomic<T>(work: (session: ISession) => Promise<T>): Promise<T> {
    this.assertActive();
    const { signals, pool, sessionId } = this.scope;
    const depth = this.scope.depth + 1;
    const started = performance.now();
    signals.atomicStarted.emit({ pool, sessionId, depth });
    let outcome: 'committed' | 'rolled-back' = 'rolled-back';
    try {
      const result = await this.runAtomic({ ...this.scope, depth }, async (child) => {
        try {
          return await work(child);
        } finally {
          child.end();
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

  /** Marks the session inactive; called when its callback settles. */
  end(): void {
    this.#active = false;
  }

  /**
   * Opens an atomic scope one level deeper, runs `run` with the child session, then commits
   * (when `run` resolves) or rolls back (when it rejects, rethrowing the error).
   */
  protected abstract runAtomic<T>(
    scope: SessionScope,
    run: (child: BaseSession) => Promise<T>,
  ): Promise<T>;
}

let nextSessionNumber = 0;

/** A process-unique session id such as `rest-17`. */
export function newSessionId(pool: string): string {
  nextSessionNumber += 1;
  return `${pool}-${nextSessionNumber}`;
}

/**
 * Runs `work` with a freshly opened session, emits the session signals, and ends the session
 * however `work` settles. Shared by every pool.
 */
export async function runInSession<S extends BaseSession, T>(
  session: S,
  scope: SessionScope,
  work: (session: S) => Promise<T>,
): Promise<T> {
  const { signals, pool, sessionId } = scope;
  const started = performance.now();
  signals.sessionStarted.emit({ pool, sessionId });
  let outcome: 'completed' | 'failed' = 'failed';
  try {
    const result = await work(session);
    outcome = 'completed';
    return result;
  } finally {
    session.end();
    signals.sessionEnded.emit({
      pool,
      sessionId,
      outcome,
      durationMs: performance.now() - started,
    });
  }
}
