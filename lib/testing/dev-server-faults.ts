import { validateHeaderName, validateHeaderValue, type ServerResponse } from 'node:http';
import { multiError } from '../engine/transit.error.js';

/**
 * Which requests a fault applies to; every given field must match. Without one, any request
 * does, `sys/health` included.
 * @publicApi
 */
export interface DevServerFaultMatch {
  /**
   * The request method as the client sent it, compared case-insensitively: `GET`, `POST`, `LIST`…
   * (a `GET …?list=true` is a `GET`).
   * @default any method
   */
  readonly method?: string;
  /**
   * The decoded request path without the query, as `TransitDevServerRequest.path` logs it,
   * e.g. `/v1/transit/rewrap/tenant-1`: a string must equal it, a RegExp must match it (e.g.
   * `/^\/v1\/transit\/keys\/[^/]+\/rotate$/`). A target the server cannot parse is matched as
   * sent.
   * @default any path
   */
  readonly path?: string | RegExp;
}

/** What every fault has: how many requests it applies to, and which. @publicApi */
export interface DevServerFaultScope {
  /**
   * How many matching requests the fault applies to: a positive integer, or `Infinity` for every
   * one until `clearFaults()`.
   * @default 1
   */
  readonly times?: number;
  /** Which requests it applies to. @default every request */
  readonly match?: DevServerFaultMatch;
}

/**
 * The request is answered exactly as a sealed Vault answers it — 503
 * `{"errors":["Vault is sealed"]}`, and `sys/health` its sealed 503 body — without sealing the
 * server: the next request is served normally. Vault parses the request before it checks the
 * seal, so a request it would refuse earlier (a body that is not JSON: 400) still gets that answer.
 * @publicApi
 */
export interface DevServerSealedFault extends DevServerFaultScope {
  readonly kind: 'sealed';
}

/**
 * The request is not processed: it is answered at once with `status` and Vault's error body
 * `{"errors":[…]}` (`Content-Type: application/json`, `Cache-Control: no-store`).
 * @publicApi
 */
export interface DevServerStatusFault extends DevServerFaultScope {
  readonly kind: 'status';
  /** An integer from 200 to 999, e.g. 500, 502, 503, 429. */
  readonly status: number;
  /**
   * The `errors` array of the body. Defaults, from Vault's own answers (vault-transit-api §1.3):
   * 429 → `request path "<path without /v1/>": rate limit quota exceeded` (a rate limit quota);
   * 500 → `1 error occurred:\n\t* internal error\n\n`; 502 →
   * `1 error occurred:\n\t* upstream rate limited\n\n` (sdk/logical `ErrUpstreamRateLimited`);
   * 503 → `Vault is sealed`; any other status → none (`{"errors":[]}`).
   */
  readonly errors?: readonly string[];
  /** Sent as the `Retry-After` header (delay-seconds): a non-negative integer. @default none */
  readonly retryAfterSeconds?: number;
  /**
   * More response headers, e.g. an HTTP-date `Retry-After` (it wins over `retryAfterSeconds`) or
   * Vault's `X-Ratelimit-Limit`/`-Remaining`/`-Reset`.
   * @default none
   */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * The connection is reset (a TCP RST: the client sees `ECONNRESET`) instead of an answer.
 * @publicApi
 */
export interface DevServerResetFault extends DevServerFaultScope {
  readonly kind: 'reset';
  /**
   * `before`: as soon as the request arrives, which is then never processed (nothing changes).
   * `after`: once the request was processed — its effect (a created or rotated key…) is kept —
   * instead of sending the answer, i.e. an answer lost on the way back.
   * @default 'before'
   */
  readonly when?: 'before' | 'after';
}

/**
 * The request waits `ms` before it is processed and answered (a slow network or a busy Vault);
 * its body is read as it arrives. When the server closes meanwhile, the request is dropped
 * unprocessed. A dropped request is logged with status 0.
 * @publicApi
 */
export interface DevServerDelayFault extends DevServerFaultScope {
  readonly kind: 'delay';
  /** The wait, in ms: from 0 to 2147483647. */
  readonly ms: number;
  /**
   * When the client goes away during the wait (a timeout, an abort): `drop` never processes the
   * request, as if lost on the way; `process` still processes it when the wait ends (if its body
   * had arrived whole), answering into the closed connection — the late write a client's retry
   * can race. Either way the request is logged with status 0.
   * @default 'drop'
   */
  readonly abandoned?: 'drop' | 'process';
}

/**
 * The request is processed at once, its status and headers are sent at once (with a
 * `Content-Length`), and its body follows in `chunks` pieces of about equal size, the i-th
 * `i × ms / chunks` ms later (fewer pieces when the body is shorter; a body-less answer ends after
 * `ms`). A client that goes away, or the server closing, stops it.
 * @publicApi
 */
export interface DevServerSlowBodyFault extends DevServerFaultScope {
  readonly kind: 'slow-body';
  /** How long the body takes to arrive, in ms: from 0 to 2147483647. */
  readonly ms: number;
  /** In how many pieces the body is sent: a positive integer. @default 4 */
  readonly chunks?: number;
}

/**
 * A fault the dev server injects into requests (`TransitDevServer.injectFault`), so clients
 * can be tested against a failing Vault over real HTTP.
 * @publicApi
 */
export type DevServerFault =
  | DevServerSealedFault
  | DevServerStatusFault
  | DevServerResetFault
  | DevServerDelayFault
  | DevServerSlowBodyFault;

/** The kind of a {@link DevServerFault}, as the requests log names it. @publicApi */
export type DevServerFaultKind = DevServerFault['kind'];

const MAX_TIMEOUT_MS = 2_147_483_647;
const DEFAULT_CHUNKS = 4;
const NOTHING = (): void => undefined;

interface QueuedFault {
  readonly fault: DevServerFault;
  readonly method: string | undefined;
  readonly path: string | RegExp | undefined;
  remaining: number;
}

/** The faults waiting for a request, in the order they were injected. */
export class DevServerFaultQueue {
  private readonly queued: QueuedFault[] = [];

