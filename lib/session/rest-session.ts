import type { HttpService } from '@nestjs/axios';
import { BaseSession, type SessionScope } from './base-session.js';

/**
 * A session over the pool's keep-alive HTTP client. REST calls have no transaction: an atomic
 * scope groups them (and nests inside a database transaction in a composite session).
 * @publicApi
 */
export class RestSession extends BaseSession {
  constructor(
    private readonly http: HttpService,
    scope: SessionScope,
  ) {
    super(scope);
  }

  /** The HTTP client; prefer {@link extractRequest}. Throws if the session may not be used now. */
  get request(): HttpService {
    this.assertUsable();
    return this.http;
  }

  protected runAtomic<T>(scope: SessionScope, run: (child: BaseSession) => Promise<T>): Promise<T> {
    return run(new RestSession(this.http, scope));
  }
}
