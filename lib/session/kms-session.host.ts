import { Inject, Injectable } from '@nestjs/common';
import { KmsSessionError } from '../errors/kms-session.error.js';
import { messages } from '../errors/messages.js';
import type { ISession, ISessionPool } from '../interfaces/session.interface.js';
import { SESSION_POOL } from '../kms.constants.js';
import {
  activeSession,
  currentSession,
  requireActiveSession,
  runWithSession,
} from './session-context.js';
import type { WithSessionOptions } from './session-propagation.js';

/**
 * Owns the unit of work: opens `pool.session(s => s.atomic(tx => …))` around a piece of work,
 * makes `tx` the current session of everything that work calls (AsyncLocalStorage, not
 * `Scope.REQUEST`), commits when the work resolves and rolls back when it rejects.
 * {@link SessionInterceptor} uses it for HTTP requests; call {@link withSession} (or put
 * `@WithSession()` on a method) for queues, cron jobs and CLI commands.
 * @publicApi
 */
@Injectable()
export class KmsSessionHost {
  constructor(@Inject(SESSION_POOL) private readonly pool: ISessionPool) {}

  /**
   * The current unit of work's atomic session.
   * @throws KmsSessionError when no session is active here (no interceptor, no withSession, or
   * code that outlived the request that started it).
   */
  get session(): ISession {
    return requireActiveSession();
  }

  /** Whether a session is active here. */
  get hasSession(): boolean {
    return activeSession() !== undefined;
  }

  /**
   * Runs `work` as one unit of work: a session and an atomic scope from the pool, committed
   * when `work` resolves, rolled back when it throws or rejects, closed either way. Code that
   * belongs to a unit of work joins it instead (one request, one transaction) — and if that unit
   * has ended (the request answered, or its response was abandoned), it fails with
   * KmsSessionError rather than commit work its caller was told is over. `'requires-new'` always
   * opens a unit of work of its own.
   */
  withSession<T>(
    work: (session: ISession) => Promise<T> | T,
    options: WithSessionOptions = {},
  ): Promise<T> {
    const current = options.propagation === 'requires-new' ? undefined : currentSession();
    if (current) {
      if (!current.isActive) {
        return Promise.reject(new KmsSessionError(messages.unitOfWorkEnded()));
      }
      return Promise.resolve().then(() => work(current));
    }
    return this.pool.session((session) =>
      session.atomic((atomic) => runWithSession(atomic, async () => work(atomic))),
    );
  }
}
