import { EventEmitter, getEventListeners, once, setMaxListeners } from 'node:events';
import {
  Agent,
  createServer,
  request as nodeHttpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import axios, {
  AxiosError,
  AxiosHeaders,
  type AxiosAdapter,
  type AxiosInstance,
  type AxiosRequestConfig,
  type AxiosResponse,
} from 'axios';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  RestSession,
  RestSessionPool,
  type RequestEndedEvent,
  type RequestStartedEvent,
} from '../../lib/index.js';
import { createLeanHttpAdapter } from '../../lib/session/lean-http-adapter.js';
import { closedPort } from '../support/scripted-server.js';
import { expectNoSecrets } from '../support/secrets.js';

const TOKEN = 'hvs.TOPSECRET-vault-token-0123456789';
const QUERY_SECRET = 'query-SECRET-value-987654';
const PROMPT_MS = 2_000;
const JSON_BODY = '{"ok":true,"n":1}';

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A request the server holds without answering; `closed` settles when its socket closes. */
interface Held {
  readonly req: IncomingMessage;
  readonly closed: Promise<void>;
}

interface TestServer {
  readonly origin: string;
  readonly port: number;
  readonly received: Received[];
  readonly arrivals: EventEmitter;
  close(): Promise<void>;
}

const COMPRESSORS: Record<string, (input: Buffer) => Buffer> = {
  gzip: gzipSync,
  'x-gzip': gzipSync,
  deflate: deflateSync,
  br: brotliCompressSync,
  identity: (input) => input,
};

/**
 * The routes:
 * - `/json`: 200, JSON_BODY, `X-Custom: yes`
 * - `/status/<code>`: that status, `{"status":<code>}`
 * - `/bom`: a JSON body with a UTF-8 byte order mark
 * - `/encoded/<coding>`: JSON_BODY compressed with that Content-Encoding
 * - `/size/<n>`: n bytes of 'a'
 * - `/redirect`: 302 to /json
 * - `/hang`: never answers
 * - anything else: 200, `{"method":…,"url":…}`
 */
function respond(req: IncomingMessage, res: ServerResponse, arrivals: EventEmitter): void {
  const path = (req.url ?? '/').split('?')[0]!;
  const json = (status: number, body: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(body);
  };
  const status = /^\/status\/(\d{3})$/.exec(path);
  const encoded = /^\/encoded\/([\w-]+)$/.exec(path);
  const size = /^\/size\/(\d+)$/.exec(path);
  if (path === '/json') json(200, JSON_BODY, { 'X-Custom': 'yes' });
  else if (status) json(Number(status[1]), `{"status":${status[1]}}`);
  else if (path === '/bom') json(200, '\uFEFF{"bom":true}');
  else if (encoded) {
    const coding = encoded[1]!;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': coding });
    res.end(COMPRESSORS[coding]!(Buffer.from(JSON_BODY)));
  } else if (size) {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(Buffer.alloc(Number(size[1]), 'a'));
  } else if (path === '/redirect') {
    res.writeHead(302, { Location: '/json' });
    res.end();
  } else if (path === '/hang') {
    const closed = new Promise<void>((resolve) => req.socket.once('close', () => resolve()));
    arrivals.emit(path, { req, closed } satisfies Held);
  } else json(200, JSON.stringify({ method: req.method, url: req.url }));
}

async function startServer(): Promise<TestServer> {
  const received: Received[] = [];
  const arrivals = new EventEmitter();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      });
      respond(req, res, arrivals);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    received,
    arrivals,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The rejection of `promise`, whatever it is. */
