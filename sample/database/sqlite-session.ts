import { setTimeout as sleep } from 'node:timers/promises';
import { BaseSession, KmsSessionError, type SessionScope } from '@ascetic-ddd/nestjs-kms';
import type { ReleaseLease } from './connection-lease.js';
import { DatabaseBusyError } from './database-busy.error.js';
import {
  isBusy,
  isRead,
  type PreparedConnection,
  type SqliteConnections,
  type Statement,
} from './sqlite-connections.js';

/**
 * Statement parameters, as better-sqlite3 binds them: positional (`?`) values in an array, or
 * named (`:name`, `@name`, `$name`) values in an object.
 */
export type SqlParams = readonly unknown[] | Readonly<Record<string, unknown>>;

const SCOPE_ENDED =
  'The atomic scope has ended: use a session only inside the callback that received it.';
const SESSION_ENDED_WHILE_WAITING =
  'The session ended while a statement waited for the database: await every statement ' +
  'inside the session callback.';

/**
 * Why a transaction may only roll back: the error every later statement of its scope, a nested
 * scope that ends without error and its commit throw (with the error that caused it as `cause`).
 */
const ROLLED_BACK_BY_SQLITE =
  'SQLite rolled the whole transaction back by itself (a trigger’s RAISE(ROLLBACK), ' +
  'INSERT OR ROLLBACK, a full disk, an I/O error…): the unit of work cannot continue; it ends ' +
  'rolled back.';
const UNDO_FAILED =
  'A failed nested atomic scope could not be undone: the unit of work cannot continue; it ends ' +
  'rolled back.';

/** Longest pause between two attempts of a read that found the database file locked. */
const READ_RETRY_MAX_DELAY_MS = 50;

/** The savepoint of an open nested atomic scope. */
interface Savepoint {
  readonly name: string;
  /** The nested scope's depth: statements of this depth or deeper run inside the savepoint. */
  readonly depth: number;
  /** Whether `SAVEPOINT name` was issued; not before a statement of the scope needed it. */
  issued: boolean;
}

/** Why a transaction is doomed, and the error that caused it. */
interface Doom {
  readonly reason: string;
  readonly cause: unknown;
}

/**
 * The write transaction of one outermost atomic scope. It begins lazily, at the scope's first
 * WRITE (lease, then `BEGIN IMMEDIATE`), and holds the lease until the scope ends; the reads
 * before it need neither. Nested scopes share it through savepoints, issued lazily too: at the
 * first statement that runs in the transaction from the nested scope (or a deeper one), after
 * `BEGIN` and after the savepoints of the scopes around it.
 *
 * SQLite rolls the whole transaction back by itself on some errors (a trigger's
 * `RAISE(ROLLBACK)`, `OR ROLLBACK`, SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM…): its savepoints are
 * gone and the connection is back in autocommit, where any later statement would be committed
 * on its own. Every step on the writer is therefore checked: when SQLite is out of the
 * transaction while the scope holds it, the transaction is doomed, like one whose failed nested
 * scope could not be undone. A doomed transaction runs nothing more: every later statement of
 * the scope (at any depth) throws, so does a nested scope that ends without error and the
 * commit; the rollback just frees the connection.
 * @internal
 */
export class SqliteTransaction {
  #begun: Promise<void> | undefined;
  #release: ReleaseLease | undefined;
  #ended = false;
  /** Set once the transaction may only roll back (see the class comment). */
  #doom: Doom | undefined;
  /** The savepoints of the open nested scopes, outermost first. */
  readonly #savepoints: Savepoint[] = [];

  constructor(private readonly connections: SqliteConnections) {}

  /**
   * True once a write asked for the transaction (even while it waits for the lease): from then
   * on every statement of the scope, reads included, runs in it.
   */
  get writing(): boolean {
    return this.#begun !== undefined;
  }

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

