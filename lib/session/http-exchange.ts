import {
  request as httpRequest,
  type Agent as HttpAgent,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';

/** One HTTP request, sent as is: no redirects, no proxy, no retries, no compression. */
export interface HttpExchangeRequest {
  readonly method: string;
  /** An absolute `http:` or `https:` URL. */
  readonly url: string;
  readonly headers?: OutgoingHttpHeaders;
  /** Sent in one write, with its `Content-Length`. */
  readonly body?: string | Buffer;
  /** The agent of the URL's protocol; Node's global (keep-alive) agent when absent. */
  readonly agent?: HttpAgent | HttpsAgent;
  /** Aborts the exchange: it rejects with code `ERR_CANCELED` and its socket is destroyed. */
  readonly signal?: AbortSignal;
  /**
   * The whole exchange — waiting for a socket, connecting, the answer and its body — must end
   * within this many ms, or it rejects with code `ETIMEDOUT`. No limit when absent.
   */
  readonly timeoutMs?: number;
  /** A longer response body rejects with code `ERR_RESPONSE_TOO_LARGE`. @default 16 MiB */
  readonly maxResponseBytes?: number;
}

/** The answer, whatever its status. */
export interface HttpExchangeResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Sends one request (see {@link httpExchange}); a replaceable seam for transports. */
export type HttpExchange = (request: HttpExchangeRequest) => Promise<HttpExchangeResponse>;

/** A failed exchange; `code` says why (Node's socket error codes, or the ones listed above). */
export class HttpExchangeError extends Error {
  override readonly name = 'HttpExchangeError';

  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * Sends one HTTP/1.1 request over `node:http`/`node:https` and collects the answer: the leanest
 * path Node offers (one write for head and body, one timer, one optional abort listener). The
 * error never carries the request's headers or body.
 */
export function httpExchange(request: HttpExchangeRequest): Promise<HttpExchangeResponse> {
  return new Promise((resolve, reject) => {
    const { signal } = request;
    if (signal !== undefined && typeof signal.addEventListener !== 'function') {
      reject(new HttpExchangeError('signal must be an AbortSignal', 'ERR_INVALID_ARG_TYPE'));
      return;
    }
    if (signal?.aborted) {
      reject(canceled());
      return;
    }
    let target: URL;
    try {
      target = new URL(request.url);
    } catch {
      reject(new HttpExchangeError('the URL is not valid', 'ERR_INVALID_URL'));
      return;
    }
    const send = requestFor(target.protocol);
    if (!send) {
      reject(new HttpExchangeError(`unsupported protocol ${target.protocol}`, 'ERR_BAD_PROTOCOL'));
      return;
    }
    const maxBytes = request.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let req: ClientRequest | undefined;
    const onAbort = (): void => fail(canceled());
    const cleanup = (): void => {
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: HttpExchangeError): void => {
      if (settled) return;
      cleanup();
      reject(error);
      req?.destroy();
    };
    const headers: OutgoingHttpHeaders = { ...request.headers };
    const { body } = request;
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    try {
      req = send({
        protocol: target.protocol,
        hostname: unbracket(target.hostname),
        port: target.port,
        path: target.pathname + target.search,
        method: request.method,
        headers,
        ...(request.agent ? { agent: request.agent } : {}),
      });
    } catch (error) {
      // A header value Node refuses (a newline, a non-Latin-1 character): nothing was sent.
      fail(new HttpExchangeError('the request could not be built', errorCode(error)));
      return;
    }
    if (request.timeoutMs !== undefined) {
      timer = setTimeout(
        () => fail(new HttpExchangeError(`no answer in ${request.timeoutMs} ms`, 'ETIMEDOUT')),
        request.timeoutMs,
      );
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (error) => fail(new HttpExchangeError('the request failed', errorCode(error))));
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let length = 0;
      res.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length > maxBytes) {
          fail(
            new HttpExchangeError(`the answer exceeds ${maxBytes} bytes`, 'ERR_RESPONSE_TOO_LARGE'),
          );
        } else chunks.push(chunk);
      });
      res.on('error', (error) =>
        fail(new HttpExchangeError('the answer broke off', errorCode(error))),
      );
      res.on('close', () => {
        if (!res.complete) fail(new HttpExchangeError('the answer broke off', 'ECONNRESET'));
      });
      res.on('end', () => {
        if (settled) return;
        cleanup();
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          headers: res.headers,
          body:
            chunks.length === 1
              ? chunks[0]!
              : chunks.length === 0
                ? EMPTY
                : Buffer.concat(chunks, length),
        });
      });
    });
    req.end(body);
  });
}

/** Whether `url` is an https URL (the scheme in any case, as URLs allow). */
export function isHttpsUrl(url: string): boolean {
  return /^https:/i.test(url);
}

const COMPRESSED = /^(?:gzip|x-gzip|deflate|compress|br|zstd)$/i;

/**
 * The body of an answer as UTF-8 text, as axios reads a text answer (a leading BOM dropped).
 * Throws {@link HttpExchangeError} `ERR_COMPRESSED_ANSWER` for a compressed body: no request
 * sent here asks for one, and it cannot be read as text.
 */
export function textOf(response: HttpExchangeResponse): string {
  const encoding = response.headers['content-encoding'];
  if (
    response.body.length > 0 &&
    typeof encoding === 'string' &&
    COMPRESSED.test(encoding.trim())
  ) {
    throw new HttpExchangeError(
      `compressed answer (${encoding}) to a request that did not ask for one`,
      'ERR_COMPRESSED_ANSWER',
    );
  }
  const text = response.body.toString('utf8');
  return text.charCodeAt(0) === 0xfe_ff ? text.slice(1) : text;
}

function requestFor(protocol: string): typeof httpRequest | undefined {
  if (protocol === 'http:') return httpRequest;
  if (protocol === 'https:') return httpsRequest as unknown as typeof httpRequest;
  return undefined;
}

/** `[::1]` → `::1`: Node's request options take an IPv6 address without brackets. */
function unbracket(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

function canceled(): HttpExchangeError {
  return new HttpExchangeError('the request was canceled', 'ERR_CANCELED');
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}
