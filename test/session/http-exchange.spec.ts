import { EventEmitter, getEventListeners, once, setMaxListeners } from 'node:events';
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  HttpExchangeError,
  httpExchange,
  type HttpExchangeRequest,
} from '../../lib/session/http-exchange.js';
import { closedPort } from '../support/scripted-server.js';
import { expectNoSecrets } from '../support/secrets.js';

const TOKEN = 'hvs.TOPSECRET-vault-token-0123456789';
const BODY_TEXT = 'plaintext-BODY-secret-abcdefghijkl';
/** A generous bound for "promptly" on a loaded machine. */
const PROMPT_MS = 2_000;

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
}

/** A request the server holds without answering; `closed` settles when its socket closes. */
interface Held {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly closed: Promise<void>;
}

interface TestServer {
  readonly server: Server;
  readonly origin: string;
  readonly port: number;
  readonly received: Received[];
  /** Emits the path of a held request ('/hang', '/drip', …) with a {@link Held}. */
  readonly arrivals: EventEmitter;
  connections: number;
  close(): Promise<void>;
}

/**
 * The routes:
 * - `/status/<code>`: that status, `X-Answer: a-<code>`, body `body <code>` (none for 204/304)
 * - `/echo…`: 200 with the request body echoed back
 * - `/size/<n>`: n bytes of 'a', with Content-Length
 * - `/hang`: never answers
 * - `/drip`: 200, then one byte every 20 ms, never ending
 * - `/cut`, `/cut-chunked`: 200, part of the body, then the socket is destroyed
 * - `/until-close`: a body delimited by the end of the connection
 * - `/malformed`: not an HTTP answer; `/no-answer`: the socket is destroyed without an answer
 * - `/cookies`: two Set-Cookie headers
 */
function route(req: IncomingMessage, res: ServerResponse, arrivals: EventEmitter): void {
  const path = (req.url ?? '/').split('?')[0]!;
  const status = /^\/status\/(\d{3})$/.exec(path);
  if (status) {
    const code = Number(status[1]);
    res.writeHead(code, { 'Content-Type': 'text/plain', 'X-Answer': `a-${code}` });
    res.end(code === 204 || code === 304 ? undefined : `body ${code}`);
    return;
  }
  const size = /^\/size\/(\d+)$/.exec(path);
  if (size) {
    const bytes = Buffer.alloc(Number(size[1]), 'a');
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': bytes.length });
    res.end(bytes);
    return;
  }
  if (path.startsWith('/echo')) return; // answered once the body has arrived
  if (path === '/hang' || path === '/drip') {
    const closed = new Promise<void>((resolve) => req.socket.once('close', () => resolve()));
    if (path === '/drip') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.flushHeaders();
      const drip = setInterval(() => res.write('x'), 20);
      res.once('close', () => clearInterval(drip));
    }
    arrivals.emit(path, { req, res, closed } satisfies Held);
    return;
  }
  if (path === '/cut' || path === '/cut-chunked') {
    res.writeHead(
      200,
      path === '/cut'
        ? { 'Content-Type': 'text/plain', 'Content-Length': 1000 }
        : { 'Content-Type': 'text/plain' },
    );
    res.write(Buffer.alloc(400, 'p'));
    setImmediate(() => req.socket.destroy());
    return;
  }
  if (path === '/until-close') {
    // No Content-Length, no chunked encoding: the body ends when the connection does.
    req.socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end');
    return;
  }
  if (path === '/malformed') {
    req.socket.end('NOT HTTP AT ALL\r\n\r\n');
    return;
  }
  if (path === '/no-answer') {
    req.socket.destroy();
    return;
  }
  if (path === '/cookies') {
    res.setHeader('Set-Cookie', ['a=1', 'b=2']);
    res.end('cookies');
    return;
  }
  res.writeHead(404);
  res.end();
}

