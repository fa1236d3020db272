import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CompositeSessionPool,
  KmsSessionError,
  RestSessionPool,
  type AtomicEndedEvent,
  type ISession,
} from '@ascetic-ddd/nestjs-kms';
import { ConnectionLease } from './connection-lease.js';
import { DatabaseBusyError } from './database-busy.error.js';
import { extractConnection } from './extract-connection.js';
import { SqliteSession } from './sqlite-session.js';
import { SqliteSessionPool } from './sqlite-session-pool.js';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id) DEFERRABLE INITIALLY DEFERRED
  );
`;

/** A trigger that makes SQLite roll the whole transaction back by itself. */
const NO_MALLORY = `
  CREATE TRIGGER no_mallory BEFORE INSERT ON customers WHEN NEW.name = 'Mallory'
  BEGIN SELECT RAISE(ROLLBACK, 'Mallory is banned'); END;
`;
const ROLLED_BACK_BY_SQLITE = /^SQLite rolled the whole transaction back by itself/;

interface Deferred {
  readonly promise: Promise<void>;
  readonly open: () => void;
}

/** A promise the test resolves when it wants, to hold a unit of work at a chosen point. */
function gate(): Deferred {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

function insert(session: ISession, name: string): Promise<{ changes: number }> {
  return extractConnection(session).run('INSERT INTO customers (name) VALUES (?)', [name]);
}

async function names(pool: SqliteSessionPool): Promise<string[]> {
  const rows = await pool.session((session) =>
    extractConnection(session).all<{ name: string }>('SELECT name FROM customers ORDER BY id'),
  );
  return rows.map((row) => row.name);
}

async function count(session: ISession): Promise<number> {
  const row = await extractConnection(session).get<{ n: number }>(
    'SELECT count(*) AS n FROM customers',
  );
  return row?.n ?? -1;
}

/** Lets every pending promise reaction run (one macrotask turn). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The prototype of better-sqlite3's statements, to fake what another process could cause. */
function statementPrototype(): Database.Statement {
  const probe = new Database(':memory:');
  try {
    return Object.getPrototypeOf(probe.prepare('SELECT 1')) as Database.Statement;
  } finally {
    probe.close();
  }
}

function busy(): Error {
  return new Database.SqliteError('database is locked', 'SQLITE_BUSY_RECOVERY');
}

/** The transaction-control SQL the sessions issued (better-sqlite3 `exec` calls). */
function controlStatements(spy: { mock: { calls: unknown[][] } }): string[] {
  return spy.mock.calls.map(([sql]) => String(sql));
}

describe('SqliteSessionPool', () => {
  let directory: string;
  let pool: SqliteSessionPool;
  const opened: SqliteSessionPool[] = [];

  function open(options: { leaseTimeoutMs?: number } = {}): SqliteSessionPool {
    const created = new SqliteSessionPool({ path: join(directory, 'app.db'), ...options });
    opened.push(created);
    return created;
  }

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'kms-sqlite-'));
    pool = open();
    await pool.migrate(SCHEMA);
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    for (const created of opened.splice(0)) created.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('configures the writer of a file database: WAL, synchronous FULL, foreign keys, secure delete', async () => {
    const pragmas = await pool.session((session) =>
      session.atomic(async (tx) => {
        const db = extractConnection(tx);
        // A write first: from then on the scope's statements run on the writer, in its transaction.
        await db.run('DELETE FROM customers WHERE 0');
        return {
          journal: await db.get<{ journal_mode: string }>('PRAGMA journal_mode'),
          synchronous: await db.get<{ synchronous: number }>('PRAGMA synchronous'),
          foreignKeys: await db.get<{ foreign_keys: number }>('PRAGMA foreign_keys'),
          secureDelete: await db.get<{ secure_delete: number }>('PRAGMA secure_delete'),
        };
      }),
    );

    expect(pragmas).toEqual({
      journal: { journal_mode: 'wal' },
      synchronous: { synchronous: 2 },
      foreignKeys: { foreign_keys: 1 },
      secureDelete: { secure_delete: 1 },
    });
  });

  it('commits an atomic scope when its work resolves; the data is on disk', async () => {
    const result = await pool.session((session) =>
      session.atomic(async (tx) => {
        await insert(tx, 'Ada');
        await insert(tx, 'Grace');
        return 'done';
      }),
    );
    pool.close();

    expect(result).toBe('done');
    expect(await names(open())).toEqual(['Ada', 'Grace']);
  });

  it('rolls back when the work rejects and rethrows the very same error', async () => {
    const failure = new Error('payment declined');

    const outcome = pool.session((session) =>
      session.atomic(async (tx) => {
        await insert(tx, 'Ada');
        throw failure;
      }),
    );

    await expect(outcome).rejects.toBe(failure);
    expect(await names(pool)).toEqual([]);
  });

  it('issues BEGIN IMMEDIATE … COMMIT around the statements, ROLLBACK on failure', async () => {
    const exec = vi.spyOn(Database.prototype, 'exec');

    await pool.session((session) => session.atomic((tx) => insert(tx, 'Ada')));
    await pool
      .session((session) =>
        session.atomic(async (tx) => {
          await insert(tx, 'Grace');
          throw new Error('boom');
        }),
      )
      .catch(() => undefined);

    expect(controlStatements(exec)).toEqual([
      'BEGIN IMMEDIATE',
      'COMMIT',
      'BEGIN IMMEDIATE',
      'ROLLBACK',
    ]);
  });

  it('begins at the first write: a scope that only read issues nothing and leaves the lease free', async () => {
    const exec = vi.spyOn(Database.prototype, 'exec');
    const vault = gate();

    const slow = pool.session((session) =>
      session.atomic(async (tx) => {
        await count(tx); // reads committed data, begins nothing
        await vault.promise; // e.g. a Vault call before the first write
        return 'no writes';
      }),
    );
    // Meanwhile another request runs a whole transaction without waiting.
    await pool.session((session) => session.atomic((tx) => insert(tx, 'Ada')));
    vault.open();

    expect(await slow).toBe('no writes');
    expect(controlStatements(exec)).toEqual(['BEGIN IMMEDIATE', 'COMMIT']);
  });

  it('holds the lease from the first write to the end of the scope: writers wait, readers do not', async () => {
    const inserted = gate();
    const vault = gate();
    const events: string[] = [];

    const first = pool.session((session) =>
      session.atomic(async (tx) => {
        await count(tx);
        await insert(tx, 'Ada');
        inserted.open();
        await vault.promise; // a slow call after the first write keeps the transaction open
        events.push('first commits');
      }),
    );
    await inserted.promise;
    // A write of another session waits: the writer is in first's transaction.
    const writer = pool.session((session) =>
      insert(session, 'Grace').then(() => events.push('other write done')),
    );
    // A read does not: it completes while first still holds the lease, and sees committed data.
    events.push(`reader sees ${(await names(pool)).join() || 'nothing'}`);
    events.push('vault answers');
    vault.open();
    await Promise.all([first, writer]);

    expect(events).toEqual([
      'reader sees nothing',
      'vault answers',
      'first commits',
      'other write done',
    ]);
    expect(await names(pool)).toEqual(['Ada', 'Grace']);
  });

  it('reads committed data at once, without the lease, while a scope holds its transaction open', async () => {
    const acquire = vi.spyOn(ConnectionLease.prototype, 'acquire');
    const inserted = gate();
    const vault = gate();

    const writer = pool.session((session) =>
      session.atomic(async (tx) => {
        await insert(tx, 'Ada');
        inserted.open();
        await vault.promise; // e.g. a 10 s Vault call between two statements
      }),
    );
    await inserted.promise;

    // Both complete before the vault gate opens; neither sees the uncommitted row.
    expect(await names(pool)).toEqual([]);
    expect(await pool.session((session) => session.atomic((tx) => count(tx)))).toBe(0);
    expect(acquire).toHaveBeenCalledTimes(1); // the writer's BEGIN, nothing else
    vault.open();
    await writer;

    expect(await names(pool)).toEqual(['Ada']);
  });

  it('never takes the lease for a root-session read, e.g. a health check', async () => {
    const holding = gate();
    const release = gate();
    const holder = pool.session((session) =>
      session.atomic(async (tx) => {
        await insert(tx, 'Ada');
        holding.open();
        await release.promise;
      }),
    );
    await holding.promise;
    const acquire = vi.spyOn(ConnectionLease.prototype, 'acquire');

    const health = await pool.session((session) =>
      extractConnection(session).get<{ ok: number }>('SELECT 1 AS ok'),
    );

    expect(health).toEqual({ ok: 1 });
    expect(acquire).not.toHaveBeenCalled();
    release.open();
    await holder;
  });

  it('reads committed data before a scope’s first write, then runs everything in its transaction', async () => {
    const exec = vi.spyOn(Database.prototype, 'exec');
    await pool.session((session) => insert(session, 'Ada'));

    await pool.session((session) =>
      session.atomic(async (tx) => {
        expect(await count(tx)).toBe(1);
        expect(controlStatements(exec)).toEqual([]);
        await insert(tx, 'Grace');
        expect(controlStatements(exec)).toEqual(['BEGIN IMMEDIATE']);
        expect(await count(tx)).toBe(2); // its own write
        expect(await names(pool)).toEqual(['Ada']); // other sessions: committed data only
      }),
    );

    expect(controlStatements(exec)).toEqual(['BEGIN IMMEDIATE', 'COMMIT']);
    expect(await names(pool)).toEqual(['Ada', 'Grace']);
  });

  it('runs INSERT … RETURNING as a write, though it returns rows', async () => {
    const exec = vi.spyOn(Database.prototype, 'exec');
    const sql = 'INSERT INTO customers (name) VALUES (?) RETURNING id';

    const scoped = await pool.session((session) =>
      session.atomic((tx) => extractConnection(tx).get<{ id: number }>(sql, ['Ada'])),
    );
    const root = await pool.session((session) =>
      extractConnection(session).get<{ id: number }>(sql, ['Grace']),
    );

    expect([scoped, root]).toEqual([{ id: 1 }, { id: 2 }]);
    expect(controlStatements(exec)).toEqual(['BEGIN IMMEDIATE', 'COMMIT']);
    expect(await names(pool)).toEqual(['Ada', 'Grace']);
  });

  it('runs on the writer a query the read-only connection cannot prepare (a TEMP table)', async () => {
    const rows = await pool.session(async (session) => {
      const db = extractConnection(session);
      await db.run('CREATE TEMP TABLE scratch (x INTEGER)'); // lives on the writer only
      await db.run('INSERT INTO scratch (x) VALUES (1)');
      return db.all('SELECT x FROM scratch');
    });

    expect(rows).toEqual([{ x: 1 }]);
    await expect(
      pool.session((session) => extractConnection(session).get('SELEC 1')),
    ).rejects.toThrow(/syntax error/);
  });

  it('retries a read that finds the file locked by another process', async () => {
    await pool.session((session) => insert(session, 'Ada'));
    const all = vi.spyOn(statementPrototype(), 'all').mockImplementationOnce(() => {
      throw busy();
    });

    expect(await names(pool)).toEqual(['Ada']);
    expect(all).toHaveBeenCalledTimes(2);
  });

  it('fails a read with DatabaseBusyError when the file stays locked for leaseTimeoutMs', async () => {
    const impatient = open({ leaseTimeoutMs: 30 });
    vi.spyOn(statementPrototype(), 'all').mockImplementation(() => {
      throw busy();
    });

    const error = await names(impatient).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(DatabaseBusyError);
    expect((error as Error).cause).toMatchObject({ code: 'SQLITE_BUSY_RECOVERY' });
  });

  it('rolls a failed nested scope back to its savepoint and keeps the outer work', async () => {
    const exec = vi.spyOn(Database.prototype, 'exec');
    const inner = new Error('inner failed');

    await pool.session((session) =>
      session.atomic(async (tx) => {
        await insert(tx, 'Ada');
        await expect(
          tx.atomic(async (nested) => {
            await insert(nested, 'Mallory');
            throw inner;
          }),
        ).rejects.toBe(inner);
        await tx.atomic((nested) => insert(nested, 'Grace'));
      }),
    );

    expect(await names(pool)).toEqual(['Ada', 'Grace']);
    expect(controlStatements(exec)).toEqual([
      'BEGIN IMMEDIATE',
      'SAVEPOINT sp2',
      'ROLLBACK TO sp2; RELEASE sp2',
      'SAVEPOINT sp2',
      'RELEASE sp2',
      'COMMIT',
    ]);
  });

  it('issues the savepoints of nested scopes opened before the first write after BEGIN, in order', async () => {
    const exec = vi.spyOn(Database.prototype, 'exec');

    await pool.session((session) =>
      session.atomic((tx) =>
        tx.atomic(async (nested) => {
          await insert(nested, 'Ada');
          await nested.atomic((deeper) => insert(deeper, 'Grace'));
        }),
      ),
    );

    expect(await names(pool)).toEqual(['Ada', 'Grace']);
    expect(controlStatements(exec)).toEqual([
      'BEGIN IMMEDIATE',
      'SAVEPOINT sp2',
      'SAVEPOINT sp3',
      'RELEASE sp3',
      'RELEASE sp2',
      'COMMIT',
    ]);
  });

  it('undoes a nested scope whose write began the transaction, and keeps the outer work', async () => {
    const exec = vi.spyOn(Database.prototype, 'exec');
    const inner = new Error('inner failed');

    await pool.session((session) =>
      session.atomic(async (tx) => {
        await tx.atomic((reading) => count(reading)); // only reads: no savepoint, no lease
        await expect(
          tx.atomic((nested) =>
            nested.atomic(async (deeper) => {
              await insert(deeper, 'Mallory'); // the first write: BEGIN, then sp2, then sp3
              throw inner;
            }),
          ),
        ).rejects.toBe(inner);
        await insert(tx, 'Ada');
      }),
    );

    expect(await names(pool)).toEqual(['Ada']);
    expect(controlStatements(exec)).toEqual([
      'BEGIN IMMEDIATE',
      'SAVEPOINT sp2',
      'SAVEPOINT sp3',
      'ROLLBACK TO sp3; RELEASE sp3',
      'ROLLBACK TO sp2; RELEASE sp2',
      'COMMIT',
    ]);
  });

  it('runs an outer write issued before a nested scope opened outside that scope’s savepoint', async () => {
    const exec = vi.spyOn(Database.prototype, 'exec');
    const inner = new Error('inner failed');

    await pool.session((session) =>
      session.atomic(async (tx) => {
        const outer = insert(tx, 'Ada'); // issued, not yet awaited
        await expect(
          tx.atomic(async (nested) => {
            await insert(nested, 'Mallory');
            throw inner;
          }),
        ).rejects.toBe(inner);
        await outer;
      }),
    );

    expect(await names(pool)).toEqual(['Ada']);
    expect(controlStatements(exec)).toEqual([
      'BEGIN IMMEDIATE',
      'SAVEPOINT sp2',
      'ROLLBACK TO sp2; RELEASE sp2',
      'COMMIT',
    ]);
  });

  describe('when SQLite rolls the whole transaction back by itself', () => {
    beforeEach(async () => {
      await pool.migrate(NO_MALLORY);
    });

    it('fails every later statement and the commit after a nested scope’s failure was caught; nothing is written', async () => {
      const exec = vi.spyOn(Database.prototype, 'exec');

      const outcome = pool.session((session) =>
        session.atomic(async (tx) => {
          await insert(tx, 'Ada');
          await expect(tx.atomic((nested) => insert(nested, 'Mallory'))).rejects.toThrow(
            'Mallory is banned',
          );
          // The writer is back in autocommit: this INSERT would be committed on its own.
          const grace = await insert(tx, 'Grace').catch((error: unknown) => error as Error);
          expect(grace).toBeInstanceOf(Error);
          expect((grace as Error).message).toMatch(ROLLED_BACK_BY_SQLITE);
          expect((grace as Error).cause).toMatchObject({ code: 'SQLITE_CONSTRAINT_TRIGGER' });
          await expect(count(tx)).rejects.toThrow(ROLLED_BACK_BY_SQLITE);
          await expect(tx.atomic((nested) => insert(nested, 'Edsger'))).rejects.toThrow(
            ROLLED_BACK_BY_SQLITE,
          );
          return 'the work resolves';
        }),
      );

      await expect(outcome).rejects.toThrow(ROLLED_BACK_BY_SQLITE);
      expect(await names(pool)).toEqual([]);
      // No ROLLBACK TO, RELEASE, COMMIT or ROLLBACK: the transaction was gone.
      expect(controlStatements(exec)).toEqual(['BEGIN IMMEDIATE', 'SAVEPOINT sp2']);
      // The lease is free again: the next unit of work commits.
      await pool.session((session) => session.atomic((tx) => insert(tx, 'Grace')));
      expect(await names(pool)).toEqual(['Grace']);
    });

    it('fails a nested scope that caught the error itself; a scope that then throws rolls back with its own error', async () => {
      const failure = new Error('later failure');
      const caught: unknown[] = [];

      const outcome = pool.session((session) =>
        session.atomic(async (tx) => {
          await insert(tx, 'Ada');
          await expect(
            tx.atomic(async (nested) => {
              await insert(nested, 'Mallory').catch((error: unknown) => caught.push(error));
              return 'the nested work resolves';
            }),
          ).rejects.toThrow(ROLLED_BACK_BY_SQLITE);
          await insert(tx, 'Grace').catch((error: unknown) => caught.push(error));
          throw failure;
        }),
      );

      await expect(outcome).rejects.toBe(failure);
      expect(caught).toHaveLength(2);
      expect((caught[0] as Error).message).toBe('Mallory is banned');
      expect((caught[1] as Error).message).toMatch(ROLLED_BACK_BY_SQLITE);
      expect(await names(pool)).toEqual([]);
      await pool.session((session) => insert(session, 'Grace'));
      expect(await names(pool)).toEqual(['Grace']);
    });

    it.each([['a file', false] as const, ['an in-memory', true] as const])(
      'on %s database: fails the rest of a scope whose own statement made SQLite roll back',
      async (_, memory) => {
        let target = pool;
        if (memory) {
          target = new SqliteSessionPool({ path: ':memory:' });
          opened.push(target);
          await target.migrate(SCHEMA + NO_MALLORY);
        }

        const outcome = target.session((session) =>
          session.atomic(async (tx) => {
            await insert(tx, 'Ada');
            await expect(insert(tx, 'Mallory')).rejects.toThrow('Mallory is banned');
            await expect(count(tx)).rejects.toThrow(ROLLED_BACK_BY_SQLITE);
            await expect(insert(tx, 'Grace')).rejects.toThrow(ROLLED_BACK_BY_SQLITE);
          }),
        );

        const error = await outcome.catch((caught: unknown) => caught as Error);
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).toMatch(ROLLED_BACK_BY_SQLITE);
        expect((error as Error).cause).toMatchObject({ message: 'Mallory is banned' });
        expect(await names(target)).toEqual([]);
        await target.session((session) => session.atomic((tx) => insert(tx, 'Grace')));
        expect(await names(target)).toEqual(['Grace']);
      },
    );
  });

  it('refuses two nested scopes opened at once from the same scope session', async () => {
    const outcomes = await pool.session((session) =>
      session.atomic((tx) =>
        Promise.allSettled([
          tx.atomic((nested) => insert(nested, 'Ada')),
          tx.atomic((nested) => insert(nested, 'Grace')),
        ]),
      ),
    );

    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(KmsSessionError);
    expect(await names(pool)).toEqual(['Ada']);
  });

  it('serialises two atomic writers: the second reads at once, its first write waits for the first', async () => {
    const firstInserted = gate();
    const letFirstCommit = gate();
    const secondRead = gate();
    const events: string[] = [];

    const first = pool.session((session) =>
      session.atomic(async (tx) => {
        await insert(tx, 'Ada');
        firstInserted.open();
        await letFirstCommit.promise;
        events.push('first done');
      }),
    );
    await firstInserted.promise;
    const second = pool.session((session) =>
      session.atomic(async (tx) => {
        events.push(`second reads ${await count(tx)}`); // committed data: not Ada yet
        secondRead.open();
        await insert(tx, 'Grace'); // waits for first's COMMIT
        events.push(`second wrote, reads ${await count(tx)}`);
      }),
    );
    await secondRead.promise;
    await settle();
    expect(events).toEqual(['second reads 0']);
    letFirstCommit.open();

    await expect(Promise.all([first, second])).resolves.toBeDefined();
    expect(events).toEqual(['second reads 0', 'first done', 'second wrote, reads 2']);
    expect(await names(pool)).toEqual(['Ada', 'Grace']);
  });

  it('fails a waiter with DatabaseBusyError after leaseTimeoutMs; the holder still commits', async () => {
    const busyPool = new SqliteSessionPool({ path: ':memory:', leaseTimeoutMs: 30 });
    opened.push(busyPool);
    await busyPool.migrate(SCHEMA);
    const holding = gate();
    const release = gate();

    const holder = busyPool.session((session) =>
      session.atomic(async (tx) => {
        await insert(tx, 'Ada');
        holding.open();
        await release.promise;
      }),
    );
    await holding.promise;
    const waiter = busyPool.session((session) => session.atomic((tx) => insert(tx, 'Grace')));

    await expect(waiter).rejects.toBeInstanceOf(DatabaseBusyError);
    release.open();
    await holder;
    expect(await names(busyPool)).toEqual(['Ada']);
  });

  it('runs root-session statements in autocommit, each taking the lease only while it runs', async () => {
    const exec = vi.spyOn(Database.prototype, 'exec');

    await pool.session(async (session) => {
      const db = extractConnection(session);
      expect(await db.run('INSERT INTO customers (name) VALUES (:name)', { name: 'Ada' })).toEqual({
        changes: 1,
      });
      // Already committed: another session sees it, and is not kept waiting.
      expect(await names(pool)).toEqual(['Ada']);
      await expect(
        db.run('INSERT INTO customers (id, name) VALUES (1, ?)', ['Dup']),
      ).rejects.toThrow(/UNIQUE/);
      expect(await db.get('SELECT name FROM customers WHERE id = ?', [99])).toBeUndefined();
    });

    expect(controlStatements(exec)).toEqual([]);
  });

  it('refuses a session, or a scope session, used after it ended', async () => {
    let root: SqliteSession | undefined;
    let scope: SqliteSession | undefined;
    await pool.session(async (session) => {
      root = extractConnection(session);
      await session.atomic(async (tx) => {
        scope = extractConnection(tx);
        // Inside the scope the outer session is off limits: its work would escape the transaction.
        await expect(root?.run('DELETE FROM customers')).rejects.toBeInstanceOf(KmsSessionError);
      });
    });

    await expect(root?.all('SELECT * FROM customers')).rejects.toBeInstanceOf(KmsSessionError);
    await expect(scope?.all('SELECT * FROM customers')).rejects.toBeInstanceOf(KmsSessionError);
  });

  it('refuses a statement that was still waiting for the connection when its scope ended', async () => {
    const holding = gate();
    const release = gate();
    const holder = pool.session((session) =>
      session.atomic(async (tx) => {
        await insert(tx, 'Ada');
        holding.open();
        await release.promise;
      }),
    );
    await holding.promise;

    let late: Promise<unknown> | undefined;
    await pool.session((session) =>
      session.atomic(async (tx) => {
        late = insert(tx, 'Forgotten'); // not awaited: a bug in the caller
      }),
    );
    release.open();
    await holder;

    await expect(late).rejects.toBeInstanceOf(KmsSessionError);
    expect(await names(pool)).toEqual(['Ada']);
  });

  it('runs concurrent statements of one scope (Promise.all) on the scope’s lease', async () => {
    const exec = vi.spyOn(Database.prototype, 'exec');

    const counts = await pool.session((session) =>
      session.atomic(async (tx) => {
        await Promise.all(['Ada', 'Grace', 'Edsger'].map((name) => insert(tx, name)));
        return Promise.all([
          extractConnection(tx).get<{ n: number }>('SELECT count(*) AS n FROM customers'),
          extractConnection(tx).all('SELECT * FROM customers'),
        ]);
      }),
    );

    expect(counts[0]).toEqual({ n: 3 });
    expect(counts[1]).toHaveLength(3);
    expect(controlStatements(exec)).toEqual(['BEGIN IMMEDIATE', 'COMMIT']);
  });

  it('rolls back, frees the connection and rethrows when COMMIT fails', async () => {
    const commit = pool.session((session) =>
      session.atomic(async (tx) => {
        await insert(tx, 'Ada');
        // Deferred foreign key: checked only at COMMIT.
        await extractConnection(tx).run('INSERT INTO orders (customer_id) VALUES (?)', [404]);
      }),
    );

    await expect(commit).rejects.toThrow(/FOREIGN KEY/);
    expect(await names(pool)).toEqual([]);
    await pool.session((session) => session.atomic((tx) => insert(tx, 'Grace')));
    expect(await names(pool)).toEqual(['Grace']);
  });

  it('close() fails the sessions waiting for the connection, and is idempotent', async () => {
    const holding = gate();
    const holder = pool.session((session) =>
      session.atomic(async (tx) => {
        await insert(tx, 'Ada');
        holding.open();
        await sleep(20);
      }),
    );
    await holding.promise;
    const waiter = pool.session((session) => session.atomic((tx) => insert(tx, 'Grace')));

    pool.close();
    pool.close();

    await expect(waiter).rejects.toThrow(/database is closed/);
    await expect(holder).rejects.toThrow();
    await expect(names(pool)).rejects.toThrow(/database is closed/);
    expect(await names(open())).toEqual([]);
  });

  it('close() closes the writer and the read-only connection, once', () => {
    const close = vi.spyOn(Database.prototype, 'close');

    pool.close();
    pool.close();

    const closed = close.mock.contexts as Database.Database[];
    // The reader first: the writer, closing last, checkpoints the WAL into the file.
    expect(closed.map((db) => db.readonly)).toEqual([true, false]);
    expect(closed.map((db) => db.open)).toEqual([false, false]);
  });

  it('fails every statement after close() with a clear error', async () => {
    await pool.session(async (session) => {
      const db = extractConnection(session);
      pool.close();

      await expect(db.get('SELECT 1')).rejects.toThrow(/database is closed/);
      await expect(insert(session, 'Ada')).rejects.toThrow(/database is closed/);
      await expect(session.atomic((tx) => count(tx))).rejects.toThrow(/database is closed/);
      await expect(session.atomic((tx) => insert(tx, 'Ada'))).rejects.toThrow(/database is closed/);
    });
    await expect(pool.migrate(SCHEMA)).rejects.toThrow(/database is closed/);
  });

  it('emits atomic signals with the outcome', async () => {
    const ended: AtomicEndedEvent[] = [];
    pool.signals.atomicEnded.connect((event) => ended.push(event));

    await pool.session((session) => session.atomic((tx) => insert(tx, 'Ada')));
    await pool
      .session((session) => session.atomic(() => Promise.reject(new Error('no'))))
      .catch(() => undefined);

    expect(ended.map(({ pool: name, depth, outcome }) => ({ name, depth, outcome }))).toEqual([
      { name: 'sqlite', depth: 1, outcome: 'committed' },
      { name: 'sqlite', depth: 1, outcome: 'rolled-back' },
    ]);
  });

  it('works on an in-memory database', async () => {
    const memory = new SqliteSessionPool({ path: ':memory:' });
    opened.push(memory);
    await memory.migrate(SCHEMA);

    await memory.session((session) => session.atomic((tx) => insert(tx, 'Ada')));

    expect(await names(memory)).toEqual(['Ada']);
  });

  describe('on an in-memory database (one connection)', () => {
    let memory: SqliteSessionPool;

    beforeEach(async () => {
      memory = new SqliteSessionPool({ path: ':memory:' });
      opened.push(memory);
      await memory.migrate(SCHEMA);
    });

    it('a read waits for a scope’s open transaction and sees only what it committed', async () => {
      const inserted = gate();
      const vault = gate();
      const events: string[] = [];

      const writer = memory.session((session) =>
        session.atomic(async (tx) => {
          await insert(tx, 'Ada');
          inserted.open();
          await vault.promise;
          events.push('writer commits');
        }),
      );
      await inserted.promise;
      const reader = names(memory).then((rows) => events.push(`reader sees ${rows.join()}`));
      await settle();
      expect(events).toEqual([]);
      events.push('vault answers');
      vault.open();
      await Promise.all([writer, reader]);

      expect(events).toEqual(['vault answers', 'writer commits', 'reader sees Ada']);
    });

    it('a read never sees the rows of a scope that rolls back', async () => {
      const inserted = gate();
      const vault = gate();
      const failure = new Error('Vault said no');

      const writer = memory.session((session) =>
        session.atomic(async (tx) => {
          await insert(tx, 'Mallory');
          inserted.open();
          await vault.promise;
          throw failure;
        }),
      );
      await inserted.promise;
      const reader = names(memory);
      vault.open();

      await expect(writer).rejects.toBe(failure);
      expect(await reader).toEqual([]);
    });

    it('takes the lease for just the read, and begins nothing before a scope’s first write', async () => {
      const exec = vi.spyOn(Database.prototype, 'exec');
      const acquire = vi.spyOn(ConnectionLease.prototype, 'acquire');

      await memory.session((session) =>
        session.atomic(async (tx) => {
          expect(await count(tx)).toBe(0);
          expect(controlStatements(exec)).toEqual([]);
          await insert(tx, 'Ada');
          expect(await count(tx)).toBe(1);
        }),
      );

      expect(acquire).toHaveBeenCalledTimes(2); // the read, then the transaction
      expect(controlStatements(exec)).toEqual(['BEGIN IMMEDIATE', 'COMMIT']);
    });
  });

  describe('in a CompositeSessionPool with the REST pool', () => {
    let rest: RestSessionPool;
    let composite: CompositeSessionPool;

    beforeEach(() => {
      rest = new RestSessionPool();
      composite = new CompositeSessionPool(pool, rest);
    });

    afterEach(() => {
      rest.close();
    });

    it('finds the SQLite part inside the atomic scope and commits with the unit of work', async () => {
      await composite.session((session) =>
        session.atomic(async (tx) => {
          expect(extractConnection(tx)).toBeInstanceOf(SqliteSession);
          await insert(tx, 'Ada');
        }),
      );

      expect(await names(pool)).toEqual(['Ada']);
    });

    it('rolls the database transaction back when the atomic work rejects', async () => {
      const failure = new Error('Vault said no');

      const outcome = composite.session((session) =>
        session.atomic(async (tx) => {
          await insert(tx, 'Ada');
          throw failure;
        }),
      );

      await expect(outcome).rejects.toBe(failure);
      expect(await names(pool)).toEqual([]);
    });

    it('rejects a session without a SQLite part', async () => {
      await rest.session(async (session) => {
        expect(() => extractConnection(session)).toThrow(KmsSessionError);
        expect(() => extractConnection(session)).toThrow(/no SQLite part/);
      });
    });
  });
});
