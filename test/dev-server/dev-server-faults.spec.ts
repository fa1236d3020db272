import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startTransitDevServer,
  type DevServerFault,
  type TransitDevServer,
} from '../../lib/testing/index.js';

/**
 * The dev server's fault injection (`injectFault`, `clearFaults`) over real HTTP: each kind of
 * fault, which requests take one, and how faulted requests are logged.
 */

type Json = Record<string, unknown>;

interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
  readonly body: Json;
  /** How many reads the body arrived in. */
  readonly reads: number;
  /** ms from the request to the response head, and to the end of the body. */
  readonly headAfter: number;
  readonly endAfter: number;
}

interface SendOptions {
  /** JSON-encoded as the body. */
  readonly body?: unknown;
  readonly signal?: AbortSignal;
  /** Called once the whole request is written to the connection. */
  readonly onSent?: () => void;
}

const HELLO = Buffer.from('hello').toString('base64');
const INTERNAL_ERROR = '1 error occurred:\n\t* internal error\n\n';

let server: TransitDevServer;
let closed: boolean;

beforeEach(async () => {
  server = await startTransitDevServer({ host: '127.0.0.1', port: 0 });
  closed = false;
});

afterEach(async () => {
  if (!closed) await server.close();
});

/** Closes the server, resolving how long it took in ms. */
async function timeClose(): Promise<number> {
  closed = true;
  const started = performance.now();
  await server.close();
  return performance.now() - started;
}

/** One request to `/v1/<path>` on a connection of its own, with the root token. */
function send(method: string, path: string, options: SendOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'X-Vault-Token': server.token };
  let body: string | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['Content-Type'] = 'application/json';
  }
  const { hostname, port } = new URL(server.address);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      { host: hostname, port, method, path: `/v1/${path}`, headers, agent: false },
      (res) => {
        const headAfter = performance.now() - started;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            body: text === '' ? {} : (JSON.parse(text) as Json),
            reads: chunks.length,
            headAfter,
            endAfter: performance.now() - started,
          });
        });
      },
    );
    req.on('error', reject);
    if (options.onSent) req.once('finish', options.onSent);
    if (options.signal) {
      const signal = options.signal;
      signal.addEventListener('abort', () => req.destroy(new Error('aborted by the client')), {
        once: true,
      });
    }
    req.end(body);
  });
}

/**
 * Sends a request, resolving once it is written and the server had a moment to take it; the
 * answer (or the error) is in `answer`, which never rejects.
 */
async function sendAndWait(
  method: string,
  path: string,
  options: SendOptions = {},
): Promise<{ answer: Promise<Answer | Error> }> {
  let answer!: Promise<Answer | Error>;
  const written = new Promise<void>((resolve) => {
    answer = send(method, path, { ...options, onSent: resolve }).catch((error: Error) => error);
  });
  await Promise.race([written, answer]);
  await sleep(50);
  return { answer };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `condition` holds (polling), failing after `timeout` ms. */
async function until(condition: () => boolean, timeout = 5_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

async function createKey(name: string): Promise<void> {
  expect((await send('POST', `transit/keys/${name}`)).status).toBe(200);
}

async function latestVersion(name: string): Promise<number | undefined> {
  const read = await send('GET', `transit/keys/${name}`);
  if (read.status === 404) return undefined;
  expect(read.status).toBe(200);
  return (read.body.data as Json).latest_version as number;
}

function encrypt(name: string): Promise<Answer> {
  return send('POST', `transit/encrypt/${name}`, { body: { plaintext: HELLO } });
}

describe('sealed', () => {
  it('answers one request as a sealed Vault, without sealing the server', async () => {
    server.injectFault({ kind: 'sealed' });
    const sealed = await encrypt('orders');
    expect(sealed.status).toBe(503);
    expect(sealed.headers['content-type']).toBe('application/json');
    expect(sealed.text).toBe('{"errors":["Vault is sealed"]}\n');
    // Not processed: the encrypt did not upsert the key.
    expect(await latestVersion('orders')).toBeUndefined();
    expect((await encrypt('orders')).status).toBe(200);
  });

  it('answers sys/health with the sealed health body', async () => {
    server.injectFault({ kind: 'sealed' });
    const health = await send('GET', 'sys/health');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ initialized: true, sealed: true });
    const next = await send('GET', 'sys/health');
    expect(next.status).toBe(200);
    expect(next.body).toMatchObject({ sealed: false });
  });

  it('still answers a body that is not JSON with 400, as Vault parses before the seal check', async () => {
    server.injectFault({ kind: 'sealed' });
    const { hostname, port } = new URL(server.address);
    const answer = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: hostname,
          port,
          method: 'POST',
          path: '/v1/transit/encrypt/orders',
          headers: { 'X-Vault-Token': server.token, 'Content-Type': 'application/json' },
          agent: false,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end('{not json');
    });
    expect(answer).toBe(400);
  });
});

