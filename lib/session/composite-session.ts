import type { ISession, SessionKind } from '../interfaces/session.interface.js';
import { BaseSession, type SessionScope } from './base-session.js';

/**
 * One session over several parts (e.g. a database session and a REST session). `part(kind)`
 * finds a part; `atomic` opens an atomic scope on every part, first part outermost, so the
 * database transaction commits only after the inner work succeeded.
 * @publicApi
 */
export class CompositeSession extends BaseSession {
  constructor(
    private readonly parts: readonly ISession[],
    scope: SessionScope,
  ) {
    super(scope);
  }

  override part<S extends ISession>(kind: SessionKind<S>): S | undefined {
    if (this instanceof kind) return this as unknown as S;
    for (const part of this.parts) {
      const found = part.part(kind);
      if (found) return found;
    }
    return undefined;
  }

  protected runAtomic<T>(scope: SessionScope, run: (child: BaseSession) => Promise<T>): Promise<T> {
    const open = (index: number, opened: ISession[]): Promise<T> => {
      const next = this.parts[index];
      if (!next) return run(new CompositeSession(opened, scope));
      return next.atomic((inner) => open(index + 1, [...opened, inner]));
    };
    return open(0, []);
  }
}
