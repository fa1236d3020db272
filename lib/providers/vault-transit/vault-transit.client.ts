import { classifyVaultError } from '../../errors/classify-vault-error.js';
import { KmsAccessDeniedError } from '../../errors/kms-access-denied.error.js';
import { KmsError } from '../../errors/kms.error.js';
import { KmsUnavailableError } from '../../errors/kms-unavailable.error.js';
import { messages } from '../../errors/messages.js';
import type { ResolvedKmsOptions } from '../../kms-options.js';
import { redact, type Secret } from '../../secret.js';
import { HttpExchangeError, textOf } from '../../session/http-exchange.js';
import { EXCHANGE_TIMEOUT_MS, isLeanHttpAdapter } from '../../session/lean-http-adapter.js';
import type { RestSession } from '../../session/rest-session.js';
import type { AxiosRequestConfig, AxiosResponse } from 'axios';
import type { CallContext } from './call-context.js';
import { CircuitBreaker, NO_BREAKER } from './circuit-breaker.js';
import { observeAttempt } from './kms-signals.js';
import { RequestSlots } from './request-slots.js';
import { parseRetryAfter, RetryPolicy, type Repeatable } from './retry-policy.js';
import { followRedirects } from './vault-redirect.js';
import { transportError } from './vault-transport-error.js';

export type VaultMethod = 'GET' | 'POST' | 'DELETE';

export interface VaultRequest {
  /** Domain name of the call, used in error messages (e.g. `decryptDek`). */
  readonly operation: string;
  /** The key the call addresses (validated), used in error messages. */
  readonly keyName: string;
  readonly method: VaultMethod;
  /** Path under the mount (`encrypt/<key>`), or from `/v1/` when `outsideMount`. */
  readonly path: string;
  readonly body?: Record<string, unknown>;
  readonly outsideMount?: boolean;
  /** Values of the body that must never appear in an error (e.g. the base64 plaintext). */
  readonly secrets?: readonly string[];
  /** Whether a failed attempt may be repeated (see {@link Repeatable}). @default 'always' */
  readonly repeatable?: Repeatable;
  /**
   * A batch request: a 400 whose body carries `data.batch_results` and no `errors` (every item
   * failed) is an answer to read item by item, not a failed call (vault-transit-api §5).
   */
  readonly batch?: boolean;
  /**
   * Sent without a token: none is resolved (no login is triggered) and no `X-Vault-Token` header
   * goes out, to Vault or to a redirect target (e.g. `sys/health`, which needs none).
   */
  readonly unauthenticated?: boolean;
}

export interface VaultAnswer {
  readonly status: number;
  /** The envelope's `data`, or undefined for 204 and data-less answers. */
  readonly data: Record<string, unknown> | undefined;
  /** Vault's clock when it answered (its `Date` header), in ms since the epoch. */
  readonly date?: number;
}

export interface VaultExchange {
  readonly status: number;
  readonly body: Record<string, unknown> | undefined;
  /** Vault's `errors`, with any echoed secret redacted. */
  readonly errors: readonly string[];
  /** A `Retry-After` header, in ms. */
  readonly retryAfterMs?: number;
  /** Vault's `Date` header, in ms since the epoch. */
  readonly date?: number;
}

/**
 * All HTTP details of talking to Vault: URL, token header, timeouts and deadline, retries,
 * the circuit breaker, JSON, and turning failures into typed errors. Nothing it throws carries
 * the token, headers or the request body: the underlying axios error (which holds the config
 * and headers) is never attached, and Vault's error strings are scrubbed of the token and of
 * the request's secrets in case a proxy echoes them.
 */
export class VaultTransitClient {
  private readonly mountUrl: string;
  private readonly v1Url: string;
  private readonly retry: RetryPolicy;
  private readonly breaker: CircuitBreaker | undefined;
  /** At most `maxSockets` requests in flight; the others wait before they are built. */
  private readonly slots: RequestSlots;
  /** When Vault last answered a request with anything but a 5xx. */
  private lastServedAt = 0;

  constructor(private readonly options: ResolvedKmsOptions) {
    this.v1Url = `${options.vaultAddr}/v1/`;
    this.mountUrl = `${this.v1Url}${options.mount}/`;
    this.retry = new RetryPolicy(options.retry);
    this.breaker = options.circuitBreaker && new CircuitBreaker(options.circuitBreaker);
    this.slots = new RequestSlots(options.maxSockets);
  }

