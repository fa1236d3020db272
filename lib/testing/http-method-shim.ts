import { METHODS } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/**
 * Request header carrying the real method of a request the shim rewrote to `GET`. Clients cannot
 * forge it: the shim drops it from every request head it forwards, and closes the connection
 * rather than forward bytes it cannot frame.
 */
export const ORIGINAL_METHOD_HEADER = 'x-transit-dev-server-method';

// Methods Node's HTTP parser (llhttp) handles as plain requests. CONNECT switches it to tunnelling.
const PARSER_METHODS = new Set(METHODS.filter((method) => method !== 'CONNECT'));
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// llhttp accepts several spaces between the parts of a request line, not a trailing one.
const REQUEST_LINE = /^([^ ]+) +([^ ]+) +(HTTP\/\d\.\d)$/;
// Any number of leading zeros; 12 significant hex digits are 256 TiB, more than a test sends.
const CHUNK_SIZE = /^0*([0-9A-Fa-f]{1,12})(?:;[^\r\n]*)?$/;
// Beyond this a Content-Length no longer fits a double exactly; Node answers 400 anyway far below.
const MAX_LENGTH_DIGITS = 15;
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);
// Well above Node's 16 KiB header limit: heads up to this size reach Node, which answers 431.
const MAX_HEAD_BYTES = 64 * 1024;

type State = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'trailers' | 'failed';

/** Why the rewriter stopped: `header-overflow` answers 431 like Node, `bad-request` 400. */
export type RewriterFailure = 'bad-request' | 'header-overflow';

/**
 * Follows HTTP/1.1 request framing on one connection and rewrites the request line of any request
 * whose method Node's parser does not know (Vault's `LIST`, or any other token) to `GET`, adding
 * {@link ORIGINAL_METHOD_HEADER}. Node answers such requests with a bare 400 before the server
 * sees them, where Vault lists (LIST) or answers 405 `{"errors":[]}`. What it cannot frame exactly
 * as Node's parser would (a malformed line, a duplicate or oversized Content-Length, an ambiguous
 * Transfer-Encoding) fails the connection: nothing more is forwarded, so a header it did not see
 * can never reach Node.
 */
export class MethodRewriter {
  private pending: Buffer = EMPTY;
  private state: State = 'head';
  private remaining = 0;
  private failed: RewriterFailure | undefined;

  /** Set once the input could not be framed; from then on nothing is forwarded. */
  get failure(): RewriterFailure | undefined {
    return this.failed;
  }

  /** Whether part of a request head is buffered, waiting for the rest. */
  get headPending(): boolean {
    return this.state === 'head' && this.pending.length > 0;
  }

  /** Feeds bytes received from the client; returns the bytes to give Node's parser. */
  push(chunk: Buffer): Buffer {
    if (this.state === 'failed') return EMPTY;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    while (this.pending.length > 0 && this.step(out));
    if (out.length === 0) return EMPTY;
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }

  /** Stops forwarding: what is left of the request is dropped. */
  fail(reason: RewriterFailure): false {
    this.state = 'failed';
    this.failed ??= reason;
    this.pending = EMPTY;
    return false;
  }

  /** Moves one framing element from `pending` to `out`; false when more bytes are needed. */
  private step(out: Buffer[]): boolean {
    switch (this.state) {
      case 'failed':
        return false;
      case 'body':
      case 'chunk-data': {
        const size = Math.min(this.remaining, this.pending.length);
        out.push(this.take(size));
        this.remaining -= size;
        if (this.remaining === 0) this.state = this.state === 'body' ? 'head' : 'chunk-size';
        return true;
      }
      case 'chunk-size': {
        const end = this.pending.indexOf(CRLF);
        if (end < 0) return this.needMore();
        const line = CHUNK_SIZE.exec(this.pending.toString('latin1', 0, end));
        if (!line) return this.fail('bad-request');
        const size = Number.parseInt(line[1] as string, 16);
        out.push(this.take(end + CRLF.length));
        if (size === 0) this.state = 'trailers';
        else {
          this.state = 'chunk-data';
          this.remaining = size + CRLF.length;
        }
        return true;
      }
      case 'trailers': {
        // Trailer fields end up in `req.trailers`, never in `req.headers`.
        const end = this.pending.indexOf(CRLF);
        if (end < 0) return this.needMore();
        out.push(this.take(end + CRLF.length));
        if (end === 0) this.state = 'head';
        return true;
      }
      case 'head': {
        // Empty lines before a request line are tolerated by HTTP parsers.
        if (this.pending[0] === 0x0d || this.pending[0] === 0x0a) {
          out.push(this.take(1));
          return true;
        }
        const end = this.pending.indexOf(HEAD_END);
        if (end < 0) return this.needMore();
        const head = this.rewriteHead(this.take(end + HEAD_END.length));
        if (!head) return false;
        out.push(head);
        return true;
      }
    }
  }

