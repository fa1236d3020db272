import { AsyncLocalStorage } from 'node:async_hooks';
import { KmsError } from '../../errors/kms.error.js';
import {
  KmsUnavailableError,
  type KmsUnavailableReason,
} from '../../errors/kms-unavailable.error.js';
import { Signal } from '../../session/signal.js';
import { CIPHERTEXT_VERSION_PREFIX_BYTES, ciphertextVersion } from './ciphertext-version.js';

/**
 * A call of a {@link VaultTransitService} method began. Events carry no token, DEK, ciphertext,
 * key material or request body.
 * @publicApi
 */
export interface KmsOperationStartedEvent {
  /** Unique within the process; the attempt and cache events of the call carry it too. */
  readonly operationId: number;
  /** The method called, e.g. `encryptDek`, `decryptDeks`, `setup`. */
  readonly operation: string;
  /** The Transit mount the service uses. */
  readonly mount: string;
  /**
   * The Transit key name the call addresses. It identifies the tenant (it is derived from the
   * tenant id, and it is part of every request path): hash or drop it before exporting it.
   * Absent for `setup`/`cleanup` and when the tenant id cannot be mapped to a key name.
   */
  readonly keyName?: string;
  /** The number of items of a batch call (`encryptDeks`, `decryptDeks`, `rewrapDeks`). */
  readonly batchSize?: number;
}

/** @publicApi */
export interface KmsOperationEndedEvent extends KmsOperationStartedEvent {
  readonly outcome: 'ok' | 'error';
  /** The {@link KmsError} `code` of a failed call, `_OTHER` for any other error. */
  readonly errorCode?: string;
  /** The `reason` of a {@link KmsUnavailableError}. */
  readonly errorReason?: KmsUnavailableReason;
  /**
   * The KEK version the call used, when known: the version of the ciphertext a single-item
   * encrypt, generate or rewrap returned, the one a single-item decrypt was given (failed or
   * not), or the version a rotation created.
   */
  readonly keyVersion?: number;
  readonly durationMs: number;
}

/**
 * One HTTP request to Vault within a call: the first, or a repetition after a failure (retry, a
 * refreshed token). Method and URL path only: never a body, a header or a query string.
 * @publicApi
 */
export interface KmsAttemptStartedEvent {
  /** Unique within the process. */
  readonly attemptId: number;
  /** The call the request belongs to. */
  readonly operationId: number;
  /** The call's method name, as in {@link KmsOperationStartedEvent.operation}. */
  readonly operation: string;
  readonly mount: string;
  /** As in {@link KmsOperationStartedEvent.keyName}: identifies the tenant. */
  readonly keyName?: string;
  /** `GET`, `POST` or `DELETE`. */
  readonly method: string;
  /** The URL path, e.g. `/v1/transit/encrypt/tenant-1`: it holds the key name. */
  readonly path: string;
  /** The URL path with the key name replaced by `{key}`, e.g. `/v1/transit/encrypt/{key}`. */
  readonly route: string;
  /** Vault's host name or IP address, from `vaultAddr`. */
  readonly serverAddress: string;
  /** Vault's port, from `vaultAddr` (80/443 when it names none). */
  readonly serverPort: number;
  /** 1 for the call's first request, 2 for the next, … */
  readonly attempt: number;
  /** Whether the request repeats one that failed (`attempt > 1`). */
  readonly retry: boolean;
}

/** @publicApi */
export interface KmsAttemptEndedEvent extends KmsAttemptStartedEvent {
  /** The HTTP status Vault answered with; absent when no answer arrived. */
  readonly status?: number;
  /**
   * Why no answer arrived: the transport's code (`ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, …) or,
   * failing that, the {@link KmsError} `code` (`KMS_ABORTED`, …), `_OTHER` for any other error.
   */
  readonly errorCode?: string;
  readonly durationMs: number;
}

/** A `decryptDek` looked its DEK up in the DEK cache. @publicApi */
export interface KmsCacheLookupEvent {
  /** The call that looked it up. */
  readonly operationId?: number;
  readonly mount: string;
  /** As in {@link KmsOperationStartedEvent.keyName}: identifies the tenant. */
  readonly keyName: string;
}

/**
 * The observability signals of a {@link VaultTransitService}: calls, the HTTP requests they send,
 * and DEK cache lookups. Nothing is measured or built while no listener is connected.
 * @publicApi
 */
export interface KmsSignals {
  readonly operationStarted: Signal<KmsOperationStartedEvent>;
  readonly operationEnded: Signal<KmsOperationEndedEvent>;
  readonly attemptStarted: Signal<KmsAttemptStartedEvent>;
  readonly attemptEnded: Signal<KmsAttemptEndedEvent>;
  /** The DEK was served from the cache: no request. */
  readonly cacheHit: Signal<KmsCacheLookupEvent>;
  /** The DEK was not cached: it is decrypted (or joins a decryption already in flight). */
  readonly cacheMiss: Signal<KmsCacheLookupEvent>;
}