  /** Validates and queues a copy of `fault`; throws a TypeError or RangeError for a bad one. */
  inject(fault: DevServerFault): void {
    const checked = checkFault(fault);
    const match = fault.match;
    let path = match?.path;
    if (path instanceof RegExp) {
      // A global or sticky RegExp's test() depends on lastIndex: match with a stateless copy.
      path = new RegExp(path.source, path.flags.replace(/[gy]/g, ''));
    } else if (path !== undefined && typeof path !== 'string') {
      throw new TypeError('fault match.path must be a string or a RegExp');
    }
    const method = match?.method;
    if (method !== undefined && typeof method !== 'string')
      throw new TypeError('fault match.method must be a string');
    this.queued.push({
      fault: checked,
      method: method?.toUpperCase(),
      path,
      remaining: checked.times ?? 1,
    });
  }

  clear(): void {
    this.queued.length = 0;
  }

  /** The first queued fault matching the request, one application of it consumed. */
  take(method: string, path: string): DevServerFault | undefined {
    const upper = method.toUpperCase();
    const index = this.queued.findIndex(
      (queued) =>
        (queued.method === undefined || queued.method === upper) &&
        (queued.path === undefined ||
          (typeof queued.path === 'string' ? queued.path === path : queued.path.test(path))),
    );
    const found = this.queued[index];
    if (!found) return undefined;
    found.remaining -= 1;
    if (found.remaining <= 0) this.queued.splice(index, 1);
    return found.fault;
  }
}

/** A frozen copy of `fault`, checked field by field. */
function checkFault(fault: DevServerFault): DevServerFault {
  if (typeof fault !== 'object' || fault === null) throw new TypeError('a fault is an object');
  const times = fault.times;
  if (times !== undefined && times !== Infinity && !(Number.isInteger(times) && times >= 1))
    throw new RangeError(`fault times must be a positive integer or Infinity, got ${times}`);
  switch (fault.kind) {
    case 'sealed':
      return Object.freeze({ ...fault });
    case 'status': {
      const { status, errors, retryAfterSeconds, headers } = fault;
      if (!Number.isInteger(status) || status < 200 || status > 999)
        throw new RangeError(`fault status must be an integer from 200 to 999, got ${status}`);
      if (
        errors !== undefined &&
        (!Array.isArray(errors) || errors.some((error) => typeof error !== 'string'))
      )
        throw new TypeError('fault errors must be an array of strings');
      if (
        retryAfterSeconds !== undefined &&
        !(Number.isSafeInteger(retryAfterSeconds) && retryAfterSeconds >= 0)
      )
        throw new RangeError(
          `fault retryAfterSeconds must be a non-negative integer, got ${retryAfterSeconds}`,
        );
      for (const [name, value] of Object.entries(headers ?? {})) {
        validateHeaderName(name);
        validateHeaderValue(name, value);
      }
      return Object.freeze({
        ...fault,
        errors: errors && Object.freeze([...errors]),
        headers: headers && Object.freeze({ ...headers }),
      });
    }
    case 'reset':
      if (fault.when !== undefined && fault.when !== 'before' && fault.when !== 'after')
        throw new TypeError(`fault when must be 'before' or 'after', got ${String(fault.when)}`);
      return Object.freeze({ ...fault });
    case 'delay':
      checkMs(fault.ms);
      if (
        fault.abandoned !== undefined &&
        fault.abandoned !== 'drop' &&
        fault.abandoned !== 'process'
      )
        throw new TypeError(
          `fault abandoned must be 'drop' or 'process', got ${String(fault.abandoned)}`,
        );
      return Object.freeze({ ...fault });
    case 'slow-body':
      checkMs(fault.ms);
      if (fault.chunks !== undefined && !(Number.isInteger(fault.chunks) && fault.chunks >= 1))
        throw new RangeError(`fault chunks must be a positive integer, got ${fault.chunks}`);
      return Object.freeze({ ...fault });
    default:
      throw new TypeError(`unknown fault kind ${String((fault as { kind?: unknown }).kind)}`);
  }
}

function checkMs(ms: number): void {
  if (!(Number.isFinite(ms) && ms >= 0 && ms <= MAX_TIMEOUT_MS))
    throw new RangeError(`fault ms must be from 0 to ${MAX_TIMEOUT_MS}, got ${ms}`);
}

/** The `errors` of a status fault's answer to a request for `path` (e.g. `/v1/transit/keys`). */
export function faultErrors(fault: DevServerStatusFault, path: string): readonly string[] {
  if (fault.errors) return fault.errors;
  switch (fault.status) {
    case 429: {
      // Vault's rateLimitQuotaWrapping (http/util.go), before any other handling.
      const logicalPath = path.startsWith('/v1/') ? path.slice('/v1/'.length) : path;
      return [`request path ${JSON.stringify(logicalPath)}: rate limit quota exceeded`];
    }
    case 500:
      return [multiError(['internal error'])];
    case 502:
      return [multiError(['upstream rate limited'])];
    case 503:
      return ['Vault is sealed'];
    default:
      return [];
  }
}

/** The headers of a status fault's answer (besides Content-Type and Cache-Control). */
export function faultHeaders(fault: DevServerStatusFault): Record<string, string> {
  const headers: Record<string, string> = {};
  if (fault.retryAfterSeconds !== undefined)
    headers['Retry-After'] = String(fault.retryAfterSeconds);
  return Object.assign(headers, fault.headers);
}

/**
 * The timers of delayed requests and slow bodies. Once stopped (the server closes), every pending
 * one is cleared and its `onStop` called, and new ones stop at once: nothing outlives the server.
 */
export class FaultTimers {
  private readonly pending = new Map<NodeJS.Timeout, (() => void) | undefined>();
  private stopped = false;

