import type { SessionSignals } from '../session/session-signals.js';

/** A class of session parts, used to find one inside a (composite) session. @publicApi */
export type SessionKind<S extends ISession> = abstract new (...args: never[]) => S;

/**
 * A unit of work over one or more resources (an HTTP client, a database connection). It is
 * valid only inside the callback that received it.
 * @publicApi
 */
export interface ISession {
  /** True until the callback that received this session settles. */
  readonly isActive: boolean;
  /**
   * Runs `work` in an atomic scope: committed when it resolves, rolled back when it rejects.
   * Nestable; an inner scope is part of the outer one.
   */
  atomic<T>(work: (session: ISession) => Promise<T>): Promise<T>;
  /** This session if it is a `kind`, or the part of that kind a composite session holds. */
  part<S extends ISession>(kind: SessionKind<S>): S | undefined;
}

/** Opens sessions. @publicApi */
export interface ISessionPool {
  readonly signals: SessionSignals;
  /** Opens a session, runs `work` with it, and closes it however `work` ends. */
  session<T>(work: (session: ISession) => Promise<T>): Promise<T>;
}