describe('status', () => {
  it('answers 500 with Vault’s internal error body, without processing the request', async () => {
    server.injectFault({ kind: 'status', status: 500 });
    const answer = await encrypt('orders');
    expect(answer.status).toBe(500);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.body).toEqual({ errors: [INTERNAL_ERROR] });
    expect(answer.headers['retry-after']).toBeUndefined();
    expect(await latestVersion('orders')).toBeUndefined();
  });

  it('answers 429 with the rate limit quota message and a Retry-After header', async () => {
    server.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 3 });
    const answer = await encrypt('orders');
    expect(answer.status).toBe(429);
    expect(answer.headers['retry-after']).toBe('3');
    expect(answer.body).toEqual({
      errors: ['request path "transit/encrypt/orders": rate limit quota exceeded'],
    });
  });

  it('has Vault’s defaults for 502 and 503, and none for other statuses', async () => {
    server.injectFault({ kind: 'status', status: 502 });
    server.injectFault({ kind: 'status', status: 503 });
    server.injectFault({ kind: 'status', status: 504 });
    const [bad, unavailable, timeout] = [
      await send('GET', 'sys/health'),
      await send('GET', 'sys/health'),
      await send('GET', 'sys/health'),
    ];
    expect([bad.status, bad.body]).toEqual([
      502,
      { errors: ['1 error occurred:\n\t* upstream rate limited\n\n'] },
    ]);
    expect([unavailable.status, unavailable.body]).toEqual([503, { errors: ['Vault is sealed'] }]);
    expect([timeout.status, timeout.body]).toEqual([504, { errors: [] }]);
  });

  it('sends the given errors and headers; a header wins over retryAfterSeconds', async () => {
    const date = new Date(Date.now() + 60_000).toUTCString();
    server.injectFault({
      kind: 'status',
      status: 503,
      errors: ['local node not active but active cluster node not found'],
      retryAfterSeconds: 1,
      headers: { 'Retry-After': date, 'X-Ratelimit-Remaining': '0' },
    });
    const answer = await send('GET', 'transit/keys/orders');
    expect(answer.status).toBe(503);
    expect(answer.body).toEqual({
      errors: ['local node not active but active cluster node not found'],
    });
    expect(answer.headers['retry-after']).toBe(date);
    expect(answer.headers['x-ratelimit-remaining']).toBe('0');
  });
});

describe('reset', () => {
  it('before: resets the connection and the request is not processed', async () => {
    server.injectFault({ kind: 'reset' });
    await expect(send('POST', 'transit/keys/orders')).rejects.toMatchObject({
      code: 'ECONNRESET',
    });
    expect(await latestVersion('orders')).toBeUndefined();
    expect(server.requests[0]).toEqual({
      method: 'POST',
      path: '/v1/transit/keys/orders',
      status: 0,
      fault: 'reset',
    });
  });

  it('after: the request is processed (a rotation happens), then the connection is reset', async () => {
    await createKey('orders');
    server.injectFault({
      kind: 'reset',
      when: 'after',
      match: { method: 'POST', path: '/v1/transit/keys/orders/rotate' },
    });
    await expect(send('POST', 'transit/keys/orders/rotate')).rejects.toMatchObject({
      code: 'ECONNRESET',
    });
    expect(await latestVersion('orders')).toBe(2);
    expect(server.requests.filter((logged) => logged.fault)).toEqual([
      { method: 'POST', path: '/v1/transit/keys/orders/rotate', status: 0, fault: 'reset' },
    ]);
  });
});