export function createKmsSignals(): KmsSignals {
  return {
    operationStarted: new Signal(),
    operationEnded: new Signal(),
    attemptStarted: new Signal(),
    attemptEnded: new Signal(),
    cacheHit: new Signal(),
    cacheMiss: new Signal(),
  };
}

/** Whether any listener is connected to any of the signals. */
function anyConnected(signals: KmsSignals): boolean {
  return (
    signals.operationStarted.connected ||
    signals.operationEnded.connected ||
    signals.attemptStarted.connected ||
    signals.attemptEnded.connected ||
    signals.cacheHit.connected ||
    signals.cacheMiss.connected
  );
}

/** The observed call the current async context belongs to. */
interface OperationScope {
  readonly id: number;
  readonly signals: KmsSignals;
  readonly operation: string;
  readonly mount: string;
  readonly keyName: string | undefined;
}

/**
 * Entered only while someone listens: an unobserved call costs no context switch. Entering it
 * turns on Node's async context tracking; it is disabled again once no observed call is running
 * and nobody listens (see {@link isObserved}), so that a listener connected once does not leave
 * it on for the life of the process.
 */
const operationScope = new AsyncLocalStorage<OperationScope>();
/** Whether operationScope may be enabled (run() was called since the last disable()). */
let scopeEnabled = false;
/** Observed calls running now, in any service. */
let observedCalls = 0;
let lastOperationId = 0;
let lastAttemptId = 0;

/** Disables operationScope when it is on and no observed call is running. */
function releaseScope(): void {
  if (scopeEnabled && observedCalls === 0) {
    scopeEnabled = false;
    operationScope.disable(); // exits no live scope: none is running
  }
}

/**
 * Whether a call of the service owning `signals` is to be observed (anyone listens). When not,
 * it also releases the async context tracking an earlier observed call left on.
 */
export function isObserved(signals: KmsSignals): boolean {
  if (anyConnected(signals)) return true;
  if (scopeEnabled) releaseScope();
  return false;
}

/** The service methods that are one call each (and one operation span). */
export type ObservedOperation =
  | 'encryptDek'
  | 'decryptDek'
  | 'generateDek'
  | 'rotateKek'
  | 'rewrapDek'
  | 'deleteKek'
  | 'retireKekVersions'
  | 'encryptDeks'
  | 'decryptDeks'
  | 'rewrapDeks'
  | 'setup'
  | 'cleanup';

/** An observed call, described by the service. */
export interface ObservedCall {
  readonly operation: ObservedOperation;
  readonly mount: string;
  /** The key name the tenant id maps to; undefined for setup/cleanup or an invalid id. */
  readonly keyName: string | undefined;
  /** The call's input that events describe: a batch's items, a decryptDek's encrypted DEK. */
  readonly input?: unknown;
}

/**
 * Runs `run` as an observed call (only when {@link isObserved}): emits operationStarted and
 * operationEnded around it, and runs it in an operation scope for its attempt and cache events.
 */
export async function runObserved<T>(
  signals: KmsSignals,
  call: ObservedCall,
  run: () => Promise<T>,
): Promise<T> {
  const { operation, mount, keyName, input } = call;
  const started: KmsOperationStartedEvent = {
    operationId: (lastOperationId += 1),
    operation,
    mount,
    ...(keyName !== undefined ? { keyName } : {}),
    ...(BATCH_OPERATIONS.has(operation) && Array.isArray(input) ? { batchSize: input.length } : {}),
  };
  const scope: OperationScope = { id: started.operationId, signals, operation, mount, keyName };
  const began = performance.now();
  signals.operationStarted.emit(started);
  observedCalls += 1;
  scopeEnabled = true;
  try {
    const result = await operationScope.run(scope, run);
    const keyVersion = keyVersionOf(operation, input, result);
    signals.operationEnded.emit({
      ...started,
      outcome: 'ok',
      ...(keyVersion !== undefined ? { keyVersion } : {}),
      durationMs: performance.now() - began,
    });
    return result;
  } catch (error) {
    const keyVersion = keyVersionOf(operation, input, undefined); // a decrypt's input tells
    signals.operationEnded.emit({
      ...started,
      outcome: 'error',
      errorCode: errorCodeOf(error),
      ...(error instanceof KmsUnavailableError ? { errorReason: error.reason } : {}),
      ...(keyVersion !== undefined ? { keyVersion } : {}),
      durationMs: performance.now() - began,
    });
    throw error;
  } finally {
    observedCalls -= 1;
    if (!anyConnected(signals)) releaseScope(); // the last listener left meanwhile
  }
}

const BATCH_OPERATIONS: ReadonlySet<string> = new Set(['encryptDeks', 'decryptDeks', 'rewrapDeks']);

