/**
 * The database could not be used in time: another unit of work held the connection for longer
 * than the lease timeout, or another process holds SQLite's write lock. Nothing was written by
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
