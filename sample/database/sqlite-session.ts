import Database from 'better-sqlite3';
import { BaseSession, KmsSessionError, type SessionScope } from '@ascetic-ddd/nestjs-kms';
import type { ConnectionLease, ReleaseLease } from './connection-lease.js';
import { DatabaseBusyError } from './database-busy.error.js';

/**
 * Statement parameters, as better-sqlite3 binds them: positional (`?`) values in an array, or
 * named (`:name`, `@name`, `$name`) values in an object.
 */
export type SqlParams = readonly unknown[] | Readonly<Record<string, unknown>>;

type Statement = Database.Statement<unknown[], unknown>;

const SCOPE_ENDED =
  'The atomic scope has ended: use a session only inside the callback that received it.';
const SESSION_ENDED_WHILE_WAITING =
  'The session ended while a statement waited for the database: await every statement ' +
  'inside the session callback.';

/** What the sessions of one {@link SqliteSessionPool} share; built by the pool. @internal */
export interface SqliteConnection {
  readonly db: Database.Database;
  readonly lease: ConnectionLease;
  readonly leaseTimeoutMs: number;
  /** Prepared statements by SQL text, reused by every session of the pool. */
  readonly statements: Map<string, Statement>;
}

/**
 * The transaction of one outermost atomic scope. It begins lazily, at the scope's first
 * statement (lease, then `BEGIN IMMEDIATE`), and holds the lease until the scope ends, so a
 * request that calls Vault before touching the database does not keep other requests waiting
 * meanwhile. Nested scopes share it through savepoints.
 * @internal
 */
export class SqliteTransaction {
  #begun: Promise<void> | undefined;
  #release: ReleaseLease | undefined;
  #ended = false;
  /** Set when a nested scope's work could not be undone: the transaction may only roll back. */
  #doomed: unknown;

  constructor(private readonly connection: SqliteConnection) {}

  /** Takes the lease and begins, once; concurrent and later callers share that begin. */
  begin(): Promise<void> {
    if (this.#ended) return Promise.reject(new KmsSessionError(SCOPE_ENDED));
    this.#begun ??= this.#acquireAndBegin().catch((error: unknown) => {
      // Let a later statement try again (e.g. after DatabaseBusyError).
      this.#begun = undefined;
      throw error;
    });
    return this.#begun;
  }

  /** Commits (nothing to do if the scope never ran a statement) and frees the connection. */
  commit(): void {
    if (!this.#settle()) return;
    const { db } = this.connection;
    try {
      if (this.#doomed !== undefined) {
        throw new Error('Rolled back: a failed nested atomic scope could not be undone.', {
          cause: this.#doomed,
        });
      }
      db.exec('COMMIT');
    } catch (error) {
      // A failed COMMIT (e.g. a deferred foreign key) leaves the transaction open.
      rollbackQuietly(db);
      throw error;
    } finally {
      this.#free();
    }
  }

  /** Rolls back (nothing to do if the scope never ran a statement) and frees the connection. */
  rollback(): void {
    if (!this.#settle()) return;
    try {
      rollbackQuietly(this.connection.db);
    } finally {
      this.#free();
    }
  }

  /** Runs `work` inside `SAVEPOINT name`: released when it resolves, undone when it rejects. */
  async savepoint<T>(name: string, work: () => Promise<T>): Promise<T> {
    const { db } = this.connection;
    db.exec(`SAVEPOINT ${name}`);
    let result: T;
    try {
      result = await work();
    } catch (error) {
      try {
        // SQLite rolls the whole transaction back by itself after some errors (SQLITE_FULL…).
        if (db.inTransaction) db.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
      } catch (undo) {
        this.#doomed = undo;
      }
      throw error;
    }
    db.exec(`RELEASE ${name}`);
    return result;
  }

  async #acquireAndBegin(): Promise<void> {
    const { db, lease, leaseTimeoutMs } = this.connection;
    const release = await lease.acquire(leaseTimeoutMs);
    if (this.#ended) {
      release();
      throw new KmsSessionError(SCOPE_ENDED);
    }
    try {
      translateBusy(() => db.exec('BEGIN IMMEDIATE'));
    } catch (error) {
      release();
      throw error;
    }
    this.#release = release;
  }

  /**
   * No begin after this. True if the transaction is open; a begin still waiting for the lease
   * (a statement the work did not await) is not waited for: it fails when the lease comes.
   */
  #settle(): boolean {
    this.#ended = true;
    return this.#release !== undefined;
  }

  #free(): void {
    this.#release?.();
    this.#release = undefined;
  }
}