function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got status ${(value as AxiosResponse).status}`);
    },
    (reason: unknown) => reason,
  );
}

async function axiosRejectionOf(promise: Promise<unknown>): Promise<AxiosError> {
  const error = await rejectionOf(promise);
  expect(axios.isAxiosError(error)).toBe(true);
  return error as AxiosError;
}

function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

const realHttpAdapter: AxiosAdapter = axios.getAdapter('http');

/** A fallback that never sends anything: proves a request was handed over. */
function stubAnswer(config: Parameters<AxiosAdapter>[0]): Promise<AxiosResponse> {
  return Promise.resolve({
    data: 'from the fallback',
    status: 200,
    statusText: 'OK',
    headers: new AxiosHeaders(),
    config,
  });
}

function noop(): void {}

/** `addRequest` runs as soon as a request is built on the agent (not in Node's typings). */
function watchRequests(agent: Agent) {
  return vi.spyOn(agent as unknown as { addRequest: (...args: unknown[]) => void }, 'addRequest');
}

function formWith(name: string, value: string): FormData {
  const form = new FormData();
  form.append(name, value);
  return form;
}

let srv: TestServer;
let agent: Agent;
/** Axios's own http adapter, watched. */
const fallback = vi.fn<AxiosAdapter>((config) => realHttpAdapter(config));
let client: AxiosInstance;
/** Plain axios (its own http adapter), to compare with. */
let plain: AxiosInstance;

beforeAll(async () => {
  srv = await startServer();
  agent = new Agent({ keepAlive: true, maxSockets: 8 });
});
beforeEach(() => {
  fallback.mockClear();
  client = axios.create({
    adapter: createLeanHttpAdapter(fallback),
    maxRedirects: 0,
    proxy: false,
    httpAgent: agent,
  });
  plain = axios.create({ adapter: 'http', maxRedirects: 0, proxy: false, httpAgent: agent });
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  agent.destroy();
  await srv.close();
});

/** What the server saw of the requests made since `from`. */
function receivedSince(from: number): Received[] {
  return srv.received.slice(from);
}

describe('lean HTTP adapter: the lean path', () => {
  it('a POST with a string body goes over node:http; the server sees exactly its method, path, headers and body', async () => {
    const from = srv.received.length;
    const body = JSON.stringify({ plaintext: 'aGVsbG8=' });
    const response = await client.post(`${srv.origin}/v1/transit/encrypt/k?x=1`, body, {
      headers: { 'X-Vault-Token': TOKEN, 'Content-Type': 'application/json' },
    });
    expect(fallback).not.toHaveBeenCalled();
    expect(response.status).toBe(200);
    expect(response.data).toEqual({ method: 'POST', url: '/v1/transit/encrypt/k?x=1' });
    const [got] = receivedSince(from);
    expect(got!.method).toBe('POST');
    expect(got!.url).toBe('/v1/transit/encrypt/k?x=1');
    expect(got!.body.toString('utf8')).toBe(body);
    expect(got!.headers).toEqual({
      accept: 'application/json, text/plain, */*',
      'content-type': 'application/json',
      'x-vault-token': TOKEN,
      'content-length': String(Buffer.byteLength(body)),
      host: `127.0.0.1:${srv.port}`,
      connection: 'keep-alive',
    });
  });

  it('a GET without a body takes the lean path and sends no Content-Length and no body', async () => {
    const from = srv.received.length;
    const response = await client.get(`${srv.origin}/json`);
    expect(fallback).not.toHaveBeenCalled();
    expect(response.data).toEqual({ ok: true, n: 1 });
    const [got] = receivedSince(from);
    expect(got!.method).toBe('GET');
    expect(got!.url).toBe('/json');
    expect(got!.headers['content-length']).toBeUndefined();
    expect(got!.headers['transfer-encoding']).toBeUndefined();
    expect(got!.body.length).toBe(0);
  });

  it.each(['put', 'patch', 'delete', 'options'] as const)(
    'method %s is sent as is',
    async (method) => {
      const from = srv.received.length;
      await client.request({ method, url: `${srv.origin}/m`, data: 'x' });
      expect(fallback).not.toHaveBeenCalled();
      expect(receivedSince(from).map((r) => [r.method, r.body.toString()])).toEqual([
        [method.toUpperCase(), 'x'],
      ]);
    },
  );

  it('a HEAD request resolves with an empty body', async () => {
    const response = await client.head(`${srv.origin}/json`);
    expect(fallback).not.toHaveBeenCalled();
    expect(response.status).toBe(200);
    expect(response.data).toBe('');
  });

  it('a Buffer body is sent byte for byte with its Content-Length', async () => {
    const from = srv.received.length;
    const body = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 13) % 256));
    await client.post(`${srv.origin}/bytes`, body, {
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(fallback).not.toHaveBeenCalled();
    const [got] = receivedSince(from);
    expect(got!.headers['content-length']).toBe('300');
    expect(got!.body.equals(body)).toBe(true);
  });

  it('a multi-byte UTF-8 string body is sent with its byte length', async () => {
    const from = srv.received.length;
    const body = 'ключ — 🔑 — 鍵';
    await client.post(`${srv.origin}/utf8`, body, { headers: { 'Content-Type': 'text/plain' } });
    expect(fallback).not.toHaveBeenCalled();
    const [got] = receivedSince(from);
    expect(got!.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(got!.body.toString('utf8')).toBe(body);
  });

  it('a plain object is turned into a JSON string by transformRequest, so it takes the lean path', async () => {
    const from = srv.received.length;
    await client.post(`${srv.origin}/object`, { a: 1, b: ['x'] });
    expect(fallback).not.toHaveBeenCalled();
    const [got] = receivedSince(from);
    expect(got!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(got!.body.toString())).toEqual({ a: 1, b: ['x'] });
  });

  it('URLSearchParams data is turned into a string by transformRequest, so it takes the lean path', async () => {
    const from = srv.received.length;
    await client.post(`${srv.origin}/form`, new URLSearchParams({ a: '1', b: 'two words' }));
    expect(fallback).not.toHaveBeenCalled();
    const [got] = receivedSince(from);
    expect(got!.headers['content-type']).toBe('application/x-www-form-urlencoded;charset=utf-8');
    expect(got!.body.toString()).toBe('a=1&b=two+words');
  });

  it('timeout: 0 (axios’s default, no timeout) and responseType text/json keep the lean path', async () => {
    await client.get(`${srv.origin}/json`, { timeout: 0 });
    await client.get(`${srv.origin}/json`, { responseType: 'text' });
    await client.get(`${srv.origin}/json`, { responseType: 'json' });
    await client.get(`${srv.origin}/json`, { responseEncoding: 'utf8' });
    expect(fallback).not.toHaveBeenCalled();
  });

  it('sends over the instance’s httpAgent', async () => {
    const addRequest = watchRequests(agent);
    await client.get(`${srv.origin}/json`);
    expect(fallback).not.toHaveBeenCalled();
    expect(addRequest).toHaveBeenCalledTimes(1);
  });

  it('never asks for a compressed answer', async () => {
    const from = srv.received.length;
    await client.get(`${srv.origin}/json`);
    expect(receivedSince(from)[0]!.headers['accept-encoding']).toBeUndefined();
  });
});

describe('lean HTTP adapter: requests handed to the fallback', () => {
  const handedOptions: [string, AxiosRequestConfig][] = [
    ['params', { params: { a: '1' } }],
    ['auth', { auth: { username: 'u', password: 'p' } }],
    ['timeout', { timeout: 5_000 }],
    ['beforeRedirect', { beforeRedirect: noop }],
    ['cancelToken', { cancelToken: new axios.CancelToken(noop) }],
    ['family', { family: 4 }],
    ['httpVersion', { httpVersion: 1 } as AxiosRequestConfig],
    ['insecureHTTPParser', { insecureHTTPParser: true }],
    [
      'lookup',
      {
        lookup: (
          _host: string,
          _options: unknown,
          callback: (e: null, a: string, f: number) => void,
        ) => callback(null, '127.0.0.1', 4),
      } as AxiosRequestConfig,
    ],
    ['maxRate', { maxRate: [100 * 1024 * 1024, 100 * 1024 * 1024] }],
    ['onDownloadProgress', { onDownloadProgress: noop }],
    ['onUploadProgress', { onUploadProgress: noop }],
    ['transport', { transport: { request: nodeHttpRequest } } as AxiosRequestConfig],
    ['responseType arraybuffer', { responseType: 'arraybuffer' }],
    ['responseType stream', { responseType: 'stream' }],
    ['responseEncoding latin1', { responseEncoding: 'latin1' }],
    ['maxRedirects 1', { maxRedirects: 1 }],
    ['allowAbsoluteUrls false', { allowAbsoluteUrls: false }],
    ['Uint8Array data', { data: new Uint8Array([1, 2, 3]) }],
    ['ArrayBuffer data', { data: new Uint8Array([1, 2, 3]).buffer }],
    ['stream data', { data: Readable.from([Buffer.from('streamed')]) }],
    ['Blob data', { data: new Blob(['blob']) }],
    ['FormData data', { data: formWith('field', 'value') }],
  ];

  it.each([...handedOptions, ['socketPath', { socketPath: '/nonexistent.sock' }]] as [
    string,
    AxiosRequestConfig,
  ][])('%s: goes to the fallback, nothing is sent by the lean path', async (_, options) => {
    const stub = vi.fn<AxiosAdapter>(stubAnswer);
    const handing = axios.create({
      adapter: createLeanHttpAdapter(stub),
      maxRedirects: 0,
      proxy: false,
      httpAgent: agent,
    });
    const from = srv.received.length;
    const response = await handing.request({
      method: 'post',
      url: `${srv.origin}/handed`,
      data: 'body',
      ...options,
    });
    expect(stub).toHaveBeenCalledTimes(1);
    expect(response.data).toBe('from the fallback');
    expect(receivedSince(from)).toEqual([]);
  });

  // The stream body can be read once; a stream body has its own test below.
  it.each(handedOptions.filter(([name]) => name !== 'stream data'))(
    '%s: with axios’s own adapter as the fallback, the request still succeeds',
    async (_, options) => {
      const from = srv.received.length;
      const response = await client.request({
        method: 'post',
        url: `${srv.origin}/json`,
        data: 'body',
        ...options,
      });
      expect(fallback).toHaveBeenCalledTimes(1);
      expect(response.status).toBe(200);
      if (options.responseType === 'arraybuffer') {
        expect(Buffer.isBuffer(response.data)).toBe(true);
        expect((response.data as Buffer).toString()).toBe(JSON_BODY);
      } else if (options.responseType === 'stream') {
        const chunks: Buffer[] = [];
        for await (const chunk of response.data as Readable) chunks.push(chunk as Buffer);
        expect(Buffer.concat(chunks).toString()).toBe(JSON_BODY);
      } else {
        expect(response.data).toEqual({ ok: true, n: 1 });
      }
      expect(receivedSince(from)).toHaveLength(1);
    },
  );

  it('params reach the server through the fallback', async () => {
    const from = srv.received.length;
    await client.get(`${srv.origin}/p`, { params: { a: '1', b: 'c d' } });
    expect(fallback).toHaveBeenCalledTimes(1);
    expect(receivedSince(from)[0]!.url).toBe('/p?a=1&b=c+d');
  });

  it('auth reaches the server through the fallback', async () => {
    const from = srv.received.length;
    await client.get(`${srv.origin}/a`, { auth: { username: 'user', password: 'pw' } });
    expect(fallback).toHaveBeenCalledTimes(1);
    expect(receivedSince(from)[0]!.headers.authorization).toBe(
      `Basic ${Buffer.from('user:pw').toString('base64')}`,
    );
  });

  it('a cancel token goes to the fallback and still cancels', async () => {
    const source = axios.CancelToken.source();
    const arrived = once(srv.arrivals, '/hang');
    const pending = rejectionOf(client.get(`${srv.origin}/hang`, { cancelToken: source.token }));
    await arrived;
    source.cancel('stop');
    expect(axios.isCancel(await within(PROMPT_MS, pending))).toBe(true);
    expect(fallback).toHaveBeenCalledTimes(1);
  });

  it('maxRedirects > 0 goes to the fallback, which follows the redirect', async () => {
    const response = await client.get(`${srv.origin}/redirect`, { maxRedirects: 2 });
    expect(fallback).toHaveBeenCalledTimes(1);
    expect(response.data).toEqual({ ok: true, n: 1 });
  });

  it('a stream body goes to the fallback and arrives whole', async () => {
    const from = srv.received.length;
    await client.post(`${srv.origin}/s`, Readable.from([Buffer.from('one '), Buffer.from('two')]));
    expect(fallback).toHaveBeenCalledTimes(1);
    expect(receivedSince(from)[0]!.body.toString()).toBe('one two');
  });

  it('an instance without proxy: false goes to the fallback', async () => {
    const stub = vi.fn<AxiosAdapter>(stubAnswer);
    const withProxyDefault = axios.create({
      adapter: createLeanHttpAdapter(stub),
      maxRedirects: 0,
    });
    await withProxyDefault.get(`${srv.origin}/json`);
    expect(stub).toHaveBeenCalledTimes(1);
  });

  it('an instance without maxRedirects: 0 (axios’s default 21) goes to the fallback', async () => {
    const stub = vi.fn<AxiosAdapter>(stubAnswer);
    const withRedirects = axios.create({ adapter: createLeanHttpAdapter(stub), proxy: false });
    await withRedirects.get(`${srv.origin}/json`);
    expect(stub).toHaveBeenCalledTimes(1);
  });

  it('the default fallback is axios’s own http adapter', async () => {
    const byDefault = axios.create({
      adapter: createLeanHttpAdapter(),
      maxRedirects: 0,
      proxy: false,
    });
    const from = srv.received.length;
    const response = await byDefault.get(`${srv.origin}/p`, { params: { q: 'v' } });
    expect(response.data).toEqual({ method: 'GET', url: '/p?q=v' });
    // Axios's adapter announces itself; the lean path does not.
    expect(receivedSince(from)[0]!.headers['user-agent']).toMatch(/^axios\//);
    const lean = await byDefault.get(`${srv.origin}/p`);
    expect(lean.data).toEqual({ method: 'GET', url: '/p' });
    expect(receivedSince(from)[1]!.headers['user-agent']).toBeUndefined();
  });
});

describe('lean HTTP adapter: answers', () => {
  it('validateStatus (default) rejects a 404 with AxiosError ERR_BAD_REQUEST and its response', async () => {
    const error = await axiosRejectionOf(client.get(`${srv.origin}/status/404`));
    expect(fallback).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(AxiosError);
    expect(error.code).toBe('ERR_BAD_REQUEST');
    expect(error.message).toBe('Request failed with status code 404');
    expect(error.response?.status).toBe(404);
    expect(error.response?.statusText).toBe('Not Found');
    expect(error.response?.data).toEqual({ status: 404 });
    expect(error.response?.headers['content-type']).toBe('application/json');
    expect(error.config?.url).toBe(`${srv.origin}/status/404`);
  });

  it('validateStatus (default) rejects a 503 with AxiosError ERR_BAD_RESPONSE', async () => {
    const error = await axiosRejectionOf(client.get(`${srv.origin}/status/503`));
    expect(error.code).toBe('ERR_BAD_RESPONSE');
    expect(error.response?.status).toBe(503);
    expect(error.response?.data).toEqual({ status: 503 });
  });

  it.each([404, 409, 500, 503])(
    'a %i rejects with the same code and message as axios’s own adapter',
    async (code) => {
      const lean = await axiosRejectionOf(client.get(`${srv.origin}/status/${code}`));
      const reference = await axiosRejectionOf(plain.get(`${srv.origin}/status/${code}`));
      expect({ code: lean.code, message: lean.message, status: lean.response?.status }).toEqual({
        code: reference.code,
        message: reference.message,
        status: reference.response?.status,
      });
    },
  );

  it.each([302, 307])(
    'a %i refused by validateStatus rejects with ERR_BAD_RESPONSE, like axios’s settle()',
    async (code) => {
      const lean = await axiosRejectionOf(client.get(`${srv.origin}/status/${code}`));
      const reference = await axiosRejectionOf(plain.get(`${srv.origin}/status/${code}`));
      expect(reference.code).toBe('ERR_BAD_RESPONSE');
      expect(lean.response?.status).toBe(code);
      expect(lean.code).toBe(reference.code);
    },
  );

  it('a custom validateStatus that refuses a 200 rejects with ERR_BAD_RESPONSE, like axios’s settle()', async () => {
    const refuse200 = { validateStatus: (status: number) => status !== 200 };
    const lean = await axiosRejectionOf(client.get(`${srv.origin}/json`, refuse200));
    const reference = await axiosRejectionOf(plain.get(`${srv.origin}/json`, refuse200));
    expect(reference.code).toBe('ERR_BAD_RESPONSE');
    expect(lean.code).toBe(reference.code);
  });

  it('validateStatus: () => true resolves any status', async () => {
    const any = { validateStatus: () => true };
    expect((await client.get(`${srv.origin}/status/404`, any)).status).toBe(404);
    const failed = await client.get(`${srv.origin}/status/503`, any);
    expect(failed.status).toBe(503);
    expect(failed.data).toEqual({ status: 503 });
    expect(fallback).not.toHaveBeenCalled();
  });

  it('validateStatus: null resolves any status, like axios', async () => {
    const response = await client.get(`${srv.origin}/status/500`, { validateStatus: null });
    expect(response.status).toBe(500);
  });

  it('the default transformResponse parses JSON; responseType text keeps the text', async () => {
    expect((await client.get(`${srv.origin}/json`)).data).toEqual({ ok: true, n: 1 });
    expect((await client.get(`${srv.origin}/json`, { responseType: 'json' })).data).toEqual({
      ok: true,
      n: 1,
    });
    expect((await client.get(`${srv.origin}/json`, { responseType: 'text' })).data).toBe(JSON_BODY);
    expect(fallback).not.toHaveBeenCalled();
  });

  it('a body that is not JSON stays text (axios’s silent JSON parsing), like axios', async () => {
    for (const responseType of [undefined, 'json'] as const) {
      const lean = await client.get(`${srv.origin}/size/3`, { responseType });
      const reference = await plain.get(`${srv.origin}/size/3`, { responseType });
      expect(lean.data).toBe('aaa');
      expect(lean.data).toBe(reference.data);
    }
  });

  it('strips a UTF-8 byte order mark from the text, like axios', async () => {
    expect((await client.get(`${srv.origin}/bom`)).data).toEqual({ bom: true });
    const text = await client.get<string>(`${srv.origin}/bom`, { responseType: 'text' });
    expect(text.data).toBe('{"bom":true}');
    const reference = await plain.get<string>(`${srv.origin}/bom`, { responseType: 'text' });
    expect(text.data).toBe(reference.data);
  });

  it('response headers are readable as response.headers[name] and through AxiosHeaders', async () => {
    const response = await client.get(`${srv.origin}/json`);
    expect(response.headers).toBeInstanceOf(AxiosHeaders);
    expect(typeof response.headers['date']).toBe('string');
    expect(Number.isNaN(Date.parse(response.headers['date'] as string))).toBe(false);
    expect(response.headers['x-custom']).toBe('yes');
    expect(response.headers['content-type']).toBe('application/json');
    expect((response.headers as AxiosHeaders).get('Content-Type')).toBe('application/json');
    expect(response.statusText).toBe('OK');
    expect(response.config.url).toBe(`${srv.origin}/json`);
  });

  it('request and response interceptors still run around the lean path', async () => {
    const from = srv.received.length;
    client.interceptors.request.use((config) => {
      config.headers.set('X-Intercepted', 'request');
      return config;
    });
    client.interceptors.response.use((response) => ({
      ...response,
      data: { wrapped: response.data },
    }));
    const response = await client.get(`${srv.origin}/json`);
    expect(fallback).not.toHaveBeenCalled();
    expect(receivedSince(from)[0]!.headers['x-intercepted']).toBe('request');
    expect(response.data).toEqual({ wrapped: { ok: true, n: 1 } });
  });

  it('a response error interceptor sees the AxiosError with its response', async () => {
    const seen: unknown[] = [];
    client.interceptors.response.use(undefined, (error: unknown) => {
      seen.push((error as AxiosError).response?.status);
      return Promise.reject(error);
    });
    await rejectionOf(client.get(`${srv.origin}/status/409`));
    expect(seen).toEqual([409]);
  });

  it.each(['gzip', 'x-gzip', 'deflate', 'br'])(
    'a %s Content-Encoding answer rejects with ERR_BAD_RESPONSE',
    async (coding) => {
      const error = await axiosRejectionOf(client.get(`${srv.origin}/encoded/${coding}`));
      expect(fallback).not.toHaveBeenCalled();
      expect(error.code).toBe('ERR_BAD_RESPONSE');
    },
  );

  it('an identity Content-Encoding answer is read as is', async () => {
    expect((await client.get(`${srv.origin}/encoded/identity`)).data).toEqual({ ok: true, n: 1 });
  });

  it('maxContentLength: a longer answer rejects with ERR_BAD_RESPONSE; exactly the limit is read', async () => {
    const ok = await client.get<string>(`${srv.origin}/size/100`, { maxContentLength: 100 });
    expect(ok.data).toBe('a'.repeat(100));
    const error = await axiosRejectionOf(
      client.get(`${srv.origin}/size/101`, { maxContentLength: 100 }),
    );
    expect(fallback).not.toHaveBeenCalled();
    expect(error.code).toBe('ERR_BAD_RESPONSE');
    expect(error.response).toBeUndefined();
  });
});

describe('lean HTTP adapter: failures', () => {
  it('aborting with an AbortController rejects with a CanceledError and closes the socket', async () => {
    const controller = new AbortController();
    const arrived = once(srv.arrivals, '/hang') as Promise<[Held]>;
    const pending = rejectionOf(
      client.post(`${srv.origin}/hang`, 'body', { signal: controller.signal }),
    );
    const [held] = await arrived;
    controller.abort();
    const error = await within(PROMPT_MS, pending);
    expect(fallback).not.toHaveBeenCalled();
    expect(axios.isCancel(error)).toBe(true);
    expect((error as AxiosError).code).toBe('ERR_CANCELED');
    await within(PROMPT_MS, held.closed);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('an already aborted signal rejects with a CanceledError and sends nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const from = srv.received.length;
    const error = await rejectionOf(
      client.get(`${srv.origin}/json`, { signal: controller.signal }),
    );
    expect(axios.isCancel(error)).toBe(true);
    expect(receivedSince(from)).toEqual([]);
  });

  it('many requests with one long-lived signal leave no abort listener behind', async () => {
    const controller = new AbortController();
    setMaxListeners(50, controller.signal);
    for (let batch = 0; batch < 5; batch += 1) {
      await Promise.all(
        Array.from({ length: 20 }, () =>
          client.get(`${srv.origin}/json`, { signal: controller.signal }),
        ),
      );
    }
    await rejectionOf(client.get(`${srv.origin}/status/404`, { signal: controller.signal }));
    expect(fallback).not.toHaveBeenCalled();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('maxBodyLength: a longer body rejects with ERR_BAD_REQUEST and no request reaches the server', async () => {
    const addRequest = watchRequests(agent);
    const from = srv.received.length;
    const error = await axiosRejectionOf(
      client.post(`${srv.origin}/json`, 'x'.repeat(11), { maxBodyLength: 10 }),
    );
    expect(error.code).toBe('ERR_BAD_REQUEST');
    const bytes = await axiosRejectionOf(
      client.post(`${srv.origin}/json`, Buffer.alloc(11), { maxBodyLength: 10 }),
    );
    expect(bytes.code).toBe('ERR_BAD_REQUEST');
    // Counted in bytes, not characters.
    const multiByte = await axiosRejectionOf(
      client.post(`${srv.origin}/json`, 'é'.repeat(6), { maxBodyLength: 10 }),
    );
    expect(multiByte.code).toBe('ERR_BAD_REQUEST');
    expect(addRequest).not.toHaveBeenCalled();
    expect(receivedSince(from)).toEqual([]);
    const ok = await client.post(`${srv.origin}/json`, 'x'.repeat(10), { maxBodyLength: 10 });
    expect(ok.status).toBe(200);
    expect(fallback).not.toHaveBeenCalled();
  });

  it('a refused connection rejects with AxiosError code ECONNREFUSED and no response', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/v1/sys/health`;
    const error = await axiosRejectionOf(client.get(url));
    expect(fallback).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(AxiosError);
    expect(error.code).toBe('ECONNREFUSED');
    expect(error.response).toBeUndefined();
    expect(error.config?.url).toBe(url);
    const reference = await axiosRejectionOf(plain.get(url));
    expect(error.code).toBe(reference.code);
  });

  it('the transport error in a refused connection carries no token or body', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/v1/x`;
    const error = await axiosRejectionOf(
      client.post(url, `{"plaintext":"${QUERY_SECRET}"}`, { headers: { 'X-Vault-Token': TOKEN } }),
    );
    // The AxiosError holds the config (axios's design); its message and cause do not.
    expect(error.message).not.toContain(TOKEN);
    expectNoSecrets(error.cause, [TOKEN, QUERY_SECRET]);
  });

  it('a header value with CR/LF cannot inject a header: sent as axios sends it (stripped)', async () => {
    const from = srv.received.length;
    const headers = { 'X-Vault-Token': `${TOKEN}\r\nX-Evil: 1` };
    await client.get(`${srv.origin}/json`, { headers });
    await plain.get(`${srv.origin}/json`, { headers });
    const [lean, reference] = receivedSince(from);
    expect(lean!.headers['x-evil']).toBeUndefined();
    expect(lean!.headers['x-vault-token']).toBe(`${TOKEN}X-Evil: 1`);
    expect(lean!.headers['x-vault-token']).toBe(reference!.headers['x-vault-token']);
  });

  it('a header value Node refuses (not Latin-1) rejects with ERR_INVALID_CHAR and sends nothing', async () => {
    const addRequest = watchRequests(agent);
    const from = srv.received.length;
    const error = await axiosRejectionOf(
      client.post(`${srv.origin}/json`, QUERY_SECRET, {
        headers: { 'X-Vault-Token': `${TOKEN}€` },
      }),
    );
    expect(error.code).toBe('ERR_INVALID_CHAR');
    expect(error.message).not.toContain(TOKEN);
    expectNoSecrets(error.cause, [TOKEN, QUERY_SECRET]);
    expect(addRequest).not.toHaveBeenCalled();
    expect(receivedSince(from)).toEqual([]);
  });

  it('a relative url without baseURL is not an http(s) URL: axios’s own adapter gets it', async () => {
    await client.get('/v1/sys/health').catch(() => undefined);
    expect(fallback).toHaveBeenCalledTimes(1);
  });

  it('data: and other non-http(s) URLs go to axios’s own adapter too', async () => {
    await client.get('data:application/json,{}').catch(() => undefined);
    expect(fallback).toHaveBeenCalledTimes(1);
  });

  it('an upper-case HTTP scheme takes the lean path with the right agent', async () => {
    const response = await client.get(`${srv.origin.replace('http:', 'HTTP:')}/json`);
    expect(fallback).not.toHaveBeenCalled();
    expect(response.status).toBeGreaterThanOrEqual(200);
  });
});

describe('lean HTTP adapter: URLs', () => {
  it.each([
    ['/v1', '/x', '/v1/x'],
    ['/v1', 'x', '/v1/x'],
    ['/v1/', '/x', '/v1/x'],
    ['/v1/', 'x', '/v1/x'],
    ['/v1//', 'x', '/v1/x'],
    ['', '/x', '/x'],
    ['', 'x', '/x'],
    ['/', '/x', '/x'],
    ['/v1', 'x/y?z=1&w=a%20b', '/v1/x/y?z=1&w=a%20b'],
    ['/v1', '', '/v1'],
  ])('baseURL origin+%j with url %j requests %j, as axios does', async (basePath, url, path) => {
    const baseURL = `${srv.origin}${basePath}`;
    const from = srv.received.length;
    await client.get(url, { baseURL });
    expect(fallback).not.toHaveBeenCalled();
    expect(receivedSince(from).map((r) => r.url)).toEqual([path]);
    await plain.get(url, { baseURL });
    expect(receivedSince(from).map((r) => r.url)).toEqual([path, path]);
  });

  it('an absolute url ignores baseURL', async () => {
    const from = srv.received.length;
    await client.get(`${srv.origin}/abs`, { baseURL: 'http://127.0.0.1:1/base' });
    expect(receivedSince(from).map((r) => r.url)).toEqual(['/abs']);
  });

  it('a baseURL on the instance applies to the lean path', async () => {
    const based = axios.create({
      adapter: createLeanHttpAdapter(fallback),
      baseURL: `${srv.origin}/v1/`,
      maxRedirects: 0,
      proxy: false,
    });
    const from = srv.received.length;
    await based.post('/transit/encrypt/k', '{}');
    expect(fallback).not.toHaveBeenCalled();
    expect(receivedSince(from).map((r) => r.url)).toEqual(['/v1/transit/encrypt/k']);
  });

  it('credentials in the URL (http://user:pw@host) go to axios’s adapter, which sends them as Basic auth', async () => {
    const url = `http://user:pw@127.0.0.1:${srv.port}/creds`;
    const from = srv.received.length;
    await plain.get(url);
    await client.get(url);
    const [reference, lean] = receivedSince(from);
    expect(reference!.headers.authorization).toBe(`Basic ${btoa('user:pw')}`);
    expect(lean!.headers.authorization).toBe(reference!.headers.authorization);
  });
});

