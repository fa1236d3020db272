import type { HttpService } from '@nestjs/axios';
import { BaseSession, type SessionScope } from './base-session.js';
import { httpExchange, isHttpsUrl, type HttpExchange } from './http-exchange.js';

/**
 * A session over the pool's keep-alive HTTP client. REST calls have no transaction: an atomic
 * scope groups them (and nests inside a database transaction in a composite session).
 * @publicApi
 */
export class RestSession extends BaseSession {
  private readonly direct: HttpExchange;

  /**
   * @param exchange The direct transport (see {@link exchange}); by default `node:http` with the
   *   agents configured on `http` (`httpAgent`, `httpsAgent`), or Node's global agents.
   */
  constructor(
    private readonly http: HttpService,
    scope: SessionScope,
    exchange?: HttpExchange,
  ) {
    super(scope);
    this.direct = exchange ?? agentExchange(http);
  }

  /** The HTTP client; prefer {@link extractRequest}. Throws if the session may not be used now. */
  get request(): HttpService {
    this.assertUsable();
    return this.http;
  }

  /**
   * The direct transport: one request sent straight over the client's agents, skipping axios's
   * per-request pipeline — its adapter, interceptors and transforms. Throws if the session may
   * not be used now.
   */
  get exchange(): HttpExchange {
    this.assertUsable();
    return this.direct;
  }

  /**
   * Throws `KmsSessionError` unless the session may be used now (its callback is running
   * and no atomic scope of it is open).
   */
  override assertUsable(): void {
    super.assertUsable();
  }

  protected runAtomic<T>(scope: SessionScope, run: (child: BaseSession) => Promise<T>): Promise<T> {
    return run(new RestSession(this.http, scope, this.direct));
  }
}

/** `httpExchange` over the agents an `HttpService` was configured with. */
function agentExchange(http: HttpService): HttpExchange {
  return (request) => {
    const { httpAgent, httpsAgent } = http.axiosRef.defaults;
    const agent: unknown = isHttpsUrl(request.url) ? httpsAgent : httpAgent;
    return httpExchange(
      agent ? { ...request, agent: agent as NonNullable<typeof request.agent> } : request,
    );
  };
}
