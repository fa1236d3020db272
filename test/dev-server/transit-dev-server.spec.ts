import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';

/**
 * Conformance of the Transit dev server with shared/vault-transit-api.md §11, over real HTTP.
 * Each test is named after the §11 item it checks.
 */

type Json = Record<string, unknown>;

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly body: Json;
}

interface CallOptions {
  /** JSON-encoded as the request body. */
  readonly body?: unknown;
  /** Sent as is (wins over `body`). */
  readonly rawBody?: string | Uint8Array;
  /** `undefined` sends the root token, `null` sends none. */
  readonly token?: string | null;
  readonly headers?: Readonly<Record<string, string>>;
}

const UNSUPPORTED_PATH = '1 error occurred:\n\t* unsupported path\n\n';
const UNSUPPORTED_OPERATION = '1 error occurred:\n\t* unsupported operation\n\n';
const ACL_DENIED = '1 error occurred:\n\t* permission denied\n\n';
const AUTH_FAILED = 'cipher: message authentication failed';
const MISSING_CONTEXT =
  "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key";
const CIPHERTEXT = /^vault:v\d+:[A-Za-z0-9+/]+={0,2}$/;
const ENVELOPE_FIELDS = [
  'request_id',
  'lease_id',
  'renewable',
  'lease_duration',
  'data',
  'wrap_info',
  'warnings',
  'auth',
  'mount_type',
];
const HELLO = b64('hello world');

let server: TransitDevServer;

beforeEach(async () => {
  server = await startTransitDevServer({ host: '127.0.0.1', port: 0 });
});

afterEach(async () => {
  await server.close();
});

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

/** One request to `/v1/<path>`. */
async function call(method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? server.token : options.token;
  if (token !== null) headers['X-Vault-Token'] = token;
  let body: string | Uint8Array | undefined = options.rawBody;
  if (body === undefined && options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(`${server.address}/v1/${path}`, { method, headers, body });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: text === '' ? {} : (JSON.parse(text) as Json),
  };
}

/** One request to the Transit mount. */
function transit(
  method: string,
  path: string,
  body?: unknown,
  token?: string | null,
): Promise<Answer> {
  return call(method, `transit/${path}`, { body, token });
}

function dataOf(answer: Answer): Json {
  return answer.body['data'] as Json;
}

function batchOf(answer: Answer): Json[] {
  return dataOf(answer)['batch_results'] as Json[];
}

function expectError(answer: Answer, status: number, errors: readonly string[]): void {
  expect({ status: answer.status, body: answer.body }).toEqual({ status, body: { errors } });
}

function expectOk(answer: Answer, status = 200): Json {
  expect(answer.status, answer.text).toBe(status);
  return dataOf(answer);
}

async function createKey(name: string, body?: Json): Promise<Json> {
  return expectOk(await transit('POST', `keys/${name}`, body));
}

async function configure(name: string, body: Json): Promise<Json> {
  return expectOk(await transit('POST', `keys/${name}/config`, body));
}

async function rotate(name: string): Promise<Json> {
  return expectOk(await transit('POST', `keys/${name}/rotate`));
}

async function encrypt(name: string, body: Json): Promise<string> {
  const data = expectOk(await transit('POST', `encrypt/${name}`, body));
  return data['ciphertext'] as string;
}

function payloadOf(ciphertext: string): Buffer {
  return Buffer.from(ciphertext.slice(ciphertext.indexOf(':', 'vault:v'.length) + 1), 'base64');
}

/** Same payload, one bit flipped at `index` (negative counts from the end). */
function tamper(ciphertext: string, index: number): string {
  const payload = payloadOf(ciphertext);
  const at = index < 0 ? payload.length + index : index;
  payload[at] = (payload[at] as number) ^ 0x01;
  const prefix = ciphertext.slice(0, ciphertext.indexOf(':', 'vault:v'.length) + 1);
  return prefix + payload.toString('base64');
}

function expectJsonHeaders(answer: Answer): void {
  expect(answer.headers.get('content-type')).toBe('application/json');
  expect(answer.headers.get('cache-control')).toBe('no-store');
}

