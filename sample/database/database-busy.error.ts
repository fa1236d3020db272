/**
 * The database could not be used in time: another unit of work held the writer connection for
 * longer than the lease timeout, or another process holds a lock on the database file (SQLite's
 * write lock; for a read, e.g. while it recovers the WAL after a crash). Nothing was written by
 * the failed call; repeating the request later may succeed (map it to HTTP 503 + Retry-After).
 */
export class DatabaseBusyError extends Error {
  readonly code = 'DATABASE_BUSY';
  readonly retryable = true;

  /** `reason` says what was busy, e.g. "no connection became free within 10000 ms". */
  constructor(reason: string, options?: ErrorOptions) {
    super(`The database is busy (${reason}); retry the request later.`, options);
    this.name = 'DatabaseBusyError';
  }
}
