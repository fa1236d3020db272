import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { TransitEngine } from '../engine/transit-engine.js';
import { routeTransit, type Capability, type LogicalOperation } from '../engine/transit-router.js';
import { TransitError } from '../engine/transit.error.js';
import {
  DevServerTokens,
  newTokenId,
  type DevServerToken,
  type DevServerTokenOptions,
} from './dev-server-tokens.js';
import { MethodShimConnection, ORIGINAL_METHOD_HEADER } from './http-method-shim.js';

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
  /** Request bodies larger than this answer 413. @default 33554432 (32 MiB, Vault's default) */
  readonly maxRequestBytes?: number;
}

/** One request the server answered. @publicApi */
export interface TransitDevServerRequest {
  readonly method: string;
  /** The decoded path, e.g. `/v1/transit/encrypt/tenant-1`. */
  readonly path: string;
  readonly status: number;
}

/** @publicApi */
export interface TransitDevServer {
  /** Base address, e.g. `http://127.0.0.1:41234`: use it as `vaultAddr`. */
  readonly address: string;
  /** The root token. */
  readonly token: string;
  /** Every request answered so far, in order. */
  readonly requests: readonly TransitDevServerRequest[];
  /** Mints a token with the given capabilities and TTL (vault-transit-api §1.5, §8.2–8.3). */
  createToken(options?: DevServerTokenOptions): string;
  /** Revokes a token: it then answers 403 like an unknown token. */
  revokeToken(token: string): void;
  /** Sealed: every request but `sys/health` answers 503 "Vault is sealed"; health answers 503. */
  setSealed(sealed: boolean): void;
  /** Stops listening, closes keep-alive connections and zeroes every key. */
  close(): Promise<void>;
}

const METHOD_OPERATIONS: Readonly<Record<string, LogicalOperation>> = {
  GET: 'read',
  POST: 'update',
  PUT: 'update',
  DELETE: 'delete',
  LIST: 'list',
};
const VERSION = '1.21.0+transit-dev-server';

class BodyTooLarge extends Error {}

/**
 * Starts an HTTP server on loopback that speaks Vault's Transit API (shared/vault-transit-api.md
 * §11), backed by the same engine as `InMemoryKeyManagementService`. Any Vault client works
 * against it unchanged. Implemented: keys (create, read, list, delete, config, rotate, trim),
 * encrypt, decrypt, rewrap, datakey (single and batch), `sys/health`, `auth/token/lookup-self`,
 * `auth/token/renew-self`. Symmetric key types only.
 * @publicApi
 */