  /**
   * Sends a request, repeating it as the retry policy allows within the call's deadline;
   * resolves for 2xx, throws a classified {@link KmsError} otherwise.
   */
  async send(rest: RestSession, request: VaultRequest, call: CallContext): Promise<VaultAnswer> {
    let tokenRefreshed = false;
    let exchanges = 0; // requests sent, a resend with a refreshed token included
    for (let attempt = 1; ; attempt += 1) {
      call.assertCanContinue();
      const ticket = this.breaker?.admit(request.operation) ?? NO_BREAKER;
      let failure: unknown;
      let retryAfterMs: number | undefined;
      let token: Secret | undefined;
      const attemptStarted = performance.now();
      let sending = false;
      try {
        token = request.unauthenticated ? undefined : await this.token(call, rest);
        sending = true;
        exchanges += 1;
        const answer = await this.observedExchange(rest, request, call, token, ticket, exchanges);
        if (answer.status >= 500) {
          ticket.failed();
        } else {
          this.lastServedAt = performance.now();
          ticket.succeeded();
        }
        if ((answer.status >= 200 && answer.status < 300) || itemsFailed(request, answer)) {
          const data = answer.body?.['data'];
          return {
            status: answer.status,
            data: isRecord(data) ? data : undefined,
            ...(answer.date !== undefined ? { date: answer.date } : {}),
          };
        }
        failure = this.classify(request, answer);
        retryAfterMs = answer.retryAfterMs;
      } catch (error) {
        // A timeout while Vault kept answering other requests was spent queueing for a socket
        // or behind slow neighbours: it says nothing about Vault being down.
        // A failure before sending (the token function) says nothing about Vault either.
        const servedMeanwhile = this.lastServedAt > attemptStarted;
        if (sending && isOutage(error) && !(isTimeout(error) && servedMeanwhile)) ticket.failed();
        else ticket.released();
        failure = error;
      } finally {
        ticket.released(); // no-op when the outcome was reported above
      }
      // A token function, file or login may have a newer token than the one Vault just refused.
      if (
        failure instanceof KmsAccessDeniedError &&
        !request.unauthenticated &&
        this.options.vaultToken.dynamic &&
        !tokenRefreshed &&
        this.options.vaultToken.refused(token, failure)
      ) {
        tokenRefreshed = true;
        const fresh = await this.token(call, rest);
        if (fresh.reveal() !== token?.reveal()) {
          attempt -= 1; // the refused token does not count as an attempt
          continue;
        }
      }
      if (!this.retry.shouldRetry(request.repeatable ?? 'always', failure, attempt)) throw failure;
      const delay = this.retry.delayMs(attempt, retryAfterMs);
      if (delay >= call.remainingMs) throw failure;
      await call.wait(delay);
    }
  }

  /**
   * The token for the next request. Only a dynamic source (a function, a file, a login) can be
   * slow or hang, so only its result is raced against the call's deadline and signal (no timer
   * per request otherwise). A login goes over the session's direct transport.
   */
  private token(call: CallContext, rest: RestSession): Promise<Secret> {
    const source = this.options.vaultToken;
    return source.dynamic ? call.race(source.current(rest)) : source.current(rest);
  }

  /** {@link exchange}, as one attempt of the current observed call (see kms-signals). */
  private observedExchange(
    rest: RestSession,
    request: VaultRequest,
    call: CallContext,
    token: Secret | undefined,
    ticket: { readonly maxAttemptMs?: number },
    attempt: number,
  ): Promise<VaultExchange> {
    return observeAttempt(
      () => {
        const path = `/v1/${request.outsideMount ? '' : `${this.options.mount}/`}${request.path}`;
        const query = path.indexOf('?');
        return {
          method: request.method,
          path: query === -1 ? path : path.slice(0, query),
          keyName: request.keyName,
          mountPath: request.outsideMount ? undefined : request.path.split('?')[0],
          vaultAddr: this.options.vaultAddr,
          attempt,
        };
      },
      () => this.exchange(rest, request, call, token, ticket.maxAttemptMs),
    );
  }

  /** The token (unless unauthenticated), the namespace (when set) and, for a body, its type. */
  private headers(token: Secret | undefined, json: boolean): Record<string, string> {
    const headers: Record<string, string> = token ? { 'X-Vault-Token': token.reveal() } : {};
    if (this.options.namespace !== undefined) headers['X-Vault-Namespace'] = this.options.namespace;
    if (json) headers['Content-Type'] = 'application/json';
    return headers;
  }

  /** The typed error for a non-2xx exchange. */
  classify(request: VaultRequest, answer: VaultExchange): Error {
    return classifyVaultError({
      operation: request.operation,
      method: request.method,
      keyName: request.keyName,
      mount: this.options.mount,
      status: answer.status,
      errors: answer.errors,
    });
  }

