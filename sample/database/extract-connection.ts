import { KmsSessionError, type ISession } from '@ascetic-ddd/nestjs-kms';
import { SqliteSession } from './sqlite-session.js';

/**
 * The SQLite session of a session (a SQLite session, or the SQLite part of a composite one) —
 * the database counterpart of `extractRequest`. Repositories take their connection from the
 * current session this way, so their statements join the request's transaction.
 * Throws `KmsSessionError` if the session has no SQLite part.
 */
export function extractConnection(session: ISession): SqliteSession {
  const sqlite = session.part(SqliteSession);
  if (!sqlite) {
    throw new KmsSessionError(
      'The session has no SQLite part: open it from SqliteSessionPool, or from a ' +
        'CompositeSessionPool that includes one.',
    );
  }
  return sqlite;
}
