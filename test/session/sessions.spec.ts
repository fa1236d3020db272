import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CompositeSession,
  CompositeSessionPool,
  extractRequest,
  KmsSessionError,
  RestSession,
  RestSessionPool,
  VaultTransitService,
  type ISession,
  type RequestEndedEvent,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { RecordingSession, RecordingSessionPool } from '../support/recording-session-pool.js';
import { closedPort } from '../support/scripted-server.js';
import { expectNoSecrets } from '../support/secrets.js';

let server: TransitDevServer;
let rest: RestSessionPool;

beforeEach(async () => {
  server = await startTransitDevServer();
  rest = new RestSessionPool();
});
afterEach(async () => {
  rest.close();
  await server.close();
});

function recordSignals(pool: { signals: RestSessionPool['signals'] }): string[] {
  const events: string[] = [];
  const s = pool.signals;
  s.sessionStarted.connect((e) => events.push(`session started ${e.sessionId}`));
  s.sessionEnded.connect((e) => events.push(`session ended ${e.outcome}`));
  s.atomicStarted.connect((e) => events.push(`atomic ${e.depth} started`));
  s.atomicEnded.connect((e) => events.push(`atomic ${e.depth} ${e.outcome}`));
  return events;
}

describe('RestSessionPool', () => {
  it('a session is active inside its callback only; atomic scopes nest', async () => {
    let outer: ISession | undefined;
    let inner: ISession | undefined;
    await rest.session(async (session) => {
      outer = session;
      expect(session.isActive).toBe(true);
      await session.atomic(async (tx) => {
        await tx.atomic(async (nested) => {
          inner = nested;
          expect(nested.isActive).toBe(true);
        });
        expect(inner?.isActive).toBe(false);
        expect(tx.isActive).toBe(true);
      });
    });
    expect(outer?.isActive).toBe(false);
    expect(() => extractRequest(outer as ISession)).toThrow(KmsSessionError);
    await expect((outer as ISession).atomic(async () => 1)).rejects.toBeInstanceOf(KmsSessionError);
  });

  it('emits session and atomic signals with outcomes, commit and rollback', async () => {
    const events = recordSignals(rest);
    await rest
      .session(async (session) => {
        await session.atomic(async (tx) => tx.atomic(async () => 'ok'));
        await session.atomic(async () => {
          throw new Error('boom');
        });
      })
      .catch(() => undefined);
    expect(events.map((e) => e.replace(/rest-\d+/, 'rest-N'))).toEqual([
      'session started rest-N',
      'atomic 1 started',
      'atomic 2 started',
      'atomic 2 committed',
      'atomic 1 committed',
      'atomic 1 started',
      'atomic 1 rolled-back',
      'session ended failed',
    ]);
  });

  it('emits request signals with method, path, status and duration, never bodies or headers', async () => {
    const started: unknown[] = [];
    const ended: unknown[] = [];
    rest.signals.requestStarted.connect((e) => started.push(e));
    rest.signals.requestEnded.connect((e) => ended.push(e));
    const kms = new VaultTransitService({ vaultAddr: server.address, vaultToken: server.token });
    const { dek } = await rest.session((s) => kms.generateDek(s, 'signals'));
    expect(started).toEqual([
      { pool: 'rest', method: 'POST', path: '/v1/transit/datakey/plaintext/tenant-signals' },
      { pool: 'rest', method: 'POST', path: '/v1/transit/keys/tenant-signals' },
      { pool: 'rest', method: 'POST', path: '/v1/transit/datakey/plaintext/tenant-signals' },
    ]);
    expect(ended).toEqual([
      {
        pool: 'rest',
        method: 'POST',
        path: '/v1/transit/datakey/plaintext/tenant-signals',
        status: 400,
        durationMs: expect.any(Number),
      },
      {
        pool: 'rest',
        method: 'POST',
        path: '/v1/transit/keys/tenant-signals',
        status: 200,
        durationMs: expect.any(Number),
      },
      {
        pool: 'rest',
        method: 'POST',
        path: '/v1/transit/datakey/plaintext/tenant-signals',
        status: 200,
        durationMs: expect.any(Number),
      },
    ]);
    expectNoSecrets(JSON.stringify([started, ended]), [server.token, dek]);
  });

  it('reports the error code, and no status, when no answer arrives', async () => {
    const ended: RequestEndedEvent[] = [];
    rest.signals.requestEnded.connect((e) => ended.push(e));
    const kms = new VaultTransitService({
      vaultAddr: `http://127.0.0.1:${await closedPort()}`,
      vaultToken: server.token,
      retry: false,
    });
    await expect(rest.session((s) => kms.rotateKek(s, 'refused'))).rejects.toMatchObject({
      reason: 'network',
    });
    expect(ended).toEqual([
      {
        pool: 'rest',
        method: 'POST',
        path: '/v1/transit/keys/tenant-refused/rotate',
        errorCode: 'ECONNREFUSED',
        durationMs: expect.any(Number),
      },
    ]);
  });

  it('a throwing listener never breaks the work it observes', async () => {
    rest.signals.sessionStarted.connect(() => {
      throw new Error('listener bug');
    });
    rest.signals.requestEnded.connect(() => {
      throw new Error('listener bug');
    });
    const kms = new VaultTransitService({ vaultAddr: server.address, vaultToken: server.token });
    await expect(rest.session((s) => kms.rotateKek(s, 'robust'))).resolves.toBe(1);
  });

  it('all sessions share one HTTP client and keep-alive sockets', async () => {
    const clients = await Promise.all([
      rest.session(async (s) => extractRequest(s)),
      rest.session(async (s) => extractRequest(s)),
    ]);
    expect(clients[0]).toBe(clients[1]);
    const kms = new VaultTransitService({ vaultAddr: server.address, vaultToken: server.token });
    const sockets = new Set<unknown>();
    rest.httpAgent.on('free', (socket) => sockets.add(socket));
    for (let i = 0; i < 5; i += 1) await rest.session((s) => kms.rotateKek(s, 'keepalive'));
    expect(sockets.size).toBe(1);
  });
});

