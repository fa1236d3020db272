import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TransitEngine } from '../engine/transit-engine.js';
import {
  routeTransit,
  type Capability,
  type LogicalOperation,
  type RouterResponse,
} from '../engine/transit-router.js';
import { TransitError, multiError } from '../engine/transit.error.js';
import { DevServerTokens, newTokenId, type DevServerTokenOptions } from './dev-server-tokens.js';
import {
  cleanPath,
  htmlEscape,
  isForm,
  parseFormBody,
  parseGoBool,
  parseGoQuery,
  parseJsonBody,
  parseMediaType,
  parseRequestTarget,
  queryData,
  writtenStatus,
} from './dev-server-http.js';
import { MethodShimConnection, ORIGINAL_METHOD_HEADER } from './http-method-shim.js';
import { successEnvelope, type DevAnswer } from './dev-server-answer.js';
import { DevServerStateFile } from './dev-server-state-file.js';
import {
  DevServerTls,
  createDevHttpServer,
  type TransitDevServerTls,
  type TransitDevServerTlsOptions,
} from './dev-server-tls.js';
import { sysHealth } from './dev-server-health.js';
import {
  resolveStandby,
  standbyLocation,
  type ResolvedStandby,
  type TransitDevServerStandby,
} from './dev-server-standby.js';
import { tokenRoutes } from './dev-server-token-routes.js';
import {
  DevServerAuthMethods,
  type DevServerAppRole,
  type DevServerAppRoleOptions,
  type DevServerKubernetesRoleOptions,
  type DevServerLogin,
} from './dev-server-auth-methods.js';
import {
  DevServerFaultQueue,
  FaultTimers,
  afterDelay,
  faultErrors,
  faultHeaders,
  sendSlowly,
  type DevServerFault,
  type DevServerFaultKind,
  type DevServerStatusFault,
} from './dev-server-faults.js';

/** @publicApi */
export interface TransitDevServerOptions {
  /** @default 0 (an ephemeral port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** The root token. @default a random `hvs.` token */
  readonly token?: string;
  /** Where Transit is mounted. @default 'transit' */
  readonly mount?: string;
  /**
   * Request bodies larger than this answer 413 at once, and the connection is closed.
   * @default 33554432 (32 MiB, Vault's default)
   */
  readonly maxRequestBytes?: number;
  /**
   * Starts as a standby node of an HA cluster: `sys/health` answers 429 (473 as a performance
   * standby) and every other API request `307` to the active node, path and query kept (see
   * {@link TransitDevServerStandby}). Switch at run time with {@link TransitDevServer.setStandby}.
   * @default undefined (the active node)
   */
  readonly standby?: TransitDevServerStandby;
  /**
   * Persists the keys to this JSON file, so they survive a restart (e.g. next to a development
   * database file). At start an existing file is loaded and every key restored exactly (versions,
   * material, creation times, min versions, flags); a missing file means no keys yet (its
   * directory must exist) and is created on the first change. After each request that changed
   * the keys, the whole state is written before the answer, atomically (temp file, fsync,
   * rename); a failed write answers 500. A file that cannot be read or is malformed makes the
   * start fail. Only keys are kept: not tokens, not the sealed state.
   *
   * One server per file, since each one rewrites the whole state: the start takes
   * `<stateFile>.lock` (holding its pid, host and start time) before loading, and `close()` or a
   * failed start removes it. A start on a file held by a server that still runs — in another
   * process or in this one — fails, naming its pid and the lock file. A lock left by a process
   * that no longer runs (a crash, a kill) is taken over.
   *
   * Development only: the file holds raw key material, written with mode 0600. It is not a
   * secure key store; deleting a key rewrites the file without it, but the disk may keep old
   * blocks.
   * @default none: keys live in memory only and are lost on close
   */
  readonly stateFile?: string;
  /**
   * A namespace every request but `sys/health` must name in `X-Vault-Namespace` (compared
   * without leading or trailing `/`): the mount, the login methods and every token but the root
   * token live in it. A request for another namespace is answered as Vault answers a path that
   * does not exist in the root namespace: 403 `permission denied` without a token or for a login,
   * 403 `invalid token` for a token of the namespace, 404 `no handler for route` for the root
   * token (whose `auth/token/*` still works).
   * @default none: the header is echoed and ignored, as by Vault Community Edition
   */
  readonly namespace?: string;
  /**
   * HTTPS mode: `true` (or options) generates a CA and a server certificate issued by it at start
   * (EC P-256, valid for `127.0.0.1`, `localhost` and the listening host), serves HTTPS, and
   * exposes the CA as {@link TransitDevServer.tls} for clients to trust. With
   * `{ requireClientCert: true }` it requires a client certificate from that CA (mutual TLS) and
   * issues one. Development only: the keys live in memory for the server's lifetime.
   * @default false (plain HTTP)
   */
  readonly tls?: boolean | TransitDevServerTlsOptions;
}

