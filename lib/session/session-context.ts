import { AsyncLocalStorage } from 'node:async_hooks';
import { KmsSessionError } from '../errors/kms-session.error.js';
import { messages } from '../errors/messages.js';
import type { ISession } from '../interfaces/session.interface.js';

/**
 * The session of the unit of work the current code runs in (an HTTP request under
 * SessionInterceptor, or KmsSessionHost.withSession). One store for the process, so that the
 * parameter decorator, which has no injector, reads the same session as the injected host.
 */
const storage = new AsyncLocalStorage<ISession>();

/**
 * The session of the unit of work the current code belongs to — possibly one that has ended
 * (code a request left running after it answered still belongs to that request).
 */
export function currentSession(): ISession | undefined {
  return storage.getStore();
}

/** The session of the current unit of work, if it is still active. */
export function activeSession(): ISession | undefined {
  const session = storage.getStore();
  return session?.isActive ? session : undefined;
}

/** Runs `work` with `session` as the current session of everything it calls or schedules. */
export function runWithSession<T>(session: ISession, work: () => T): T {
  return storage.run(session, work);
}

/**
 * The current unit of work's session; throws KmsSessionError when there is none, or when it has
 * ended (code that outlived the request it belongs to).
 */
export function requireActiveSession(): ISession {
  const session = storage.getStore();
  if (!session) throw new KmsSessionError(messages.noCurrentSession());
  if (!session.isActive) throw new KmsSessionError(messages.unitOfWorkEnded());
  return session;
}
