import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';

/**
 * Transit semantics the dev server must share with Vault 1.14 (path_encrypt.go, path_decrypt.go,
 * path_rewrap.go, path_datakey.go, path_keys_config.go, keysutil/policy.go at openbao/openbao
 * 402f3ef8e1), over real HTTP: batch error accounting, batch input decoding, parameter names,
 * ACL-before-routing, nonce handling, one-way config flags, `..` names, status overrides.
 */

type Json = Record<string, unknown>;

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly body: Json;
}

interface CallOptions {
  /** JSON-encoded as the request body. */
  readonly body?: unknown;
  /** Sent as is (wins over `body`). */
  readonly rawBody?: string;
  /** `undefined` sends the root token. */
  readonly token?: string;
}

const ACL_DENIED = '1 error occurred:\n\t* permission denied\n\n';
const UNSUPPORTED_OPERATION = '1 error occurred:\n\t* unsupported operation\n\n';
const RELATIVE_CLEAN = 'relative paths not supported';
const RELATIVE_WRAPPED = '1 error occurred:\n\t* relative paths not supported\n\n';
const NONCE_NOT_ALLOWED = 'provided nonce not allowed for this key';
const MISSING_CONTEXT =
  "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key";
const HIGHER_THAN_LATEST = 'requested version for encryption is higher than the latest key version';
const AAD_FACTORY_ERROR =
  'unable to get associated_data/additional_data from factory[0]: illegal base64 data at input byte 0';
const HELLO = Buffer.from('hello world').toString('base64');

let server: TransitDevServer;

beforeEach(async () => {
  server = await startTransitDevServer({ host: '127.0.0.1', port: 0 });
});

afterEach(async () => {
  await server.close();
});