/**
 * Timeouts of the dev server's HTTP listener, in ms (0 disables one). Internal, not exported from
 * the package: tests shorten them.
 */
export interface DevServerTimeouts {
  /** A request head must be complete this long after it started. @default 60000 (Node's) */
  readonly headersTimeout?: number;
  /** A whole request must have arrived this long after it started. @default 300000 (Node's) */
  readonly requestTimeout?: number;
  /** An idle kept-alive connection is closed after this. @default 5000 (Node's) */
  readonly keepAliveTimeout?: number;
  /** How often the timeouts are checked. @default a quarter of the shortest timeout, ≤ 30 s */
  readonly connectionsCheckingInterval?: number;
  /** Once the server ends a connection, how long the client has to close its side. @default 500 */
  readonly lingerTimeout?: number;
}

/** One request the server handled. @publicApi */
export interface TransitDevServerRequest {
  readonly method: string;
  /**
   * The decoded path, e.g. `/v1/transit/encrypt/tenant-1`; the request target as sent when it
   * cannot be parsed (answered 400).
   */
  readonly path: string;
  /**
   * The status that went out; 0 when a fault kept the answer from going out (a `reset`, a
   * delayed request dropped or processed after its client left).
   */
  readonly status: number;
  /** The kind of the fault injected into this request, if one was. */
  readonly fault?: DevServerFaultKind;
}

/** @publicApi */
export interface TransitDevServer {
  /** Base address, e.g. `http://127.0.0.1:41234`: use it as `vaultAddr`. */
  readonly address: string;
  /** The root token. */
  readonly token: string;
  /**
   * Every request handled so far, in the order their answers went out — or, for a request that
   * got none, in the order it was dropped.
   */
  readonly requests: readonly TransitDevServerRequest[];
  /**
   * In HTTPS mode ({@link TransitDevServerOptions.tls}): the CA to trust, the client certificate
   * and key (mutual TLS), and a count of TLS connections; `undefined` over plain HTTP.
   */
  readonly tls: TransitDevServerTls | undefined;
  /** Mints a token with the given capabilities and TTL (vault-transit-api §1.5, §8.2–8.3). */
  createToken(options?: DevServerTokenOptions): string;
  /** Revokes a token: it then answers 403 like an unknown token. */
  revokeToken(token: string): void;
  /**
   * Adds an AppRole role (enabling `auth/<mount>/login`) and returns its role id and secret id.
   * Its logins issue renewable tokens with the role's TTL and max TTL.
   */
  addAppRole(options: DevServerAppRoleOptions): DevServerAppRole;
  /** Adds or replaces a Kubernetes role (enabling `auth/<mount>/login`) accepting the given JWTs. */
  setKubernetesRole(options: DevServerKubernetesRoleOptions): void;
  /** Every successful login so far, in order. */
  readonly logins: readonly DevServerLogin[];
  /** Sealed: every request but `sys/health` answers 503 "Vault is sealed"; health answers 503. */
  setSealed(sealed: boolean): void;
  /**
   * Makes the server a standby (redirecting API requests to `standby.activeAddress`, see
   * {@link TransitDevServerOptions.standby}), or the active node again with `undefined`. Throws a
   * TypeError for a malformed setting.
   */
  setStandby(standby: TransitDevServerStandby | undefined): void;
  /**
   * Not initialised: `sys/health` answers 501 (`initialized: false`, sealed) and every other
   * request 503 "Vault is sealed", as an uninitialised Vault does. Keys are kept.
   */
  setInitialized(initialized: boolean): void;
  /**
   * Queues a fault for the next `fault.times` (default 1) requests matching `fault.match`
   * (default: any request, `sys/health` included). A request takes the first queued fault it
   * matches, in the order they were injected, and at most one; a fault used up leaves the queue.
   * The faulted requests are logged in {@link TransitDevServer.requests} with the fault's kind.
   * Throws a TypeError or RangeError for a malformed fault.
   *
   * @example
   * server.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 1 });
   * server.injectFault({
   *   kind: 'reset',
   *   when: 'after',
   *   match: { method: 'POST', path: '/v1/transit/keys/tenant-1/rotate' },
   * });
   */
  injectFault(fault: DevServerFault): void;
  /** Removes every queued fault; requests already delayed or being sent slowly go on. */
  clearFaults(): void;
  /**
   * Stops listening, closes keep-alive connections and zeroes every key (a `stateFile` stays;
   * its lock is released). Delayed requests are dropped unprocessed and slow bodies cut off.
   */
  close(): Promise<void>;
}