async function startServer(host = '127.0.0.1'): Promise<TestServer> {
  const received: Received[] = [];
  const arrivals = new EventEmitter();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      });
      if (req.url?.startsWith('/echo')) {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        res.end(body);
      }
    });
    route(req, res, arrivals);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  const test: TestServer = {
    server,
    port,
    origin: host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`,
    received,
    arrivals,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('connection', () => {
    test.connections += 1;
  });
  return test;
}

/** Whether this machine can bind the IPv6 loopback address. */
async function canListenOn(host: string): Promise<boolean> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(0, host, resolve);
    });
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return true;
  } catch {
    return false;
  }
}

const hasIpv6Loopback = await canListenOn('::1');

/** The rejection of `promise`, which must be an {@link HttpExchangeError}. */
async function rejectionOf(promise: Promise<unknown>): Promise<HttpExchangeError> {
  const error = await promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(HttpExchangeError);
  expect((error as HttpExchangeError).name).toBe('HttpExchangeError');
  return error as HttpExchangeError;
}

/** An agent whose every request is counted: `addRequest` runs as soon as one is built. */
function countingAgent(): { agent: Agent; requests: () => number } {
  const agent = new Agent({ keepAlive: true });
  // `addRequest` is not in Node's typings.
  const addRequest = vi.spyOn(
    agent as unknown as { addRequest: (...args: unknown[]) => void },
    'addRequest',
  );
  return { agent, requests: () => addRequest.mock.calls.length };
}

function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

let srv: TestServer;
const agents: Agent[] = [];

function keepAliveAgent(options: { maxSockets?: number } = {}): Agent {
  const agent = new Agent({ keepAlive: true, ...options });
  agents.push(agent);
  return agent;
}

beforeAll(async () => {
  srv = await startServer();
});
afterEach(() => {
  vi.restoreAllMocks();
  for (const agent of agents.splice(0)) agent.destroy();
});
afterAll(async () => {
  await srv.close();
});

describe('httpExchange: answers', () => {
  it.each([200, 404, 500])(
    'resolves a %i with its status, status text, headers and body',
    async (code) => {
      const answer = await httpExchange({
        method: 'GET',
        url: `${srv.origin}/status/${code}`,
        agent: keepAliveAgent(),
      });
      expect(answer.status).toBe(code);
      expect(answer.statusText).toBe(
        { 200: 'OK', 404: 'Not Found', 500: 'Internal Server Error' }[code],
      );
      expect(answer.headers['x-answer']).toBe(`a-${code}`);
      expect(answer.headers['content-type']).toBe('text/plain');
      expect(Buffer.isBuffer(answer.body)).toBe(true);
      expect(answer.body.toString('utf8')).toBe(`body ${code}`);
    },
  );

  it('resolves a 204 with an empty body', async () => {
    const answer = await httpExchange({ method: 'DELETE', url: `${srv.origin}/status/204` });
    expect(answer).toMatchObject({ status: 204, statusText: 'No Content' });
    expect(answer.headers['x-answer']).toBe('a-204');
    expect(Buffer.isBuffer(answer.body)).toBe(true);
    expect(answer.body.length).toBe(0);
  });

  it('resolves a HEAD request with an empty body', async () => {
    const answer = await httpExchange({ method: 'HEAD', url: `${srv.origin}/status/200` });
    expect(answer.status).toBe(200);
    expect(answer.body.length).toBe(0);
  });

  it('keeps repeated response headers as an array', async () => {
    const answer = await httpExchange({ method: 'GET', url: `${srv.origin}/cookies` });
    expect(answer.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(answer.body.toString()).toBe('cookies');
  });

  it('collects a body that arrives in many chunks, byte for byte', async () => {
    const size = 3 * 1024 * 1024 + 17;
    const answer = await httpExchange({ method: 'GET', url: `${srv.origin}/size/${size}` });
    expect(answer.body.length).toBe(size);
    expect(answer.body.equals(Buffer.alloc(size, 'a'))).toBe(true);
  });
});

describe('httpExchange: the request arrives as sent', () => {
  it('sends method, path with query string, headers and a string body with its Content-Length', async () => {
    const before = srv.received.length;
    const headers = {
      'X-Vault-Token': TOKEN,
      'Content-Type': 'application/json',
      'X-Multi': ['one', 'two'],
    };
    const body = JSON.stringify({ plaintext: BODY_TEXT });
    const answer = await httpExchange({
      method: 'PUT',
      url: `${srv.origin}/echo/v1/transit/encrypt/key?version=2&x=a%20b`,
      headers,
      body,
    });
    expect(answer.status).toBe(200);
    expect(answer.body.toString('utf8')).toBe(body);
    expect(srv.received.length).toBe(before + 1);
    const got = srv.received.at(-1)!;
    expect(got.method).toBe('PUT');
    expect(got.url).toBe('/echo/v1/transit/encrypt/key?version=2&x=a%20b');
    expect(got.headers['x-vault-token']).toBe(TOKEN);
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['x-multi']).toBe('one, two');
    expect(got.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(got.headers['transfer-encoding']).toBeUndefined();
    expect(got.headers.host).toBe(`127.0.0.1:${srv.port}`);
    expect(got.body.toString('utf8')).toBe(body);
    // The caller's headers object is not modified.
    expect(headers).toEqual({
      'X-Vault-Token': TOKEN,
      'Content-Type': 'application/json',
      'X-Multi': ['one', 'two'],
    });
  });

  it('sends a multi-byte UTF-8 string body with its byte length as Content-Length', async () => {
    const body = 'héllo wörld — 🌍 日本語 \u0000 end';
    expect(Buffer.byteLength(body)).toBeGreaterThan(body.length);
    await httpExchange({ method: 'POST', url: `${srv.origin}/echo`, body });
    const got = srv.received.at(-1)!;
    expect(got.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(got.body.equals(Buffer.from(body, 'utf8'))).toBe(true);
  });

  it('sends a Buffer body byte for byte (every byte value, not valid UTF-8)', async () => {
    const body = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7) % 256));
    const answer = await httpExchange({ method: 'POST', url: `${srv.origin}/echo`, body });
    const got = srv.received.at(-1)!;
    expect(got.headers['content-length']).toBe('512');
    expect(got.body.equals(body)).toBe(true);
    expect(answer.body.equals(body)).toBe(true);
  });

  it('sends an empty string body with Content-Length: 0', async () => {
    await httpExchange({ method: 'POST', url: `${srv.origin}/echo`, body: '' });
    const got = srv.received.at(-1)!;
    expect(got.headers['content-length']).toBe('0');
    expect(got.body.length).toBe(0);
  });

  it('sends a GET without a body without Content-Length or chunked encoding', async () => {
    await httpExchange({ method: 'GET', url: `${srv.origin}/echo/get` });
    const got = srv.received.at(-1)!;
    expect(got.method).toBe('GET');
    expect(got.headers['content-length']).toBeUndefined();
    expect(got.headers['transfer-encoding']).toBeUndefined();
    expect(got.body.length).toBe(0);
  });

  it('replaces a caller-supplied Content-Length with the real byte length', async () => {
    const body = 'ünïcode';
    await httpExchange({
      method: 'POST',
      url: `${srv.origin}/echo`,
      headers: { 'content-length': '1' },
      body,
    });
    const got = srv.received.at(-1)!;
    expect(got.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(got.body.toString('utf8')).toBe(body);
  });

  it('never asks for a compressed answer', async () => {
    await httpExchange({ method: 'GET', url: `${srv.origin}/echo/plain` });
    expect(srv.received.at(-1)!.headers['accept-encoding']).toBeUndefined();
  });
});

describe('httpExchange: connections', () => {
  it('reuses keep-alive sockets: 20 sequential and 20 concurrent requests use at most 2 sockets', async () => {
    const agent = keepAliveAgent({ maxSockets: 2 });
    const before = srv.connections;
    for (let i = 0; i < 20; i += 1) {
      const answer = await httpExchange({
        method: 'POST',
        url: `${srv.origin}/echo/seq`,
        body: `sequential ${i}`,
        agent,
      });
      expect(answer.body.toString()).toBe(`sequential ${i}`);
    }
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        httpExchange({
          method: 'POST',
          url: `${srv.origin}/echo/par`,
          body: `concurrent ${i}`,
          agent,
        }),
      ),
    );
    expect(answers.map((a) => a.body.toString())).toEqual(
      Array.from({ length: 20 }, (_, i) => `concurrent ${i}`),
    );
    const used = srv.connections - before;
    expect(used).toBeGreaterThanOrEqual(1);
    expect(used).toBeLessThanOrEqual(2);
  });

  it('uses Node’s global agent when none is given', async () => {
    const answer = await httpExchange({ method: 'GET', url: `${srv.origin}/status/200` });
    expect(answer.status).toBe(200);
  });

  it.skipIf(!hasIpv6Loopback)('reaches an IPv6 literal host, http://[::1]:port', async () => {
    const v6 = await startServer('::1');
    try {
      const answer = await httpExchange({
        method: 'POST',
        url: `${v6.origin}/echo/v6`,
        body: 'over ipv6',
      });
      expect(answer.status).toBe(200);
      expect(answer.body.toString()).toBe('over ipv6');
      expect(v6.received.at(-1)!.headers.host).toBe(`[::1]:${v6.port}`);
    } finally {
      await v6.close();
    }
  });

  it('rejects with ECONNREFUSED when nothing listens on the port', async () => {
    const port = await closedPort();
    const error = await rejectionOf(
      httpExchange({ method: 'GET', url: `http://127.0.0.1:${port}/v1/sys/health` }),
    );
    expect(error.code).toBe('ECONNREFUSED');
  });

  it('sends an https: URL over TLS (a plain HTTP server fails the handshake, not the protocol check)', async () => {
    const error = await rejectionOf(
      httpExchange({
        method: 'GET',
        url: `https://127.0.0.1:${srv.port}/status/200`,
        timeoutMs: 10_000,
      }),
    );
    expect(error.code).not.toBe('ERR_BAD_PROTOCOL');
    expect(error.code).not.toBe('ERR_INVALID_URL');
    expect(error.code).not.toBe('ETIMEDOUT');
  });
});