  private rewriteHead(head: Buffer): Buffer | undefined {
    const text = head.toString('latin1', 0, head.length - HEAD_END.length);
    const [requestLine = '', ...fields] = text.split('\r\n');
    // Node refuses a bare CR or LF; so does the shim, or it would split lines differently.
    if (/[\r\n]/.test(requestLine) || fields.some((field) => /[\r\n]/.test(field))) {
      return void this.fail('bad-request');
    }
    const parts = REQUEST_LINE.exec(requestLine);
    if (!parts || !TOKEN.test(parts[1] as string)) return void this.fail('bad-request');
    const [, method, target, version] = parts as unknown as [string, string, string, string];
    const kept: string[] = [];
    let transferEncoding: string | undefined;
    let length: number | undefined;
    for (const field of fields) {
      const colon = field.indexOf(':');
      // No colon, an empty name, whitespace before the colon, obs-fold: Node refuses them all.
      if (colon <= 0 || !TOKEN.test(field.slice(0, colon))) return void this.fail('bad-request');
      const name = field.slice(0, colon).toLowerCase();
      const value = field.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
      if (name === ORIGINAL_METHOD_HEADER) continue;
      if (name === 'transfer-encoding') {
        // Node joins repeated Transfer-Encoding fields; the shim does not follow it that far.
        if (transferEncoding !== undefined) return void this.fail('bad-request');
        transferEncoding = value;
      }
      if (name === 'content-length') {
        if (length !== undefined || !/^\d+$/.test(value)) return void this.fail('bad-request');
        const digits = value.replace(/^0+(?=\d)/, '');
        if (digits.length > MAX_LENGTH_DIGITS) return void this.fail('bad-request');
        length = Number(digits);
      }
      kept.push(field);
    }
    let chunked = false;
    if (transferEncoding !== undefined) {
      // Node only takes a request body whose last transfer coding is chunked, and no length.
      const codings = transferEncoding.split(',');
      chunked = (codings.at(-1) as string).trim().toLowerCase() === 'chunked';
      if (!chunked || length !== undefined) return void this.fail('bad-request');
    }
    const lines = PARSER_METHODS.has(method)
      ? [requestLine, ...kept]
      : [`GET ${target} ${version}`, `${ORIGINAL_METHOD_HEADER}: ${method}`, ...kept];
    if (chunked) this.state = 'chunk-size';
    else if (length !== undefined && length > 0) {
      this.state = 'body';
      this.remaining = length;
    }
    return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  }

  private take(size: number): Buffer {
    const taken = this.pending.subarray(0, size);
    this.pending = this.pending.subarray(size);
    return taken;
  }

  private needMore(): boolean {
    if (this.pending.length <= MAX_HEAD_BYTES) return false;
    return this.fail(this.state === 'head' ? 'header-overflow' : 'bad-request');
  }
}

/** Limits of a {@link MethodShimConnection}. */
export interface MethodShimOptions {
  /**
   * How long part of a request head may stay buffered in the shim, in ms; 0 for no limit. Node
   * times a head from its first byte, which it only sees once the shim forwards the whole head.
   */
  readonly headersTimeout?: number;
  /** After the server ends the connection, how long the client gets to close it, in ms. */
  readonly lingerTimeout?: number;
}

