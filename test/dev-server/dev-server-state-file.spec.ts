import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir, uptime } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateFileLock } from '../../lib/testing/dev-server-state-file.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';

/**
 * The dev server's `stateFile` option, over real HTTP: keys survive a restart exactly, every
 * change is written atomically before the answer, reads never write, bad files stop the start,
 * and one server at a time holds a file (its `.lock`).
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
    expect((await readdir(dir)).toSorted()).toEqual([
      'transit-keys.json',
      'transit-keys.json.lock',
    ]);
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
    expect((await readdir(dir)).toSorted()).toEqual([
      'transit-keys.json',
      'transit-keys.json.lock',
    ]);

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

/** Where the lock of the test's state file goes. */
const lockOf = (): string => `${file}.lock`;

/** A lock file as a server writes it. */
async function writeLock(holder: {
  pid: number;
  host?: string;
  startedAt?: string;
}): Promise<void> {
  const lock = { host: hostname(), startedAt: new Date().toISOString(), id: 'f00d', ...holder };
  await writeFile(lockOf(), `${JSON.stringify(lock)}\n`);
}

async function lockHolder(): Promise<Json> {
  return JSON.parse(await readFile(lockOf(), 'utf8')) as Json;
}

/** A process that keeps running until killed. */
function runningProcess(): { pid: number; stop: () => Promise<void> } {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60_000)'], {
    stdio: 'ignore',
  });
  const exited = once(child, 'exit');
  if (child.pid === undefined) throw new Error('no child process');
  return {
    pid: child.pid,
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The pid of a process that ran and exited (reaped): no process has it now. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const exited = once(child, 'exit');
  const pid = child.pid;
  if (pid === undefined) throw new Error('no child process');
  await exited;
  expect(signalZero(pid)).toBe('ESRCH');
  return pid;
}

function signalZero(pid: number): string {
  try {
    process.kill(pid, 0);
    return 'alive';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'unknown';
  }
}