  /**
   * Runs `statement`, a statement of the scope at `depth`, in the transaction (after
   * {@link begin}); throws instead if the transaction is doomed. First issues the savepoints of
   * the nested scopes around it not issued yet, outermost first: a statement of an outer scope
   * issued before a nested scope opened thus runs before that scope's savepoint, and is kept if
   * the nested scope rolls back.
   */
  run<R>(depth: number, statement: () => R): R {
    this.#assertNotDoomed();
    return this.#watch(() => {
      for (const savepoint of this.#savepoints) {
        if (savepoint.depth > depth) break;
        if (!savepoint.issued) {
          this.connections.writer.db.exec(`SAVEPOINT ${savepoint.name}`);
          savepoint.issued = true;
        }
      }
      return statement();
    });
  }

  /** Commits (nothing to do if the scope never wrote) and frees the connection. */
  commit(): void {
    if (!this.#settle()) return;
    const { db } = this.connections.writer;
    try {
      this.#assertNotDoomed();
      db.exec('COMMIT');
    } catch (error) {
      // A failed COMMIT (e.g. a deferred foreign key) leaves the transaction open.
      rollbackQuietly(this.connections.writer);
      throw error;
    } finally {
      this.#free();
    }
  }

  /** Rolls back (nothing to do if the scope never wrote) and frees the connection. */
  rollback(): void {
    if (!this.#settle()) return;
    try {
      rollbackQuietly(this.connections.writer);
    } finally {
      this.#free();
    }
  }

  /**
   * Runs the work of the nested scope at `depth` inside `SAVEPOINT name` — issued by
   * {@link run} only if the work runs a statement in the transaction — released when it
   * resolves, undone when it rejects. A nested scope that only reads issues nothing. Once the
   * transaction is doomed, the scope fails even if its work resolved (its writes are gone).
   */
  async savepoint<T>(name: string, depth: number, work: () => Promise<T>): Promise<T> {
    const savepoint: Savepoint = { name, depth, issued: false };
    this.#savepoints.push(savepoint);
    let result: T;
    try {
      result = await work();
    } catch (error) {
      this.#forget(savepoint);
      if (savepoint.issued) this.#undo(name);
      throw error;
    }
    this.#forget(savepoint);
    this.#assertNotDoomed();
    if (savepoint.issued) this.#watch(() => this.connections.writer.db.exec(`RELEASE ${name}`));
    return result;
  }

  async #acquireAndBegin(): Promise<void> {
    const { writer, lease, leaseTimeoutMs } = this.connections;
    const release = await lease.acquire(leaseTimeoutMs);
    if (this.#ended) {
      release();
      throw new KmsSessionError(SCOPE_ENDED);
    }
    try {
      translateBusy(() => writer.db.exec('BEGIN IMMEDIATE'));
    } catch (error) {
      release();
      throw error;
    }
    this.#release = release;
  }

  /** Undoes a failed nested scope's savepoint, unless the whole transaction is lost anyway. */
  #undo(name: string): void {
    this.#noticeRollback(undefined);
    if (this.#doom) return;
    try {
      this.connections.writer.db.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
    } catch (undo) {
      this.#noticeRollback(undo);
      this.#doom ??= { reason: UNDO_FAILED, cause: undo };
    }
  }

  /** Runs a step on the writer, then dooms the transaction if SQLite left it (see the class). */
  #watch<R>(step: () => R): R {
    let result: R;
    try {
      result = step();
    } catch (error) {
      this.#noticeRollback(error);
      throw error;
    }
    this.#noticeRollback(undefined);
    return result;
  }

  /**
   * Dooms the transaction if it had begun, the scope still holds the lease, and yet the writer
   * is out of any transaction: SQLite rolled it back (`cause` is the failed step, if any). A
   * closed writer is not checked: the statements report the closed database themselves.
   */
  #noticeRollback(cause: unknown): void {
    const { db } = this.connections.writer;
    if (this.#doom || this.#release === undefined || !db.open || db.inTransaction) return;
    this.#doom = { reason: ROLLED_BACK_BY_SQLITE, cause };
  }

  /** Throws when the transaction is doomed: nothing more may run in it, and it cannot commit. */
  #assertNotDoomed(): void {
    this.#noticeRollback(undefined);
    const doom = this.#doom;
    if (doom) {
      throw new Error(doom.reason, doom.cause === undefined ? undefined : { cause: doom.cause });
    }
  }

  #forget(savepoint: Savepoint): void {
    const index = this.#savepoints.indexOf(savepoint);
    if (index >= 0) this.#savepoints.splice(index, 1);
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
 * A session of a {@link SqliteSessionPool} (get it with {@link extractConnection}).
 *
 * - A read — a query that changes nothing (`SELECT`, `WITH … SELECT`, `PRAGMA name`), as opposed
 *   to `INSERT … RETURNING` — outside a write transaction (in the session itself, or in an atomic
 *   scope before its first write) reads the latest committed data without waiting for any writer:
 *   on the pool's read-only connection for a file database; for `:memory:`, on the one connection
 *   under the lease, for that statement only. Two reads may see different commits.
 * - A write outside an atomic scope runs on its own, in autocommit: it takes the lease, runs, and
 *   gives the lease back.
 * - The outermost atomic scope writes in one transaction, begun at its first WRITE and holding the
 *   lease until the scope ends: `COMMIT` when the work resolves, `ROLLBACK` when it rejects. From
 *   its first write on, every statement of the scope — reads included — runs in that transaction
 *   and sees the scope's own writes. A scope that never wrote takes no lease.
 * - A nested scope is a savepoint, issued when it first runs a statement in the transaction:
 *   undone when its work rejects, while the outer transaction goes on.
 * - When SQLite rolls the whole transaction back by itself (a trigger's `RAISE(ROLLBACK)`,
 *   `INSERT OR ROLLBACK`, a full disk, an I/O error…), the statement that caused it throws its
 *   own error, and the unit of work cannot continue even if that error is caught: every later
 *   statement of the scope (at any depth) and its commit throw, and so does a nested scope whose
 *   work resolves; nothing of the scope is written.
 *
 * Hence: do a scope's reads and slow calls (Vault) BEFORE its first write when you can; after it,
 * every other writer waits for the scope to end. And a decision taken on a read before the first
 * write may be stale by the time the scope writes: when it must be atomic, write first (e.g.
 * `INSERT OR IGNORE`, then `SELECT`) or let the write check it (compare-and-set
 * `UPDATE … WHERE col = expected`, then look at `changes`).
 *
 * Statements of one scope may run concurrently (`Promise.all`); they share the scope's
 * transaction. Do not open another session of the same pool inside an atomic scope that wrote
 * and write through it (or read through it, with `:memory:`): it would wait for the lease the
 * scope holds, until {@link DatabaseBusyError}. Connection state (TEMP tables, pragmas set with
 * `run`) lives on the writer: a query the read-only connection cannot prepare (it names a TEMP
 * table) runs as a write would.
 */
