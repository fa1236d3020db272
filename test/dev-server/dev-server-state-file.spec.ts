import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';

/**
 * The dev server's `stateFile` option, over real HTTP: keys survive a restart exactly, every
 * change is written atomically before the answer, reads never write, bad files stop the start.
 */

type Json = Record<string, unknown>;

interface Answer {
  readonly status: number;
  readonly body: Json;
}

const HELLO = Buffer.from('hello world').toString('base64');

let dir: string;
let file: string;
let server: TransitDevServer | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kms-dev-state-'));
  file = join(dir, 'transit-keys.json');
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function start(path = file): Promise<TransitDevServer> {
  server = await startTransitDevServer({ host: '127.0.0.1', port: 0, stateFile: path });
  return server;
}

/** Closes the running server and starts another one on the same file. */
async function restart(): Promise<TransitDevServer> {
  await server?.close();
  server = undefined;
  return start();
}

async function transit(method: string, path: string, body?: unknown): Promise<Answer> {
  if (!server) throw new Error('no server');
  const headers: Record<string, string> = { 'X-Vault-Token': server.token };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`${server.address}/v1/transit/${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Json) };
}

async function ok(method: string, path: string, body?: unknown): Promise<Json> {
  const answer = await transit(method, path, body);
  expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(300);
  return answer.body['data'] as Json;
}

async function readKey(name: string): Promise<Json> {
  return ok('GET', `keys/${name}`);
}

async function stateOf(): Promise<{ formatVersion: unknown; keys: Json[] }> {
  return JSON.parse(await readFile(file, 'utf8')) as { formatVersion: unknown; keys: Json[] };
}

/** A key entry of the file, in the key object's terms (versions held from min_decryption_version). */
function fileView(held: Json): Json {
  const minDecryption = held['minDecryptionVersion'] as number;
  const versions = (held['versions'] as Json[]).filter(
    (v) => (v['version'] as number) >= minDecryption,
  );
  return {
    latest_version: held['latestVersion'],
    min_decryption_version: minDecryption,
    min_encryption_version: held['minEncryptionVersion'],
    min_available_version: held['minAvailableVersion'],
    deletion_allowed: held['deletionAllowed'],
    exportable: held['exportable'],
    allow_plaintext_backup: held['allowPlaintextBackup'],
    auto_rotate_period: held['autoRotatePeriod'],
    keys: Object.fromEntries(versions.map((v) => [String(v['version']), v['createdAt']])),
  };
}

/** Every key material (base64) the file holds. */
async function materialsOf(): Promise<string[]> {
  const state = await stateOf();
  return state.keys.flatMap((key) => (key['versions'] as Json[]).map((v) => v['key'] as string));
}

/** A file written by a real server: one key with three versions. */
async function writeValidFile(): Promise<void> {
  await start();
  await ok('POST', 'keys/orders');
  await ok('POST', 'keys/orders/rotate');
  await ok('POST', 'keys/orders/rotate');
  await server?.close();
  server = undefined;
}

async function startFailure(path = file): Promise<Error> {
  const error = await start(path).then(
    () => undefined,
    (reason: unknown) => reason as Error,
  );
  if (!error) throw new Error('expected the start to fail');
  return error;
}

describe('Transit dev server stateFile: restart', () => {
  it('a missing file starts empty and is created on the first key creation', async () => {
    await start();
    expect((await transit('LIST', 'keys')).status).toBe(404);
    await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });

    await ok('POST', 'keys/orders');

    const state = await stateOf();
    expect(state.formatVersion).toBe(1);
    expect(state.keys.map((key) => key['name'])).toEqual(['orders']);
  });

  it('ciphertexts made before a restart decrypt after it (upserted, derived and convergent keys)', async () => {
    await start();
    const context = Buffer.from('tenant-7').toString('base64');
    const plain = await ok('POST', 'encrypt/upserted', { plaintext: HELLO });
    await ok('POST', 'keys/convergent', {
      type: 'chacha20-poly1305',
      derived: true,
      convergent_encryption: true,
    });
    const convergent = await ok('POST', 'encrypt/convergent', { plaintext: HELLO, context });
    const before = { upserted: await readKey('upserted'), convergent: await readKey('convergent') };

    await restart();

    expect(await ok('POST', 'decrypt/upserted', { ciphertext: plain['ciphertext'] })).toEqual({
      plaintext: HELLO,
    });
    expect(
      await ok('POST', 'decrypt/convergent', { ciphertext: convergent['ciphertext'], context }),
    ).toEqual({ plaintext: HELLO });
    // Same key, same derivation: convergent encryption gives the same ciphertext again.
    expect(await ok('POST', 'encrypt/convergent', { plaintext: HELLO, context })).toEqual(
      convergent,
    );
    expect({
      upserted: await readKey('upserted'),
      convergent: await readKey('convergent'),
    }).toEqual(before);
  });

  it('rotate, config and trim survive a restart; the key object reads back equal', async () => {
    await start();
    await ok('POST', 'keys/orders');
    for (let i = 0; i < 3; i += 1) await ok('POST', 'keys/orders/rotate');
    const v3 = await ok('POST', 'encrypt/orders', { plaintext: HELLO, key_version: 3 });
    await ok('POST', 'keys/orders/config', {
      min_decryption_version: 2,
      min_encryption_version: 3,
      deletion_allowed: true,
      exportable: true,
      allow_plaintext_backup: true,
      auto_rotate_period: '24h',
    });
    await ok('POST', 'keys/orders/trim', { min_available_version: 2 });
    const before = await readKey('orders');
    expect(before).toMatchObject({
      latest_version: 4,
      min_available_version: 2,
      min_decryption_version: 2,
      min_encryption_version: 3,
      deletion_allowed: true,
      auto_rotate_period: 86_400,
    });

    await restart();

    expect(await readKey('orders')).toEqual(before);
    expect(await ok('POST', 'decrypt/orders', { ciphertext: v3['ciphertext'] })).toEqual({
      plaintext: HELLO,
    });
    expect(
      (await transit('POST', 'encrypt/orders', { plaintext: HELLO, key_version: 2 })).body,
    ).toEqual({
      errors: ['requested version for encryption is less than the minimum encryption key version'],
    });
    // Trimmed versions stay gone: lowering min_decryption_version cannot bring v1 back.
    expect(
      (await transit('POST', 'keys/orders/config', { min_decryption_version: 1 })).body,
    ).toEqual({
      errors: ['min decryption version should not be less then min available version'],
    });
    expect((await stateOf()).keys[0]?.['versions']).toHaveLength(3);
  });

  it('a deleted key is gone after a restart, and from the file', async () => {
    await start();
    await ok('POST', 'keys/kept');
    await ok('POST', 'keys/shredded');
    await ok('POST', 'keys/shredded/config', { deletion_allowed: true });
    expect(await readFile(file, 'utf8')).toContain('shredded');

    expect((await transit('DELETE', 'keys/shredded')).status).toBe(204);

    expect(await readFile(file, 'utf8')).not.toContain('shredded');
    await restart();
    expect(await transit('GET', 'keys/shredded')).toEqual({ status: 404, body: { errors: [] } });
    expect(await ok('LIST', 'keys')).toEqual({ keys: ['kept'] });
  });

  it('an encrypt that upserts a key and then fails still persists the key', async () => {
    await start();
    expect(await transit('POST', 'encrypt/orders', { plaintext: 'not base64!' })).toMatchObject({
      status: 400,
    });
    expect((await stateOf()).keys.map((key) => key['name'])).toEqual(['orders']);
  });
});

describe('Transit dev server stateFile: writes', () => {
  it.skipIf(process.platform === 'win32')('writes the file with mode 0600', async () => {
    await start();
    await ok('POST', 'keys/orders');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('every change is in the file by the time its answer arrives', async () => {
    await start();
    const changes: readonly [string, Json?][] = [
      ['keys/orders'],
      ['keys/orders/rotate'],
      ['keys/orders/rotate'],
      ['keys/orders/config', { min_decryption_version: 2 }],
      ['keys/orders/config', { min_encryption_version: 3 }],
      ['keys/orders/config', { deletion_allowed: true }],
      ['keys/orders/config', { exportable: true }],
      ['keys/orders/config', { allow_plaintext_backup: true }],
      ['keys/orders/config', { auto_rotate_period: 7200 }],
      ['keys/orders/trim', { min_available_version: 2 }],
    ];
    for (const [path, body] of changes) {
      const key = await ok('POST', path, body);
      const held = (await stateOf()).keys[0] as Json;
      expect({ path, ...fileView(held) }, path).toEqual({
        path,
        latest_version: key['latest_version'],
        min_decryption_version: key['min_decryption_version'],
        min_encryption_version: key['min_encryption_version'],
        min_available_version: key['min_available_version'],
        deletion_allowed: key['deletion_allowed'],
        exportable: key['exportable'],
        allow_plaintext_backup: key['allow_plaintext_backup'],
        auto_rotate_period: key['auto_rotate_period'],
        keys: key['keys'],
      });
    }
  });

  it('requests that change nothing do not rewrite the file', async () => {
    await start();
    await ok('POST', 'keys/orders');
    const ciphertext = (await ok('POST', 'encrypt/orders', { plaintext: HELLO }))['ciphertext'];
    const before = await stat(file);

    await readKey('orders');
    await ok('LIST', 'keys');
    await ok('POST', 'encrypt/orders', { plaintext: HELLO });
    await ok('POST', 'decrypt/orders', { ciphertext });
    await ok('POST', 'rewrap/orders', { ciphertext });
    await ok('POST', 'datakey/plaintext/orders');
    await ok('POST', 'keys/orders'); // already exists: unchanged
    await ok('POST', 'keys/orders/config', { min_decryption_version: 1 }); // already 1
    expect((await transit('POST', 'keys/missing/rotate')).status).toBe(400);
    expect((await transit('DELETE', 'keys/orders')).status).toBe(400); // deletion not allowed

    const after = await stat(file);
    expect({ ino: after.ino, mtimeMs: after.mtimeMs }).toEqual({
      ino: before.ino,
      mtimeMs: before.mtimeMs,
    });
  });

  it('leaves no temporary file behind', async () => {
    await start();
    await ok('POST', 'keys/a');
    await ok('POST', 'keys/a/rotate');
    await ok('POST', 'encrypt/b', { plaintext: HELLO });
    await ok('POST', 'keys/a/config', { deletion_allowed: true });
    await transit('DELETE', 'keys/a');
    expect(await readdir(dir)).toEqual(['transit-keys.json']);
  });

  it('a failed write answers 500 in Vault shape; the next request writes the state', async () => {
    await start();
    // A non-empty directory where the file goes: the rename fails, even for root.
    await mkdir(join(file, 'blocker'), { recursive: true });

    const failed = await transit('POST', 'keys/orders');

    expect(failed.status).toBe(500);
    const errors = failed.body['errors'] as string[];
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^1 error occurred:\n\t\* failed to persist keys: /);
    expect(errors[0]).toContain(file);
    expect((await readdir(dir)).toSorted()).toEqual(['transit-keys.json']);

    await rm(file, { recursive: true });
    await readKey('orders'); // the file is behind the keys: caught up now
    expect((await stateOf()).keys.map((key) => key['name'])).toEqual(['orders']);
  });
});

describe('Transit dev server stateFile: bad files stop the start', () => {
  it('a file that is not JSON', async () => {
    const material = Buffer.alloc(32, 7).toString('base64');
    await writeFile(
      file,
      `{"formatVersion":1,"keys":[{"name":"a","versions":[{"key":"${material}"`,
    );

    const error = await startFailure();

    expect(error.message).toContain(file);
    expect(error.message).toContain('not valid JSON');
    expect(error.message).not.toContain(material);
  });

  it('an unknown formatVersion', async () => {
    await writeFile(file, JSON.stringify({ formatVersion: 2, keys: [] }));

    const error = await startFailure();

    expect(error.message).toContain(file);
    expect(error.message).toContain('formatVersion 2');
  });

  it('a file that cannot be read', async () => {
    await mkdir(file);

    const error = await startFailure();

    expect(error.message).toContain(file);
    expect(error.message).toContain('cannot read it (EISDIR)');
  });

  it('a missing directory', async () => {
    const path = join(dir, 'missing', 'keys.json');

    const error = await startFailure(path);

    expect(error.message).toContain(path);
    expect(error.message).toContain('directory does not exist');
  });

  const malformed: readonly [string, (key: Json) => void, string][] = [
    ['a name that is not a string', (key) => (key['name'] = 5), 'keys[0]: name must be a string'],
    ['an unknown type', (key) => (key['type'] = 'rsa-2048'), 'keys[0]: type'],
    ['an invalid name', (key) => (key['name'] = 'a/b'), 'keys[0]: name'],
    ['a non-integer version', (key) => (key['latestVersion'] = '3'), 'keys[0]: latestVersion'],
    [
      'min versions out of order',
      (key) => {
        key['minDecryptionVersion'] = 2;
        key['minEncryptionVersion'] = 1;
      },
      'keys[0]: minEncryptionVersion',
    ],
    ['a missing version', (key) => (key['versions'] as Json[]).pop(), 'keys[0]: versions'],
    [
      'short material',
      (key) => ((key['versions'] as Json[])[1]!['key'] = Buffer.alloc(16).toString('base64')),
      'keys[0].versions[1]: key must be 32 bytes',
    ],
    [
      'material that is not base64',
      (key) => ((key['versions'] as Json[])[2]!['key'] = '%%%'),
      'keys[0].versions[2]: key is not valid standard base64',
    ],
    ['a non-boolean flag', (key) => (key['deletionAllowed'] = 'yes'), 'keys[0]: deletionAllowed'],
  ];

  it.each(malformed)('a malformed key entry: %s', async (_, corrupt, problem) => {
    await writeValidFile();
    const materials = await materialsOf();
    const state = await stateOf();
    corrupt(state.keys[0] as Json);
    await writeFile(file, JSON.stringify(state));

    const error = await startFailure();

    expect(error.message).toContain(file);
    expect(error.message).toContain(problem);
    for (const material of materials) expect(error.message).not.toContain(material);
  });

  it('a key listed twice', async () => {
    await writeValidFile();
    const state = await stateOf();
    state.keys.push(state.keys[0] as Json);
    await writeFile(file, JSON.stringify(state));

    const error = await startFailure();

    expect(error.message).toContain('keys[1]: a second key named orders');
  });
});