  /**
   * Sends one request and returns the status and parsed body whatever the status. The attempt
   * gets `min(timeoutMs, time left in the call)`; the caller's AbortSignal cancels it. Without a
   * `token` it resolves one itself, and reports a refusal of it to the token source (a login
   * source then logs in again), as {@link send} does.
   */
  async exchange(
    rest: RestSession,
    request: VaultRequest,
    call: CallContext,
    token?: Secret,
    maxAttemptMs?: number,
  ): Promise<VaultExchange> {
    call.assertCanContinue();
    const secret = request.unauthenticated ? undefined : (token ?? (await this.token(call, rest)));
    const attemptMs = Math.min(this.options.timeoutMs, maxAttemptMs ?? Infinity);
    const limitMs = Math.max(1, Math.min(attemptMs, Math.ceil(call.remainingMs)));
    let received: Received;
    let leave: (() => void) | undefined;
    try {
      // Waiting for a slot counts against the attempt's time limit, like waiting for a socket.
      const waitStarted = performance.now();
      const slot = this.slots.enter(
        limitMs,
        call.signal,
        () => new AttemptTimedOut(),
        () => call.abortedError(),
      );
      leave = typeof slot === 'function' ? slot : await slot;
      const outgoing: Outgoing = {
        method: request.method,
        url: (request.outsideMount ? this.v1Url : this.mountUrl) + request.path,
        headers: this.headers(secret, request.body !== undefined),
        ...(request.body ? { body: JSON.stringify(request.body) } : {}),
      };
      // A standby's 307 to the active node (any 307/308) is followed within this attempt, with
      // the same method, body and headers — the token included; it is not a retry.
      const direct = this.options.transport === 'direct';
      received = await followRedirects(
        request.operation,
        outgoing.url,
        limitMs,
        waitStarted,
        (url, leftMs) =>
          direct
            ? sendDirect(rest, { ...outgoing, url }, call, leftMs)
            : sendThroughHttpService(rest, { ...outgoing, url }, call, leftMs),
      );
    } catch (error) {
      if (call.signal?.aborted) throw call.abortedError();
      // Already typed, and not about Vault: e.g. the session ended or opened an atomic scope
      // between two attempts (KmsSessionError) — never a network failure to retry or count.
      if (error instanceof KmsError) throw error;
      if (error instanceof AttemptTimedOut) {
        if (limitMs < attemptMs) throw call.deadlineError();
        throw transportError(request.operation, { code: 'ETIMEDOUT' }, limitMs);
      }
      throw transportError(request.operation, error, limitMs);
    } finally {
      leave?.();
    }
    const { status, text, headers } = received;
    const body = parseJson(text);
    const date = parseDate(headers['date']);
    const dated = date !== undefined ? { date } : {};
    if (status >= 200 && status < 300) {
      if (status !== 204 && text !== '' && !body) {
        throw new KmsUnavailableError(
          messages.badResponse(request.operation, 'the body is not a JSON object'),
          'bad-response',
          { status },
        );
      }
      return { status, body, errors: [], ...dated };
    }
    const errors = body?.['errors'];
    const secrets = [...(secret ? [secret.reveal()] : []), ...(request.secrets ?? [])];
    const vaultErrors = Array.isArray(errors)
      ? errors.filter((e): e is string => typeof e === 'string').map((e) => redact(e, secrets))
      : [`HTTP ${status} without a Vault error body`];
    const retryAfterMs = parseRetryAfter(headers['retry-after']);
    const answer: VaultExchange = {
      status,
      body,
      errors: vaultErrors,
      ...dated,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    };
    // A token this method resolved itself (setup's requests): send() reports its own.
    if (token === undefined && secret !== undefined) this.reportRefusal(request, answer, secret);
    return answer;
  }

  /**
   * Tells a dynamic token source that Vault refused its token (it may log in again). Only an
   * explicit `invalid token` counts here: a bare `permission denied` (Vault ≤ 1.16) is also what a
   * policy without `read` on lookup-self gets, and would replace a good token at every setup().
   */
  private reportRefusal(request: VaultRequest, answer: VaultExchange, token: Secret): void {
    if (answer.status !== 403 || !this.options.vaultToken.dynamic) return;
    if (!answer.errors.some((error) => error.includes('invalid token'))) return;
    const failure = this.classify(request, answer);
    if (failure instanceof KmsAccessDeniedError) this.options.vaultToken.refused(token, failure);
  }
}