describe('delay', () => {
  it('processes and answers the request once the delay is over', async () => {
    server.injectFault({ kind: 'delay', ms: 2_000, match: { method: 'POST' } });
    const created = send('POST', 'transit/keys/orders');
    // Not processed yet (a sanity check with a wide margin, not a timing measurement).
    expect(await latestVersion('orders')).toBeUndefined();
    const answer = await created;
    expect(answer.status).toBe(200);
    expect(answer.headAfter).toBeGreaterThanOrEqual(1_000);
    expect(await latestVersion('orders')).toBe(1);
    expect(server.requests.find((logged) => logged.fault)).toEqual({
      method: 'POST',
      path: '/v1/transit/keys/orders',
      status: 200,
      fault: 'delay',
    });
  });

  it('drops the request when the client goes away during the delay', async () => {
    server.injectFault({ kind: 'delay', ms: 60_000 });
    const abort = new AbortController();
    const created = await sendAndWait('POST', 'transit/keys/orders', { signal: abort.signal });
    abort.abort();
    expect(await created.answer).toMatchObject({ message: 'aborted by the client' });
    await until(() => server.requests.length > 0);
    expect(server.requests[0]).toEqual({
      method: 'POST',
      path: '/v1/transit/keys/orders',
      status: 0,
      fault: 'delay',
    });
    expect(await latestVersion('orders')).toBeUndefined();
  });

  it('abandoned: process still processes a request whose client went away', async () => {
    server.injectFault({ kind: 'delay', ms: 500, abandoned: 'process' });
    const abort = new AbortController();
    // An encrypt upserts the key: its body was read before the client left.
    const created = await sendAndWait('POST', 'transit/encrypt/orders', {
      body: { plaintext: HELLO },
      signal: abort.signal,
    });
    abort.abort();
    expect(await created.answer).toMatchObject({ message: 'aborted by the client' });
    await until(() => server.requests.length > 0);
    expect(server.requests[0]).toMatchObject({ status: 0, fault: 'delay' });
    expect(await latestVersion('orders')).toBe(1);
  });

  it('close() with a delayed request pending completes promptly and drops it', async () => {
    server.injectFault({ kind: 'delay', ms: 60_000 });
    const created = await sendAndWait('POST', 'transit/keys/orders');
    expect(await timeClose()).toBeLessThan(5_000);
    expect(await created.answer).toBeInstanceOf(Error);
    expect(server.requests).toEqual([
      { method: 'POST', path: '/v1/transit/keys/orders', status: 0, fault: 'delay' },
    ]);
  });
});

describe('slow-body', () => {
  it('sends the head at once and the body in several pieces, which parse', async () => {
    await createKey('orders');
    server.injectFault({ kind: 'slow-body', ms: 1_200, chunks: 4 });
    const answer = await send('GET', 'transit/keys/orders');
    expect(answer.status).toBe(200);
    expect(answer.reads).toBeGreaterThan(1);
    expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.text));
    expect(answer.endAfter - answer.headAfter).toBeGreaterThanOrEqual(100);
    expect((answer.body.data as Json).name).toBe('orders');
    expect(server.requests.at(-1)).toEqual({
      method: 'GET',
      path: '/v1/transit/keys/orders',
      status: 200,
      fault: 'slow-body',
    });
  });

  it('processes the request before the body is sent', async () => {
    await createKey('orders');
    server.injectFault({ kind: 'slow-body', ms: 300, match: { method: 'POST' } });
    const rotated = send('POST', 'transit/keys/orders/rotate');
    await until(() => server.requests.some((logged) => logged.fault === 'slow-body'));
    expect(await latestVersion('orders')).toBe(2);
    expect(((await rotated).body.data as Json).latest_version).toBe(2);
  });

  it('ends a body-less answer after the delay', async () => {
    server.injectFault({ kind: 'slow-body', ms: 200 });
    const answer = await send('HEAD', 'sys/health');
    expect(answer.status).toBe(200);
    expect(answer.text).toBe('');
  });

  it('close() cuts a slow body off promptly', async () => {
    server.injectFault({ kind: 'slow-body', ms: 60_000 });
    const read = send('GET', 'sys/health').then(
      () => undefined,
      (error: unknown) => error,
    );
    await until(() => server.requests.length > 0);
    expect(await timeClose()).toBeLessThan(5_000);
    expect(await read).toBeInstanceOf(Error);
  });
});