describe('httpExchange: refused before any I/O', () => {
  it('an already aborted signal rejects with ERR_CANCELED and makes no connection', async () => {
    const { agent, requests } = countingAgent();
    agents.push(agent);
    const controller = new AbortController();
    controller.abort();
    const before = srv.connections;
    const error = await rejectionOf(
      httpExchange({
        method: 'POST',
        url: `${srv.origin}/echo`,
        body: BODY_TEXT,
        agent,
        signal: controller.signal,
      }),
    );
    expect(error.code).toBe('ERR_CANCELED');
    expect(requests()).toBe(0);
    expect(Object.keys(agent.sockets)).toEqual([]);
    // A request that is made afterwards is the only one the server sees.
    const received = srv.received.length;
    await httpExchange({ method: 'GET', url: `${srv.origin}/echo/after`, agent });
    expect(srv.received.slice(received).map((r) => r.url)).toEqual(['/echo/after']);
    expect(srv.connections - before).toBe(1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it.each([
    ['not a url', 'ERR_INVALID_URL'],
    ['localhost:8200/v1', 'ERR_BAD_PROTOCOL'], // parses as scheme "localhost:"
    ['http://', 'ERR_INVALID_URL'],
    ['http://127.0.0.1:99999/', 'ERR_INVALID_URL'],
    ['/v1/sys/health', 'ERR_INVALID_URL'],
    ['ftp://127.0.0.1/file', 'ERR_BAD_PROTOCOL'],
    ['file:///etc/passwd', 'ERR_BAD_PROTOCOL'],
    ['data:text/plain,hello', 'ERR_BAD_PROTOCOL'],
  ])('the URL %j rejects with %s and sends nothing', async (url, code) => {
    const { agent, requests } = countingAgent();
    agents.push(agent);
    const error = await rejectionOf(
      httpExchange({ method: 'GET', url, agent, headers: { 'X-Vault-Token': TOKEN } }),
    );
    expect(error.code).toBe(code);
    expect(requests()).toBe(0);
    expectNoSecrets(error, [TOKEN]);
  });

  it.each([
    ['a newline', `${TOKEN}\r\nX-Injected: 1`],
    ['a bare LF', `${TOKEN}\nX-Injected: 1`],
    ['a non-Latin-1 character', `${TOKEN}€`],
    ['a NUL', `${TOKEN}\u0000`],
  ])('a header value with %s rejects (ERR_INVALID_CHAR) and nothing is sent', async (_, value) => {
    const { agent, requests } = countingAgent();
    agents.push(agent);
    const received = srv.received.length;
    const before = srv.connections;
    const error = await rejectionOf(
      httpExchange({
        method: 'POST',
        url: `${srv.origin}/echo`,
        headers: { 'X-Vault-Token': value },
        body: BODY_TEXT,
        agent,
        timeoutMs: 5_000,
      }),
    );
    expect(error.code).toBe('ERR_INVALID_CHAR');
    expect(requests()).toBe(0);
    // Prove the server is idle: the next request is the only new one it sees.
    await httpExchange({ method: 'GET', url: `${srv.origin}/echo/next`, agent });
    expect(srv.received.slice(received).map((r) => r.url)).toEqual(['/echo/next']);
    expect(srv.connections - before).toBe(1);
    expectNoSecrets(error, [TOKEN, BODY_TEXT]);
  });

  it('an invalid method token rejects and nothing is sent', async () => {
    const { agent, requests } = countingAgent();
    agents.push(agent);
    const error = await rejectionOf(
      httpExchange({ method: 'GET /admin HTTP/1.1\r\nX:', url: `${srv.origin}/echo`, agent }),
    );
    expect(error.code).toMatch(/^ERR_/);
    expect(requests()).toBe(0);
  });
});

describe('httpExchange: abort and timeouts', () => {
  it('aborting while the answer is awaited rejects with ERR_CANCELED promptly and closes the socket', async () => {
    const agent = keepAliveAgent();
    const controller = new AbortController();
    const arrived = once(srv.arrivals, '/hang') as Promise<[Held]>;
    const pending = httpExchange({
      method: 'GET',
      url: `${srv.origin}/hang`,
      agent,
      signal: controller.signal,
    });
    const [held] = await arrived;
    controller.abort();
    const error = await within(PROMPT_MS, rejectionOf(pending));
    expect(error.code).toBe('ERR_CANCELED');
    await within(PROMPT_MS, held.closed);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('aborting while the body is streaming rejects with ERR_CANCELED and closes the socket', async () => {
    const controller = new AbortController();
    const arrived = once(srv.arrivals, '/drip') as Promise<[Held]>;
    const pending = httpExchange({
      method: 'GET',
      url: `${srv.origin}/drip`,
      agent: keepAliveAgent(),
      signal: controller.signal,
    });
    const [held] = await arrived;
    controller.abort();
    expect((await within(PROMPT_MS, rejectionOf(pending))).code).toBe('ERR_CANCELED');
    await within(PROMPT_MS, held.closed);
  });

  it('an abort reason does not change the code', async () => {
    const controller = new AbortController();
    const arrived = once(srv.arrivals, '/hang');
    const pending = httpExchange({
      method: 'GET',
      url: `${srv.origin}/hang`,
      signal: controller.signal,
    });
    await arrived;
    controller.abort(new Error(`reason mentioning ${TOKEN}`));
    const error = await rejectionOf(pending);
    expect(error.code).toBe('ERR_CANCELED');
  });

  it('timeoutMs ends an exchange whose server never answers with ETIMEDOUT, and closes the socket', async () => {
    const arrived = once(srv.arrivals, '/hang') as Promise<[Held]>;
    const pending = httpExchange({
      method: 'GET',
      url: `${srv.origin}/hang`,
      agent: keepAliveAgent(),
      timeoutMs: 150,
    });
    const [held] = await arrived;
    const error = await within(10_000, rejectionOf(pending));
    expect(error.code).toBe('ETIMEDOUT');
    await within(PROMPT_MS, held.closed);
  });

  it('timeoutMs covers the whole body: a server that sends a byte every 20 ms forever → ETIMEDOUT', async () => {
    const arrived = once(srv.arrivals, '/drip') as Promise<[Held]>;
    const pending = httpExchange({
      method: 'GET',
      url: `${srv.origin}/drip`,
      agent: keepAliveAgent(),
      timeoutMs: 300,
    });
    const [held] = await arrived;
    const error = await within(10_000, rejectionOf(pending));
    expect(error.code).toBe('ETIMEDOUT');
    await within(PROMPT_MS, held.closed);
  });

  it('a timeout that is not reached leaves the answer alone', async () => {
    const answer = await httpExchange({
      method: 'GET',
      url: `${srv.origin}/status/200`,
      timeoutMs: 30_000,
    });
    expect(answer.status).toBe(200);
  });
});

describe('httpExchange: broken and oversized answers', () => {
  it('rejects with ERR_RESPONSE_TOO_LARGE past maxResponseBytes; exactly the limit is accepted', async () => {
    const agent = keepAliveAgent();
    const ok = await httpExchange({
      method: 'GET',
      url: `${srv.origin}/size/100`,
      agent,
      maxResponseBytes: 100,
    });
    expect(ok.body.length).toBe(100);
    const error = await rejectionOf(
      httpExchange({
        method: 'GET',
        url: `${srv.origin}/size/101`,
        agent,
        maxResponseBytes: 100,
      }),
    );
    expect(error.code).toBe('ERR_RESPONSE_TOO_LARGE');
  });

  it('maxResponseBytes also stops a body that would never end', async () => {
    const arrived = once(srv.arrivals, '/drip') as Promise<[Held]>;
    const pending = httpExchange({
      method: 'GET',
      url: `${srv.origin}/drip`,
      agent: keepAliveAgent(),
      maxResponseBytes: 3,
    });
    const [held] = await arrived;
    expect((await within(10_000, rejectionOf(pending))).code).toBe('ERR_RESPONSE_TOO_LARGE');
    await within(PROMPT_MS, held.closed);
  });

  it('the default limit is 16 MiB', async () => {
    const limit = 16 * 1024 * 1024;
    const agent = keepAliveAgent();
    const ok = await httpExchange({ method: 'GET', url: `${srv.origin}/size/${limit}`, agent });
    expect(ok.body.length).toBe(limit);
    const error = await rejectionOf(
      httpExchange({ method: 'GET', url: `${srv.origin}/size/${limit + 1}`, agent }),
    );
    expect(error.code).toBe('ERR_RESPONSE_TOO_LARGE');
  });

  it.each(['/cut', '/cut-chunked'])(
    'a server that destroys the socket mid-body (%s) rejects with a socket error, never a partial body',
    async (path) => {
      const error = await rejectionOf(
        httpExchange({ method: 'GET', url: `${srv.origin}${path}`, agent: keepAliveAgent() }),
      );
      expect(['ECONNRESET', 'EPIPE', 'ECONNABORTED']).toContain(error.code);
    },
  );
});

describe('httpExchange: connections that end early', () => {
  it('a body delimited by the end of the connection resolves whole', async () => {
    const answer = await httpExchange({
      method: 'GET',
      url: `${srv.origin}/until-close`,
      agent: keepAliveAgent(),
    });
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe('until the end');
  });

  it('a socket closed without an answer rejects with ECONNRESET', async () => {
    const error = await rejectionOf(
      httpExchange({ method: 'GET', url: `${srv.origin}/no-answer`, agent: keepAliveAgent() }),
    );
    expect(error.code).toBe('ECONNRESET');
  });

  it('an answer that is not HTTP rejects with the parser’s error code', async () => {
    const error = await rejectionOf(
      httpExchange({ method: 'GET', url: `${srv.origin}/malformed`, agent: keepAliveAgent() }),
    );
    expect(error.code).toMatch(/^HPE_/);
  });
});

describe('httpExchange: errors carry no secrets', () => {
  it('no rendering of any error contains the token, its header name or the body', async () => {
    const request = (url: string, extra: Partial<HttpExchangeRequest> = {}) =>
      httpExchange({
        method: 'POST',
        url,
        headers: { 'X-Vault-Token': TOKEN, 'Content-Type': 'application/json' },
        body: JSON.stringify({ plaintext: BODY_TEXT }),
        agent: keepAliveAgent(),
        ...extra,
      });
    const aborted = new AbortController();
    aborted.abort();
    const midway = new AbortController();
    const arrived = once(srv.arrivals, '/hang');
    const canceled = request(`${srv.origin}/hang`, { signal: midway.signal });
    await arrived;
    midway.abort();
    const errors = await Promise.all([
      rejectionOf(request(`http://127.0.0.1:${await closedPort()}/v1/x`)),
      rejectionOf(request(`${srv.origin}/hang`, { timeoutMs: 100 })),
      rejectionOf(request(`${srv.origin}/drip`, { timeoutMs: 100 })),
      rejectionOf(canceled),
      rejectionOf(request(`${srv.origin}/echo`, { signal: aborted.signal })),
      rejectionOf(request(`${srv.origin}/size/1000`, { maxResponseBytes: 10 })),
      rejectionOf(request(`${srv.origin}/cut`)),
      rejectionOf(request(`${srv.origin}/cut-chunked`)),
      rejectionOf(request('ftp://127.0.0.1/x')),
      rejectionOf(request('not a url')),
      rejectionOf(
        request(`${srv.origin}/echo`, {
          headers: { 'X-Vault-Token': `${TOKEN}\r\n${BODY_TEXT}` },
        }),
      ),
    ]);
    expect(new Set(errors.map((e) => e.code))).toEqual(
      new Set([
        'ECONNREFUSED',
        'ETIMEDOUT',
        'ERR_CANCELED',
        'ERR_RESPONSE_TOO_LARGE',
        'ECONNRESET',
        'ERR_BAD_PROTOCOL',
        'ERR_INVALID_URL',
        'ERR_INVALID_CHAR',
      ]),
    );
    for (const error of errors) {
      const texts = [JSON.stringify(error), String(error), String(error.stack), error.message];
      for (const text of texts) {
        expect(text).not.toContain(TOKEN);
        expect(text).not.toContain(BODY_TEXT);
      }
      expectNoSecrets(error, [TOKEN, BODY_TEXT]);
      // Enumerable own properties: the code, and nothing holding the request.
      expect(Object.keys(error).toSorted()).toEqual(['code', 'name']);
      expect((error as { cause?: unknown }).cause).toBeUndefined();
    }
  });
});

describe('httpExchange: nothing is left behind', () => {
  it('200 exchanges with one long-lived signal and a timeout leave no abort listener and no timer', async () => {
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    const clearTimeoutSpy = vi.spyOn(globalThis, 'clearTimeout');
    const controller = new AbortController();
    const { signal } = controller;
    setMaxListeners(50, signal); // 20 exchanges listen at once
    const agent = keepAliveAgent({ maxSockets: 4 });
    const base = { agent, signal, timeoutMs: 60_000 };
    for (let batch = 0; batch < 10; batch += 1) {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          httpExchange({
            ...base,
            method: 'POST',
            url: `${srv.origin}/echo/many`,
            body: `${batch}-${i}`,
          }),
        ),
      );
      expect(answers.every((a) => a.status === 200)).toBe(true);
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    }
    // The failing outcomes clean up too.
    const failures = await Promise.all([
      rejectionOf(
        httpExchange({ ...base, method: 'GET', url: `${srv.origin}/hang`, timeoutMs: 50 }),
      ),
      rejectionOf(
        httpExchange({
          ...base,
          method: 'GET',
          url: `${srv.origin}/size/100`,
          maxResponseBytes: 1,
        }),
      ),
      rejectionOf(httpExchange({ ...base, method: 'GET', url: `${srv.origin}/cut` })),
      rejectionOf(
        httpExchange({ ...base, method: 'GET', url: `http://127.0.0.1:${await closedPort()}/` }),
      ),
      rejectionOf(
        httpExchange({ ...base, method: 'GET', url: srv.origin, headers: { 'x-bad': 'a\nb' } }),
      ),
    ]);
    expect(failures.map((e) => e.code)).toEqual([
      'ETIMEDOUT',
      'ERR_RESPONSE_TOO_LARGE',
      'ECONNRESET',
      'ECONNREFUSED',
      'ERR_INVALID_CHAR',
    ]);
    await httpExchange({ ...base, method: 'GET', url: `${srv.origin}/status/404` });
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    // The exchanges' timers (by their delays): one per exchange that got as far as sending
    // (not the one with the invalid header).
    const timers = setTimeoutSpy.mock.calls.flatMap(([, delay], i) =>
      delay === 60_000 || delay === 50 ? [setTimeoutSpy.mock.results[i]!.value as unknown] : [],
    );
    expect(timers).toHaveLength(200 + 4 + 1);
    const cleared = new Set(clearTimeoutSpy.mock.calls.map(([timer]) => timer as unknown));
    expect(timers.filter((timer) => !cleared.has(timer))).toEqual([]);
  });

  it('an exchange without timeoutMs or signal sets no timer', async () => {
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    await httpExchange({ method: 'GET', url: `${srv.origin}/status/200` });
    expect(setTimeoutSpy).not.toHaveBeenCalled();
  });
});
