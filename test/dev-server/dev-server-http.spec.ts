import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { startDevServer } from '../../lib/testing/transit-dev-server.js';

/**
 * The dev server's HTTP layer against Go's net/http and Vault's http/ package: timeouts, body
 * limits, request targets and path cleaning, status codes, the method shim's framing, body
 * formats, and the smaller endpoints (vault-transit-api §1, §2, §8.1–8.3).
 */

type Json = Record<string, unknown>;

interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
  readonly body: Json;
}

const UNSUPPORTED_PATH = '1 error occurred:\n\t* unsupported path\n\n';
const UNSUPPORTED_OPERATION = '1 error occurred:\n\t* unsupported operation\n\n';
const ACL_DENIED = '1 error occurred:\n\t* permission denied\n\n';
const HI = Buffer.from('hi').toString('base64'); // "aGk="

let server: TransitDevServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(
  options: Parameters<typeof startDevServer>[0] = {},
  timeouts: Parameters<typeof startDevServer>[1] = {},
): Promise<TransitDevServer> {
  server = await startDevServer({ host: '127.0.0.1', port: 0, ...options }, timeouts);
  return server;
}

function portOf(dev: TransitDevServer): number {
  return Number(new URL(dev.address).port);
}

/**
 * One request with the target sent exactly as given (fetch would normalise it), any method.
 * `token: null` sends none.
 */