const METHOD_OPERATIONS: Readonly<Record<string, LogicalOperation | 'patch'>> = {
  GET: 'read',
  POST: 'update',
  PUT: 'update',
  DELETE: 'delete',
  LIST: 'list',
  PATCH: 'patch',
};
const MERGE_PATCH = 'application/merge-patch+json';
const ACL_DENIED = multiError(['permission denied']);
const TOO_LARGE = Symbol('body too large');

/** What the requests log records of the request being answered, and its fault. */
interface Exchange {
  method: string;
  path: string;
  readonly fault: DevServerFault | undefined;
  /** The body, read as the request arrived (a delayed request): its client may leave meanwhile. */
  body?: Promise<Buffer | typeof TOO_LARGE>;
}

/**
 * Starts an HTTP server on loopback that speaks Vault's Transit API (shared/vault-transit-api.md
 * §11), backed by the same engine as `InMemoryKeyManagementService`. Any Vault client works
 * against it unchanged. Implemented: keys (create, read, list, delete, config, rotate, trim),
 * encrypt, decrypt, rewrap, datakey (single and batch), `sys/health`, `auth/token/lookup-self`,
 * `auth/token/renew-self`, `auth/<mount>/login` for AppRole and Kubernetes roles. Symmetric key
 * types only.
 * @publicApi
 */
export function startTransitDevServer(
  options: TransitDevServerOptions = {},
): Promise<TransitDevServer> {
  return startDevServer(options, {});
}

