import { METHODS } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/**
 * Request header carrying the real method of a request the shim rewrote to `GET`. Clients cannot
 * forge it: the shim drops it from every request head it forwards.
 */
export const ORIGINAL_METHOD_HEADER = 'x-transit-dev-server-method';

// Methods Node's HTTP parser (llhttp) handles as plain requests. CONNECT switches it to tunnelling.
const PARSER_METHODS = new Set(METHODS.filter((method) => method !== 'CONNECT'));
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
// Well above Node's 16 KiB header limit: a longer head is handed over as is for Node to refuse.
const MAX_HEAD_BYTES = 64 * 1024;

type State = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'trailers' | 'passthrough';

/**
 * Follows HTTP/1.1 request framing on one connection and rewrites the request line of any request
 * whose method Node's parser does not know (Vault's `LIST`, or any other token) to `GET`, adding
 * {@link ORIGINAL_METHOD_HEADER}. Node answers such requests with a bare 400 before the server
 * sees them, where Vault lists (LIST) or answers 405 `{"errors":[]}`. Anything it cannot frame is
 * passed through untouched, for Node's parser to refuse.
 */
export class MethodRewriter {
  private pending: Buffer = Buffer.alloc(0);
  private state: State = 'head';
  private remaining = 0;

  /** Feeds bytes received from the client; returns the bytes to give Node's parser. */
  push(chunk: Buffer): Buffer {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    while (this.pending.length > 0 && this.step(out));
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }

  /** Moves one framing element from `pending` to `out`; false when more bytes are needed. */
  private step(out: Buffer[]): boolean {
    switch (this.state) {
      case 'passthrough':
        out.push(this.take(this.pending.length));
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
        if (end < 0) return this.needMore(out);
        const line = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;.*)?$/.exec(
          this.pending.toString('latin1', 0, end),
        );
        if (!line) return this.passThrough(out);
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
        const end = this.pending.indexOf(CRLF);
        if (end < 0) return this.needMore(out);
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
        if (end < 0) return this.needMore(out);
        out.push(this.rewriteHead(this.take(end + HEAD_END.length)));
        return true;
      }
    }
  }

  private rewriteHead(head: Buffer): Buffer {
    const [requestLine = '', ...fields] = head.toString('latin1', 0, head.length - 4).split('\r\n');
    const parts = requestLine.split(' ');
    if (parts.length !== 3 || !TOKEN.test(parts[0] as string)) return this.passThroughHead(head);
    const kept: string[] = [];
    let chunked = false;
    let length = 0;
    for (const field of fields) {
      const colon = field.indexOf(':');
      const name = (colon < 0 ? field : field.slice(0, colon)).trim().toLowerCase();
      const value = colon < 0 ? '' : field.slice(colon + 1).trim();
      if (name === ORIGINAL_METHOD_HEADER) continue;
      if (name === 'transfer-encoding') chunked = /(?:^|,)[ \t]*chunked$/i.test(value);
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value)) return this.passThroughHead(head);
        length = Number(value);
      }
      kept.push(field);
    }
    const [method, target, version] = parts as [string, string, string];
    const lines = PARSER_METHODS.has(method)
      ? [requestLine, ...kept]
      : [`GET ${target} ${version}`, `${ORIGINAL_METHOD_HEADER}: ${method}`, ...kept];
    if (chunked) this.state = 'chunk-size';
    else if (length > 0) {
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

  private needMore(out: Buffer[]): boolean {
    return this.pending.length > MAX_HEAD_BYTES ? this.passThrough(out) : false;
  }

  private passThrough(out: Buffer[]): boolean {
    this.state = 'passthrough';
    out.push(this.take(this.pending.length));
    return false;
  }

  private passThroughHead(head: Buffer): Buffer {
    this.state = 'passthrough';
    return head;
  }
}

/**
 * A client socket whose readable side is the socket's bytes with unknown methods rewritten (see
 * {@link MethodRewriter}); writes go straight to the socket. Hand it to `http.Server` with
 * `server.emit('connection', connection)`.
 */
export class MethodShimConnection extends Duplex {
  private readonly rewriter = new MethodRewriter();

  constructor(private readonly socket: Socket) {
    super({ allowHalfOpen: true });
    socket.on('data', (chunk: Buffer) => {
      const bytes = this.rewriter.push(chunk);
      if (bytes.length > 0 && !this.push(bytes)) socket.pause();
    });
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

  override _read(): void {
    this.socket.resume();
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this.socket.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy(error ?? undefined);
    callback(error);
  }
}