describe('which requests take a fault', () => {
  it('times: the fault applies to that many requests; Infinity until clearFaults', async () => {
    server.injectFault({ kind: 'status', status: 500, times: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await send('GET', 'sys/health')).status);
    expect(statuses).toEqual([500, 500, 200]);

    server.injectFault({ kind: 'sealed', times: Infinity });
    for (let i = 0; i < 5; i++) expect((await encrypt('orders')).status).toBe(503);
    server.clearFaults();
    expect((await encrypt('orders')).status).toBe(200);
  });

  it('match: by method (case-insensitive, LIST included) and exact path', async () => {
    await createKey('a');
    server.injectFault({
      kind: 'status',
      status: 500,
      match: { method: 'post', path: '/v1/transit/encrypt/a' },
    });
    server.injectFault({ kind: 'status', status: 502, match: { method: 'LIST' } });
    expect((await send('GET', 'sys/health')).status).toBe(200);
    expect((await encrypt('b')).status).toBe(200);
    expect((await send('GET', 'transit/keys?list=true')).status).toBe(200);
    expect((await send('LIST', 'transit/keys')).status).toBe(502);
    expect((await encrypt('a')).status).toBe(500);
    expect((await encrypt('a')).status).toBe(200);
  });

  it('match: a RegExp, even a global one, matches every time', async () => {
    server.injectFault({ kind: 'status', status: 503, times: 3, match: { path: /encrypt/g } });
    for (let i = 0; i < 3; i++) expect((await encrypt('orders')).status).toBe(503);
    expect((await encrypt('orders')).status).toBe(200);
  });

  it('FIFO: the first queued fault the request matches, and one fault per request', async () => {
    server.injectFault({ kind: 'status', status: 500, match: { path: '/v1/transit/encrypt/x' } });
    server.injectFault({ kind: 'status', status: 502 });
    server.injectFault({ kind: 'sealed' });
    // The first fault does not match: the second applies, and only it.
    expect((await encrypt('y')).status).toBe(502);
    expect((await encrypt('x')).status).toBe(500);
    const sealed = await encrypt('x');
    expect([sealed.status, sealed.body]).toEqual([503, { errors: ['Vault is sealed'] }]);
    expect((await encrypt('x')).status).toBe(200);
  });

  it('clearFaults removes every queued fault', async () => {
    server.injectFault({ kind: 'status', status: 500 });
    server.injectFault({ kind: 'reset' });
    server.clearFaults();
    expect((await send('GET', 'sys/health')).status).toBe(200);
    expect((await send('GET', 'sys/health')).status).toBe(200);
  });

  it('logs every request, with the kind of its fault if it had one', async () => {
    server.injectFault({ kind: 'status', status: 429, match: { method: 'POST' } });
    await send('GET', 'sys/health');
    await encrypt('orders');
    await encrypt('orders');
    expect(server.requests).toEqual([
      { method: 'GET', path: '/v1/sys/health', status: 200 },
      { method: 'POST', path: '/v1/transit/encrypt/orders', status: 429, fault: 'status' },
      { method: 'POST', path: '/v1/transit/encrypt/orders', status: 200 },
    ]);
  });

  it('refuses a malformed fault', () => {
    const bad: unknown[] = [
      { kind: 'status', status: 500, times: 0 },
      { kind: 'status', status: 500, times: 1.5 },
      { kind: 'status', status: 99 },
      { kind: 'status', status: 500, retryAfterSeconds: -1 },
      { kind: 'status', status: 500, headers: { 'Bad Name': 'x' } },
      { kind: 'delay', ms: -1 },
      { kind: 'delay', ms: Number.NaN },
      { kind: 'slow-body', ms: 10, chunks: 0 },
      { kind: 'reset', when: 'during' },
      { kind: 'melt' },
    ];
    for (const fault of bad) expect(() => server.injectFault(fault as DevServerFault)).toThrow();
    expect(() =>
      server.injectFault({ kind: 'status', status: 500, times: Infinity }),
    ).not.toThrow();
  });
});