function keyVersionOf(operation: string, input: unknown, result: unknown): number | undefined {
  switch (operation) {
    case 'rotateKek':
      return typeof result === 'number' ? result : undefined;
    case 'encryptDek':
    case 'rewrapDek':
      return prefixVersion(result);
    case 'generateDek':
      return prefixVersion((result as { encryptedDek?: unknown } | undefined)?.encryptedDek);
    case 'decryptDek':
      return prefixVersion(input);
    default:
      return undefined;
  }
}

/** The version a wrapped DEK names: only its prefix is read. */
function prefixVersion(wrapped: unknown): number | undefined {
  if (!(wrapped instanceof Uint8Array)) return undefined;
  const length = Math.min(wrapped.length, CIPHERTEXT_VERSION_PREFIX_BYTES);
  return ciphertextVersion(
    Buffer.from(wrapped.buffer, wrapped.byteOffset, length).toString('latin1'),
  );
}

/** A failure as a code that carries no user data. */
function errorCodeOf(error: unknown): string {
  return error instanceof KmsError ? error.code : '_OTHER';
}

/** What the client knows about one request. */
export interface AttemptRequest {
  readonly method: string;
  /** The URL path, without any query. */
  readonly path: string;
  /** The key name it addresses ('' when none). */
  readonly keyName: string;
  /** The path under the mount, when the request is under it. */
  readonly mountPath: string | undefined;
  readonly vaultAddr: string;
  /** 1 for the call's first request. */
  readonly attempt: number;
}

/**
 * Runs one HTTP request of the current observed call, emitting attemptStarted/attemptEnded while
 * anyone listens; outside an observed call it only runs `exchange`.
 */
export function observeAttempt<T extends { readonly status: number }>(
  describe: () => AttemptRequest,
  exchange: () => Promise<T>,
): Promise<T> {
  const scope = operationScope.getStore();
  if (
    scope === undefined ||
    (!scope.signals.attemptStarted.connected && !scope.signals.attemptEnded.connected)
  ) {
    return exchange();
  }
  return runAttempt(scope, describe(), exchange);
}

async function runAttempt<T extends { readonly status: number }>(
  scope: OperationScope,
  request: AttemptRequest,
  exchange: () => Promise<T>,
): Promise<T> {
  const { signals } = scope;
  const server = serverOf(request.vaultAddr);
  const started: KmsAttemptStartedEvent = {
    attemptId: (lastAttemptId += 1),
    operationId: scope.id,
    operation: scope.operation,
    mount: scope.mount,
    ...(request.keyName !== '' ? { keyName: request.keyName } : {}),
    method: request.method,
    path: request.path,
    route: routeOf(request),
    serverAddress: server.address,
    serverPort: server.port,
    attempt: request.attempt,
    retry: request.attempt > 1,
  };
  const began = performance.now();
  signals.attemptStarted.emit(started);
  try {
    const answer = await exchange();
    signals.attemptEnded.emit({
      ...started,
      status: answer.status,
      durationMs: performance.now() - began,
    });
    return answer;
  } catch (error) {
    signals.attemptEnded.emit({
      ...started,
      errorCode: transportCodeOf(error),
      durationMs: performance.now() - began,
    });
    throw error;
  }
}

/** Emits cacheHit or cacheMiss for a DEK cache lookup, while anyone listens. */
export function emitCacheLookup(
  signals: KmsSignals,
  mount: string,
  keyName: string,
  hit: boolean,
): void {
  const signal = hit ? signals.cacheHit : signals.cacheMiss;
  if (!signal.connected) return;
  const scope = operationScope.getStore();
  signal.emit({ ...(scope ? { operationId: scope.id } : {}), mount, keyName });
}

/** The transport's own code (kept as the cause of a KmsUnavailableError), else the error's. */
function transportCodeOf(error: unknown): string {
  const code = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (error instanceof KmsError && typeof code === 'string' && /^E[A-Z_]+$/.test(code)) {
    return code;
  }
  return errorCodeOf(error);
}

/** Key names match `^\w(([\w-.]+)?\w)?$`: a whole path segment, never a separator. */
function routeOf(request: AttemptRequest): string {
  const { path, keyName, mountPath } = request;
  if (keyName === '' || mountPath === undefined) return path;
  const prefix = path.slice(0, path.length - mountPath.length);
  const segments = mountPath.split('/');
  // encrypt/<key>, keys/<key>/rotate, …: the key is the second segment, datakey/<type>/<key> the
  // third; should a path ever differ, every segment equal to the key name is replaced.
  const at = segments[0] === 'datakey' ? 2 : 1;
  if (segments[at] === keyName) segments[at] = '{key}';
  else
    for (const [i, segment] of segments.entries()) if (segment === keyName) segments[i] = '{key}';
  return prefix + segments.join('/');
}

const servers = new Map<string, { address: string; port: number }>();

function serverOf(vaultAddr: string): { address: string; port: number } {
  let server = servers.get(vaultAddr);
  if (server === undefined) {
    const url = new URL(vaultAddr);
    const address = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    server = { address, port };
    if (servers.size < 64) servers.set(vaultAddr, server);
  }
  return server;
}
