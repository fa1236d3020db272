import { performance } from 'node:perf_hooks';
import { endSession, type BaseSession, type SessionScope } from './base-session.js';
import type { SessionSignals } from './session-signals.js';

let nextSessionNumber = 0;

/** What {@link openSession} needs to know of the pool opening the session. */
export interface SessionPoolIdentity {
  /** Name used in signals and session ids, e.g. `rest` or `sqlite`. */
  readonly name: string;
  readonly signals: SessionSignals;
}

/**
 * Opens a session for a pool: builds it with a fresh id, runs `work` with it, emits the session
 * signals, and ends it however `work` settles. The building block of every pool, yours included:
 *
 * ```ts
 * session(work) {
 *   return openSession(this, (scope) => new SqliteSession(this.db, scope), work);
 * }
 * ```
 * @publicApi
 */
export async function openSession<S extends BaseSession, T>(
  pool: SessionPoolIdentity,
  create: (scope: SessionScope) => S,
  work: (session: S) => Promise<T>,
): Promise<T> {
  nextSessionNumber += 1;
  const scope: SessionScope = {
    pool: pool.name,
    sessionId: `${pool.name}-${nextSessionNumber}`,
    signals: pool.signals,
    depth: 0,
  };
  const { signals, sessionId } = scope;
  const started = performance.now();
  signals.sessionStarted.emit({ pool: pool.name, sessionId });
  let outcome: 'completed' | 'failed' = 'failed';
  const session = create(scope);
  try {
    const result = await work(session);
    outcome = 'completed';
    return result;
  } finally {
    session[endSession]();
    signals.sessionEnded.emit({
      pool: pool.name,
      sessionId,
      outcome,
      durationMs: performance.now() - started,
    });
  }
}
