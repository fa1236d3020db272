import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname, uptime } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { TransitEngine } from '../engine/transit-engine.js';

/** The `formatVersion` this dev server writes and the only one it reads. */
export const STATE_FORMAT_VERSION = 1;

/**
 * The Transit dev server's `stateFile`: the engine's whole key state as JSON
 * (`{"formatVersion":1,"keys":[…]}`, raw key material in base64), loaded once at start and
 * rewritten atomically whenever the key state moved on. One server per file, held with a
 * {@link StateFileLock} from before the load until {@link close}: each server rewrites the whole
 * state, so a second one would silently drop the keys of the first. Development only: not a
 * secure key store.
 */
export class DevServerStateFile {
  /** The engine revision the file holds. */
  private saved: number;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly engine: TransitEngine,
    private readonly lock: StateFileLock,
  ) {
    this.saved = engine.revision;
  }

  /**
   * Takes the file's lock, then restores the keys the file holds into `engine`; with no file
   * yet, starts empty (its directory must exist: the file is created on the first change).
   * Throws an Error naming the file and the problem, never quoting its content; the lock is
   * released again when the load fails.
   */
  static open(path: string, engine: TransitEngine): DevServerStateFile {
    const absolute = resolve(path);
    const lock = StateFileLock.acquire(absolute);
    const file = new DevServerStateFile(absolute, engine, lock);
    try {
      file.load();
    } catch (error) {
      lock.release();
      throw error;
    }
    file.saved = engine.revision;
    return file;
  }

  /**
   * Writes the whole key state if it changed since the last write (or since a write failed):
   * temp file with mode 0600 in the same directory, fsync, rename over the file. Throws when
   * the write fails (the file then still holds the previous state) or after {@link close}.
   */
  persist(): void {
    const revision = this.engine.revision;
    if (revision === this.saved) return;
    if (this.closed) throw this.problem('not written: the dev server is closed');
    const content = Buffer.from(
      `${JSON.stringify({ formatVersion: STATE_FORMAT_VERSION, keys: this.engine.exportState() }, null, 2)}\n`,
    );
    try {
      writeAtomically(this.path, content);
    } catch (error) {
      throw this.problem(`cannot write it (${errorCode(error)})`, error);
    } finally {
      content.fill(0);
    }
    this.saved = revision;
  }

  /**
   * No write after this (the server zeroes its keys on close, which must not reach the file),
   * and the lock is released: another server may start on the file. Idempotent.
   */
  close(): void {
    this.closed = true;
    this.lock.release();
  }

  private load(): void {
    let raw: Buffer;
    try {
      raw = readFileSync(this.path);
    } catch (error) {
      // ENOENT: no keys yet. The directory exists: the lock was just created in it.
      if (errorCode(error) === 'ENOENT') return;
      throw this.problem(`cannot read it (${errorCode(error)})`, error);
    }
    let text: string;
    try {
      text = raw.toString('utf8');
    } finally {
      raw.fill(0);
    }
    // JSON.parse's message may quote the text (newer V8 does): it is never passed on.
    let state: unknown;
    try {
      state = JSON.parse(text);
    } catch {
      throw this.unreadable('not valid JSON');
    }
    if (typeof state !== 'object' || state === null || Array.isArray(state)) {
      throw this.unreadable('not a JSON object');
    }
    const { formatVersion, keys } = state as Record<string, unknown>;
    if (formatVersion !== STATE_FORMAT_VERSION) {
      const found = typeof formatVersion === 'number' ? String(formatVersion) : 'missing';
      throw this.unreadable(
        `formatVersion ${found}, this dev server reads formatVersion ${STATE_FORMAT_VERSION} only`,
      );
    }
    if (!Array.isArray(keys)) throw this.unreadable('keys must be an array');
    try {
      this.engine.importState(keys);
    } catch (error) {
      throw this.unreadable((error as Error).message);
    }
  }

  private unreadable(problem: string): Error {
    return this.problem(`${problem}; fix the file, or delete it to start with no keys`);
  }

  private problem(problem: string, cause?: unknown): Error {
    return stateFileProblem(this.path, problem, cause);
  }
}

/** What a racer may do between two steps of {@link StateFileLock.acquire}. Internal: for tests. */
export interface StateFileLockRace {
  /** Runs once a held lock was judged stale, before it is taken over. */
  readonly beforeTakeover?: () => void;
  /** Runs once the lock file was moved aside to be taken over, before it is checked. */
  readonly whileAside?: () => void;
}

/** A stale lock taken over, yet the lock file changed again each time: give up after this. */
const LOCK_ATTEMPTS = 5;
/** Leeway for clocks when a lock's start time is compared with a boot or a process start. */
const OWN_PROCESS_SLACK_MS = 1_000;
const BOOT_SLACK_MS = 60_000;

