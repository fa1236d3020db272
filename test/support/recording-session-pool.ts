import {
  BaseSession,
  createSessionSignals,
  openSession,
  type ISession,
  type ISessionPool,
  type SessionScope,
} from '../../lib/index.js';

/**
 * A transactional backend that records begin/commit/rollback, like a database pool would
 * (savepoints for nested scopes), built only from the public API as a user's pool would be.
 */
export class RecordingSession extends BaseSession {
  constructor(
    private readonly log: string[],
    private readonly label: string,
    scope: SessionScope,
    private readonly faults: CommitFaults = { failCommits: 0 },
  ) {
    super(scope);
  }

  /** Records a statement run on this session (throws if the session may not be used now). */
  execute(statement: string): void {
    this.assertUsable();
    this.log.push(`${this.label}: ${statement}`);
  }

  protected async runAtomic<T>(
    scope: SessionScope,
    run: (child: BaseSession) => Promise<T>,
  ): Promise<T> {
    const unit = scope.depth === 1 ? 'tx' : `savepoint${scope.depth}`;
    this.log.push(`${this.label}: begin ${unit}`);
    try {
      const result = await run(new RecordingSession(this.log, this.label, scope, this.faults));
      if (this.faults.failCommits > 0) {
        this.faults.failCommits -= 1;
        throw new Error(`${this.label}: commit failed`);
      }
      this.log.push(`${this.label}: commit ${unit}`);
      return result;
    } catch (error) {
      this.log.push(`${this.label}: rollback ${unit}`);
      throw error;
    }
  }
}

/** Commits still to fail (shared by a pool's sessions). */
export interface CommitFaults {
  failCommits: number;
}

export class RecordingSessionPool implements ISessionPool {
  readonly signals = createSessionSignals();
  /** Set `failCommits` to make that many commits throw (the scope then rolls back). */
  readonly faults: CommitFaults = { failCommits: 0 };

  constructor(
    readonly name: string,
    readonly log: string[] = [],
  ) {}

  session<T>(work: (session: ISession) => Promise<T>): Promise<T> {
    this.log.push(`${this.name}: open`);
    return openSession(
      this,
      (scope) => new RecordingSession(this.log, this.name, scope, this.faults),
      work,
    ).finally(() => this.log.push(`${this.name}: close`));
  }
}
