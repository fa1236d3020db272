import Database from 'better-sqlite3';
import type { OnApplicationShutdown } from '@nestjs/common';
import {
  createSessionSignals,
  openSession,
  type ISession,
  type ISessionPool,
  type SessionSignals,
} from '@ascetic-ddd/nestjs-kms';
import { ConnectionLease } from './connection-lease.js';
import { SqliteSession, type SqliteConnection } from './sqlite-session.js';

export interface SqliteSessionPoolOptions {
  /** Database file, or `':memory:'` for a private in-memory database. */
  readonly path: string;
  /**
   * Longest wait for the connection before a statement fails with `DatabaseBusyError`.
   * @default 10_000
   */
  readonly leaseTimeoutMs?: number;
}

/**
 * Opens {@link SqliteSession}s over ONE better-sqlite3 connection.
 *
 * SQLite allows a single writer, and better-sqlite3 runs statements synchronously on one
 * connection that holds one transaction. So sessions take turns through a {@link ConnectionLease}
 * (an asynchronous FIFO mutex): an atomic scope holds it from its first statement to its
 * COMMIT/ROLLBACK, a statement outside any scope for just that statement. Waiting never blocks
 * the event loop; a wait longer than `leaseTimeoutMs` fails with `DatabaseBusyError`. Keep
 * transactions short: do slow I/O (Vault) before the first statement of a scope when you can.
 *
 * For a server database (Postgres, MySQL) you would write the same pool, but lease one pooled
 * connection per session instead of one shared connection, and let the server arbitrate writers.
 *
 * File databases use WAL, `synchronous = FULL` (a request answered "stored" survives a power cut;
 * NORMAL could lose the last commits, and a lost DELETE would bring a shredded row back),
 * `foreign_keys = ON`, and `secure_delete = ON` so deleted rows are overwritten instead of
 * lingering in free pages (old page images may stay in the WAL until its next checkpoint).
 * Call {@link close} on shutdown.
 */
export class SqliteSessionPool implements ISessionPool, OnApplicationShutdown {
  readonly name = 'sqlite';
  readonly signals: SessionSignals = createSessionSignals();
  readonly #connection: SqliteConnection;
  #closed = false;

  constructor(options: SqliteSessionPoolOptions) {
    const leaseTimeoutMs = options.leaseTimeoutMs ?? 10_000;
    if (typeof leaseTimeoutMs !== 'number' || !(leaseTimeoutMs > 0)) {
      throw new RangeError('leaseTimeoutMs must be a positive number of milliseconds.');
    }
    // timeout 0: never sleep in SQLite's busy handler (it would block the event loop); another
    // process holding the write lock surfaces as DatabaseBusyError instead.
    const db = new Database(options.path, { timeout: 0 });
    try {
      configure(db);
    } catch (error) {
      db.close();
      throw error;
    }
    this.#connection = { db, lease: new ConnectionLease(), leaseTimeoutMs, statements: new Map() };
  }

  session<T>(work: (session: ISession) => Promise<T>): Promise<T> {
    return openSession(this, (scope) => new SqliteSession(this.#connection, scope), work);
  }

  /**
   * Runs a schema script (e.g. `CREATE TABLE IF NOT EXISTS …`) in one transaction of its own,
   * taking its turn on the connection like any session. The script must not contain BEGIN/COMMIT.
   */
  async migrate(sql: string): Promise<void> {
    const { db, lease, leaseTimeoutMs } = this.#connection;
    const release = await lease.acquire(leaseTimeoutMs);
    try {
      db.transaction(() => db.exec(sql)).immediate();
    } finally {
      release();
    }
  }

  /**
   * Closes the database; sessions waiting for the connection fail. An open transaction is rolled
   * back by SQLite. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const { db, lease, statements } = this.#connection;
    lease.close(new Error('The database is closed (the application is shutting down).'));
    statements.clear();
    db.close();
  }

  onApplicationShutdown(): void {
    this.close();
  }
}

function configure(db: Database.Database): void {
  if (!db.memory) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
  }
  db.pragma('foreign_keys = ON');
  db.pragma('secure_delete = ON');
}