/**
 * `<stateFile>.lock`: one dev server per state file. The file holds its owner as JSON
 * (`{"pid":…,"host":…,"startedAt":…,"id":…}`; the random id tells two locks of one process
 * apart). It appears whole or not at all: written to a temp file, then hard-linked into place,
 * which fails when a lock is there (an exclusive create where the file system has no hard links).
 *
 * A lock whose owner may still run refuses the start: its pid is alive (`kill(pid, 0)` succeeds
 * or answers EPERM), it is this very process, or it was taken on another host (that pid cannot
 * be checked from here). A lock whose owner cannot run any more is stale and taken over: its
 * pid is gone (ESRCH), it predates this machine's boot, it names this process's pid but predates
 * this process (a restarted container), or it is not a lock this code wrote (garbage).
 */
export class StateFileLock {
  private released = false;

  private constructor(
    readonly path: string,
    private readonly content: Buffer,
  ) {}

  /**
   * Takes the lock of `stateFile` (an absolute path), or throws an Error naming the file and who
   * holds it. A stale lock is moved aside and dropped only if it is still the one judged stale:
   * of two starters racing for it, the second one moves the first one's fresh lock aside, puts
   * it back (unless a third starter's lock took the place meanwhile) and is refused.
   */
  static acquire(stateFile: string, race: StateFileLockRace = {}): StateFileLock {
    const path = `${stateFile}.lock`;
    const content = Buffer.from(
      `${JSON.stringify({
        pid: process.pid,
        host: hostname(),
        startedAt: new Date().toISOString(),
        id: randomBytes(8).toString('hex'),
      })}\n`,
    );
    const fail = (problem: string, cause?: unknown): Error =>
      stateFileProblem(stateFile, problem, cause);
    for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt += 1) {
      let created: boolean;
      try {
        created = createExclusive(path, content);
      } catch (error) {
        if (errorCode(error) === 'ENOENT' && !isDirectory(dirname(stateFile))) {
          throw fail(
            'its directory does not exist; create it, the file is created on the first change',
          );
        }
        throw fail(`cannot create its lock file ${path} (${errorCode(error)})`, error);
      }
      if (created) return new StateFileLock(path, content);
      let held: Buffer | undefined;
      try {
        held = readIfExists(path);
      } catch (error) {
        throw fail(`cannot read its lock file ${path} (${errorCode(error)})`, error);
      }
      if (held === undefined) continue; // released meanwhile
      const inUse = holderInUse(parseLockHolder(held), path);
      if (inUse !== undefined) throw fail(inUse);
      race.beforeTakeover?.();
      try {
        removeIfUnchanged(path, held, race);
      } catch (error) {
        throw fail(`cannot take over its stale lock file ${path} (${errorCode(error)})`, error);
      }
    }
    throw fail(`cannot take its lock file ${path}: it keeps changing; try again`);
  }

  /** Removes the lock file if it is still this lock (never another server's). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    bestEffort(() => {
      if (readIfExists(this.path)?.equals(this.content)) rmSync(this.path, { force: true });
    });
  }
}

interface LockHolder {
  readonly pid: number;
  readonly host: string | undefined;
  /** ms since the epoch. */
  readonly startedAt: number | undefined;
}

/** The holder a lock file names; undefined when it is not a lock (garbage, no valid pid). */
function parseLockHolder(content: Buffer): LockHolder | undefined {
  let value: unknown;
  try {
    value = JSON.parse(content.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { pid, host, startedAt } = value as Record<string, unknown>;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0 || pid > 0x7f_ff_ff_ff) {
    return undefined;
  }
  const started = typeof startedAt === 'string' ? Date.parse(startedAt) : Number.NaN;
  return {
    pid,
    host: typeof host === 'string' ? host : undefined,
    startedAt: Number.isFinite(started) ? started : undefined,
  };
}

/** Why the holder may still run (the refusal's text), or undefined when the lock is stale. */
function holderInUse(holder: LockHolder | undefined, lockPath: string): string | undefined {
  if (!holder) return undefined;
  const { pid, host, startedAt } = holder;
  if (host !== undefined && host !== hostname()) {
    return (
      `in use by a dev server on host ${host} (pid ${pid}, lock file ${lockPath}), which cannot ` +
      'be checked from here; stop it, or use another stateFile; if it no longer runs, delete ' +
      'the lock file'
    );
  }
  const now = Date.now();
  if (startedAt !== undefined && startedAt < now - uptime() * 1000 - BOOT_SLACK_MS) {
    return undefined; // taken before this machine booted: its pid may belong to anything now
  }
  if (pid === process.pid) {
    if (
      startedAt !== undefined &&
      startedAt < now - process.uptime() * 1000 - OWN_PROCESS_SLACK_MS
    ) {
      return undefined; // an earlier process that had this pid (e.g. a restarted container)
    }
    return (
      `in use by another dev server in this process (pid ${pid}, lock file ${lockPath}); ` +
      'close it first, or use another stateFile'
    );
  }
  if (!isRunning(pid)) return undefined;
  return (
    `in use by another dev server (pid ${pid}, lock file ${lockPath}); stop it, or use another ` +
    `stateFile; if pid ${pid} is no dev server, delete the lock file`
  );
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) !== 'ESRCH'; // EPERM: it runs, under another user
  }
}