/** One request to `/v1/<path>`. */
async function call(method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'X-Vault-Token': options.token ?? server.token };
  let body = options.rawBody;
  if (body === undefined && options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`${server.address}/v1/${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, text, body: text === '' ? {} : (JSON.parse(text) as Json) };
}

const post = (path: string, body?: unknown, token?: string): Promise<Answer> =>
  call('POST', path, { body, ...(token !== undefined ? { token } : {}) });

function results(answer: Answer): Json[] {
  return (answer.body['data'] as { batch_results: Json[] }).batch_results;
}

function batchParseError(detail: string): string {
  return `1 error occurred:\n\t* failed to parse batch input: ${detail}\n\n`;
}

async function encryptOne(key: string, plaintext = HELLO): Promise<string> {
  const answer = await post(`transit/encrypt/${key}`, { plaintext });
  expect(answer.status).toBe(200);
  return (answer.body['data'] as { ciphertext: string }).ciphertext;
}

describe('bad associated_data is an internal error of its item (factory[0])', () => {
  it('encrypt batch: the item keeps the bare message with factory[0]; only internal errors → 500', async () => {
    const answer = await post('transit/encrypt/k', {
      batch_input: [
        { plaintext: HELLO, reference: 'a' },
        { plaintext: HELLO, associated_data: '$$', reference: 'b' },
      ],
    });
    expect(answer.status).toBe(500);
    expect(answer.body).not.toHaveProperty('errors');
    const [ok, failed] = results(answer);
    expect(ok).toMatchObject({ key_version: 1, reference: 'a' });
    expect(failed).toEqual({ error: AAD_FACTORY_ERROR, reference: 'b' });
  });

  it('encrypt batch: a user error in another item makes it 400', async () => {
    const answer = await post('transit/encrypt/k', {
      batch_input: [
        { plaintext: HELLO },
        { plaintext: HELLO, associated_data: '$$' },
        { plaintext: 'aGV$' },
      ],
    });
    expect(answer.status).toBe(400);
    expect(results(answer).map((r) => r['error'])).toEqual([
      undefined,
      AAD_FACTORY_ERROR,
      'illegal base64 data at input byte 3',
    ]);
  });

  it('decrypt batch: the failed item keeps plaintext "" and the batch is 500', async () => {
    const ciphertext = await encryptOne('k');
    const answer = await post('transit/decrypt/k', {
      batch_input: [{ ciphertext }, { ciphertext, associated_data: '$$' }],
    });
    expect(answer.status).toBe(500);
    expect(results(answer)).toEqual([
      { plaintext: HELLO, reference: '' },
      { plaintext: '', error: AAD_FACTORY_ERROR, reference: '' },
    ]);
  });

  it('an invalid partial_failure_response_code reverts to the computed code (500 here)', async () => {
    const answer = await post('transit/encrypt/k', {
      partial_failure_response_code: 0,
      batch_input: [{ plaintext: HELLO }, { plaintext: HELLO, associated_data: '$$' }],
    });
    expect(answer.status).toBe(500);
    expect(answer.body['warnings']).toEqual([
      'invalid HTTP response code override from partial_failure_response_code, reverting to 500',
    ]);
  });

  it('single mode: 500 with the multierror-wrapped InternalError', async () => {
    const answer = await post('transit/encrypt/k', { plaintext: HELLO, associated_data: '$$' });
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({ errors: [`1 error occurred:\n\t* ${AAD_FACTORY_ERROR}\n\n`] });
  });

  it('is checked after the ciphertext prefix/version and the key-derivation checks', async () => {
    await post('transit/keys/k');
    await post('transit/keys/d', { derived: true });
    const decrypt = await post('transit/decrypt/k', { ciphertext: 'nope', associated_data: '$$' });
    expect(decrypt.status).toBe(400);
    expect(decrypt.body).toEqual({ errors: ['invalid ciphertext: no prefix'] });
    const encrypt = await post('transit/encrypt/k', {
      plaintext: HELLO,
      key_version: 99,
      associated_data: '$$',
    });
    expect(encrypt.status).toBe(400);
    expect(encrypt.body).toEqual({ errors: [HIGHER_THAN_LATEST] });
    const derived = await post('transit/encrypt/d', { plaintext: HELLO, associated_data: '$$' });
    expect(derived.status).toBe(400);
    expect(derived.body).toEqual({ errors: [MISSING_CONTEXT] });
  });
});

describe('batch_input decoding (decodeBatchRequestItems, mapstructure for rewrap)', () => {
  it.each([
    [{ plaintext: true }, "'[0].plaintext' expected type 'string', got unconvertible type 'bool'"],
    [
      { plaintext: HELLO, key_version: '1' },
      "'[0].key_version' expected type 'int', got unconvertible type 'string'",
    ],
    [
      { plaintext: HELLO, reference: 7 },
      "'[0].reference' expected type 'string', got unconvertible type 'json.Number'",
    ],
    [{ plaintext: null }, "'[0].plaintext' expected type 'string', got unconvertible type '<nil>'"],
    [
      { plaintext: HELLO, context: {} },
      "'[0].context' expected type 'string', got unconvertible type 'map[string]interface {}'",
    ],
    [
      { plaintext: HELLO, nonce: [] },
      "'[0].nonce' expected type 'string', got unconvertible type '[]interface {}'",
    ],
    [
      { plaintext: HELLO, key_version: 1.5 },
      'error decoding json.Number into [0].key_version: strconv.ParseInt: parsing "1.5": invalid syntax',
    ],
    [{ reference: 'r' }, "'[0].plaintext' missing plaintext to encrypt"],
  ])('encrypt item %j → 500 %s', async (item, line) => {
    const answer = await post('transit/encrypt/k', { batch_input: [item] });
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({
      errors: [batchParseError(`1 error(s) decoding:\n\n* ${line}`)],
    });
  });

  it('null is accepted for every field but plaintext', async () => {
    const answer = await post('transit/encrypt/k', {
      batch_input: [
        {
          plaintext: HELLO,
          context: null,
          key_version: null,
          associated_data: null,
          nonce: null,
          reference: null,
        },
      ],
    });
    expect(answer.status).toBe(200);
    expect(results(answer)[0]).toMatchObject({ key_version: 1, reference: '' });
  });

  it('sorts the error lines as Go strings', async () => {
    const batch: Json[] = Array.from({ length: 12 }, () => ({ plaintext: HELLO }));
    batch[2] = { plaintext: false };
    batch[11] = { plaintext: HELLO, reference: 1 };
    const answer = await post('transit/encrypt/k', { batch_input: batch });
    expect(answer.status).toBe(500);
    expect(answer.body['errors']).toEqual([
      batchParseError(
        '2 error(s) decoding:\n\n' +
          "* '[11].reference' expected type 'string', got unconvertible type 'json.Number'\n" +
          "* '[2].plaintext' expected type 'string', got unconvertible type 'bool'",
      ),
    ]);
  });

  it('a non-object item and a non-array batch_input fail at once, unsorted', async () => {
    const item = await post('transit/encrypt/k', {
      batch_input: [{ plaintext: true }, 'x', { plaintext: 1 }],
    });
    expect(item.status).toBe(500);
    expect(item.body).toEqual({ errors: [batchParseError("[1] expected a map, got 'string'")] });
    const notArray = await post('transit/decrypt/k', { batch_input: { ciphertext: 'x' } });
    expect(notArray.status).toBe(500);
    expect(notArray.body).toEqual({
      errors: [
        batchParseError('source data must be an array or slice, got map[string]interface {}'),
      ],
    });
  });

  it('decrypt: typed ciphertext is required as a key; null counts as present but empty', async () => {
    await post('transit/keys/k');
    const typed = await post('transit/decrypt/k', { batch_input: [{ ciphertext: 5 }] });
    expect(typed.status).toBe(500);
    expect(typed.body['errors']).toEqual([
      batchParseError(
        "1 error(s) decoding:\n\n* '[0].ciphertext' expected type 'string', got unconvertible type 'json.Number'",
      ),
    ]);
    const nulled = await post('transit/decrypt/k', { batch_input: [{ ciphertext: null }] });
    expect(nulled.status).toBe(400);
    expect(results(nulled)).toEqual([
      { plaintext: '', error: 'missing ciphertext to decrypt', reference: '' },
    ]);
  });

  it('rewrap decodes like mapstructure: numbers pass as strings, other types are 500', async () => {
    await post('transit/keys/k');
    const numeric = await post('transit/rewrap/k', { batch_input: [{ ciphertext: 7 }, {}] });
    expect(numeric.status).toBe(200);
    expect(results(numeric)).toEqual([
      { error: 'invalid ciphertext: no prefix', reference: '' },
      { error: 'missing ciphertext to decrypt', reference: '' },
    ]);
    const typed = await post('transit/rewrap/k', {
      batch_input: [{ ciphertext: true }, { ciphertext: 'x', key_version: '2' }, 3],
    });
    expect(typed.status).toBe(500);
    expect(typed.body['errors']).toEqual([
      batchParseError(
        '3 error(s) decoding:\n\n' +
          "* '[0].ciphertext' expected type 'string', got unconvertible type 'bool', value: 'true'\n" +
          "* '[1].key_version' expected type 'int', got unconvertible type 'string', value: '2'\n" +
          "* '[2]' expected a map, got 'string'",
      ),
    ]);
    const notArray = await post('transit/rewrap/k', { batch_input: { ciphertext: 'x' } });
    expect(notArray.body['errors']).toEqual([
      batchParseError("'': source data must be an array or slice, got map"),
    ]);
  });
});

describe('unknown parameters named like Object.prototype members', () => {
  it('are reported in the ignored-parameters warning', async () => {
    const answer = await call('POST', 'transit/encrypt/k', {
      rawBody: `{"plaintext":"${HELLO}","constructor":1,"toString":"x","__proto__":{"a":1}}`,
    });
    expect(answer.status).toBe(200);
    expect(answer.body['warnings']).toEqual([
      'Endpoint ignored these unrecognized parameters: [__proto__ constructor toString]',
    ]);
  });

  it('on a key write, with the key still created with its defaults', async () => {
    const answer = await call('POST', 'transit/keys/k', {
      rawBody: '{"hasOwnProperty":true,"valueOf":1}',
    });
    expect(answer.status).toBe(200);
    expect(answer.body['warnings']).toEqual([
      'Endpoint ignored these unrecognized parameters: [hasOwnProperty valueOf]',
    ]);
    expect(answer.body['data']).toMatchObject({ type: 'aes256-gcm96', latest_version: 1 });
  });
});

describe('ACL is checked on the path before the method or the route', () => {
  it.each([
    ['GET', 'transit/keys'],
    ['GET', 'transit/encrypt/k'],
    ['GET', 'transit/keys/k/config'],
    ['DELETE', 'transit/encrypt/k'],
    ['GET', 'transit/nowhere/k'],
  ])('%s %s with an update-only token → 403', async (method, path) => {
    await post('transit/keys/k');
    const updater = server.createToken({ capabilities: ['update'] });
    const answer = await call(method, path, { token: updater });
    expect(answer.status).toBe(403);
    expect(answer.body).toEqual({ errors: [ACL_DENIED] });
  });

  it('a token with the capability still gets 405 on a wrong method', async () => {
    await post('transit/keys/k');
    const reader = server.createToken({ capabilities: ['read'] });
    for (const path of ['transit/keys', 'transit/encrypt/k', 'transit/keys/k/config']) {
      const answer = await call('GET', path, { token: reader });
      expect(answer.status).toBe(405);
      expect(answer.body).toEqual({ errors: [UNSUPPORTED_OPERATION] });
    }
    const deleter = server.createToken({ capabilities: ['delete'] });
    const deleted = await call('DELETE', 'transit/encrypt/k', { token: deleter });
    expect(deleted.status).toBe(405);
  });

  it('encrypt on a `..` name fails in the existence check, before the ACL', async () => {
    const reader = server.createToken({ capabilities: ['read'] });
    const answer = await post('transit/encrypt/a..b', { plaintext: HELLO }, reader);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ errors: [RELATIVE_CLEAN] });
  });
});

describe('nonce handling and check order', () => {
  it('rewrap refuses a nonce (single: 400; batch: item error, 200)', async () => {
    const ciphertext = await encryptOne('k');
    const single = await post('transit/rewrap/k', { ciphertext, nonce: 'AAAA' });
    expect(single.status).toBe(400);
    expect(single.body).toEqual({ errors: [NONCE_NOT_ALLOWED] });
    const batch = await post('transit/rewrap/k', {
      batch_input: [{ ciphertext }, { ciphertext, nonce: 'AAAA' }, { ciphertext, nonce: 'A$' }],
    });
    expect(batch.status).toBe(200);
    expect(results(batch).map((r) => r['error'])).toEqual([
      undefined,
      NONCE_NOT_ALLOWED,
      'illegal base64 data at input byte 1',
    ]);
  });

  it('decrypt decodes the nonce (bad base64 is an error) and otherwise ignores it', async () => {
    const ciphertext = await encryptOne('k');
    const bad = await post('transit/decrypt/k', { ciphertext, nonce: 'AA$A' });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ errors: ['illegal base64 data at input byte 2'] });
    const batch = await post('transit/decrypt/k', {
      batch_input: [
        { ciphertext, nonce: '$' },
        { ciphertext, nonce: 'AAAA' },
      ],
    });
    expect(batch.status).toBe(400);
    expect(results(batch)).toEqual([
      { plaintext: '', error: 'illegal base64 data at input byte 0', reference: '' },
      { plaintext: HELLO, reference: '' },
    ]);
  });

  it('encrypt decodes plaintext, then context, then nonce; refuses the nonce before versions', async () => {
    await post('transit/keys/d', { derived: true });
    const plaintextFirst = await post('transit/encrypt/d', { plaintext: 'aGV$', context: '$' });
    expect(plaintextFirst.body).toEqual({ errors: ['illegal base64 data at input byte 3'] });
    const contextSecond = await post('transit/encrypt/d', {
      plaintext: HELLO,
      context: 'a$',
      nonce: '$',
    });
    expect(contextSecond.body).toEqual({ errors: ['illegal base64 data at input byte 1'] });
    const nonceThird = await post('transit/encrypt/d', {
      plaintext: HELLO,
      context: 'YQ==',
      nonce: 'AA$',
    });
    expect(nonceThird.body).toEqual({ errors: ['illegal base64 data at input byte 2'] });
    const refused = await post('transit/encrypt/d', {
      plaintext: HELLO,
      context: 'YQ==',
      nonce: 'AAAA',
      key_version: 99,
    });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ errors: [NONCE_NOT_ALLOWED] });
  });

  it('datakey runs the version checks before refusing the nonce, and that before derivation', async () => {
    await post('transit/keys/k');
    await post('transit/keys/d', { derived: true });
    const version = await post('transit/datakey/plaintext/k', { nonce: 'AAAA', key_version: 99 });
    expect(version.status).toBe(400);
    expect(version.body).toEqual({ errors: [HIGHER_THAN_LATEST] });
    const nonce = await post('transit/datakey/wrapped/d', { nonce: 'AAAA' });
    expect(nonce.status).toBe(400);
    expect(nonce.body).toEqual({ errors: ['nonce provided when not allowed'] });
  });
});

describe('key config: one-way flags', () => {
  it('ignores exportable:false and allow_plaintext_backup:false once they are on', async () => {
    await post('transit/keys/k', { exportable: true, allow_plaintext_backup: true });
    for (const body of [{ exportable: false }, { allow_plaintext_backup: false }]) {
      const answer = await post('transit/keys/k/config', body);
      expect(answer.status).toBe(200);
      expect(answer.body['warnings']).toBeNull();
      expect(answer.body['data']).toMatchObject({ exportable: true, allow_plaintext_backup: true });
    }
  });
});

describe('names containing `..`', () => {
  it('encrypt answers the clean message', async () => {
    const answer = await post('transit/encrypt/a..b', { plaintext: HELLO });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ errors: [RELATIVE_CLEAN] });
  });

  it.each([
    ['GET', 'transit/keys/a..b', undefined],
    ['POST', 'transit/keys/a..b', {}],
    ['DELETE', 'transit/keys/a..b', undefined],
    ['POST', 'transit/keys/a..b/config', { deletion_allowed: true }],
    ['POST', 'transit/keys/a..b/rotate', {}],
    ['POST', 'transit/keys/a..b/trim', { min_available_version: 1 }],
    ['POST', 'transit/decrypt/a..b', { ciphertext: 'vault:v1:AAAA' }],
    ['POST', 'transit/rewrap/a..b', { ciphertext: 'vault:v1:AAAA' }],
    ['POST', 'transit/datakey/plaintext/a..b', {}],
  ])('%s %s answers the wrapped message', async (method, path, body) => {
    const answer = await call(method, path, body === undefined ? {} : { body });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ errors: [RELATIVE_WRAPPED] });
  });
});

describe('partial_failure_response_code the HTTP server cannot write', () => {
  it.each([42, 1, 600, -5])('%i keeps 400 and warns', async (code) => {
    const answer = await post('transit/encrypt/k', {
      partial_failure_response_code: code,
      batch_input: [{ plaintext: HELLO }, { plaintext: 'aGV$' }],
    });
    expect(answer.status).toBe(400);
    expect(answer.body['warnings']).toEqual([
      'invalid HTTP response code override from partial_failure_response_code, reverting to 400',
    ]);
    expect(results(answer)[1]).toEqual({
      error: 'illegal base64 data at input byte 3',
      reference: '',
    });
  });

  it('a writable code (100..599) still replaces the status', async () => {
    const answer = await post('transit/encrypt/k', {
      partial_failure_response_code: 207,
      batch_input: [{ plaintext: HELLO }, { plaintext: 'aGV$' }],
    });
    expect(answer.status).toBe(207);
    expect(answer.body['warnings']).toBeNull();
  });
});