/**
 * A session over the pool's one SQLite connection (get it with {@link extractConnection}).
 *
 * - Outside an atomic scope each statement runs on its own, in autocommit: it takes the lease,
 *   runs, and gives the lease back.
 * - The outermost atomic scope is one transaction, begun at its first statement and holding the
 *   lease until the scope ends: `COMMIT` when the work resolves, `ROLLBACK` when it rejects. A
 *   scope that ran no statement takes no lease.
 * - A nested scope is a savepoint: undone when its work rejects, while the outer transaction
 *   goes on.
 *
 * Statements of one scope may run concurrently (`Promise.all`); they share the scope's lease.
 * Do not open another session of the same pool inside an atomic scope and write through it: it
 * would wait for the lease the scope holds, until {@link DatabaseBusyError}.
 */
export class SqliteSession extends BaseSession {
  /** Built by {@link SqliteSessionPool}; `transaction` is the enclosing atomic scope's. */
  constructor(
    private readonly connection: SqliteConnection,
    scope: SessionScope,
    private readonly transaction?: SqliteTransaction,
  ) {
    super(scope);
  }

  /** Runs a statement that returns no rows (INSERT, UPDATE, DELETE, DDL). */
  run(sql: string, params?: SqlParams): Promise<{ changes: number }> {
    return this.#execute(sql, (statement) => ({
      changes: statement.run(...bind(params)).changes,
    }));
  }

  /** The first row of a query, or `undefined` when it has none. */
  get<T>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return this.#execute(sql, (statement) => statement.get(...bind(params)) as T | undefined);
  }

  /** Every row of a query. */
  all<T>(sql: string, params?: SqlParams): Promise<T[]> {
    return this.#execute(sql, (statement) => statement.all(...bind(params)) as T[]);
  }

  protected async runAtomic<T>(
    scope: SessionScope,
    run: (child: BaseSession) => Promise<T>,
  ): Promise<T> {
    const outer = this.transaction;
    if (!outer) {
      const transaction = new SqliteTransaction(this.connection);
      let result: T;
      try {
        result = await run(new SqliteSession(this.connection, scope, transaction));
      } catch (error) {
        transaction.rollback();
        throw error;
      }
      transaction.commit();
      return result;
    }
    await outer.begin();
    // While we waited, this session may have ended or opened another scope.
    this.assertUsable();
    return outer.savepoint(`sp${scope.depth}`, () =>
      run(new SqliteSession(this.connection, scope, outer)),
    );
  }

  async #execute<R>(sql: string, step: (statement: Statement) => R): Promise<R> {
    this.assertUsable();
    const { transaction, connection } = this;
    if (transaction) {
      await transaction.begin();
      this.#assertStillActive();
      return translateBusy(() => step(prepare(connection, sql)));
    }
    const release = await connection.lease.acquire(connection.leaseTimeoutMs);
    try {
      this.#assertStillActive();
      return translateBusy(() => step(prepare(connection, sql)));
    } finally {
      release();
    }
  }

  /** A statement that waited for the connection must not run once its session has ended. */
  #assertStillActive(): void {
    if (!this.isActive) throw new KmsSessionError(SESSION_ENDED_WHILE_WAITING);
  }
}

function prepare(connection: SqliteConnection, sql: string): Statement {
  let statement = connection.statements.get(sql);
  if (!statement) {
    statement = connection.db.prepare(sql);
    connection.statements.set(sql, statement);
  }
  return statement;
}

function bind(params: SqlParams | undefined): unknown[] {
  if (params === undefined) return [];
  return Array.isArray(params) ? [...(params as readonly unknown[])] : [params];
}

function rollbackQuietly(db: Database.Database): void {
  try {
    if (db.inTransaction) db.exec('ROLLBACK');
  } catch {
    // The connection is gone or already rolled back; the caller rethrows the original error.
  }
}

/** SQLite's own SQLITE_BUSY (another process holds the write lock) as a retryable error. */
function translateBusy<R>(step: () => R): R {
  try {
    return step();
  } catch (error) {
    if (error instanceof Database.SqliteError && error.code === 'SQLITE_BUSY') {
      throw new DatabaseBusyError('another connection holds the write lock', { cause: error });
    }
    throw error;
  }
}
