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

  it('configures a file database: WAL, synchronous FULL, foreign keys, secure delete', async () => {
    const pragmas = await pool.session(async (session) => {
      const db = extractConnection(session);
      return {
        journal: await db.get<{ journal_mode: string }>('PRAGMA journal_mode'),
        synchronous: await db.get<{ synchronous: number }>('PRAGMA synchronous'),
        foreignKeys: await db.get<{ foreign_keys: number }>('PRAGMA foreign_keys'),
        secureDelete: await db.get<{ secure_delete: number }>('PRAGMA secure_delete'),
      };
    });

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

  it('begins lazily: a scope that ran no statement issues nothing and leaves the lease free', async () => {
    const exec = vi.spyOn(Database.prototype, 'exec');
    const vault = gate();

    const slow = pool.session((session) =>
      session.atomic(async () => {
        await vault.promise; // e.g. a Vault call before the first statement
        return 'no statements';
      }),
    );
    // Meanwhile another request runs a whole transaction without waiting.
    await pool.session((session) => session.atomic((tx) => insert(tx, 'Ada')));
    vault.open();

    expect(await slow).toBe('no statements');
    expect(controlStatements(exec)).toEqual(['BEGIN IMMEDIATE', 'COMMIT']);
  });

  it('holds the lease from the first statement until the scope ends', async () => {
    const vault = gate();
    const events: string[] = [];

    const first = pool.session((session) =>
      session.atomic(async (tx) => {
        await insert(tx, 'Ada');
        await vault.promise; // a slow call after the first statement keeps the transaction open
        events.push('first commits');
      }),
    );
    await sleep(10);
    // A root statement of another session waits too: the connection is in first's transaction.
    const reader = pool.session(async (session) => {
      const rows = await extractConnection(session).all<{ name: string }>(
        'SELECT name FROM customers',
      );
      events.push(`reader sees ${rows.length}`);
    });
    await sleep(20);
    events.push('vault answers');
    vault.open();
    await Promise.all([first, reader]);

    expect(events).toEqual(['vault answers', 'first commits', 'reader sees 1']);
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

  it('begins the transaction when a nested scope opens before any statement', async () => {
    await pool.session((session) =>
      session.atomic((tx) =>
        tx.atomic(async (nested) => {
          await insert(nested, 'Ada');
          await nested.atomic((deeper) => insert(deeper, 'Grace'));
        }),
      ),
    );

    expect(await names(pool)).toEqual(['Ada', 'Grace']);
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

  it('never interleaves two concurrent atomic sessions: the second waits, then sees the first', async () => {
    const firstInserted = gate();
    const letFirstCommit = gate();
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
        const db = extractConnection(tx);
        const row = await db.get<{ count: number }>('SELECT count(*) AS count FROM customers');
        events.push(`second sees ${row?.count}`);
        await db.run('INSERT INTO customers (name) VALUES (?)', ['Grace']);
      }),
    );
    await sleep(20);
    expect(events).toEqual([]);
    letFirstCommit.open();

    await expect(Promise.all([first, second])).resolves.toBeDefined();
    expect(events).toEqual(['first done', 'second sees 1']);
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
