import Database from 'better-sqlite3';
import { ConnectionLease } from './connection-lease.js';

/** A prepared better-sqlite3 statement. @internal */
export type Statement = Database.Statement<unknown[], unknown>;

const CLOSED = 'The database is closed (the application is shutting down).';

/** One better-sqlite3 connection and its prepared statements, reused by SQL text. @internal */
export class PreparedConnection {
  readonly #statements = new Map<string, Statement>();

  constructor(readonly db: Database.Database) {}

  /** The statement for `sql`, prepared on this connection once. */
  prepare(sql: string): Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  close(): void {
    this.#statements.clear();
    this.db.close();
  }
}

/**
 * What the sessions of one `SqliteSessionPool` share: the writer connection, the lease through
 * which writers take turns on it, and — for a file database — a read-only connection to the same
 * file for the reads that run outside a write transaction. A `:memory:` database has no reader
 * (a second connection would open another, empty database). Built by the pool.
 * @internal
 */
export class SqliteConnections {
  readonly lease = new ConnectionLease();
  #closed = false;

  private constructor(
    readonly writer: PreparedConnection,
    readonly reader: PreparedConnection | undefined,
    readonly leaseTimeoutMs: number,
  ) {}

  static open(path: string, leaseTimeoutMs: number): SqliteConnections {
    // timeout 0: never sleep in SQLite's busy handler (it would block the event loop); another
    // process holding a lock surfaces as DatabaseBusyError instead (the reader retries first).
    const writer = new Database(path, { timeout: 0 });
    let reader: Database.Database | undefined;
    try {
      configureWriter(writer);
      // Opened after the writer switched the file to WAL. Needs none of the writer's pragmas:
      // they govern writes (durability, foreign keys, how deleted rows are erased).
      if (!writer.memory) reader = new Database(path, { readonly: true, timeout: 0 });
    } catch (error) {
      writer.close();
      throw error;
    }
    return new SqliteConnections(
      new PreparedConnection(writer),
      reader && new PreparedConnection(reader),
      leaseTimeoutMs,
    );
  }

  /** Throws if {@link close} was called: no statement runs on a closed database. */
  assertOpen(): void {
    if (this.#closed) throw new Error(CLOSED);
  }

  /**
   * Closes both connections; sessions waiting for the lease fail. An open transaction is rolled
   * back by SQLite. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.lease.close(new Error(CLOSED));
    try {
      this.reader?.close();
    } finally {
      // Last to close, the writer checkpoints the WAL into the database file.
      this.writer.close();
    }
  }
}

/**
 * Whether a statement only reads: it returns rows (`reader`) and changes nothing (`readonly`).
 * Both are needed: `INSERT … RETURNING` returns rows, `BEGIN` changes nothing by itself.
 * @internal
 */
export function isRead(statement: Statement): boolean {
  return statement.reader && statement.readonly;
}

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_RECOVERY, SQLITE_BUSY_SNAPSHOT…). @internal */
export function isBusy(error: unknown): error is Database.SqliteError {
  return (
    error instanceof Database.SqliteError &&
    (error.code === 'SQLITE_BUSY' || error.code.startsWith('SQLITE_BUSY_'))
  );
}

function configureWriter(db: Database.Database): void {
  if (!db.memory) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
  }
  db.pragma('foreign_keys = ON');
  db.pragma('secure_delete = ON');
}