/** {@link startTransitDevServer} with the listener's timeouts set. Internal: for tests. */
export async function startDevServer(
  options: TransitDevServerOptions,
  timeouts: DevServerTimeouts,
): Promise<TransitDevServer> {
  const engine = new TransitEngine();
  const stateFile =
    options.stateFile === undefined
      ? undefined
      : DevServerStateFile.open(options.stateFile, engine);
  const rootToken = options.token ?? newTokenId();
  const tokens = new DevServerTokens(rootToken);
  const authMethods = new DevServerAuthMethods(tokens);
  const requiredNamespace = options.namespace?.replace(/^\/+|\/+$/g, '');
  const mount = options.mount ?? 'transit';
  const maxRequestBytes = options.maxRequestBytes ?? 33_554_432;
  const requests: TransitDevServerRequest[] = [];
  const faults = new DevServerFaultQueue();
  const faultTimers = new FaultTimers();
  let sealed = false;
  let initialized = true;
  let standby: ResolvedStandby | undefined = resolveStandby(options.standby);

  const requestTimeout = timeouts.requestTimeout ?? 300_000;
  const headersTimeout = timeouts.headersTimeout ?? Math.min(60_000, requestTimeout || 60_000);
  const shortest = Math.min(...[headersTimeout, requestTimeout].filter((ms) => ms > 0));
  const tls = options.tls
    ? new DevServerTls(options.tls === true ? {} : options.tls, options.host ?? '127.0.0.1')
    : undefined;
  const server = createDevHttpServer(
    tls,
    {
      headersTimeout,
      requestTimeout,
      keepAliveTimeout: timeouts.keepAliveTimeout ?? 5_000,
      connectionsCheckingInterval:
        timeouts.connectionsCheckingInterval ??
        (Number.isFinite(shortest)
          ? Math.min(30_000, Math.max(10, Math.floor(shortest / 4)))
          : 30_000),
    },
    (req, res) => {
      const method = methodOf(req);
      const path = parseRequestTarget(req.url ?? '')?.path ?? req.url ?? '';
      const exchange: Exchange = { method, path, fault: faults.take(method, path) };
      const fault = exchange.fault;
      switch (fault?.kind) {
        case 'status':
          return statusFault(req, res, exchange, fault);
        case 'reset':
          if (fault.when !== 'after') return resetConnection(res, exchange);
          break;
        case 'delay': {
          // The request arrives whole, then waits: read its body now.
          const body = readBody(req, maxRequestBytes);
          void body.catch(() => undefined); // a client gone mid-body: handled where it is used
          exchange.body = body;
          return afterDelay(
            res,
            fault,
            faultTimers,
            () => serve(req, res, exchange),
            () => log(exchange, 0),
          );
        }
      }
      serve(req, res, exchange);
    },
  );

  /** Handles the request; an error that escapes is the answer. */
  function serve(req: IncomingMessage, res: ServerResponse, exchange: Exchange): void {
    void handle(req, res, exchange).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else if (error instanceof TransitError)
        answer(res, exchange, error.status, { errors: error.errors });
      else answer(res, exchange, 500, { errors: [multiError(['internal error'])] });
    });
  }

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    exchange: Exchange,
  ): Promise<void> {
    const method = exchange.method;
    // Go's server parses the target before any handler: what it refuses never reaches Vault.
    const target = parseRequestTarget(req.url ?? '');
    if (!target) return badRequest(res, exchange);
    exchange.path = target.path;
    // Vault's wrapGenericHandler: only /v1/ is served (the UI aside); the namespace is echoed.
    if (!target.path.startsWith('/v1/')) return answer(res, exchange, 404, { errors: [] });
    const namespace = req.headersDistinct['x-vault-namespace']?.[0];
    if (namespace) res.setHeader('X-Vault-Namespace', namespace);
    // Go's ServeMux redirects a path with `.`/`..` segments or `//` to the cleaned one. It cleans
    // the escaped path (Go ≥ 1.22), so `%2e%2e` is routed as a `..` segment, matching no route.
    const cleaned = cleanPath(target.escapedPath);
    if (cleaned !== target.escapedPath) {
      return redirect(res, exchange, target.rawQuery ? `${cleaned}?${target.rawQuery}` : cleaned);
    }
    const query = parseGoQuery(target.rawQuery);
    let logicalPath = target.path.slice('/v1/'.length);
    // A `sealed` fault answers this one request as a sealed Vault would.
    const sealedNow = sealed || !initialized || exchange.fault?.kind === 'sealed';
    if (logicalPath === 'sys/health') {
      const node = standby && (standby.performance ? 'performance' : 'standby');
      const state = { initialized, sealed: sealedNow, standby: node } as const;
      return reply(res, exchange, sysHealth(exchange.method, query, state, clusterId));
    }
    // A standby without request forwarding sends every other API request to the active node.
    if (standby && !sealedNow) {
      const location = standbyLocation(standby, target.escapedPath, target.rawQuery);
      return standbyRedirect(res, exchange, location);
    }

    // Vault's HTTP layer (http/logical.go) resolves the operation and parses the body before the
    // core checks the seal, the trailing slash and the token, in that order.
    let operation = Object.hasOwn(METHOD_OPERATIONS, method)
      ? METHOD_OPERATIONS[method]
      : undefined;
    let data: Record<string, unknown> | undefined;
    switch (operation) {
      case undefined:
        return answer(res, exchange, 405, { errors: [] });
      case 'read': {
        const list = query.values.get('list')?.[0] ?? '';
        if (list !== '') {
          const parsed = parseGoBool(list);
          if (parsed === undefined) return answer(res, exchange, 400, { errors: [] });
          if (parsed) operation = 'list';
        }
        data = queryData(query, operation === 'list' ? 'list' : undefined);
        break;
      }
      case 'delete':
      case 'list':
        data = queryData(query);
        break;
      case 'update':
      case 'patch': {
        const contentType = req.headers['content-type'];
        if (operation === 'patch') {
          const media = parseMediaType(contentType);
          if ('error' in media) return answer(res, exchange, 400, { errors: [media.error] });
          if (media.type !== MERGE_PATCH) {
            return answer(res, exchange, 415, {
              errors: [
                `PATCH requires Content-Type of ${MERGE_PATCH}, got ${JSON.stringify(media.type)}`,
              ],
            });
          }
        }
        const raw = await (exchange.body ?? readBody(req, maxRequestBytes));
        if (raw === TOO_LARGE) return tooLarge(req, res, exchange);
        const parsed =
          operation === 'update' && isForm(raw, contentType)
            ? parseFormBody(raw, target.rawQuery)
            : parseJsonBody(raw);
        if ('error' in parsed) return answer(res, exchange, 400, { errors: [parsed.error] });
        data = parsed.data;
        break;
      }
    }
    // A list request gets a `/` appended to its path (vault-transit-api §1.1).
    if (operation === 'list' && !logicalPath.endsWith('/')) logicalPath += '/';
    const write = operation === 'update' || operation === 'patch';

    if (sealedNow) return answer(res, exchange, 503, { errors: ['Vault is sealed'] });
    if (write && logicalPath.endsWith('/')) {
      return answer(res, exchange, 400, { errors: ["cannot write to a path ending in '/'"] });
    }
    const inNamespace =
      requiredNamespace === undefined ||
      (namespace ?? '').replace(/^\/+|\/+$/g, '') === requiredNamespace;
    // Login paths need no token (outside the namespace they do not exist).
    if (inNamespace && authMethods.isLogin(logicalPath)) {
      return reply(res, exchange, authMethods.login(operation, logicalPath, data ?? {}));
    }
    const found = tokens.find(tokenOf(req));
    // Outside the required namespace only the root token exists.
    const token = inNamespace || found?.root ? found : undefined;
    if (!token) {
      const presented = tokenOf(req) !== undefined;
      return answer(res, exchange, 403, {
        errors: presented
          ? ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n']
          : ['permission denied'],
      });
    }

    // Vault's router takes `x` for the mount `x/` when no mount matches it as is.
    if (logicalPath === 'auth/token' || logicalPath.startsWith('auth/token/')) {
      const inside = logicalPath.slice('auth/token/'.length);
      return reply(res, exchange, tokenRoutes(operation, inside, data ?? {}, token));
    }
    const mountPrefix = `${mount}/`;
    if (!inNamespace || (logicalPath !== mount && !logicalPath.startsWith(mountPrefix))) {
      if (!token.root) return answer(res, exchange, 403, { errors: [ACL_DENIED] });
      return answer(res, exchange, 404, {
        errors: [`no handler for route "${logicalPath}". route entry not found.`],
      });
    }
    const routePath = logicalPath.slice(mountPrefix.length);
    if (operation === 'patch') {
      // Transit implements PATCH nowhere; the double's tokens never hold the `patch` capability.
      if (!token.root) return answer(res, exchange, 403, { errors: [ACL_DENIED] });
      const unsupported = TransitError.unsupportedOperation();
      return answer(res, exchange, unsupported.status, { errors: unsupported.errors });
    }
    const authorize = (capability: Capability): void => {
      if (!token.capabilities.has(capability)) throw new TransitError(403, [ACL_DENIED]);
    };
    let routed: RouterResponse;
    try {
      routed = routeTransit(engine, { operation, path: routePath, body: data ?? {}, authorize });
    } finally {
      // Even a failed request may have changed keys (an upserted key whose encrypt failed).
      persistKeys();
    }
    if (routed.status === 204) return answer(res, exchange, 204, undefined);
    const envelope = successEnvelope(routed.data ?? null, routed.warnings, 'transit');
    return answer(res, exchange, routed.status, envelope, !routed.raw);
  }

  /** Writes the keys to the state file if they changed; a failed write is a 500 answer. */
  function persistKeys(): void {
    try {
      stateFile?.persist();
    } catch (error) {
      throw TransitError.wrapped(`failed to persist keys: ${(error as Error).message}`);
    }
  }

  function reply(res: ServerResponse, exchange: Exchange, devAnswer: DevAnswer): void {
    answer(res, exchange, devAnswer.status, devAnswer.body);
  }

  /** Writes a JSON answer and logs the status that actually went out. */
  function answer(
    res: ServerResponse,
    exchange: Exchange,
    status: number,
    body: unknown,
    trailingNewline = true,
  ): void {
    const written = writtenStatus(status);
    if (written === undefined) {
      // Where Go's WriteHeader panics (Vault then drops the connection), answer a 500 that says why.
      return answer(res, exchange, 500, {
        errors: [multiError([`invalid WriteHeader code ${status}`])],
      });
    }
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Cache-Control', 'no-store');
    const text =
      body === undefined ? undefined : JSON.stringify(body) + (trailingNewline ? '\n' : '');
    deliver(res, exchange, written, text);
  }

  /** Go's ServeMux redirect (`http.Redirect` with 301), behind Vault's Cache-Control header. */
  function redirect(res: ServerResponse, exchange: Exchange, location: string): void {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Location', location);
    if (exchange.method === 'GET' || exchange.method === 'HEAD')
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
    const body =
      exchange.method === 'GET'
        ? `<a href="${htmlEscape(location)}">Moved Permanently</a>.\n\n`
        : undefined;
    deliver(res, exchange, 301, body);
  }

  /** A standby's `307` (Vault's respondStandby): `Location` set, no body, no content type. */
  function standbyRedirect(res: ServerResponse, exchange: Exchange, location: string): void {
    res.setHeader('Cache-Control', 'no-store'); // Vault's generic handler sets it on every answer
    res.setHeader('Location', location);
    deliver(res, exchange, 307, undefined);
  }

  /** Go's server answer to a request target it cannot parse; no handler (nor Vault) runs. */
  function badRequest(res: ServerResponse, exchange: Exchange): void {
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Connection', 'close');
    deliver(res, exchange, 400, '400 Bad Request');
  }

  /**
   * Logs the request and sends its answer (headers already set) — unless its fault says
   * otherwise: `reset` (after) resets the connection instead, `slow-body` sends the body slowly.
   */
  function deliver(
    res: ServerResponse,
    exchange: Exchange,
    status: number,
    body: string | undefined,
  ): void {
    const fault = exchange.fault;
    if (fault?.kind === 'reset') return resetConnection(res, exchange);
    // A delayed request processed after its client left: nothing can go out.
    if (fault && res.destroyed) return log(exchange, 0);
    log(exchange, status);
    res.statusCode = status;
    if (fault?.kind === 'slow-body') {
      const bytes = body === undefined ? undefined : Buffer.from(body);
      return sendSlowly(res, bytes, fault, faultTimers);
    }
    res.end(body);
  }

  /** A `status` fault's answer; the request is not processed. */
  function statusFault(
    req: IncomingMessage,
    res: ServerResponse,
    exchange: Exchange,
    fault: DevServerStatusFault,
  ): void {
    // Vault's generic handler echoes the namespace before its rate limiter answers.
    const namespace = req.headersDistinct['x-vault-namespace']?.[0];
    if (namespace) res.setHeader('X-Vault-Namespace', namespace);
    for (const [name, value] of Object.entries(faultHeaders(fault))) res.setHeader(name, value);
    answer(res, exchange, fault.status, { errors: faultErrors(fault, exchange.path) });
  }

  /** Resets the request's connection (TCP RST) instead of answering; logged with status 0. */
  function resetConnection(res: ServerResponse, exchange: Exchange): void {
    log(exchange, 0);
    const raw = res.socket ? rawSockets.get(res.socket) : undefined;
    if (raw && !raw.destroyed) raw.resetAndDestroy();
    else res.destroy();
  }

  function log(exchange: Exchange, status: number): void {
    const { method, path, fault } = exchange;
    requests.push(fault ? { method, path, status, fault: fault.kind } : { method, path, status });
  }

  /** 413 as soon as the limit is passed; the rest of the body is not read, the connection closes. */
  function tooLarge(req: IncomingMessage, res: ServerResponse, exchange: Exchange): void {
    if (req.socket instanceof MethodShimConnection) req.socket.discardInput();
    res.setHeader('Connection', 'close');
    answer(res, exchange, 413, { errors: ['error parsing JSON'] });
  }

  const clusterId = randomUUID();
  // Node's HTTP parser refuses Vault's `LIST` verb with a bare 400 before any handler runs, so
  // every connection reaches the server's own connection listener through the method shim. The
  // server itself listens, so its request and header timeouts run.
  const sockets = new Set<Socket>();
  // The TCP socket under each shim, for a `reset` fault.
  const rawSockets = new WeakMap<Duplex, Socket>();
  // In HTTPS mode the HTTP layer gets the TLS sockets ('secureConnection'); the TCP sockets under
  // them are tracked too, so close() also ends connections still in their handshake.
  const httpEvent = tls ? 'secureConnection' : 'connection';
  const [connectionListener] = server.listeners(httpEvent) as ((socket: Duplex) => void)[];
  if (!connectionListener) throw new Error('http.Server has no connection listener');
  server.removeAllListeners(httpEvent);
  const shimOptions = { headersTimeout, lingerTimeout: timeouts.lingerTimeout ?? 500 };
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  if (tls) server.on('connection', track);
  server.on(httpEvent, (socket: Socket) => {
    if (tls) tls.connected();
    else track(socket);
    // What Node's HTTP server does to the sockets it is given (its `noDelay` option), which the
    // shim hides from it: small writes (a slow body's pieces) go out at once.
    socket.setNoDelay(true);
    const shim = new MethodShimConnection(socket, shimOptions);
    // Over TLS, the reset goes to the TCP socket under the TLS one.
    rawSockets.set(shim, (Reflect.get(socket, '_parent') as Socket | undefined) ?? socket);
    connectionListener.call(server, shim);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: unknown) => {
    stateFile?.close(); // its lock released
    engine.reset(); // keys loaded from a stateFile: zeroed, and the file is left as it was
    throw error;
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;

  return {
    address: `${tls ? 'https' : 'http'}://${host}:${bound.port}`,
    token: rootToken,
    requests,
    tls,
    createToken: (tokenOptions) => tokens.create(tokenOptions),
    revokeToken: (token) => tokens.revoke(token),
    addAppRole: (roleOptions) => authMethods.addAppRole(roleOptions),
    setKubernetesRole: (roleOptions) => authMethods.setKubernetesRole(roleOptions),
    logins: authMethods.logins,
    setSealed: (value) => {
      sealed = value;
    },
    setStandby: (value) => {
      standby = resolveStandby(value);
    },
    setInitialized: (value) => {
      initialized = value;
    },
    injectFault: (fault) => faults.inject(fault),
    clearFaults: () => faults.clear(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        faultTimers.stop(); // delayed requests dropped, slow bodies cut off
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
        stateFile?.close();
        engine.reset();
      }),
  };
}

/**
 * The request's method: Vault's `LIST` (and any method Node's parser does not know) arrives
 * rewritten by the shim.
 */
function methodOf(req: IncomingMessage): string {
  const original = req.headers[ORIGINAL_METHOD_HEADER];
  return typeof original === 'string' ? original : (req.method ?? 'GET');
}

function tokenOf(req: IncomingMessage): string | undefined {
  const header = req.headers['x-vault-token'];
  if (typeof header === 'string' && header !== '') return header;
  const authorization = req.headers.authorization;
  if (authorization?.startsWith('Bearer '))
    return authorization.slice('Bearer '.length).trim() || undefined;
  return undefined;
}

/**
 * The request body, or {@link TOO_LARGE} as soon as it is known to exceed `limit`: at once from
 * the Content-Length, else at the chunk that passes it (the rest is not read).
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | typeof TOO_LARGE> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.resolve(TOO_LARGE);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else {
        stop();
        resolve(TOO_LARGE);
      }
    };
    const onEnd = (): void => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error): void => {
      stop();
      reject(error);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
