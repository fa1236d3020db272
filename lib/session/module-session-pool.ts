import { KmsConfigurationError } from '../errors/kms-configuration.error.js';
import { messages } from '../errors/messages.js';
import type { KmsModuleOptions } from '../interfaces/kms-module-options.interface.js';
import type { ISessionPool } from '../interfaces/session.interface.js';
import type { RestSessionPool } from './rest-session-pool.js';

/** The pool KmsModule registers under SESSION_POOL: the REST pool, or the `sessionPool` option's. */
export function createModuleSessionPool(
  options: KmsModuleOptions,
  rest: RestSessionPool,
): ISessionPool {
  const build = options?.sessionPool;
  if (build === undefined) return rest;
  if (typeof build !== 'function') {
    throw new KmsConfigurationError(
      messages.invalidOption(
        'sessionPool',
        'must be a function from the REST pool to a session pool',
      ),
    );
  }
  const pool: unknown = build(rest);
  if (!isSessionPool(pool)) {
    throw new KmsConfigurationError(
      messages.invalidOption(
        'sessionPool',
        'must return a session pool (an object with session() and signals), e.g. new CompositeSessionPool(databasePool, rest)',
      ),
    );
  }
  return pool;
}

function isSessionPool(value: unknown): value is ISessionPool {
  const pool = value as Partial<ISessionPool> | null | undefined;
  return (
    typeof pool === 'object' &&
    pool !== null &&
    typeof pool.session === 'function' &&
    typeof pool.signals === 'object' &&
    pool.signals !== null
  );
}