/** A request as both transports send it. */
interface Outgoing {
  readonly method: VaultMethod;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** An answer as both transports return it. */
interface Received {
  readonly status: number;
  /** The body as text (anything else, from a custom adapter, is not a JSON answer). */
  readonly text: unknown;
  readonly headers: Readonly<Record<string, unknown>>;
}

const PASS_THROUGH = [(data: unknown): unknown => data];
const BACKSTOP_MARGIN_MS = 250;
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
const ANY_STATUS = (): boolean => true;

/** The attempt's own time limit ended it (not the caller, not the network). */
class AttemptTimedOut extends Error {}

/** Through the session's HttpService (axios): its interceptors and adapter apply. */
async function sendThroughHttpService(
  rest: RestSession,
  outgoing: Outgoing,
  call: CallContext,
  limitMs: number,
): Promise<Received> {
  const axiosRef = rest.request.axiosRef;
  const config = {
    method: outgoing.method,
    url: outgoing.url,
    headers: outgoing.headers,
    ...(outgoing.body === undefined ? {} : { data: outgoing.body }),
    responseType: 'text',
    // The body is JSON already and the answer is read here: axios's default transforms would
    // parse both once more.
    transformRequest: PASS_THROUGH,
    transformResponse: PASS_THROUGH,
    validateStatus: ANY_STATUS,
    maxRedirects: 0,
    // Vault's answers are small: a larger one is refused rather than buffered (axios: no limit).
    maxContentLength: MAX_ANSWER_BYTES,
  } as const;
  // The lean adapter bounds the whole exchange itself (one timer); any other adapter gets an
  // AbortController per attempt — axios's own `timeout` only watches socket idleness.
  if (isLeanHttpAdapter(axiosRef.defaults.adapter)) {
    try {
      const response = await withBackstop(
        axiosRef.request<unknown>({
          ...config,
          ...(call.signal ? { signal: call.signal } : {}),
          // An option of the lean adapter, which axios does not declare.
          ...({ [EXCHANGE_TIMEOUT_MS]: limitMs } as AxiosRequestConfig),
        }),
        limitMs,
      );
      return answerOf(response);
    } catch (error) {
      if ((error as { code?: unknown })?.code === 'ETIMEDOUT' && !call.signal?.aborted) {
        throw new AttemptTimedOut();
      }
      throw error;
    }
  }
  const attempt = call.attemptSignal(limitMs);
  try {
    return answerOf(await axiosRef.request<unknown>({ ...config, signal: attempt.signal }));
  } catch (error) {
    if (attempt.timedOut && !call.signal?.aborted) throw new AttemptTimedOut();
    throw error;
  } finally {
    attempt.dispose();
  }
}

function answerOf(response: AxiosResponse<unknown>): Received {
  return {
    status: response.status,
    text: response.data,
    headers: response.headers as Record<string, unknown>,
  };
}

/**
 * Settles like `request`, or rejects as timed out a little after `limitMs` should the adapter not
 * have bounded the exchange (an interceptor that swapped the adapter of a request).
 */
function withBackstop<T>(request: Promise<T>, limitMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new AttemptTimedOut()), limitMs + BACKSTOP_MARGIN_MS);
    request.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Straight over the session's agents: one timer, no AbortController, no axios pipeline. */
async function sendDirect(
  rest: RestSession,
  outgoing: Outgoing,
  call: CallContext,
  limitMs: number,
): Promise<Received> {
  try {
    const response = await rest.exchange({
      ...outgoing,
      ...(call.signal ? { signal: call.signal } : {}),
      timeoutMs: limitMs,
    });
    return { status: response.status, text: textOf(response), headers: response.headers };
  } catch (error) {
    if (error instanceof HttpExchangeError && error.code === 'ETIMEDOUT')
      throw new AttemptTimedOut();
    throw error;
  }
}

/** A batch answer in which every item failed: Vault says 400 but answers each item. */
function itemsFailed(request: VaultRequest, answer: VaultExchange): boolean {
  const data = answer.body?.['data'];
  return (
    request.batch === true &&
    answer.status === 400 &&
    answer.body?.['errors'] === undefined &&
    isRecord(data) &&
    Array.isArray(data['batch_results'])
  );
}

/** A failure that says Vault is down or hanging: no answer, or no answer in time. */
function isOutage(error: unknown): boolean {
  return (
    error instanceof KmsUnavailableError &&
    (error.reason === 'network' || error.reason === 'timeout')
  );
}

function isTimeout(error: unknown): boolean {
  return error instanceof KmsUnavailableError && error.reason === 'timeout';
}

function parseDate(header: unknown): number | undefined {
  if (typeof header !== 'string') return undefined;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : date;
}

/** A JSON object from an answer's text; undefined for anything else (empty, not JSON, not an object). */
export function parseJson(text: unknown): Record<string, unknown> | undefined {
  if (typeof text !== 'string' || text === '') return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