function send(
  dev: TransitDevServer,
  method: string,
  target: string,
  options: { body?: string; headers?: Record<string, string>; token?: string | null } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? dev.token : options.token;
  if (token !== null) headers['X-Vault-Token'] = token;
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: portOf(dev), method, path: target, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: Json = {};
          if (res.headers['content-type'] === 'application/json' && text !== '')
            body = JSON.parse(text) as Json;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A raw TCP connection: what the server wrote so far, and when it closed. */
class Raw {
  readonly socket: Socket;
  received = '';
  closedAt: number | undefined;
  readonly closed: Promise<void>;

  constructor(dev: TransitDevServer) {
    this.socket = connect(portOf(dev), '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => (this.received += chunk.toString('latin1')));
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      this.socket.on('close', () => {
        this.closedAt = Date.now();
        resolve();
      }),
    );
  }

  write(text: string): void {
    if (!this.socket.destroyed) this.socket.write(text, 'latin1');
  }

  /** Waits until `predicate` holds for what was received, or `ms` pass; returns whether it held. */
  async waitFor(predicate: (received: string) => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!predicate(this.received)) {
      if (Date.now() > deadline) return false;
      await sleep(10);
    }
    return true;
  }

  /** Resolves true when the server closed the connection within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    return Promise.race([this.closed.then(() => true), sleep(ms).then(() => false)]);
  }

  end(): void {
    this.socket.destroy();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Status codes of the complete responses in a raw byte stream. */
function statuses(received: string): number[] {
  return [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

async function createKey(dev: TransitDevServer, name: string): Promise<void> {
  expect((await send(dev, 'POST', `/v1/transit/keys/${name}`)).status).toBe(200);
}

async function latestVersion(dev: TransitDevServer, name: string): Promise<unknown> {
  const read = await send(dev, 'GET', `/v1/transit/keys/${name}`);
  return (read.body['data'] as Json)['latest_version'];
}

describe('A. header and request timeouts', () => {
  const timeouts = { headersTimeout: 300, requestTimeout: 600, connectionsCheckingInterval: 25 };

  it('a head dribbled on a new connection answers 408 and closes', async () => {
    const dev = await start({}, timeouts);
    const raw = new Raw(dev);
    raw.write('GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n');
    const dribble = setInterval(() => raw.write('X-Slow: 1\r\n'), 50);
    try {
      expect(await raw.closesWithin(2_000)).toBe(true);
    } finally {
      clearInterval(dribble);
      raw.end();
    }
    expect(raw.received).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('a head dribbled on a kept-alive connection answers 408 and closes', async () => {
    const dev = await start({}, timeouts);
    const raw = new Raw(dev);
    raw.write('GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await raw.waitFor((r) => r.includes('"initialized":true'), 1_000)).toBe(true);
    const secondHeadAt = Date.now();
    raw.write('GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n');
    const dribble = setInterval(() => raw.write('X-Slow: 1\r\n'), 50);
    try {
      expect(await raw.closesWithin(2_000)).toBe(true);
    } finally {
      clearInterval(dribble);
      raw.end();
    }
    expect(statuses(raw.received)).toEqual([200, 408]);
    expect((raw.closedAt as number) - secondHeadAt).toBeGreaterThanOrEqual(250);
  });

  it('a stalled body answers 408 and closes', async () => {
    const dev = await start({}, timeouts);
    const raw = new Raw(dev);
    raw.write(
      'POST /v1/transit/encrypt/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"plaintext"',
    );
    try {
      expect(await raw.closesWithin(2_000)).toBe(true);
    } finally {
      raw.end();
    }
    expect(statuses(raw.received)).toEqual([408]);
  });

  it('the defaults are Node’s: a slow but live head is still served', async () => {
    const dev = await start();
    const raw = new Raw(dev);
    raw.write('GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n');
    await sleep(400);
    raw.write('\r\n');
    expect(await raw.waitFor((r) => r.includes('"initialized":true'), 1_000)).toBe(true);
    raw.end();
  });

  it('close() returns at once with kept-alive and half-sent connections open', async () => {
    const dev = await start();
    const idle = new Raw(dev);
    idle.write('GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await idle.waitFor((r) => r.includes('"initialized":true'), 1_000)).toBe(true);
    const partial = new Raw(dev);
    partial.write('GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n');
    await sleep(50);
    const before = Date.now();
    await dev.close();
    server = undefined;
    expect(Date.now() - before).toBeLessThan(500);
    expect(await idle.closesWithin(500)).toBe(true);
    expect(await partial.closesWithin(500)).toBe(true);
  });
});

describe('B. request bodies over maxRequestBytes', () => {
  it('a declared Content-Length over the limit answers 413 at once and closes the connection', async () => {
    const dev = await start({ maxRequestBytes: 1024 }, { lingerTimeout: 200 });
    const raw = new Raw(dev);
    const began = Date.now();
    raw.write(
      'POST /v1/transit/encrypt/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n' +
        ' '.repeat(1024),
    );
    // The client keeps the connection open and would send 100 MB: the answer does not wait.
    expect(await raw.waitFor((r) => r.includes('\r\n\r\n{'), 1_000)).toBe(true);
    expect(Date.now() - began).toBeLessThan(1_000);
    expect(raw.received).toMatch(/^HTTP\/1\.1 413 /);
    expect(raw.received.toLowerCase()).toContain('connection: close');
    expect(raw.received).toContain('\r\n\r\n{"errors":["error parsing JSON"]}\n');
    const trickle = setInterval(() => raw.write(' '.repeat(1024)), 20);
    try {
      expect(await raw.closesWithin(1_500)).toBe(true);
    } finally {
      clearInterval(trickle);
      raw.end();
    }
    expect(dev.requests).toEqual([{ method: 'POST', path: '/v1/transit/encrypt/k', status: 413 }]);
  });

  it('a chunked body answers 413 the moment it passes the limit, without its end', async () => {
    const dev = await start({ maxRequestBytes: 1024 }, { lingerTimeout: 200 });
    const raw = new Raw(dev);
    raw.write(
      'POST /v1/transit/encrypt/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    raw.write(`258\r\n${' '.repeat(600)}\r\n`);
    await sleep(50);
    expect(raw.received).toBe('');
    raw.write(`258\r\n${' '.repeat(600)}\r\n`); // 1200 bytes, no terminating chunk
    expect(await raw.waitFor((r) => r.includes('error parsing JSON'), 1_000)).toBe(true);
    expect(statuses(raw.received)).toEqual([413]);
    expect(await raw.closesWithin(1_500)).toBe(true);
    raw.end();
  });

  it('a body at the limit is still read', async () => {
    const dev = await start({ maxRequestBytes: 1024 });
    const body = JSON.stringify({ plaintext: HI, pad: 'x'.repeat(990) }).padEnd(1024, ' ');
    expect(body).toHaveLength(1024);
    const answer = await send(dev, 'POST', '/v1/transit/encrypt/k', { body });
    expect(answer.status).toBe(200);
  });
});

describe('C. request targets and path cleaning (Go ServeMux, Vault wrapGenericHandler)', () => {
  it('dot segments and // answer 301 to the cleaned path and reach no key', async () => {
    const dev = await start();
    await createKey(dev, 'a');
    await createKey(dev, 'b');
    const dotted = await send(dev, 'POST', '/v1/transit/keys/b/../a/rotate');
    expect(dotted.status).toBe(301);
    expect(dotted.headers['location']).toBe('/v1/transit/keys/a/rotate');
    expect(dotted.headers['cache-control']).toBe('no-store');
    expect(dotted.text).toBe('');
    for (const target of ['/v1/transit/./keys/a', '/v1/transit//keys/a', '/v1//transit/keys/a']) {
      const answer = await send(dev, 'GET', target);
      expect(answer.status, target).toBe(301);
      expect(answer.headers['location']).toBe('/v1/transit/keys/a');
      expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(answer.text).toBe('<a href="/v1/transit/keys/a">Moved Permanently</a>.\n\n');
    }
    // The query is kept, a trailing slash too.
    const list = await send(dev, 'GET', '/v1/transit/x/../keys/?list=true');
    expect(list.headers['location']).toBe('/v1/transit/keys/?list=true');
    expect(await latestVersion(dev, 'a')).toBe(1);
    expect(dev.requests).toContainEqual({
      method: 'POST',
      path: '/v1/transit/keys/b/../a/rotate',
      status: 301,
    });
  });

  it('%2e%2e is decoded but not cleaned (Go ≥ 1.22 cleans the escaped path): no route matches', async () => {
    const dev = await start();
    await createKey(dev, 'a');
    const answer = await send(dev, 'POST', '/v1/transit/keys/%2e%2e/keys/a/rotate');
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({ errors: [UNSUPPORTED_PATH] });
    expect(await latestVersion(dev, 'a')).toBe(1);
    expect(dev.requests).toContainEqual({
      method: 'POST',
      path: '/v1/transit/keys/../keys/a/rotate',
      status: 404,
    });
    // %2F is still a real slash (vault-transit-api §2).
    expect((await send(dev, 'POST', '/v1/transit/keys/a%2Frotate')).status).toBe(200);
    expect(await latestVersion(dev, 'a')).toBe(2);
  });

  it('a backslash is a literal character', async () => {
    const dev = await start();
    await createKey(dev, 'a');
    const outside = await send(dev, 'POST', '/v1/transit\\keys\\a\\rotate');
    expect(outside.status).toBe(404);
    expect(outside.body).toEqual({
      errors: ['no handler for route "transit\\keys\\a\\rotate". route entry not found.'],
    });
    const inside = await send(dev, 'POST', '/v1/transit/keys\\a\\rotate');
    expect(inside.body).toEqual({ errors: [UNSUPPORTED_PATH] });
    expect(await latestVersion(dev, 'a')).toBe(1);
  });

  it('//v1/... is outside /v1/ (404 {"errors":[]}); an absolute-form target is served', async () => {
    const dev = await start();
    await createKey(dev, 'a');
    const doubled = await send(dev, 'GET', '//v1/transit/keys/a');
    expect(doubled.status).toBe(404);
    expect(doubled.text).toBe('{"errors":[]}\n');
    const absolute = await send(dev, 'GET', 'http://vault.example:8200/v1/transit/keys/a');
    expect(absolute.status).toBe(200);
    expect(dev.requests.slice(-2)).toEqual([
      { method: 'GET', path: '//v1/transit/keys/a', status: 404 },
      { method: 'GET', path: '/v1/transit/keys/a', status: 200 },
    ]);
  });

  it('a target Go cannot parse answers its bare 400, logged', async () => {
    const dev = await start();
    for (const target of ['http://[', '/v1/transit/keys/%zz', 'http://a:8x/v1/sys/health']) {
      const answer = await send(dev, 'GET', target);
      expect(answer.status, target).toBe(400);
      expect(answer.text).toBe('400 Bad Request');
      expect(answer.headers['connection']).toBe('close');
    }
    expect(dev.requests).toEqual([
      { method: 'GET', path: 'http://[', status: 400 },
      { method: 'GET', path: '/v1/transit/keys/%zz', status: 400 },
      { method: 'GET', path: 'http://a:8x/v1/sys/health', status: 400 },
    ]);
  });
});

describe('D. status codes a Go server cannot write', () => {
  it('sys/health codes below 100 or above 999 answer 400 {"errors":[]}, logged as written', async () => {
    const dev = await start();
    for (const code of ['42', '0', '-1', '1000', '99999999999']) {
      const answer = await send(dev, 'GET', `/v1/sys/health?activecode=${code}`, { token: null });
      expect({ code, status: answer.status, text: answer.text }).toEqual({
        code,
        status: 400,
        text: '{"errors":[]}\n',
      });
    }
    expect(dev.requests.map((r) => r.status)).toEqual([400, 400, 400, 400, 400]);
    // Writable codes are used as given; a 1xx goes out as Go sends the body after it: 200.
    for (const [code, status] of [
      ['299', 299],
      ['%2B204', 204], // `+` itself would be a space
      ['999', 999],
      ['150', 200],
    ] as const) {
      const answer = await send(dev, 'GET', `/v1/sys/health?activecode=${code}`, { token: null });
      expect(answer.status, code).toBe(status);
    }
    dev.setSealed(true);
    expect((await send(dev, 'GET', '/v1/sys/health?sealedcode=12', { token: null })).status).toBe(
      400,
    );
    expect((await send(dev, 'HEAD', '/v1/sys/health?sealedcode=218', { token: null })).status).toBe(
      218,
    );
    expect(dev.requests.at(-1)).toEqual({ method: 'HEAD', path: '/v1/sys/health', status: 218 });
  });
});

describe('E. the method shim stays in step with Node', () => {
  it('a zero-padded Content-Length keeps LIST working and forged method headers stripped', async () => {
    const dev = await start();
    await createKey(dev, 'a');
    const raw = new Raw(dev);
    raw.write(
      `POST /v1/transit/keys/b HTTP/1.1\r\nHost: x\r\nX-Vault-Token: ${dev.token}\r\n` +
        'Content-Length: 0000000000000000\r\n\r\n',
    );
    // Node handles pipelined requests concurrently: let the write finish before listing.
    expect(await raw.waitFor((r) => statuses(r).length === 1, 1_000)).toBe(true);
    raw.write(
      `LIST /v1/transit/keys HTTP/1.1\r\nHost: x\r\nX-Vault-Token: ${dev.token}\r\n\r\n` +
        `GET /v1/transit/keys HTTP/1.1\r\nHost: x\r\nX-Vault-Token: ${dev.token}\r\n` +
        'X-Transit-Dev-Server-Method: LIST\r\n\r\n' +
        'POST /v1/transit/keys/c HTTP/1.1\r\nHost: x\r\nContent-Length: 003\r\n\r\n{}\n',
    );
    expect(await raw.waitFor((r) => statuses(r).length === 4, 2_000)).toBe(true);
    raw.end();
    expect(statuses(raw.received)).toEqual([200, 200, 405, 403]);
    expect(raw.received).toContain('"keys":["a","b"]');
    expect(dev.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'POST /v1/transit/keys/a 200',
      'POST /v1/transit/keys/b 200',
      'LIST /v1/transit/keys 200',
      'GET /v1/transit/keys 405',
      'POST /v1/transit/keys/c 403',
    ]);
  });

  it('what it cannot frame answers 400 and closes: nothing after it reaches the server', async () => {
    const dev = await start();
    const raw = new Raw(dev);
    raw.write(
      'POST /v1/sys/health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n' +
        'GET /v1/transit/keys HTTP/1.1\r\nHost: x\r\nX-Transit-Dev-Server-Method: LIST\r\n\r\n',
    );
    expect(await raw.closesWithin(1_000)).toBe(true);
    expect(statuses(raw.received)).toEqual([400]);
    expect(dev.requests).toEqual([]);
    // A Content-Length too large for the shim to count closes the connection as well.
    const big = new Raw(dev);
    big.write(
      'POST /v1/sys/health HTTP/1.1\r\nHost: x\r\nContent-Length: 1234567890123456\r\n\r\n',
    );
    expect(await big.closesWithin(1_000)).toBe(true);
    expect(statuses(big.received)).toEqual([400]);
  });
});

describe('F. request bodies (vault-transit-api §1.1)', () => {
  const form = { 'Content-Type': 'application/x-www-form-urlencoded' };

  it('a form body is parsed as form fields', async () => {
    const dev = await start();
    const encrypted = await send(dev, 'POST', '/v1/transit/encrypt/k', {
      body: 'plaintext=aGk%3D',
      headers: form,
    });
    expect(encrypted.status).toBe(200);
    const ciphertext = (encrypted.body['data'] as Json)['ciphertext'] as string;
    const decrypted = await send(dev, 'POST', '/v1/transit/decrypt/k', {
      body: `ciphertext=${encodeURIComponent(ciphertext)}`,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' },
    });
    expect((decrypted.body['data'] as Json)['plaintext']).toBe(HI);
    // Repeated fields are joined with commas; `+` is a space.
    const repeated = await send(dev, 'POST', '/v1/transit/keys/k/config', {
      body: 'zeta=1&alpha+beta=2&zeta=3',
      headers: form,
    });
    expect(repeated.body['warnings']).toEqual([
      'Endpoint ignored these unrecognized parameters: [alpha beta zeta]',
    ]);
    // A form Content-Type whose body opens a JSON value is JSON after all.
    const json = await send(dev, 'POST', '/v1/transit/encrypt/k', {
      body: ` \n{"plaintext":"${HI}"}`,
      headers: form,
    });
    expect(json.status).toBe(200);
    const bad = await send(dev, 'POST', '/v1/transit/encrypt/k', {
      body: 'plaintext=%zz',
      headers: form,
    });
    expect(bad.body).toEqual({ errors: ['error parsing form data'] });
    const semicolon = await send(dev, 'POST', '/v1/transit/encrypt/k', {
      body: `plaintext=${HI};a=b`,
      headers: form,
    });
    expect(semicolon.status).toBe(400);
  });

  it('a whitespace-only body is no data; only the first JSON value is read', async () => {
    const dev = await start();
    const blank = await send(dev, 'POST', '/v1/transit/encrypt/k', {
      body: ' \r\n\t ',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(blank.body).toEqual({ errors: ['missing plaintext to encrypt'] });
    const trailing = await send(dev, 'POST', '/v1/transit/encrypt/k', {
      body: `{"plaintext":"${HI}"} {"plaintext":"!"} trailing garbage`,
    });
    expect(trailing.status).toBe(200);
    const nullish = await send(dev, 'POST', '/v1/transit/encrypt/k', { body: 'null}{' });
    expect(nullish.body).toEqual({ errors: ['missing plaintext to encrypt'] });
    for (const body of ['[1]', '"text"', '1 {}', '{"plaintext":', '{"a":1]']) {
      const answer = await send(dev, 'POST', '/v1/transit/encrypt/k', { body });
      expect({ body, answer: answer.body }).toEqual({
        body,
        answer: { errors: ['error parsing JSON'] },
      });
    }
  });
});

describe('G. smaller endpoints', () => {
  it('PATCH needs application/merge-patch+json (415), and then transit has none (405)', async () => {
    const dev = await start();
    await createKey(dev, 'k');
    const json = await send(dev, 'PATCH', '/v1/transit/keys/k', {
      body: '{}',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(json.status).toBe(415);
    expect(json.body).toEqual({
      errors: [
        'PATCH requires Content-Type of application/merge-patch+json, got "application/json"',
      ],
    });
    const none = await send(dev, 'PATCH', '/v1/transit/keys/k');
    expect({ status: none.status, body: none.body }).toEqual({
      status: 400,
      body: { errors: ['mime: no media type'] },
    });
    const merge = { 'Content-Type': 'application/merge-patch+json' };
    const patch = await send(dev, 'PATCH', '/v1/transit/keys/k', { body: '{}', headers: merge });
    expect({ status: patch.status, body: patch.body }).toEqual({
      status: 405,
      body: { errors: [UNSUPPORTED_OPERATION] },
    });
    const badJson = await send(dev, 'PATCH', '/v1/transit/keys/k', { body: '{', headers: merge });
    expect(badJson.body).toEqual({ errors: ['error parsing JSON'] });
    const reader = dev.createToken({ capabilities: ['read'] });
    const denied = await send(dev, 'PATCH', '/v1/transit/keys/k', {
      body: '{}',
      headers: merge,
      token: reader,
    });
    expect(denied.body).toEqual({ errors: [ACL_DENIED] });
  });

  it('the mount path without its slash reaches the mount: 404 unsupported path', async () => {
    const dev = await start();
    for (const [method, target] of [
      ['GET', '/v1/transit'],
      ['GET', '/v1/transit/'],
      ['LIST', '/v1/transit'],
      ['POST', '/v1/transit'],
    ] as const) {
      const answer = await send(dev, method, target);
      expect({ method, target, status: answer.status, body: answer.body }).toEqual({
        method,
        target,
        status: 404,
        body: { errors: [UNSUPPORTED_PATH] },
      });
    }
  });

  it('token store: wrong methods answer 405 (root) or 403 (ACL); POST lookup-self looks up', async () => {
    const dev = await start();
    const getRenew = await send(dev, 'GET', '/v1/auth/token/renew-self');
    expect({ status: getRenew.status, body: getRenew.body }).toEqual({
      status: 405,
      body: { errors: [UNSUPPORTED_OPERATION] },
    });
    const token = dev.createToken({ ttlSeconds: 60 });
    const denied = await send(dev, 'GET', '/v1/auth/token/renew-self', { token });
    expect({ status: denied.status, body: denied.body }).toEqual({
      status: 403,
      body: { errors: [ACL_DENIED] },
    });
    expect((await send(dev, 'POST', '/v1/auth/token/lookup-self')).status).toBe(200);
    expect((await send(dev, 'DELETE', '/v1/auth/token/lookup-self')).status).toBe(405);
    const unknown = await send(dev, 'GET', '/v1/auth/token/nope');
    expect(unknown.body).toEqual({ errors: [UNSUPPORTED_PATH] });
  });

  it('renew-self honours increment, capped at the token TTL with Vault’s warning', async () => {
    const dev = await start();
    const token = dev.createToken({ ttlSeconds: 3600 });
    const renew = (body: Json): Promise<Answer> =>
      send(dev, 'POST', '/v1/auth/token/renew-self', { body: JSON.stringify(body), token });
    const shorter = await renew({ increment: '30m' });
    expect((shorter.body['auth'] as Json)['lease_duration']).toBe(1800);
    expect(shorter.body['warnings']).toBeNull();
    const lookup = await send(dev, 'GET', '/v1/auth/token/lookup-self', { token });
    expect((lookup.body['data'] as Json)['ttl']).toBeLessThanOrEqual(1800);
    expect((lookup.body['data'] as Json)['ttl']).toBeGreaterThan(1790);
    expect(((await renew({ increment: 600 })).body['auth'] as Json)['lease_duration']).toBe(600);
    const capped = await renew({ increment: 7200 });
    expect((capped.body['auth'] as Json)['lease_duration']).toBe(3600);
    expect(capped.body['warnings']).toEqual([
      'TTL of "2h" exceeded the effective max_ttl of "1h"; TTL value is capped accordingly',
    ]);
    expect(((await renew({})).body['auth'] as Json)['lease_duration']).toBe(3600);
    const bad = await renew({ increment: 'soon' });
    expect(bad.status).toBe(400);
    expect((bad.body['errors'] as string[])[0]).toMatch(
      /^Field validation failed: error converting input soon for field "increment"/,
    );
  });

  it('sys/health: a non-bool standbyok/perfstandbyok or a non-int code answers 400 {"errors":[]}', async () => {
    const dev = await start();
    for (const query of [
      'standbyok=maybe',
      'perfstandbyok=2',
      'standbycode=abc',
      'uninitcode=1.5',
      'drsecondarycode=',
      'performancestandbycode=x',
      'sealedcode=5xx',
    ]) {
      const answer = await send(dev, 'GET', `/v1/sys/health?${query}`, { token: null });
      expect({ query, status: answer.status, text: answer.text }).toEqual({
        query,
        status: 400,
        text: '{"errors":[]}\n',
      });
    }
    for (const query of ['standbyok=true', 'standbyok=', 'perfstandbyok=F', 'standbycode=473']) {
      const answer = await send(dev, 'GET', `/v1/sys/health?${query}`, { token: null });
      expect(answer.status, query).toBe(200);
    }
  });

  it('X-Vault-Namespace is echoed on every answer under /v1/', async () => {
    const dev = await start();
    const headers = { 'X-Vault-Namespace': 'team-a/' };
    for (const target of ['/v1/sys/health', '/v1/transit/keys/missing', '/v1/transit/nope']) {
      const answer = await send(dev, 'GET', target, { headers });
      expect(answer.headers['x-vault-namespace'], target).toBe('team-a/');
    }
    expect((await send(dev, 'GET', '/v1/sys/health')).headers['x-vault-namespace']).toBeUndefined();
  });
});

describe('the public entry point', () => {
  it('startTransitDevServer still serves LIST through the shim', async () => {
    server = await startTransitDevServer();
    await createKey(server, 'a');
    const list = await send(server, 'LIST', '/v1/transit/keys');
    expect((list.body['data'] as Json)['keys']).toEqual(['a']);
  });
});