/** Hard links fail with these where the file system has none (FAT, some network drives). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** Creates `path` holding `content`, whole or not at all; false when it already exists. */
function createExclusive(path: string, content: Buffer): boolean {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeNewFile(temp, content);
  try {
    return linkExclusive(temp, path, content);
  } finally {
    bestEffort(() => rmSync(temp, { force: true }));
  }
}

/**
 * Makes the file `source` (holding `content`, if known) appear at `path` too, whole or not at
 * all, never replacing a file there: false when `path` already exists.
 */
function linkExclusive(source: string, path: string, content: Buffer | undefined): boolean {
  try {
    linkSync(source, path);
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(errorCode(error)) || content === undefined) throw error;
  }
  // No hard links: created and written at once (a racer may then read it empty for an instant).
  try {
    writeNewFile(path, content);
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Moves the lock file aside and drops it if it still holds `stale`. Otherwise a racer took the
 * stale lock over since it was read, and its fresh lock is put back — without replacing
 * anything: if a third starter created a lock while it was aside (it found none), that lock
 * stays and the moved one is dropped. Either way the next attempt finds a live lock and refuses.
 *
 * While the fresh lock is aside (a few system calls), its owner runs without a lock file, and
 * two things may go wrong, which no lock file can rule out (that takes a lock the operating
 * system holds, such as flock, which Node does not offer):
 * - A third starter finds no lock and takes the file: its lock stays (a rename would replace it
 *   with the moved one), yet the owner of the moved lock runs on unaware, without one: two
 *   servers on one file, whichever lock is kept.
 * - Its owner releases it meanwhile (its start failed right after taking the lock): the lock put
 *   back names a server that is gone, an orphan. It cannot be told apart from a live lock (its
 *   process may well run on), so it errs on the safe side: starts are refused with a message
 *   naming the lock file until its process ends (then it is stale, and taken over). That owner
 *   is another process or worker thread, never this thread: {@link StateFileLock.acquire} is
 *   synchronous, nothing else of this thread runs meanwhile (but the test hooks).
 */
function removeIfUnchanged(path: string, stale: Buffer, race: StateFileLockRace): void {
  const aside = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.stale`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return; // a racer moved it first
    throw error;
  }
  race.whileAside?.();
  let moved: Buffer | undefined;
  try {
    moved = readFileSync(aside);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return; // gone meanwhile: nothing to drop or to put back
    moved = undefined; // unreadable: not known to be the stale lock, so it is put back
  }
  if (!moved?.equals(stale)) linkExclusive(aside, path, moved);
  rmSync(aside, { force: true });
}

/** A new file (exclusive, mode 0600) holding `content`; nothing is left when the write fails. */
function writeNewFile(path: string, content: Buffer): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeFileSync(fd, content);
  } catch (error) {
    bestEffort(() => closeSync(fd));
    bestEffort(() => rmSync(path, { force: true }));
    throw error;
  }
  closeSync(fd);
}

function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function stateFileProblem(path: string, problem: string, cause?: unknown): Error {
  return new Error(
    `Transit dev server state file ${path}: ${problem}`,
    cause === undefined ? undefined : { cause },
  );
}

/** Temp file (0600, exclusive) next to `path`, fsync, rename over `path`: never half-written. */
function writeAtomically(path: string, content: Buffer): void {
  const directory = dirname(path);
  const temp = join(
    directory,
    `${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', 0o600);
    writeFileSync(fd, content);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, path);
  } catch (error) {
    if (fd !== undefined) bestEffort(() => closeSync(fd as number));
    bestEffort(() => rmSync(temp, { force: true }));
    throw error;
  }
  // Makes the rename itself durable. Not every platform can fsync a directory (Windows).
  bestEffort(() => {
    const dirFd = openSync(directory, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  });
}

function bestEffort(action: () => void): void {
  try {
    action();
  } catch {
    // Already failing, or an optional step: the error that matters is reported elsewhere.
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function errorCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'unknown error';
}
