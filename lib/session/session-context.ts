import { AsyncLocalStorage } from 'node:async_hooks';
import type { ISession } from '../interfaces/session.interface.js';

/**
 * The session of the unit of work the current code runs in (an HTTP request under
 * SessionInterceptor, or KmsSessionHost.withSession). One store for the process, so that the
 * parameter decorator, which has no injector, reads the same session as the injected host.
 */
const storage = new AsyncLocalStorage<ISession>();

/** The session of the current unit of work, if it is still active. */
export function activeSession(): ISession | undefined {
  const session = storage.getStore();
  return session?.isActive ? session : undefined;
}

/** Runs `work` with `session` as the current session of everything it calls or schedules. */
export function runWithSession<T>(session: ISession, work: () => T): T {
  return storage.run(session, work);
}