describe('RestSessionPool: the lean adapter and the direct transport', () => {
  let pool: RestSessionPool;
  let started: RequestStartedEvent[];
  let ended: RequestEndedEvent[];

  beforeEach(() => {
    pool = new RestSessionPool({ name: 'vault' });
    started = [];
    ended = [];
    pool.signals.requestStarted.connect((e) => started.push(e));
    pool.signals.requestEnded.connect((e) => ended.push(e));
  });
  afterEach(() => {
    pool.close();
  });

  it('a direct exchange through a session sends the request and returns the answer', async () => {
    const from = srv.received.length;
    const answer = await pool.session((s) =>
      s.part(RestSession)!.exchange({
        method: 'POST',
        url: `${srv.origin}/v1/transit/encrypt/k`,
        headers: { 'X-Vault-Token': TOKEN, 'Content-Type': 'application/json' },
        body: '{"plaintext":"aGk="}',
      }),
    );
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body.toString())).toEqual({
      method: 'POST',
      url: '/v1/transit/encrypt/k',
    });
    const [got] = receivedSince(from);
    expect(got!.headers['x-vault-token']).toBe(TOKEN);
    expect(got!.body.toString()).toBe('{"plaintext":"aGk="}');
  });

  it('a direct exchange goes over the pool’s agent', async () => {
    const addRequest = watchRequests(pool.httpAgent);
    await pool.session((s) =>
      s.part(RestSession)!.exchange({ method: 'GET', url: `${srv.origin}/json` }),
    );
    expect(addRequest).toHaveBeenCalledTimes(1);
  });

  it('requestStarted/requestEnded fire once per direct exchange: method and path only', async () => {
    await pool.session(async (s) => {
      const rest = s.part(RestSession)!;
      await rest.exchange({
        method: 'post',
        url: `${srv.origin}/v1/transit/decrypt/k?secret=${QUERY_SECRET}`,
        headers: { 'X-Vault-Token': TOKEN },
        body: `{"ciphertext":"${QUERY_SECRET}"}`,
      });
      await rest.exchange({ method: 'GET', url: `${srv.origin}/status/404` });
    });
    expect(started).toEqual([
      { pool: 'vault', method: 'POST', path: '/v1/transit/decrypt/k' },
      { pool: 'vault', method: 'GET', path: '/status/404' },
    ]);
    expect(ended).toEqual([
      {
        pool: 'vault',
        method: 'POST',
        path: '/v1/transit/decrypt/k',
        status: 200,
        durationMs: expect.any(Number),
      },
      {
        pool: 'vault',
        method: 'GET',
        path: '/status/404',
        status: 404,
        durationMs: expect.any(Number),
      },
    ]);
    expect(ended.every((e) => e.durationMs >= 0)).toBe(true);
    expectNoSecrets(JSON.stringify([started, ended]), [TOKEN, QUERY_SECRET]);
  });

  it('a refused direct exchange ends with errorCode ECONNREFUSED and no status', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/v1/sys/health?token=${QUERY_SECRET}`;
    const error = await rejectionOf(
      pool.session((s) =>
        s.part(RestSession)!.exchange({ method: 'GET', url, headers: { 'X-Vault-Token': TOKEN } }),
      ),
    );
    expect((error as { code?: string }).code).toBe('ECONNREFUSED');
    expect(started).toEqual([{ pool: 'vault', method: 'GET', path: '/v1/sys/health' }]);
    expect(ended).toEqual([
      {
        pool: 'vault',
        method: 'GET',
        path: '/v1/sys/health',
        errorCode: 'ECONNREFUSED',
        durationMs: expect.any(Number),
      },
    ]);
    expectNoSecrets(JSON.stringify([started, ended]), [TOKEN, QUERY_SECRET]);
  });

  it('the same signals fire for request.axiosRef.post, which takes the lean path', async () => {
    const from = srv.received.length;
    const response = await pool.session((s) =>
      s
        .part(RestSession)!
        .request.axiosRef.post(
          `${srv.origin}/v1/transit/encrypt/k?secret=${QUERY_SECRET}`,
          '{"plaintext":"aGk="}',
          { headers: { 'X-Vault-Token': TOKEN, 'Content-Type': 'application/json' } },
        ),
    );
    expect(response.status).toBe(200);
    // Axios's own adapter would add a User-Agent and ask for compression.
    const [got] = receivedSince(from);
    expect(got!.headers['user-agent']).toBeUndefined();
    expect(got!.headers['accept-encoding']).toBeUndefined();
    expect(got!.body.toString()).toBe('{"plaintext":"aGk="}');
    expect(started).toEqual([{ pool: 'vault', method: 'POST', path: '/v1/transit/encrypt/k' }]);
    expect(ended).toEqual([
      {
        pool: 'vault',
        method: 'POST',
        path: '/v1/transit/encrypt/k',
        status: 200,
        durationMs: expect.any(Number),
      },
    ]);
    expectNoSecrets(JSON.stringify([started, ended]), [TOKEN, QUERY_SECRET]);
  });

  it('axiosRef: a rejected status ends with its status; a refused connection with its errorCode', async () => {
    const refused = `http://127.0.0.1:${await closedPort()}/v1/down`;
    await pool.session(async (s) => {
      const { axiosRef } = s.part(RestSession)!.request;
      await rejectionOf(axiosRef.get(`${srv.origin}/status/503`));
      await rejectionOf(axiosRef.get(refused));
    });
    expect(ended).toEqual([
      {
        pool: 'vault',
        method: 'GET',
        path: '/status/503',
        status: 503,
        durationMs: expect.any(Number),
      },
      {
        pool: 'vault',
        method: 'GET',
        path: '/v1/down',
        errorCode: 'ECONNREFUSED',
        durationMs: expect.any(Number),
      },
    ]);
  });

  it('with a baseURL that has a path, the signals report the path actually requested', async () => {
    const from = srv.received.length;
    await pool.session((s) =>
      s.part(RestSession)!.request.axiosRef.get('transit/keys/k', { baseURL: `${srv.origin}/v1` }),
    );
    const requested = receivedSince(from)[0]!.url;
    expect(requested).toBe('/v1/transit/keys/k');
    expect(started).toEqual([{ pool: 'vault', method: 'GET', path: requested }]);
  });

  it('no listener: no signal bookkeeping, the exchange still works', async () => {
    const quiet = new RestSessionPool();
    try {
      const answer = await quiet.session((s) =>
        s.part(RestSession)!.exchange({ method: 'GET', url: `${srv.origin}/json` }),
      );
      expect(answer.status).toBe(200);
    } finally {
      quiet.close();
    }
  });
});