export class SqliteSession extends BaseSession {
  /** Built by {@link SqliteSessionPool}; `transaction` is the enclosing atomic scope's. */
  constructor(
    private readonly connections: SqliteConnections,
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
      const transaction = new SqliteTransaction(this.connections);
      let result: T;
      try {
        result = await run(new SqliteSession(this.connections, scope, transaction));
      } catch (error) {
        transaction.rollback();
        throw error;
      }
      transaction.commit();
      return result;
    }
    return outer.savepoint(`sp${scope.depth}`, scope.depth, () =>
      run(new SqliteSession(this.connections, scope, outer)),
    );
  }

  async #execute<R>(sql: string, step: (statement: Statement) => R): Promise<R> {
    this.assertUsable();
    const { transaction, connections } = this;
    connections.assertOpen();
    if (transaction?.writing) return this.#inTransaction(transaction, sql, step);
    const { reader, writer } = connections;
    if (reader) {
      const read = await this.#readCommitted(reader, sql, step);
      if (read) return read.result;
    } else if (isRead(translateBusy(() => writer.prepare(sql)))) {
      // One connection: wait for any open transaction to end, or the read would see its rows.
      return this.#autocommit(sql, step);
    }
    return transaction ? this.#inTransaction(transaction, sql, step) : this.#autocommit(sql, step);
  }

  /** Runs `step` in the scope's transaction, beginning it if needed. */
  async #inTransaction<R>(
    transaction: SqliteTransaction,
    sql: string,
    step: (statement: Statement) => R,
  ): Promise<R> {
    await transaction.begin();
    this.#assertStillActive();
    this.connections.assertOpen();
    return transaction.run(this.depth, () =>
      translateBusy(() => step(this.connections.writer.prepare(sql))),
    );
  }

  /** Runs `step` on the writer on its own (autocommit), holding the lease while it runs. */
  async #autocommit<R>(sql: string, step: (statement: Statement) => R): Promise<R> {
    const { lease, leaseTimeoutMs, writer } = this.connections;
    const release = await lease.acquire(leaseTimeoutMs);
    try {
      this.#assertStillActive();
      this.connections.assertOpen();
      return translateBusy(() => step(writer.prepare(sql)));
    } finally {
      release();
    }
  }

  /**
   * If `sql` only reads, runs it on the read-only connection (no lease: WAL readers never wait
   * for the writer) and returns its result; returns `undefined` for anything else, and for a
   * statement that connection cannot prepare (the writer runs those). Only another process can
   * make that connection busy (recovering the WAL after a crash, an exclusive lock): then it
   * tries again after a short pause, without blocking the event loop, and fails with
   * {@link DatabaseBusyError} once `leaseTimeoutMs` has passed.
   */
  async #readCommitted<R>(
    reader: PreparedConnection,
    sql: string,
    step: (statement: Statement) => R,
  ): Promise<{ readonly result: R } | undefined> {
    const { connections } = this;
    const deadline = Date.now() + connections.leaseTimeoutMs;
    for (let attempt = 0; ; attempt += 1) {
      try {
        const statement = prepareIfPossible(reader, sql);
        return statement && isRead(statement) ? { result: step(statement) } : undefined;
      } catch (error) {
        if (!isBusy(error)) throw error;
        if (Date.now() >= deadline) {
          throw new DatabaseBusyError('another process holds a lock on the database file', {
            cause: error,
          });
        }
      }
      await sleep(Math.min(2 ** attempt, READ_RETRY_MAX_DELAY_MS));
      this.#assertStillActive();
      connections.assertOpen();
    }
  }

  /** A statement that waited for the connection must not run once its session has ended. */
  #assertStillActive(): void {
    if (!this.isActive) throw new KmsSessionError(SESSION_ENDED_WHILE_WAITING);
  }
}

/**
 * The statement prepared on `connection`, or `undefined` if it cannot be prepared there for
 * another reason than SQLITE_BUSY: a statement naming a TEMP table (which lives on the writer)
 * then runs on the writer, which also reports a syntax error as it would have.
 */
function prepareIfPossible(connection: PreparedConnection, sql: string): Statement | undefined {
  try {
    return connection.prepare(sql);
  } catch (error) {
    if (isBusy(error)) throw error;
    return undefined;
  }
}

function bind(params: SqlParams | undefined): unknown[] {
  if (params === undefined) return [];
  return Array.isArray(params) ? [...(params as readonly unknown[])] : [params];
}

function rollbackQuietly(writer: PreparedConnection): void {
  try {
    if (writer.db.inTransaction) writer.db.exec('ROLLBACK');
  } catch {
    // The connection is gone or already rolled back; the caller rethrows the original error.
  }
}

/** SQLite's own SQLITE_BUSY (another process holds a lock) as a retryable error. */
function translateBusy<R>(step: () => R): R {
  try {
    return step();
  } catch (error) {
    if (isBusy(error)) {
      throw new DatabaseBusyError('another connection holds the write lock', { cause: error });
    }
    throw error;
  }
}
