import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { TransitEngine } from '../engine/transit-engine.js';

/** The `formatVersion` this dev server writes and the only one it reads. */
export const STATE_FORMAT_VERSION = 1;

/**
 * The Transit dev server's `stateFile`: the engine's whole key state as JSON
 * (`{"formatVersion":1,"keys":[…]}`, raw key material in base64), loaded once at start and
 * rewritten atomically whenever the key state moved on. Development only: not a secure key store.
 */
export class DevServerStateFile {
  /** The engine revision the file holds. */
  private saved: number;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly engine: TransitEngine,
  ) {
    this.saved = engine.revision;
  }

  /**
   * Restores the keys the file holds into `engine`; with no file yet, starts empty (its directory
   * must exist: the file is created on the first change). Throws an Error naming the file and
   * the problem, never quoting its content.
   */
  static open(path: string, engine: TransitEngine): DevServerStateFile {
    const file = new DevServerStateFile(resolve(path), engine);
    file.load();
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

  /** No write after this: the server zeroes its keys on close, which must not reach the file. */
  close(): void {
    this.closed = true;
  }

  private load(): void {
    let raw: Buffer;
    try {
      raw = readFileSync(this.path);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') {
        throw this.problem(`cannot read it (${errorCode(error)})`, error);
      }
      if (!isDirectory(dirname(this.path))) {
        throw this.problem(
          'its directory does not exist; create it, the file is created on the first change',
        );
      }
      return;
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
    return new Error(
      `Transit dev server state file ${this.path}: ${problem}`,
      cause === undefined ? undefined : { cause },
    );
  }
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
