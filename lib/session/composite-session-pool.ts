import type { ISession, ISessionPool } from '../interfaces/session.interface.js';
import { CompositeSession } from './composite-session.js';
import { openSession } from './open-session.js';
import { createSessionSignals, type SessionSignals } from './session-signals.js';

/**
 * Opens one session across several pools, in the order given (see {@link CompositeSession}).
 * @publicApi
 */
export class CompositeSessionPool implements ISessionPool {
  readonly name = 'composite';
  readonly signals: SessionSignals = createSessionSignals();
  readonly pools: readonly ISessionPool[];

  constructor(...pools: ISessionPool[]) {
    this.pools = pools;
  }

  session<T>(work: (session: ISession) => Promise<T>): Promise<T> {
    const open = (index: number, opened: ISession[]): Promise<T> => {
      const pool = this.pools[index];
      if (pool) return pool.session((part) => open(index + 1, [...opened, part]));
      return openSession(this, (scope) => new CompositeSession(opened, scope), work);
    };
    return open(0, []);
  }
}