export async function startTransitDevServer(
  options: TransitDevServerOptions = {},
): Promise<TransitDevServer> {
  const engine = new TransitEngine();
  const rootToken = options.token ?? newTokenId();
  const tokens = new DevServerTokens(rootToken);
  const mount = options.mount ?? 'transit';
  const maxRequestBytes = options.maxRequestBytes ?? 33_554_432;
  const requests: TransitDevServerRequest[] = [];
  let sealed = false;

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent)
        writeJson(res, 500, { errors: ['1 error occurred:\n\t* internal error\n\n'] }, false);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Vault's `LIST` (and any method Node's parser does not know) arrives rewritten by the shim.
    const original = req.headers[ORIGINAL_METHOD_HEADER];
    const method = typeof original === 'string' ? original : (req.method ?? 'GET');
    const url = new URL(req.url ?? '/', 'http://dev-server');
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return answer(res, method, url.pathname, 400, { errors: [] });
    }
    if (!path.startsWith('/v1/')) return answer(res, method, path, 404, { errors: [] });
    const logicalPath = path.slice('/v1/'.length);
    if (logicalPath === 'sys/health') return health(res, method, path, url.searchParams);

    // Vault's HTTP layer (http/logical.go) resolves the operation and parses the body before the
    // core checks the seal, the trailing slash and the token, in that order.
    let operation = Object.hasOwn(METHOD_OPERATIONS, method)
      ? METHOD_OPERATIONS[method]
      : undefined;
    if (method === 'GET' && url.searchParams.has('list')) {
      const list = parseGoBool(url.searchParams.get('list') ?? '');
      if (list === undefined) return answer(res, method, path, 400, { errors: [] });
      if (list) operation = 'list';
    }
    if (!operation) return answer(res, method, path, 405, { errors: [] });

    let body: Record<string, unknown> = {};
    if (operation === 'update') {
      let raw: Buffer;
      try {
        raw = await readBody(req, maxRequestBytes);
      } catch (error) {
        if (error instanceof BodyTooLarge)
          return answer(res, method, path, 413, { errors: ['error parsing JSON'] });
        throw error;
      }
      if (raw.length > 0) {
        try {
          const parsed: unknown = JSON.parse(raw.toString('utf8'));
          if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed)))
            throw new Error('not an object');
          body = (parsed ?? {}) as Record<string, unknown>;
        } catch {
          return answer(res, method, path, 400, { errors: ['error parsing JSON'] });
        }
      }
    } else {
      body = Object.fromEntries([...url.searchParams].filter(([k]) => k !== 'list'));
    }

    if (sealed) return answer(res, method, path, 503, { errors: ['Vault is sealed'] });
    if (operation === 'update' && logicalPath.endsWith('/')) {
      return answer(res, method, path, 400, { errors: ["cannot write to a path ending in '/'"] });
    }
    const token = tokens.find(tokenOf(req));
    if (!token) {
      const presented = tokenOf(req) !== undefined;
      return answer(res, method, path, 403, {
        errors: presented
          ? ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n']
          : ['permission denied'],
      });
    }

    if (logicalPath === 'auth/token/lookup-self' && operation === 'read')
      return lookupSelf(res, method, path, token);
    if (logicalPath === 'auth/token/renew-self' && operation === 'update')
      return renewSelf(res, method, path, token);

    const mountPrefix = `${mount}/`;
    const authorize = (capability: Capability): void => {
      if (!token.capabilities.has(capability))
        throw new TransitError(403, ['1 error occurred:\n\t* permission denied\n\n']);
    };
    if (!logicalPath.startsWith(mountPrefix) || logicalPath === mountPrefix) {
      if (!token.root)
        return answer(res, method, path, 403, {
          errors: ['1 error occurred:\n\t* permission denied\n\n'],
        });
      return answer(res, method, path, 404, {
        errors: [`no handler for route "${logicalPath}". route entry not found.`],
      });
    }
    try {
      // Vault appends a `/` to the path of a list request (vault-transit-api §1.1).
      const routePath = logicalPath.slice(mountPrefix.length);
      const routed = routeTransit(engine, {
        operation,
        path: operation === 'list' && !routePath.endsWith('/') ? `${routePath}/` : routePath,
        body,
        authorize,
      });
      if (routed.status === 204) return answer(res, method, path, 204, undefined);
      const envelope = successEnvelope(routed.data ?? null, routed.warnings, 'transit');
      return answer(res, method, path, routed.status, envelope, !routed.raw);
    } catch (error) {
      if (error instanceof TransitError)
        return answer(res, method, path, error.status, { errors: error.errors });
      throw error;
    }
  }

  function health(res: ServerResponse, method: string, path: string, query: URLSearchParams): void {
    if (method !== 'GET' && method !== 'HEAD')
      return answer(res, method, path, 405, { errors: [] });
    const code = (name: string, fallback: number): number | undefined => {
      const value = query.get(name);
      if (value === null) return fallback;
      return /^\d+$/.test(value) ? Number(value) : undefined;
    };
    const status = sealed ? code('sealedcode', 503) : code('activecode', 200);
    if (status === undefined) return answer(res, method, path, 400, { errors: [] });
    const info: Record<string, unknown> = {
      initialized: true,
      sealed,
      standby: sealed,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(Date.now() / 1000),
      version: VERSION,
    };
    if (!sealed)
      Object.assign(info, { cluster_name: 'vault-cluster-transit-dev', cluster_id: clusterId });
    if (method === 'HEAD') return answer(res, method, path, status, undefined);
    return answer(res, method, path, status, info);
  }

  function lookupSelf(
    res: ServerResponse,
    method: string,
    path: string,
    token: DevServerToken,
  ): void {
    const now = Date.now();
    const ttl =
      token.expiresAt === undefined ? 0 : Math.max(0, Math.round((token.expiresAt - now) / 1000));
    const data = {
      accessor: token.accessor,
      creation_time: Math.floor(token.issuedAt / 1000),
      creation_ttl: token.ttlSeconds,
      display_name: token.root ? 'root' : 'token',
      entity_id: '',
      expire_time: token.expiresAt === undefined ? null : new Date(token.expiresAt).toISOString(),
      explicit_max_ttl: 0,
      id: token.id,
      meta: null,
      num_uses: 0,
      orphan: true,
      path: token.root ? 'auth/token/root' : 'auth/token/create',
      policies: token.policies,
      renewable: token.renewable,
      ttl,
      type: 'service',
    };
    return answer(res, method, path, 200, successEnvelope(data, undefined, 'token'));
  }

  function renewSelf(
    res: ServerResponse,
    method: string,
    path: string,
    token: DevServerToken,
  ): void {
    if (!token.renewable || token.expiresAt === undefined) {
      return answer(res, method, path, 400, { errors: ['lease is not renewable'] });
    }
    token.expiresAt = Date.now() + token.ttlSeconds * 1000;
    const auth = {
      client_token: token.id,
      accessor: token.accessor,
      policies: token.policies,
      token_policies: token.policies,
      metadata: null,
      lease_duration: token.ttlSeconds,
      renewable: true,
      entity_id: '',
      token_type: 'service',
      orphan: true,
      mfa_requirement: null,
      num_uses: 0,
    };
    return answer(res, method, path, 200, { ...successEnvelope(null, undefined, 'token'), auth });
  }

  function answer(
    res: ServerResponse,
    method: string,
    path: string,
    status: number,
    body: unknown,
    trailingNewline = true,
  ): void {
    requests.push({ method, path, status });
    writeJson(res, status, body, trailingNewline);
  }

  const clusterId = randomUUID();
  // The TCP listener hands each connection to the HTTP server through the method shim: Node's
  // HTTP parser refuses Vault's `LIST` verb with a bare 400 before any handler runs.
  const sockets = new Set<Socket>();
  const listener = createTcpServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    server.emit('connection', new MethodShimConnection(socket));
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      listener.off('error', reject);
      resolve();
    });
  });
  const bound = listener.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;

  return {
    address: `http://${host}:${bound.port}`,
    token: rootToken,
    requests,
    createToken: (tokenOptions) => tokens.create(tokenOptions),
    revokeToken: (token) => tokens.revoke(token),
    setSealed: (value) => {
      sealed = value;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        listener.close((error) => (error ? reject(error) : resolve()));
        for (const socket of sockets) socket.destroy();
        engine.reset();
      }),
  };
}

/** Go's strconv.ParseBool. */
function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

function tokenOf(req: IncomingMessage): string | undefined {
  const header = req.headers['x-vault-token'];
  if (typeof header === 'string' && header !== '') return header;
  const authorization = req.headers.authorization;
  if (authorization?.startsWith('Bearer '))
    return authorization.slice('Bearer '.length).trim() || undefined;
  return undefined;
}

function successEnvelope(
  data: unknown,
  warnings: readonly string[] | undefined,
  mountType: string,
): Record<string, unknown> {
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: warnings && warnings.length > 0 ? warnings : null,
    auth: null,
    mount_type: mountType,
  };
}

function writeJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  trailingNewline: boolean,
): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-store');
  if (body === undefined) {
    res.end();
    return;
  }
  res.end(JSON.stringify(body) + (trailingNewline ? '\n' : ''));
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => (tooLarge ? reject(new BodyTooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}
