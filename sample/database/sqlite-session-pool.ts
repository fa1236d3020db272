import type { OnApplicationShutdown } from '@nestjs/common';
import {
  createSessionSignals,
  openSession,
  type ISession,
  type ISessionPool,
  type SessionSignals,
} from '@ascetic-ddd/nestjs-kms';
import { SqliteConnections } from './sqlite-connections.js';
import { SqliteSession } from './sqlite-session.js';

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
 * Opens {@link SqliteSession}s over ONE writer connection, plus, for a file database, one
 * read-only connection to the same file.
 *
 * Reads do not wait for writers. A read (a query that changes nothing) that runs outside a write
 * transaction — in a session outside any atomic scope, or in an atomic scope before its first
 * write — runs on the read-only connection at once, without a lease, and sees the latest
 * committed data: read committed per statement, like Postgres's default (WAL readers never wait
 * for the writer). It never sees another scope's uncommitted rows.
 *
 * Writers take turns. SQLite allows a single writer, and better-sqlite3 runs statements
 * synchronously on one connection that holds one transaction, so writers go through a
 * `ConnectionLease` (an asynchronous FIFO mutex): an atomic scope takes it at its first
 * WRITE, with `BEGIN IMMEDIATE`, and holds it to its COMMIT/ROLLBACK; from then on all the
 * scope's statements, reads included, run in that transaction (they see the scope's own writes).
 * A write outside any scope holds the lease for just that statement. Waiting never blocks the
 * event loop; a wait longer than `leaseTimeoutMs` fails with `DatabaseBusyError`.
 *
 * So keep write transactions short: do a scope's reads and slow I/O (Vault) BEFORE its first
 * write when you can — a Vault call after it keeps every other writer waiting. A read before the
 * first write may be outdated by the time the scope writes: a read-then-write decision that must
 * be atomic needs the write first (e.g. `INSERT OR IGNORE`, then `SELECT`) or a compare-and-set
 * (`UPDATE … WHERE col = expected`, then check `changes`).
 *
 * A `:memory:` database has one connection (a second one would open another, empty database):
 * there a read outside a write transaction takes the lease for just that statement — run while
 * another scope's transaction is open, it would see that scope's uncommitted rows — so reads wait
 * for the writer.
 *
 * For a server database (Postgres, MySQL) you would write the same pool, but lease one pooled
 * connection per session instead of one shared connection, and let the server arbitrate writers.
 *
 * File databases use WAL, `synchronous = FULL` (a request answered "stored" survives a power cut;
 * NORMAL could lose the last commits, and a lost DELETE would bring a shredded row back),
 * `foreign_keys = ON`, and `secure_delete = ON` so deleted rows are overwritten instead of
 * lingering in free pages (old page images may stay in the WAL until its next checkpoint) — on
 * the writer; the read-only connection needs none of them. Its `SQLITE_BUSY`, which only another
 * process can cause (WAL recovery after a crash, an exclusive lock), is retried asynchronously
 * until `leaseTimeoutMs`, then fails with `DatabaseBusyError`. Call {@link close} on shutdown.
 */
export class SqliteSessionPool implements ISessionPool, OnApplicationShutdown {
  readonly name = 'sqlite';
  readonly signals: SessionSignals = createSessionSignals();
  readonly #connections: SqliteConnections;

  constructor(options: SqliteSessionPoolOptions) {
    const leaseTimeoutMs = options.leaseTimeoutMs ?? 10_000;
    if (typeof leaseTimeoutMs !== 'number' || !(leaseTimeoutMs > 0)) {
      throw new RangeError('leaseTimeoutMs must be a positive number of milliseconds.');
    }
    this.#connections = SqliteConnections.open(options.path, leaseTimeoutMs);
  }

  session<T>(work: (session: ISession) => Promise<T>): Promise<T> {
    return openSession(this, (scope) => new SqliteSession(this.#connections, scope), work);
  }

  /**
   * Runs a schema script (e.g. `CREATE TABLE IF NOT EXISTS …`) on the writer in one transaction
   * of its own, taking its turn on the lease like any writer. The script must not contain
   * BEGIN/COMMIT.
   */
  async migrate(sql: string): Promise<void> {
    const { writer, lease, leaseTimeoutMs } = this.#connections;
    const release = await lease.acquire(leaseTimeoutMs);
    try {
      writer.db.transaction(() => writer.db.exec(sql)).immediate();
    } finally {
      release();
    }
  }

  /**
   * Closes both connections; sessions waiting for the lease fail, and so does any later
   * statement. An open transaction is rolled back by SQLite. Idempotent.
   */
  close(): void {
    this.#connections.close();
  }

  onApplicationShutdown(): void {
    this.close();
  }
}