describe('Transit dev server stateFile: one server per file', () => {
  it('a second server on the same file is refused, naming the pid and the file; the first keeps working', async () => {
    const first = await start();
    await ok('POST', 'keys/orders');
    const lockBefore = await readFile(lockOf());

    for (const path of [file, relative(process.cwd(), file)]) {
      const refused = await startTransitDevServer({ stateFile: path }).then(
        () => new Error('expected the start to fail'),
        (reason: unknown) => reason as Error,
      );
      expect(refused.message).toContain(`Transit dev server state file ${file}: in use by`);
      expect(refused.message).toContain(`pid ${process.pid}`);
      expect(refused.message).toContain(lockOf());
    }

    expect(server).toBe(first);
    expect(await readFile(lockOf())).toEqual(lockBefore);
    await ok('POST', 'keys/orders/rotate');
    expect((await stateOf()).keys[0]?.['latestVersion']).toBe(2);
  });

  it('after the first server closes, a new one starts on the file with its keys', async () => {
    await start();
    await ok('POST', 'keys/orders');
    await expect(startTransitDevServer({ stateFile: file })).rejects.toThrow(/in use by/);

    await restart();

    expect(await readKey('orders')).toMatchObject({ latest_version: 1 });
    expect(await lockHolder()).toMatchObject({ pid: process.pid, host: hostname() });
  });

  it('a lock held by another running process refuses the start; once that process is gone it is taken over', async () => {
    const other = runningProcess();
    try {
      await writeLock({ pid: other.pid });

      const error = await startFailure();

      expect(error.message).toContain(file);
      expect(error.message).toContain(`in use by another dev server (pid ${other.pid}`);
      expect(error.message).toContain(lockOf());
      expect(error.message).toContain('stop it, or use another stateFile');
      expect(await lockHolder()).toMatchObject({ pid: other.pid });
    } finally {
      await other.stop();
    }

    await start();

    expect(await lockHolder()).toMatchObject({ pid: process.pid });
  });

  it('a lock left by a process that no longer runs is taken over; the keys load', async () => {
    await writeValidFile();
    await writeLock({ pid: await deadPid() });

    await start();

    expect(await readKey('orders')).toMatchObject({ latest_version: 3 });
    expect(await lockHolder()).toMatchObject({ pid: process.pid, host: hostname() });
    expect((await readdir(dir)).toSorted()).toEqual([
      'transit-keys.json',
      'transit-keys.json.lock',
    ]);
  });

  it.each([
    ['an empty file', ''],
    ['not JSON', 'locked by bob'],
    ['a JSON array', '[1234]'],
    ['no pid', '{"host":"here"}'],
    ['a pid that is not a number', '{"pid":"1234"}'],
    ['pid 0', '{"pid":0}'],
    ['a negative pid', '{"pid":-1}'],
    ['a pid past the platform range', '{"pid":4294967296}'],
  ])('a garbage lock is taken over: %s', async (_, garbage) => {
    await writeFile(lockOf(), garbage);

    await start();

    expect(await lockHolder()).toMatchObject({ pid: process.pid });
  });

  it('a lock taken before this machine booted is taken over, even when its pid runs now', async () => {
    const other = runningProcess();
    try {
      const beforeBoot = new Date(Date.now() - uptime() * 1000 - 3_600_000).toISOString();
      await writeLock({ pid: other.pid, startedAt: beforeBoot });

      await start();

      expect(await lockHolder()).toMatchObject({ pid: process.pid });
    } finally {
      await other.stop();
    }
  });

  it("a lock with this process's pid from before this process started is taken over (a restarted container)", async () => {
    const beforeStart = new Date(Date.now() - process.uptime() * 1000 - 10_000).toISOString();
    await writeLock({ pid: process.pid, startedAt: beforeStart });

    await start();

    expect((await lockHolder())['startedAt']).not.toBe(beforeStart);
  });

  it('a lock from another host is refused: its pid cannot be checked here', async () => {
    await writeLock({ pid: await deadPid(), host: 'elsewhere.invalid' });

    const error = await startFailure();

    expect(error.message).toContain(file);
    expect(error.message).toContain('on host elsewhere.invalid');
    expect(error.message).toContain(lockOf());
    expect(error.message).toContain('delete the lock file');
    expect(await lockHolder()).toMatchObject({ host: 'elsewhere.invalid' });
  });

  it('the lock holds the pid while the server runs and is gone after close', async () => {
    await start();
    const holder = await lockHolder();
    expect(holder).toMatchObject({ pid: process.pid, host: hostname() });
    expect(Date.parse(holder['startedAt'] as string)).toBeGreaterThan(Date.now() - 60_000);
    if (process.platform !== 'win32') expect((await stat(lockOf())).mode & 0o777).toBe(0o600);
    await ok('POST', 'keys/orders');

    await server?.close();
    server = undefined;

    expect(await readdir(dir)).toEqual(['transit-keys.json']);
  });

  it('close leaves a lock that is no longer its own', async () => {
    await start();
    await writeLock({ pid: process.pid, startedAt: new Date().toISOString() });
    const other = await readFile(lockOf());

    await server?.close();
    server = undefined;

    expect(await readFile(lockOf())).toEqual(other);
  });

  it('a failed start releases the lock: a corrupt state file', async () => {
    await writeFile(file, '{"formatVersion":1,"keys":');

    expect((await startFailure()).message).toContain('not valid JSON');

    expect(await readdir(dir)).toEqual(['transit-keys.json']);
    await writeFile(file, JSON.stringify({ formatVersion: 1, keys: [] }));
    await start();
  });

  it('a failed start releases the lock: the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blocker.address() as AddressInfo;

      await expect(
        startTransitDevServer({ host: '127.0.0.1', port, stateFile: file }),
      ).rejects.toMatchObject({ code: 'EADDRINUSE' });

      expect(await readdir(dir)).toEqual([]);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    await start();
  });

  it('a refused start leaves nothing behind: no temp file, no moved lock', async () => {
    await start();
    await expect(startTransitDevServer({ stateFile: file })).rejects.toThrow(/in use by/);
    expect(await readdir(dir)).toEqual(['transit-keys.json.lock']);
  });

  it('a missing directory fails the start before any lock', async () => {
    const path = join(dir, 'missing', 'keys.json');

    expect((await startFailure(path)).message).toContain('directory does not exist');

    expect(await readdir(dir)).toEqual([]);
  });

  it('two starters racing for a stale lock: one takes it over, the other is refused', async () => {
    await writeLock({ pid: await deadPid() });
    let winner: StateFileLock | undefined;

    // The loser judged the lock stale; before it moves it aside, the winner takes it over.
    const loser = (): StateFileLock =>
      StateFileLock.acquire(file, {
        beforeTakeover: () => {
          winner = StateFileLock.acquire(file);
        },
      });

    expect(loser).toThrow(`Transit dev server state file ${file}: in use by another dev server`);
    expect(winner).toBeDefined();
    const held = await readFile(lockOf());
    expect(JSON.parse(held.toString('utf8'))).toMatchObject({ pid: process.pid });
    expect(await readdir(dir)).toEqual(['transit-keys.json.lock']);

    winner?.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('a third starter that takes the file while the fresh lock is aside keeps its lock', async () => {
    await writeLock({ pid: await deadPid() });
    let winner: StateFileLock | undefined;
    let third: StateFileLock | undefined;
    let thirdLock: Buffer | undefined;

    // The loser judged the lock stale; the winner takes it over first; the loser moves the
    // winner's fresh lock aside, and meanwhile a third starter finds no lock and takes the file.
    const loser = (): StateFileLock =>
      StateFileLock.acquire(file, {
        beforeTakeover: () => {
          winner = StateFileLock.acquire(file);
        },
        whileAside: () => {
          third = StateFileLock.acquire(file);
          thirdLock = readFileSync(lockOf());
        },
      });

    expect(loser).toThrow(`Transit dev server state file ${file}: in use by another dev server`);
    expect(winner).toBeDefined();
    expect(third).toBeDefined();
    // Not replaced by the winner's lock put back: the moved lock is dropped, nothing left aside.
    expect(await readFile(lockOf())).toEqual(thirdLock);
    expect(await readdir(dir)).toEqual(['transit-keys.json.lock']);

    winner?.release(); // no longer its lock: left alone
    expect(await readFile(lockOf())).toEqual(thirdLock);
    third?.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('no lock file without a stateFile', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      server = await startTransitDevServer({ host: '127.0.0.1', port: 0 });
      await ok('POST', 'keys/orders');
      expect(await readdir(dir)).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  });
});