const FAILURES: Readonly<Record<RewriterFailure | 'timeout', [code: string, message: string]>> = {
  // Node's HTTP server answers these codes with 431, 400 and 408, then closes the connection.
  'header-overflow': ['HPE_HEADER_OVERFLOW', 'Header overflow'],
  'bad-request': ['HPE_INVALID_TRANSIT_DEV_SERVER_FRAMING', 'Request the method shim cannot frame'],
  timeout: ['ERR_HTTP_REQUEST_TIMEOUT', 'Request timeout'],
};

/**
 * A client socket whose readable side is the socket's bytes with unknown methods rewritten (see
 * {@link MethodRewriter}); writes go straight to the socket. Hand it to `http.Server`'s own
 * `'connection'` listener. A head the shim refuses, or one that stays incomplete past
 * `headersTimeout`, is reported as a client error: Node answers it (400, 431 or 408) when no
 * response is under way, and closes the connection.
 */
export class MethodShimConnection extends Duplex {
  private readonly rewriter = new MethodRewriter();
  private headTimer: NodeJS.Timeout | undefined;
  private discarding = false;

  constructor(
    private readonly socket: Socket,
    private readonly options: MethodShimOptions = {},
  ) {
    super({ allowHalfOpen: true });
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('end', () => this.push(null));
    socket.on('timeout', () => this.emit('timeout'));
    socket.on('error', (error) => this.destroy(error));
    socket.on('close', () => this.destroy());
  }

  /** Lets the HTTP server apply its keep-alive timeout to the real socket. */
  setTimeout(ms: number, callback?: () => void): this {
    this.socket.setTimeout(ms, callback);
    return this;
  }

  /**
   * Stops handing bytes to the HTTP parser: the rest of the request is read and dropped until the
   * connection closes. For an answer given before the body was read (413).
   */
  discardInput(): void {
    this.discarding = true;
    this.rewriter.fail('bad-request');
    this.clearHeadTimer();
    this.socket.resume();
  }

  private receive(chunk: Buffer): void {
    if (this.discarding) return;
    const bytes = this.rewriter.push(chunk);
    if (bytes.length > 0 && !this.push(bytes)) this.socket.pause();
    const failure = this.rewriter.failure;
    if (failure) this.fail(failure);
    else this.watchHead();
  }

  private watchHead(): void {
    const timeout = this.options.headersTimeout ?? 0;
    if (!this.rewriter.headPending || timeout <= 0) return this.clearHeadTimer();
    this.headTimer ??= setTimeout(() => {
      this.headTimer = undefined;
      if (this.rewriter.headPending) {
        this.rewriter.fail('bad-request');
        this.fail('timeout');
      }
    }, timeout).unref();
  }

  private clearHeadTimer(): void {
    clearTimeout(this.headTimer);
    this.headTimer = undefined;
  }

  /** Reports the failure the way Node's parser reports its own, after what was already pushed. */
  private fail(reason: RewriterFailure | 'timeout'): void {
    this.discarding = true;
    this.clearHeadTimer();
    this.socket.resume();
    const [code, message] = FAILURES[reason];
    const error = Object.assign(new Error(message), { code });
    process.nextTick(() => {
      if (this.destroyed) return;
      // Node's socketOnError writes the status line when no response is under way, then destroys.
      if (this.listenerCount('error') > 0) this.emit('error', error);
      else this.destroy(error);
    });
  }

  override _read(): void {
    if (!this.discarding) this.socket.resume();
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this.socket.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(() => {
      callback();
      // Everything is written. A client still sending (a body past the limit) may never close
      // its side: give it a moment to read the answer, then close the connection anyway.
      const linger = setTimeout(() => this.socket.destroy(), this.options.lingerTimeout ?? 500);
      linger.unref();
      this.socket.once('close', () => clearTimeout(linger));
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.clearHeadTimer();
    this.socket.destroy(error ?? undefined);
    callback(error);
  }
}
