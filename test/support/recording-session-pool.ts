import {
  BaseSession,
  createSessionSignals,
  newSessionId,
  runInSession,
  type SessionScope,
} from '../support/session-internals.js';
import type { ISession, ISessionPool } from '../../lib/index.js';

/**
 * A transactional backend that records begin/commit/rollback, like a database pool would
 * (savepoints for nested scopes). Used to check the exact sequence a composite session produces.
 */
export class RecordingSession extends BaseSession {
  constructor(
    readonly log: string[],
    scope: SessionScope,
  ) {
    super(scope);
  }

  protected async runAtomic<T>(
    scope: SessionScope,
    run: (child: BaseSession) => Promise<T>,
  ): Promise<T> {
    const label = scope.depth === 1 ? 'tx' : `savepoint${scope.depth}`;
    this.log.push(`begin ${label}`);
    try {
      const result = await run(new RecordingSession(this.log, scope));
      this.log.push(`commit ${label}`);
      return result;
    } catch (error) {
      this.log.push(`rollback ${label}`);
      throw error;
    }
  }
}

export class RecordingSessionPool implements ISessionPool {
  readonly signals = createSessionSignals();
  readonly log: string[] = [];

  session<T>(work: (session: ISession) => Promise<T>): Promise<T> {
    const scope = { pool: 'db', sessionId: newSessionId('db'), signals: this.signals, depth: 0 };
    this.log.push('open');
    return runInSession(new RecordingSession(this.log, scope), scope, work).finally(() =>
      this.log.push('close'),
    );
  }
}