  /** Calls `fire` after `ms`; returns a cancel function (which does not call `onStop`). */
  set(ms: number, fire: () => void, onStop?: () => void): () => void {
    if (this.stopped) {
      onStop?.();
      return NOTHING;
    }
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      fire();
    }, ms);
    this.pending.set(timer, onStop);
    return () => {
      clearTimeout(timer);
      this.pending.delete(timer);
    };
  }

  stop(): void {
    this.stopped = true;
    const stops = [...this.pending];
    this.pending.clear();
    for (const [timer, onStop] of stops) {
      clearTimeout(timer);
      onStop?.();
    }
  }
}

/**
 * Runs `run` after `ms`, unless the server closes first, or the client goes away first and the
 * fault drops abandoned requests: then `dropped` runs instead. Exactly one of them runs.
 */
export function afterDelay(
  res: ServerResponse,
  fault: DevServerDelayFault,
  timers: FaultTimers,
  run: () => void,
  dropped: () => void,
): void {
  let settled = false;
  let cancel = NOTHING;
  const settle = (next: () => void): void => {
    if (settled) return;
    settled = true;
    res.off('close', onClose);
    cancel();
    next();
  };
  const onClose = (): void => {
    if (fault.abandoned !== 'process') settle(dropped);
  };
  res.on('close', onClose);
  cancel = timers.set(
    fault.ms,
    () => settle(run),
    () => settle(dropped),
  );
}

/**
 * Sends the status and headers now, then `body` in pieces over `fault.ms` (see
 * {@link DevServerSlowBodyFault}). The client going away or the server closing stops it.
 */
export function sendSlowly(
  res: ServerResponse,
  body: Buffer | undefined,
  fault: DevServerSlowBodyFault,
  timers: FaultTimers,
): void {
  const pieces = split(body ?? Buffer.alloc(0), fault.chunks ?? DEFAULT_CHUNKS);
  if (body && body.length > 0) res.setHeader('Content-Length', body.length);
  res.flushHeaders();
  const step = fault.ms / Math.max(1, pieces.length);
  let sent = 0;
  let cancel = NOTHING;
  const onClose = (): void => cancel();
  res.on('close', onClose);
  const next = (): void => {
    const piece = pieces[sent];
    sent += 1;
    if (sent >= pieces.length) {
      res.off('close', onClose);
      res.end(piece);
      return;
    }
    res.write(piece);
    schedule();
  };
  const schedule = (): void => {
    cancel = timers.set(step, next, () => res.destroy());
  };
  schedule();
}

/** `bytes` in at most `count` pieces of about equal size, none empty. */
function split(bytes: Buffer, count: number): Buffer[] {
  const pieces: Buffer[] = [];
  const n = Math.min(count, bytes.length);
  for (let i = 0; i < n; i++) {
    pieces.push(
      bytes.subarray(Math.floor((i * bytes.length) / n), Math.floor(((i + 1) * bytes.length) / n)),
    );
  }
  return pieces;
}