describe('session exclusivity and lifetime', () => {
  it('refuses a second atomic scope while one is open, and the outer session inside a scope', async () => {
    await rest.session(async (session) => {
      await session.atomic(async (tx) => {
        expect(() => extractRequest(session)).toThrow(KmsSessionError);
        await expect(session.atomic(async () => 1)).rejects.toBeInstanceOf(KmsSessionError);
        expect(extractRequest(tx)).toBeDefined();
      });
      // Once the scope has ended the outer session is usable again.
      expect(extractRequest(session)).toBeDefined();
    });
  });

  it('an atomic scope left running when its session ends is no longer usable', async () => {
    let orphan: ISession | undefined;
    const latch: { release?: () => void } = {};
    const gate = new Promise<void>((resolve) => {
      latch.release = resolve;
    });
    let pending: Promise<unknown> = Promise.resolve();
    await rest.session(async (session) => {
      pending = session.atomic(async (tx) => {
        orphan = tx;
        await gate;
        return extractRequest(tx);
      });
    });
    expect(orphan?.isActive).toBe(false);
    latch.release?.();
    await expect(pending).rejects.toBeInstanceOf(KmsSessionError);
  });
});

describe('CompositeSessionPool', () => {
  it('opens one session over every pool and finds each part', async () => {
    const db = new RecordingSessionPool('db');
    const composite = new CompositeSessionPool(db, rest);
    await composite.session(async (session) => {
      expect(session).toBeInstanceOf(CompositeSession);
      expect(session.part(RecordingSession)).toBeInstanceOf(RecordingSession);
      expect(session.part(RestSession)).toBeInstanceOf(RestSession);
      expect(extractRequest(session)).toBe(await rest.session(async (s) => extractRequest(s)));
    });
    expect(db.log).toEqual(['db: open', 'db: close']);
  });

  it('an atomic scope spans every part, first part outermost; commits inner first', async () => {
    const log: string[] = [];
    const composite = new CompositeSessionPool(
      new RecordingSessionPool('db', log),
      new RecordingSessionPool('outbox', log),
      rest,
    );
    const kms = new VaultTransitService({ vaultAddr: server.address, vaultToken: server.token });
    await composite.session((session) =>
      session.atomic(async (tx) => {
        tx.part(RecordingSession)?.execute('insert');
        await kms.generateDek(tx, 'composite');
        await tx.atomic(async (nested) => nested.part(RecordingSession)?.execute('update'));
      }),
    );
    expect(log).toEqual([
      'db: open',
      'outbox: open',
      'db: begin tx',
      'outbox: begin tx',
      'db: insert',
      'db: begin savepoint2',
      'outbox: begin savepoint2',
      'db: update',
      'outbox: commit savepoint2',
      'db: commit savepoint2',
      'outbox: commit tx',
      'db: commit tx',
      'outbox: close',
      'db: close',
    ]);
  });

  it('a failure rolls every part back, innermost first, and closes the session', async () => {
    const log: string[] = [];
    const composite = new CompositeSessionPool(
      new RecordingSessionPool('db', log),
      new RecordingSessionPool('outbox', log),
      rest,
    );
    const events = recordSignals(composite);
    const error = await composite
      .session((session) =>
        session.atomic(async (tx) => {
          tx.part(RecordingSession)?.execute('insert');
          throw new Error('fail');
        }),
      )
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe('fail');
    expect(log).toEqual([
      'db: open',
      'outbox: open',
      'db: begin tx',
      'outbox: begin tx',
      'db: insert',
      'outbox: rollback tx',
      'db: rollback tx',
      'outbox: close',
      'db: close',
    ]);
    expect(events.map((e) => e.replace(/composite-\d+/, 'composite-N'))).toEqual([
      'session started composite-N',
      'atomic 1 started',
      'atomic 1 rolled-back',
      'session ended failed',
    ]);
  });

  it('a nested failure caught by the outer scope rolls back the savepoint only', async () => {
    const db = new RecordingSessionPool('db');
    const composite = new CompositeSessionPool(db, rest);
    await composite.session((session) =>
      session.atomic(async (tx) => {
        tx.part(RecordingSession)?.execute('insert a');
        await tx
          .atomic(async (nested) => {
            nested.part(RecordingSession)?.execute('insert b');
            throw new Error('b is invalid');
          })
          .catch(() => undefined);
        tx.part(RecordingSession)?.execute('insert c');
      }),
    );
    expect(db.log).toEqual([
      'db: open',
      'db: begin tx',
      'db: insert a',
      'db: begin savepoint2',
      'db: insert b',
      'db: rollback savepoint2',
      'db: insert c',
      'db: commit tx',
      'db: close',
    ]);
  });

  it('a session without a REST part is refused by extractRequest', async () => {
    const db = new RecordingSessionPool('db');
    await db.session(async (session) => {
      expect(() => extractRequest(session)).toThrow(KmsSessionError);
    });
  });
});