describe('Transit dev server conformance (vault-transit-api §11)', () => {
  it('§11.1 unknown routes and key names failing the name regex answer 404 "unsupported path"', async () => {
    expectError(await transit('POST', 'unknown/orders', { plaintext: HELLO }), 404, [
      UNSUPPORTED_PATH,
    ]);
    expectError(await transit('GET', 'keys/orders/unknown'), 404, [UNSUPPORTED_PATH]);
    for (const name of ['-orders', 'orders-', 'orders.', 'ordér', 'a b', '.a']) {
      const segment = encodeURIComponent(name);
      expectError(await transit('POST', `keys/${segment}`), 404, [UNSUPPORTED_PATH]);
      expectError(await transit('POST', `encrypt/${segment}`, { plaintext: HELLO }), 404, [
        UNSUPPORTED_PATH,
      ]);
      expectError(
        await transit('POST', `decrypt/${segment}`, { ciphertext: 'vault:v1:AA==' }),
        404,
        [UNSUPPORTED_PATH],
      );
      expectError(await transit('POST', `datakey/plaintext/${segment}`), 404, [UNSUPPORTED_PATH]);
    }
    // Names that match `^\w(([\w-.]+)?\w)?$` are fine, case-sensitive, any length.
    for (const name of ['a', '_', 'a.b-c_d', 'Orders', 'orders', 'x'.repeat(300)]) {
      expect((await createKey(name))['name']).toBe(name);
    }
    expect(dataOf(await transit('LIST', 'keys'))['keys']).toHaveLength(6);
    // Outside any mount: root gets Vault's router 404, other tokens the ACL's 403.
    expectError(await call('POST', 'transit2/encrypt/x', { body: { plaintext: HELLO } }), 404, [
      'no handler for route "transit2/encrypt/x". route entry not found.',
    ]);
    const token = server.createToken();
    expectError(await call('POST', 'transit2/encrypt/x', { token }), 403, [ACL_DENIED]);
    // A method the route does not implement is 405, not 404.
    expectError(await transit('GET', 'encrypt/orders'), 405, [UNSUPPORTED_OPERATION]);
  });

  it('§11.2 %2F in a key segment is decoded before routing (keys/a%2Frotate rotates a)', async () => {
    await createKey('a');
    const rotated = expectOk(await transit('POST', 'keys/a%2Frotate'));
    expect(rotated['name']).toBe('a');
    expect(rotated['latest_version']).toBe(2);
    const configured = expectOk(
      await transit('POST', 'keys/a%2Fconfig', { deletion_allowed: true }),
    );
    expect(configured['deletion_allowed']).toBe(true);
    expectError(await transit('GET', 'keys/a%2Fb'), 404, [UNSUPPORTED_PATH]);
    expectError(await transit('POST', 'keys/a%2Fb'), 404, [UNSUPPORTED_PATH]);
    expectError(await transit('POST', 'encrypt/a%2Fb', { plaintext: HELLO }), 404, [
      UNSUPPORTED_PATH,
    ]);
    // No key was ever created under a name containing a slash.
    expect(dataOf(await transit('LIST', 'keys'))['keys']).toEqual(['a']);
    expect(server.requests).toContainEqual({
      method: 'POST',
      path: '/v1/transit/keys/a/rotate',
      status: 200,
    });
  });

  it('§11.3 a request without X-Vault-Token or Bearer token answers 403 "permission denied"', async () => {
    expectError(await transit('POST', 'keys/orders', undefined, null), 403, ['permission denied']);
    expectError(await transit('POST', 'encrypt/orders', { plaintext: HELLO }, null), 403, [
      'permission denied',
    ]);
    expectError(await call('GET', 'auth/token/lookup-self', { token: null }), 403, [
      'permission denied',
    ]);
    // Authorization: Bearer is the alternative header...
    const bearer = await call('POST', 'transit/keys/orders', {
      token: null,
      headers: { Authorization: `Bearer ${server.token}` },
    });
    expect(bearer.status).toBe(200);
    // ...and X-Vault-Token wins when both are sent.
    const both = await call('GET', 'transit/keys/orders', {
      token: 'hvs.unknown',
      headers: { Authorization: `Bearer ${server.token}` },
    });
    expect(both.status).toBe(403);
    // Unknown and revoked tokens are refused too, with "permission denied" in the message (expired
    // tokens: §11.38).
    const revoked = server.createToken();
    server.revokeToken(revoked);
    for (const token of ['hvs.unknown', revoked]) {
      const answer = await transit('GET', 'keys/orders', undefined, token);
      expect(answer.status).toBe(403);
      expect((answer.body['errors'] as string[])[0]).toContain('permission denied');
    }
  });

  it('§11.4 a valid token lacking the capability answers 403 containing "permission denied"', async () => {
    await createKey('orders');
    const reader = server.createToken({ capabilities: ['read'] });
    expect((await transit('GET', 'keys/orders', undefined, reader)).status).toBe(200);
    const denied = [
      await transit('POST', 'keys/other', undefined, reader),
      await transit('POST', 'keys/orders/rotate', undefined, reader),
      await transit('POST', 'keys/orders/config', { deletion_allowed: true }, reader),
      await transit('DELETE', 'keys/orders', undefined, reader),
      await transit('LIST', 'keys', undefined, reader),
      await transit('POST', 'encrypt/orders', { plaintext: HELLO }, reader),
      await transit('POST', 'decrypt/orders', { ciphertext: 'vault:v1:AA==' }, reader),
      await transit('POST', 'rewrap/orders', { ciphertext: 'vault:v1:AA==' }, reader),
      await transit('POST', 'datakey/plaintext/orders', undefined, reader),
    ];
    for (const answer of denied) {
      expect(answer.status).toBe(403);
      expect(answer.body).toEqual({ errors: [ACL_DENIED] });
      expect((answer.body['errors'] as string[])[0]).toContain('permission denied');
    }
    const lister = server.createToken({ capabilities: ['list'] });
    expect(dataOf(await transit('LIST', 'keys', undefined, lister))['keys']).toEqual(['orders']);
  });

  it('§11.5 encrypt needs create on a missing key and update on an existing one', async () => {
    const updater = server.createToken({ capabilities: ['update'] });
    const creator = server.createToken({ capabilities: ['create'] });
    expectError(await transit('POST', 'encrypt/orders', { plaintext: HELLO }, updater), 403, [
      ACL_DENIED,
    ]);
    expectError(await transit('GET', 'keys/orders'), 404, []);

    const created = await transit('POST', 'encrypt/orders', { plaintext: HELLO }, creator);
    expect(expectOk(created)['key_version']).toBe(1);
    expect(expectOk(await transit('GET', 'keys/orders'))['latest_version']).toBe(1);

    expectError(await transit('POST', 'encrypt/orders', { plaintext: HELLO }, creator), 403, [
      ACL_DENIED,
    ]);
    expect((await transit('POST', 'encrypt/orders', { plaintext: HELLO }, updater)).status).toBe(
      200,
    );
  });

  it('§11.6 POST keys/:name on a new name answers 200 with the §3 key object', async () => {
    const before = Math.floor(Date.now() / 1000);
    const answer = await transit('POST', 'keys/orders');
    const after = Math.ceil(Date.now() / 1000);
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.body)).toEqual(ENVELOPE_FIELDS);
    expect(answer.body).toMatchObject({
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      wrap_info: null,
      warnings: null,
      auth: null,
      mount_type: 'transit',
    });
    expect(answer.body['request_id']).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    const data = dataOf(answer);
    expect(data).toEqual({
      allow_plaintext_backup: false,
      auto_rotate_period: 0,
      deletion_allowed: false,
      derived: false,
      exportable: false,
      imported_key: false,
      keys: { '1': expect.any(Number) },
      latest_version: 1,
      min_available_version: 0,
      min_decryption_version: 1,
      min_encryption_version: 0,
      name: 'orders',
      supports_decryption: true,
      supports_derivation: true,
      supports_encryption: true,
      supports_signing: false,
      type: 'aes256-gcm96',
    });
    // `data` keys come out sorted, as Go's encoder writes a map.
    expect(Object.keys(data)).toEqual(Object.keys(data).toSorted());
    const created = (data['keys'] as Record<string, number>)['1'] as number;
    expect(Number.isInteger(created)).toBe(true);
    expect(created).toBeGreaterThanOrEqual(before);
    expect(created).toBeLessThanOrEqual(after);
    // The same object is what a read returns.
    expect(dataOf(await transit('GET', 'keys/orders'))).toEqual(data);
  });

  it('§11.7 POST keys/:name on an existing name answers 200 with the key unchanged and no warning', async () => {
    await createKey('orders');
    const rotated = await rotate('orders');
    const again = await transit('POST', 'keys/orders', {
      type: 'chacha20-poly1305',
      derived: true,
      exportable: true,
    });
    expect(again.status).toBe(200);
    expect(again.body['warnings']).toBeNull();
    expect(dataOf(again)).toEqual(rotated);
    expect(dataOf(again)['type']).toBe('aes256-gcm96');
    expect(dataOf(await transit('GET', 'keys/orders'))).toEqual(rotated);
  });

  it('§11.8 GET keys/:name for a missing key answers 404 {"errors":[]}', async () => {
    const answer = await transit('GET', 'keys/missing');
    expectError(answer, 404, []);
    expect(answer.text).toBe('{"errors":[]}\n');
  });

  it('§11.9 LIST keys answers 404 {"errors":[]} when empty, else data.keys', async () => {
    expectError(await transit('LIST', 'keys'), 404, []);
    expectError(await transit('GET', 'keys?list=true'), 404, []);
    await createKey('payments');
    await createKey('orders');
    const lists = [
      await transit('LIST', 'keys'),
      await transit('LIST', 'keys/'),
      await transit('GET', 'keys?list=true'),
      await transit('GET', 'keys/?list=true'),
    ];
    for (const answer of lists) {
      expect(dataOf(answer)).toEqual({ keys: ['orders', 'payments'] });
      expect(Object.keys(answer.body)).toEqual(ENVELOPE_FIELDS);
      expectJsonHeaders(answer);
    }
    expect(server.requests.filter((r) => r.method === 'LIST').map((r) => r.status)).toEqual([
      404, 200, 200,
    ]);
    // Without list=true a GET on keys is a read, which the path does not implement.
    expectError(await transit('GET', 'keys'), 405, [UNSUPPORTED_OPERATION]);
    expectError(await transit('GET', 'keys?list=false'), 405, [UNSUPPORTED_OPERATION]);
    expectError(await transit('GET', 'keys?list=maybe'), 400, []);
    // A list request gets a `/` appended: `keys/orders/` matches no route.
    expectError(await transit('LIST', 'keys/orders'), 404, [UNSUPPORTED_PATH]);
    // LIST keeps working on a kept-alive connection after a chunked request body.
    const chunked = await fetch(`${server.address}/v1/transit/encrypt/orders`, {
      method: 'POST',
      headers: { 'X-Vault-Token': server.token },
      body: new Blob([JSON.stringify({ plaintext: HELLO })]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.headers.get('content-type')).toBe('application/json');
    expect(chunked.status).toBe(200);
    await chunked.arrayBuffer();
    expect(dataOf(await transit('LIST', 'keys'))['keys']).toEqual(['orders', 'payments']);
  });

  it('§11.10 DELETE keys/:name answers 400 unless deletion_allowed, then 204 with an empty body', async () => {
    await createKey('orders');
    expectError(await transit('DELETE', 'keys/orders'), 400, [
      'error deleting policy orders: deletion is not allowed for this key',
    ]);
    await configure('orders', { deletion_allowed: true });
    const deleted = await transit('DELETE', 'keys/orders');
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expectError(await transit('GET', 'keys/orders'), 404, []);
    expectError(await transit('DELETE', 'keys/orders'), 400, [
      'error deleting policy orders: could not delete key; not found',
    ]);
  });

  it('§11.11 POST keys/:name/config answers 200 + key object; min_decryption_version above latest is 400', async () => {
    await createKey('orders');
    await rotate('orders');
    await rotate('orders');
    const answer = await transit('POST', 'keys/orders/config', {
      deletion_allowed: true,
      min_decryption_version: 2,
    });
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.body)).toEqual(ENVELOPE_FIELDS);
    expect(dataOf(answer)).toMatchObject({
      name: 'orders',
      deletion_allowed: true,
      latest_version: 3,
      min_decryption_version: 2,
      keys: { '2': expect.any(Number), '3': expect.any(Number) },
    });
    expect(Object.keys(dataOf(answer)['keys'] as Json)).toEqual(['2', '3']);
    // Nothing to change still answers the key object.
    expect((await configure('orders', {}))['min_decryption_version']).toBe(2);

    expectError(await transit('POST', 'keys/orders/config', { min_decryption_version: 5 }), 400, [
      'cannot set min decryption version of 5, latest key version is 3',
    ]);
    expectError(await transit('POST', 'keys/missing/config', { deletion_allowed: true }), 400, [
      'no existing key named missing could be found',
    ]);
  });

  it('§11.12 POST keys/:name/rotate increments latest_version and answers 200 + key object', async () => {
    await createKey('orders');
    const answer = await transit('POST', 'keys/orders/rotate');
    expect(answer.status).toBe(200);
    expect(answer.body['warnings']).toBeNull();
    expect(dataOf(answer)).toMatchObject({
      name: 'orders',
      latest_version: 2,
      min_decryption_version: 1,
      keys: { '1': expect.any(Number), '2': expect.any(Number) },
    });
    expect((await rotate('orders'))['latest_version']).toBe(3);
    expectError(await transit('POST', 'keys/missing/rotate'), 400, ['key not found']);
  });

  it('§11.13 single encrypt answers 200 data {ciphertext, key_version}', async () => {
    await createKey('orders');
    const answer = await transit('POST', 'encrypt/orders', { plaintext: HELLO });
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.body)).toEqual(ENVELOPE_FIELDS);
    expect(answer.body['warnings']).toBeNull();
    const data = dataOf(answer);
    expect(Object.keys(data)).toEqual(['ciphertext', 'key_version']);
    expect(data['key_version']).toBe(1);
    expect(data['ciphertext']).toMatch(CIPHERTEXT);
    expect(data['ciphertext']).toMatch(/^vault:v1:/);
    await rotate('orders');
    const second = dataOf(await transit('POST', 'encrypt/orders', { plaintext: HELLO }));
    expect(second['key_version']).toBe(2);
    expect(second['ciphertext']).toMatch(/^vault:v2:/);
    const decrypted = dataOf(
      await transit('POST', 'decrypt/orders', { ciphertext: data['ciphertext'] }),
    );
    expect(decrypted).toEqual({ plaintext: HELLO });
  });

  it('§11.14 the ciphertext payload is nonce(12) ‖ ciphertext ‖ tag(16) in padded std base64', async () => {
    // The §6 known-answer vectors need key import, which HTTP does not offer here; they are
    // checked in lib/engine/transit-engine.spec.ts. Over HTTP we check the layout.
    for (const type of ['aes256-gcm96', 'aes128-gcm96', 'chacha20-poly1305']) {
      await createKey(type, { type });
      for (const length of [0, 1, 2, 3, 11, 100]) {
        const plaintext = Buffer.alloc(length, 0x61).toString('base64');
        const ciphertext = await encrypt(type, { plaintext });
        expect(ciphertext).toMatch(CIPHERTEXT);
        const encoded = ciphertext.slice('vault:v1:'.length);
        expect(encoded.length % 4).toBe(0);
        expect(Buffer.from(encoded, 'base64').toString('base64')).toBe(encoded);
        expect(payloadOf(ciphertext)).toHaveLength(28 + length);
        expect(dataOf(await transit('POST', `decrypt/${type}`, { ciphertext }))).toEqual({
          plaintext,
        });
      }
    }
    // A fresh random nonce leads every payload.
    const first = payloadOf(await encrypt('aes256-gcm96', { plaintext: HELLO }));
    const second = payloadOf(await encrypt('aes256-gcm96', { plaintext: HELLO }));
    expect(first.subarray(0, 12).equals(second.subarray(0, 12))).toBe(false);
    // The nonce, the body and the tag are all authenticated where the layout says they are.
    const ciphertext = await encrypt('aes256-gcm96', { plaintext: HELLO });
    for (const index of [0, 11, 12, 12 + 10, -16, -1]) {
      expectError(
        await transit('POST', 'decrypt/aes256-gcm96', { ciphertext: tamper(ciphertext, index) }),
        400,
        [AUTH_FAILED],
      );
    }
    // A §6 vector is well-formed: against another key it reaches the AEAD check.
    expectError(
      await transit('POST', 'decrypt/aes256-gcm96', {
        ciphertext: 'vault:v1:oKGio6Slpqeoqaqrjn0QQSrrddAQCeOsJrBG0xxuRyhGb7FdEMha',
      }),
      400,
      [AUTH_FAILED],
    );
    expect(payloadOf('vault:v1:oKGio6Slpqeoqaqrjn0QQSrrddAQCeOsJrBG0xxuRyhGb7FdEMha')).toHaveLength(
      28 + 'hello world'.length,
    );
  });

  it('§11.15 encrypt without plaintext / decrypt without ciphertext answer 400', async () => {
    expectError(await transit('POST', 'encrypt/orders', {}), 400, ['missing plaintext to encrypt']);
    expectError(await transit('POST', 'encrypt/orders'), 400, ['missing plaintext to encrypt']);
    // The check comes before the upsert: no key was created.
    expectError(await transit('GET', 'keys/orders'), 404, []);
    await createKey('orders');
    expectError(await transit('POST', 'decrypt/orders', {}), 400, [
      'missing ciphertext to decrypt',
    ]);
    expectError(await transit('POST', 'decrypt/orders', { ciphertext: '' }), 400, [
      'missing ciphertext to decrypt',
    ]);
    // An empty plaintext is legal and round-trips to "".
    const ciphertext = await encrypt('orders', { plaintext: '' });
    expect(dataOf(await transit('POST', 'decrypt/orders', { ciphertext }))).toEqual({
      plaintext: '',
    });
  });

  it('§11.16 invalid base64 plaintext answers 400 "illegal base64 data at input byte <n>"', async () => {
    await createKey('orders');
    const cases: readonly (readonly [string, number])[] = [
      ['aGVsbG8', 4], // missing padding
      ['aGVsbG-_', 6], // URL-safe alphabet
      ['aGV$', 3],
      ['aGVsbG8=x', 8],
      ['a===', 1],
    ];
    for (const [plaintext, offset] of cases) {
      expectError(await transit('POST', 'encrypt/orders', { plaintext }), 400, [
        `illegal base64 data at input byte ${offset}`,
      ]);
    }
  });

  it('§11.17 decrypt, rewrap and datakey on a missing key answer 400 "encryption key not found"', async () => {
    const ciphertext = 'vault:v1:oKGio6Slpqeoqaqrjn0QQSrrddAQCeOsJrBG0xxuRyhGb7FdEMha';
    const answers = [
      await transit('POST', 'decrypt/missing', { ciphertext }),
      await transit('POST', 'decrypt/missing', { batch_input: [{ ciphertext }] }),
      await transit('POST', 'rewrap/missing', { ciphertext }),
      await transit('POST', 'rewrap/missing', { batch_input: [{ ciphertext }] }),
      await transit('POST', 'datakey/plaintext/missing'),
      await transit('POST', 'datakey/wrapped/missing'),
      await transit('POST', 'datakey/wrapped/missing', { bits: 100 }), // key lookup before bits
    ];
    for (const answer of answers) expectError(answer, 400, ['encryption key not found']);
    // None of them created the key.
    expectError(await transit('GET', 'keys/missing'), 404, []);
  });

  it('§11.18 decrypt of a version above latest_version answers 400 "version is too new"', async () => {
    await createKey('orders');
    const ciphertext = await encrypt('orders', { plaintext: HELLO });
    expectError(
      await transit('POST', 'decrypt/orders', {
        ciphertext: ciphertext.replace('vault:v1:', 'vault:v2:'),
      }),
      400,
      ['invalid ciphertext: version is too new'],
    );
    // v0 reads as v1.
    const v0 = ciphertext.replace('vault:v1:', 'vault:v0:');
    expect(dataOf(await transit('POST', 'decrypt/orders', { ciphertext: v0 }))).toEqual({
      plaintext: HELLO,
    });
  });

  it('§11.19 decrypt of a version below min_decryption_version answers 400 "(too old)"', async () => {
    await createKey('orders');
    const v1 = await encrypt('orders', { plaintext: HELLO });
    await rotate('orders');
    const v2 = await encrypt('orders', { plaintext: HELLO });
    await configure('orders', { min_decryption_version: 2 });
    expectError(await transit('POST', 'decrypt/orders', { ciphertext: v1 }), 400, [
      'ciphertext or signature version is disallowed by policy (too old)',
    ]);
    expect(dataOf(await transit('POST', 'decrypt/orders', { ciphertext: v2 }))).toEqual({
      plaintext: HELLO,
    });
    // Lowering it again restores the version.
    await configure('orders', { min_decryption_version: 1 });
    expect(dataOf(await transit('POST', 'decrypt/orders', { ciphertext: v1 }))).toEqual({
      plaintext: HELLO,
    });
  });

  it('§11.20 wrong key, context, AAD or a tampered payload answer 400 "cipher: message authentication failed"', async () => {
    await createKey('a');
    await createKey('b');
    const ciphertext = await encrypt('a', { plaintext: HELLO });
    expectError(await transit('POST', 'decrypt/b', { ciphertext }), 400, [AUTH_FAILED]);
    expectError(await transit('POST', 'decrypt/a', { ciphertext: tamper(ciphertext, 15) }), 400, [
      AUTH_FAILED,
    ]);

    await createKey('derived', { derived: true });
    const withContext = await encrypt('derived', { plaintext: HELLO, context: b64('tenant-a') });
    expectError(
      await transit('POST', 'decrypt/derived', {
        ciphertext: withContext,
        context: b64('tenant-b'),
      }),
      400,
      [AUTH_FAILED],
    );

    const withAad = await encrypt('a', { plaintext: HELLO, associated_data: b64('user-42') });
    expectError(
      await transit('POST', 'decrypt/a', { ciphertext: withAad, associated_data: b64('user-43') }),
      400,
      [AUTH_FAILED],
    );
  });

  it('§11.21 decrypt of a string without the vault:v prefix answers 400 "invalid ciphertext: no prefix"', async () => {
    await createKey('orders');
    for (const ciphertext of ['hello', 'vault:1:AAAA', 'VAULT:v1:AAAA', 'v1:AAAA']) {
      expectError(await transit('POST', 'decrypt/orders', { ciphertext }), 400, [
        'invalid ciphertext: no prefix',
      ]);
    }
  });

  it('§11.22 a derived key without context answers 400 "missing \'context\' for key derivation…"', async () => {
    await createKey('derived', { derived: true });
    const ciphertext = await encrypt('derived', { plaintext: HELLO, context: b64('tenant-a') });
    for (const answer of [
      await transit('POST', 'encrypt/derived', { plaintext: HELLO }),
      await transit('POST', 'decrypt/derived', { ciphertext }),
      await transit('POST', 'datakey/plaintext/derived'),
    ]) {
      expectError(answer, 400, [MISSING_CONTEXT]);
      expect((answer.body['errors'] as string[])[0]).toMatch(
        /^missing 'context' for key derivation/,
      );
    }
    // Upsert with a context creates a derived key.
    await encrypt('upserted', { plaintext: HELLO, context: b64('tenant-a') });
    expect(dataOf(await transit('GET', 'keys/upserted'))).toMatchObject({
      derived: true,
      kdf: 'hkdf_sha256',
      convergent_encryption: false,
    });
    expectError(await transit('POST', 'encrypt/upserted', { plaintext: HELLO }), 400, [
      MISSING_CONTEXT,
    ]);
  });

  it('§11.23 encrypt key_version above latest or below min_encryption_version answers 400', async () => {
    await createKey('orders');
    expectError(
      await transit('POST', 'encrypt/orders', { plaintext: HELLO, key_version: 2 }),
      400,
      ['requested version for encryption is higher than the latest key version'],
    );
    await rotate('orders');
    await rotate('orders');
    await configure('orders', { min_encryption_version: 3 });
    expectError(
      await transit('POST', 'encrypt/orders', { plaintext: HELLO, key_version: 2 }),
      400,
      ['requested version for encryption is less than the minimum encryption key version'],
    );
    const data = dataOf(
      await transit('POST', 'encrypt/orders', { plaintext: HELLO, key_version: 3 }),
    );
    expect(data['key_version']).toBe(3);
    // Weak typing: "3" is an int.
    const weak = dataOf(
      await transit('POST', 'encrypt/orders', { plaintext: HELLO, key_version: '3' }),
    );
    expect(weak['key_version']).toBe(3);
  });

  it('§11.24 a batch where all items succeed answers 200 with batch_results in input order', async () => {
    await createKey('orders');
    const plaintexts = [b64('one'), b64('two'), b64('three')];
    const encrypted = await transit('POST', 'encrypt/orders', {
      batch_input: [
        { plaintext: plaintexts[0], reference: 'r1' },
        { plaintext: plaintexts[1] },
        { plaintext: plaintexts[2], reference: 'r3' },
      ],
    });
    expect(encrypted.status).toBe(200);
    expect(Object.keys(encrypted.body)).toEqual(ENVELOPE_FIELDS);
    expect(encrypted.body['errors']).toBeUndefined();
    const results = batchOf(encrypted);
    expect(results.map((r) => r['reference'])).toEqual(['r1', '', 'r3']);
    for (const result of results) {
      expect(Object.keys(result)).toEqual(['ciphertext', 'key_version', 'reference']);
      expect(result['ciphertext']).toMatch(CIPHERTEXT);
      expect(result['key_version']).toBe(1);
    }

    const decrypted = await transit('POST', 'decrypt/orders', {
      batch_input: results.map((r, i) => ({
        ciphertext: r['ciphertext'],
        ...(i === 1 ? {} : { reference: `d${i}` }),
      })),
    });
    expect(decrypted.status).toBe(200);
    expect(batchOf(decrypted)).toEqual([
      { plaintext: plaintexts[0], reference: 'd0' },
      { plaintext: plaintexts[1], reference: '' },
      { plaintext: plaintexts[2], reference: 'd2' },
    ]);
    for (const result of batchOf(decrypted)) {
      expect(Object.keys(result)).toEqual(['plaintext', 'reference']);
    }
  });

  it('§11.25 a batch with a failing item answers 400 with the success envelope and no errors key', async () => {
    await createKey('orders');
    const answer = await transit('POST', 'encrypt/orders', {
      batch_input: [
        { plaintext: HELLO, reference: 'a' },
        { plaintext: 'aGVsbG8', reference: 'b' },
      ],
    });
    expect(answer.status).toBe(400);
    expectJsonHeaders(answer);
    expect(answer.body).not.toHaveProperty('errors');
    expect(Object.keys(answer.body)).toEqual(ENVELOPE_FIELDS);
    expect(answer.body['request_id']).toEqual(expect.any(String));
    const [ok, failed] = batchOf(answer);
    expect(Object.keys(ok as Json)).toEqual(['ciphertext', 'key_version', 'reference']);
    expect(ok).toMatchObject({ key_version: 1, reference: 'a' });
    expect(failed).toEqual({ error: 'illegal base64 data at input byte 4', reference: 'b' });
    // Written raw: no trailing newline.
    expect(answer.text.endsWith('\n')).toBe(false);

    const decrypt = await transit('POST', 'decrypt/orders', {
      batch_input: [{ ciphertext: (ok as Json)['ciphertext'] }, { ciphertext: 'nope' }],
    });
    expect(decrypt.status).toBe(400);
    expect(decrypt.body).not.toHaveProperty('errors');
    expect(batchOf(decrypt)).toEqual([
      { plaintext: HELLO, reference: '' },
      { plaintext: '', error: 'invalid ciphertext: no prefix', reference: '' },
    ]);
  });

  it('§11.26 partial_failure_response_code applies only when at least one item succeeded', async () => {
    await createKey('orders');
    const mixed = [{ plaintext: HELLO }, { plaintext: '!!' }];
    const allBad = [{ plaintext: '!!' }, { plaintext: '??' }];

    const partial = await transit('POST', 'encrypt/orders', {
      batch_input: mixed,
      partial_failure_response_code: 207,
    });
    expect(partial.status).toBe(207);
    expect(batchOf(partial)[1]).toEqual({
      error: 'illegal base64 data at input byte 0',
      reference: '',
    });

    const as200 = await transit('POST', 'encrypt/orders', {
      batch_input: mixed,
      partial_failure_response_code: 200,
    });
    expect(as200.status).toBe(200);
    expect(batchOf(as200)).toHaveLength(2);

    const failedAll = await transit('POST', 'encrypt/orders', {
      batch_input: allBad,
      partial_failure_response_code: 207,
    });
    expect(failedAll.status).toBe(400);
    expect(failedAll.body['warnings']).toBeNull();

    const outOfRange = await transit('POST', 'encrypt/orders', {
      batch_input: mixed,
      partial_failure_response_code: 600,
    });
    expect(outOfRange.status).toBe(400);
    expect(outOfRange.body['warnings']).toEqual([
      'invalid HTTP response code override from partial_failure_response_code, reverting to 400',
    ]);

    const ciphertext = await encrypt('orders', { plaintext: HELLO });
    const decrypt = await transit('POST', 'decrypt/orders', {
      batch_input: [{ ciphertext }, { ciphertext: 'vault:v9:AAAA' }],
      partial_failure_response_code: 207,
    });
    expect(decrypt.status).toBe(207);
    const decryptAllBad = await transit('POST', 'decrypt/orders', {
      batch_input: [{ ciphertext: 'vault:v9:AAAA' }],
      partial_failure_response_code: 207,
    });
    expect(decryptAllBad.status).toBe(400);
  });

  it('§11.27 a batch with context on some items only answers 400 for the whole request', async () => {
    await createKey('derived', { derived: true });
    const message = 'context should be set either in all the request blocks or in none';
    expectError(
      await transit('POST', 'encrypt/derived', {
        batch_input: [{ plaintext: HELLO, context: b64('t') }, { plaintext: HELLO }],
      }),
      400,
      [message],
    );
    const ciphertext = await encrypt('derived', { plaintext: HELLO, context: b64('t') });
    expectError(
      await transit('POST', 'decrypt/derived', {
        batch_input: [{ ciphertext }, { ciphertext, context: b64('t') }],
      }),
      400,
      [message],
    );
  });

  it('§11.28 batch_input [] answers 400; an item without plaintext answers 500 "failed to parse batch input"', async () => {
    await createKey('orders');
    expectError(await transit('POST', 'encrypt/orders', { batch_input: [] }), 400, [
      'missing batch input to process',
    ]);
    expectError(await transit('POST', 'decrypt/orders', { batch_input: [] }), 400, [
      'missing batch input to process',
    ]);
    const missing = await transit('POST', 'encrypt/orders', {
      batch_input: [{ reference: 'x' }],
    });
    expectError(missing, 500, [
      "1 error occurred:\n\t* failed to parse batch input: 1 error(s) decoding:\n\n* '[0].plaintext' missing plaintext to encrypt\n\n",
    ]);
    expect((missing.body['errors'] as string[])[0]).toContain('failed to parse batch input');
    const decrypt = await transit('POST', 'decrypt/orders', {
      batch_input: [{ ciphertext: 'vault:v1:AAAA' }, {}],
    });
    expect(decrypt.status).toBe(500);
    expect((decrypt.body['errors'] as string[])[0]).toContain('failed to parse batch input');
    expect((decrypt.body['errors'] as string[])[0]).toContain(
      "'[1].ciphertext' missing ciphertext to decrypt",
    );
  });

  it('§11.29 failed batch items: decrypt keeps plaintext "", encrypt omits ciphertext and key_version', async () => {
    await createKey('orders');
    const encrypted = await transit('POST', 'encrypt/orders', {
      batch_input: [{ plaintext: '%%', reference: 'e' }],
    });
    expect(encrypted.status).toBe(400);
    const [encryptFailure] = batchOf(encrypted);
    expect(Object.keys(encryptFailure as Json)).toEqual(['error', 'reference']);
    expect(encryptFailure).toEqual({
      error: 'illegal base64 data at input byte 0',
      reference: 'e',
    });

    const decrypted = await transit('POST', 'decrypt/orders', {
      batch_input: [{ ciphertext: 'garbage', reference: 'd' }, { ciphertext: '' }],
    });
    expect(decrypted.status).toBe(400);
    const results = batchOf(decrypted);
    for (const result of results)
      expect(Object.keys(result)).toEqual(['plaintext', 'error', 'reference']);
    expect(results).toEqual([
      { plaintext: '', error: 'invalid ciphertext: no prefix', reference: 'd' },
      { plaintext: '', error: 'missing ciphertext to decrypt', reference: '' },
    ]);
  });

  it('§11.30 a rewrap batch with failing items still answers 200', async () => {
    await createKey('orders');
    const v1 = await encrypt('orders', { plaintext: HELLO });
    await rotate('orders');
    const answer = await transit('POST', 'rewrap/orders', {
      batch_input: [
        { ciphertext: v1, reference: 'good' },
        { ciphertext: 'garbage', reference: 'bad' },
        { reference: 'none' },
      ],
      partial_failure_response_code: 207,
    });
    expect(answer.status).toBe(200);
    expect(answer.body).not.toHaveProperty('errors');
    const [good, bad, none] = batchOf(answer);
    expect(Object.keys(good as Json)).toEqual(['ciphertext', 'key_version', 'reference']);
    expect(good).toMatchObject({ key_version: 2, reference: 'good' });
    expect((good as Json)['ciphertext']).toMatch(/^vault:v2:/);
    expect(bad).toEqual({ error: 'invalid ciphertext: no prefix', reference: 'bad' });
    expect(none).toEqual({ error: 'missing ciphertext to decrypt', reference: 'none' });
    const rewrapped = (good as Json)['ciphertext'];
    expect(dataOf(await transit('POST', 'decrypt/orders', { ciphertext: rewrapped }))).toEqual({
      plaintext: HELLO,
    });
    // Single rewrap always uses a fresh nonce, even on the latest version.
    const single = dataOf(await transit('POST', 'rewrap/orders', { ciphertext: rewrapped }));
    expect(single['key_version']).toBe(2);
    expect(single['ciphertext']).not.toBe(rewrapped);
  });

  it('§11.31 associated_data round-trips on decrypt; rewrap does not accept it', async () => {
    await createKey('orders');
    const associated_data = b64('user-42');
    const ciphertext = await encrypt('orders', { plaintext: HELLO, associated_data });
    expect(
      dataOf(await transit('POST', 'decrypt/orders', { ciphertext, associated_data })),
    ).toEqual({
      plaintext: HELLO,
    });
    expectError(await transit('POST', 'decrypt/orders', { ciphertext }), 400, [AUTH_FAILED]);
    // Batch items carry their own AAD.
    const batch = await transit('POST', 'decrypt/orders', {
      batch_input: [{ ciphertext, associated_data }, { ciphertext }],
    });
    expect(batch.status).toBe(400);
    expect(batchOf(batch)).toEqual([
      { plaintext: HELLO, reference: '' },
      { plaintext: '', error: AUTH_FAILED, reference: '' },
    ]);
    // Rewrap ignores associated_data (warning), so an AAD-bound ciphertext cannot be rewrapped.
    expectError(await transit('POST', 'rewrap/orders', { ciphertext, associated_data }), 400, [
      AUTH_FAILED,
    ]);
    const plain = await encrypt('orders', { plaintext: HELLO });
    const rewrapped = await transit('POST', 'rewrap/orders', {
      ciphertext: plain,
      associated_data,
    });
    expect(rewrapped.status).toBe(200);
    expect(rewrapped.body['warnings']).toEqual([
      'Endpoint ignored these unrecognized parameters: [associated_data]',
    ]);
  });

  it('§11.32 datakey/plaintext and datakey/wrapped answer 200; bad type or bits answer 400', async () => {
    await createKey('orders');
    const plaintext = await transit('POST', 'datakey/plaintext/orders');
    const data = expectOk(plaintext);
    expect(Object.keys(data)).toEqual(['ciphertext', 'key_version', 'plaintext']);
    expect(data['key_version']).toBe(1);
    expect(data['plaintext']).toHaveLength(44);
    expect(Buffer.from(data['plaintext'] as string, 'base64')).toHaveLength(32);
    expect(data['ciphertext']).toMatch(CIPHERTEXT);
    expect((data['ciphertext'] as string).slice('vault:v1:'.length)).toHaveLength(80);
    // The ciphertext wraps the raw data-key bytes.
    const unwrapped = dataOf(
      await transit('POST', 'decrypt/orders', { ciphertext: data['ciphertext'] }),
    );
    expect(unwrapped['plaintext']).toBe(data['plaintext']);

    const wrapped = expectOk(await transit('POST', 'datakey/wrapped/orders'));
    expect(Object.keys(wrapped)).toEqual(['ciphertext', 'key_version']);
    expect(payloadOf(wrapped['ciphertext'] as string)).toHaveLength(28 + 32);

    for (const [bits, bytes] of [
      [128, 16],
      [256, 32],
      [512, 64],
    ] as const) {
      const sized = expectOk(await transit('POST', 'datakey/plaintext/orders', { bits }));
      expect(Buffer.from(sized['plaintext'] as string, 'base64')).toHaveLength(bytes);
    }
    expectError(await transit('POST', 'datakey/bogus/orders'), 400, [
      "Invalid path, must be 'plaintext' or 'wrapped'",
    ]);
    for (const bits of [100, 0, 1024]) {
      expectError(await transit('POST', 'datakey/plaintext/orders', { bits }), 400, [
        'invalid bit length',
      ]);
    }
  });

  it('§11.33 after DELETE, encrypt with create silently makes a new v1 key; old ciphertexts fail', async () => {
    await createKey('orders');
    await configure('orders', { deletion_allowed: true });
    const v1 = await encrypt('orders', { plaintext: HELLO });
    await rotate('orders');
    const v2 = await encrypt('orders', { plaintext: HELLO });
    expect((await transit('DELETE', 'keys/orders')).status).toBe(204);

    expectError(await transit('POST', 'decrypt/orders', { ciphertext: v1 }), 400, [
      'encryption key not found',
    ]);
    const updater = server.createToken({ capabilities: ['update'] });
    expectError(await transit('POST', 'encrypt/orders', { plaintext: HELLO }, updater), 403, [
      ACL_DENIED,
    ]);
    const creator = server.createToken({ capabilities: ['create'] });
    const recreated = await transit('POST', 'encrypt/orders', { plaintext: HELLO }, creator);
    expect(recreated.status).toBe(200);
    expect(recreated.body['warnings']).toBeNull();
    expect(dataOf(recreated)['key_version']).toBe(1);
    expect(dataOf(await transit('GET', 'keys/orders'))).toMatchObject({
      latest_version: 1,
      deletion_allowed: false,
    });
    expectError(await transit('POST', 'decrypt/orders', { ciphertext: v1 }), 400, [AUTH_FAILED]);
    expectError(await transit('POST', 'decrypt/orders', { ciphertext: v2 }), 400, [
      'invalid ciphertext: version is too new',
    ]);
  });

  it('§11.34 unknown request parameters are ignored with an "unrecognized parameters" warning', async () => {
    const created = await transit('POST', 'keys/orders', { key_type: 'chacha20-poly1305' });
    expect(created.status).toBe(200);
    expect(created.body['warnings']).toEqual([
      'Endpoint ignored these unrecognized parameters: [key_type]',
    ]);
    expect(dataOf(created)['type']).toBe('aes256-gcm96');

    const encrypted = await transit('POST', 'encrypt/orders', {
      plaintext: HELLO,
      zeta: 1,
      alpha: true,
    });
    expect(encrypted.status).toBe(200);
    expect(encrypted.body['warnings']).toEqual([
      'Endpoint ignored these unrecognized parameters: [alpha zeta]',
    ]);
    const decrypted = await transit('POST', 'decrypt/orders', {
      ciphertext: dataOf(encrypted)['ciphertext'],
      key_version: 1,
    });
    expect(decrypted.body['warnings']).toEqual([
      'Endpoint ignored these unrecognized parameters: [key_version]',
    ]);
    const rotated = await transit('POST', 'keys/orders/rotate', { force: true });
    expect(rotated.body['warnings']).toEqual([
      'Endpoint ignored these unrecognized parameters: [force]',
    ]);
  });

  it('§11.35 malformed JSON answers 400 "error parsing JSON"; a body over 32 MiB answers 413', async () => {
    await createKey('orders');
    for (const rawBody of ['{"plaintext":', 'not json', '[1,2]', '"text"']) {
      const answer = await call('POST', 'transit/encrypt/orders', {
        rawBody,
        headers: { 'Content-Type': 'application/json' },
      });
      expectError(answer, 400, ['error parsing JSON']);
      expectJsonHeaders(answer);
    }
    // The HTTP layer parses the body before the core looks at the token.
    const anonymous = await call('POST', 'transit/encrypt/orders', { rawBody: '{', token: null });
    expectError(anonymous, 400, ['error parsing JSON']);
    // An empty body and a JSON null are legal (no data).
    for (const rawBody of ['', 'null']) {
      expectError(await call('POST', 'transit/encrypt/orders', { rawBody }), 400, [
        'missing plaintext to encrypt',
      ]);
    }
    const limit = 32 * 1024 * 1024;
    const tooLarge = await call('POST', 'transit/encrypt/orders', {
      rawBody: Buffer.alloc(limit + 1, 0x20),
      headers: { 'Content-Type': 'application/json' },
    });
    expectError(tooLarge, 413, ['error parsing JSON']);
    expectJsonHeaders(tooLarge);
    // Exactly 32 MiB is still parsed (here: an ignored field, so the plaintext is missing).
    const atLimit = `{"zzzzzzzzz":"${'A'.repeat(limit - 16)}"}`;
    expect(Buffer.byteLength(atLimit)).toBe(limit);
    const parsed = await call('POST', 'transit/encrypt/orders', {
      rawBody: atLimit,
      headers: { 'Content-Type': 'application/json' },
    });
    expectError(parsed, 400, ['missing plaintext to encrypt']);
  });

  it('§11.36 sys/health answers 200 when unsealed and 503 with the same shape when sealed', async () => {
    const healthy = await call('GET', 'sys/health', { token: null });
    expect(healthy.status).toBe(200);
    expectJsonHeaders(healthy);
    expect(healthy.body).toMatchObject({ initialized: true, sealed: false, standby: false });
    const shape = [
      'initialized',
      'sealed',
      'standby',
      'performance_standby',
      'replication_performance_mode',
      'replication_dr_mode',
      'server_time_utc',
      'version',
    ];
    expect(Object.keys(healthy.body)).toEqual(expect.arrayContaining(shape));

    await createKey('orders');
    server.setSealed(true);
    const sealed = await call('GET', 'sys/health', { token: null });
    expect(sealed.status).toBe(503);
    expectJsonHeaders(sealed);
    expect(sealed.body).toMatchObject({ initialized: true, sealed: true });
    expect(Object.keys(sealed.body)).toEqual(expect.arrayContaining(shape));
    for (const answer of [
      await transit('POST', 'encrypt/orders', { plaintext: HELLO }),
      await transit('GET', 'keys/orders'),
      await call('GET', 'auth/token/lookup-self'),
    ]) {
      expectError(answer, 503, ['Vault is sealed']);
      expectJsonHeaders(answer);
    }

    server.setSealed(false);
    expect((await call('GET', 'sys/health', { token: null })).status).toBe(200);
    expect((await transit('POST', 'encrypt/orders', { plaintext: HELLO })).status).toBe(200);
  });

  it('§11.37 every response carries Content-Type: application/json and Cache-Control: no-store', async () => {
    await createKey('orders');
    await configure('orders', { deletion_allowed: true });
    const answers = [
      await transit('GET', 'keys/orders'), // 200
      await transit('POST', 'encrypt/orders', { batch_input: [{ plaintext: '!' }] }), // 400 raw
      await transit('POST', 'decrypt/orders', { ciphertext: 'x' }), // 400
      await transit('GET', 'keys/orders', undefined, null), // 403
      await transit('GET', 'keys/missing'), // 404
      await transit('GET', 'unknown'), // 404 unsupported path
      await transit('GET', 'encrypt/orders'), // 405
      await transit('POST', 'encrypt/orders', { batch_input: [{}] }), // 500
      await call('GET', 'sys/health', { token: null }), // 200 without an envelope
      await call('GET', 'auth/token/lookup-self'),
      // 405: transit implements no PATCH (without the merge-patch Content-Type it would be 415).
      await call('PATCH', 'transit/keys/orders', {
        rawBody: '{}',
        headers: { 'Content-Type': 'application/merge-patch+json' },
      }),
      await transit('FROB', 'keys/orders'), // 405: a method Node's HTTP parser does not know
    ];
    expect(answers.map((a) => a.status)).toEqual([
      200, 400, 400, 403, 404, 404, 405, 500, 200, 200, 405, 405,
    ]);
    expect(answers[11]?.body).toEqual({ errors: [] });
    for (const answer of answers) expectJsonHeaders(answer);
    // The normal envelope and error bodies end with a newline.
    expect(answers[0]?.text.endsWith('}\n')).toBe(true);
    expect(answers[2]?.text).toBe('{"errors":["invalid ciphertext: no prefix"]}\n');

    const deleted = await transit('DELETE', 'keys/orders');
    expect(deleted.status).toBe(204);
    expectJsonHeaders(deleted);
    expect(deleted.text).toBe('');
  });

  it('§11.38 lookup-self reports ttl/policies/renewable; renew-self extends; root renew is 400', async () => {
    const root = await call('GET', 'auth/token/lookup-self');
    expect(root.status).toBe(200);
    expect(dataOf(root)).toMatchObject({
      id: server.token,
      policies: ['root'],
      ttl: 0,
      expire_time: null,
      creation_ttl: 0,
      path: 'auth/token/root',
      display_name: 'root',
    });
    expect(dataOf(root)).toHaveProperty('renewable');

    const token = server.createToken({ capabilities: ['update'], ttlSeconds: 3600 });
    const lookup = await call('GET', 'auth/token/lookup-self', { token });
    expect(lookup.status).toBe(200);
    const info = dataOf(lookup);
    expect(info).toMatchObject({ id: token, renewable: true, creation_ttl: 3600, type: 'service' });
    expect(info['ttl']).toBeGreaterThan(3590);
    expect(info['ttl']).toBeLessThanOrEqual(3600);
    expect(info['policies']).toEqual(expect.any(Array));
    expect(token).toMatch(/^hvs\./);

    const renewed = await call('POST', 'auth/token/renew-self', {
      token,
      body: { increment: '1h' },
    });
    expect(renewed.status).toBe(200);
    expect(renewed.body['data']).toBeNull();
    expect(renewed.body['auth']).toMatchObject({
      client_token: token,
      lease_duration: 3600,
      renewable: true,
      token_type: 'service',
    });
    expect((await call('POST', 'auth/token/renew-self', { token })).status).toBe(200);

    expectError(await call('POST', 'auth/token/renew-self'), 400, ['lease is not renewable']);
    const fixed = server.createToken({ ttlSeconds: 3600, renewable: false });
    expectError(await call('POST', 'auth/token/renew-self', { token: fixed }), 400, [
      'lease is not renewable',
    ]);

    const shortLived = server.createToken({ ttlSeconds: 1 });
    expect((await call('GET', 'auth/token/lookup-self', { token: shortLived })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    for (const answer of [
      await call('GET', 'auth/token/lookup-self', { token: shortLived }),
      await call('POST', 'auth/token/renew-self', { token: shortLived }),
    ]) {
      expect(answer.status).toBe(403);
      expect((answer.body['errors'] as string[])[0]).toContain('permission denied');
    }
  });

  it('a request outside /v1/ answers 404 {"errors":[]} and the requests log records it', async () => {
    const outside = await fetch(`${server.address}/outside/path`);
    expect(outside.status).toBe(404);
    expect(outside.headers.get('content-type')).toBe('application/json');
    expect(outside.headers.get('cache-control')).toBe('no-store');
    expect(await outside.json()).toEqual({ errors: [] });

    await createKey('a');
    await transit('POST', 'keys/a%2Frotate');
    await transit('GET', 'keys/missing');
    expect(server.requests).toEqual([
      { method: 'GET', path: '/outside/path', status: 404 },
      { method: 'POST', path: '/v1/transit/keys/a', status: 200 },
      { method: 'POST', path: '/v1/transit/keys/a/rotate', status: 200 },
      { method: 'GET', path: '/v1/transit/keys/missing', status: 404 },
    ]);
  });
});
