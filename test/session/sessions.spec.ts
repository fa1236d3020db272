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
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { RecordingSession, RecordingSessionPool } from '../support/recording-session-pool.js';
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
      { pool: 'rest', method: 'POST', path: '/v1/transit/datakey/plaintext/signals' },
      { pool: 'rest', method: 'POST', path: '/v1/transit/keys/signals' },
      { pool: 'rest', method: 'POST', path: '/v1/transit/datakey/plaintext/signals' },
    ]);
    expect(ended).toEqual([
      {
        pool: 'rest',
        method: 'POST',
        path: '/v1/transit/datakey/plaintext/signals',
        status: 400,
        durationMs: expect.any(Number),
      },
      {
        pool: 'rest',
        method: 'POST',
        path: '/v1/transit/keys/signals',
        status: 200,
        durationMs: expect.any(Number),
      },
      {
        pool: 'rest',
        method: 'POST',
        path: '/v1/transit/datakey/plaintext/signals',
        status: 200,
        durationMs: expect.any(Number),
      },
    ]);
    expectNoSecrets(JSON.stringify([started, ended]), [server.token, dek]);
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

describe('CompositeSessionPool', () => {
  it('opens one session over every pool and finds each part', async () => {
    const db = new RecordingSessionPool();
    const composite = new CompositeSessionPool(db, rest);
    await composite.session(async (session) => {
      expect(session).toBeInstanceOf(CompositeSession);
      expect(session.part(RecordingSession)).toBeInstanceOf(RecordingSession);
      expect(session.part(RestSession)).toBeInstanceOf(RestSession);
      expect(extractRequest(session)).toBe(await rest.session(async (s) => extractRequest(s)));
    });
    expect(db.log).toEqual(['open', 'close']);
  });

  it('an atomic scope spans every part: commit in order on success', async () => {
    const db = new RecordingSessionPool();
    const composite = new CompositeSessionPool(db, rest);
    const kms = new VaultTransitService({ vaultAddr: server.address, vaultToken: server.token });
    await composite.session((session) =>
      session.atomic(async (tx) => {
        db.log.push('work');
        await kms.generateDek(tx, 'composite');
        await tx.atomic(async () => db.log.push('nested work'));
      }),
    );
    expect(db.log).toEqual([
      'open',
      'begin tx',
      'work',
      'begin savepoint2',
      'nested work',
      'commit savepoint2',
      'commit tx',
      'close',
    ]);
  });

  it('a failure rolls every part back and closes the session', async () => {
    const db = new RecordingSessionPool();
    const composite = new CompositeSessionPool(db, rest);
    const events = recordSignals(composite);
    const error = await composite
      .session((session) =>
        session.atomic(async () => {
          db.log.push('work');
          throw new Error('fail');
        }),
      )
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe('fail');
    expect(db.log).toEqual(['open', 'begin tx', 'work', 'rollback tx', 'close']);
    expect(events.map((e) => e.replace(/composite-\d+/, 'composite-N'))).toEqual([
      'session started composite-N',
      'atomic 1 started',
      'atomic 1 rolled-back',
      'session ended failed',
    ]);
  });

  it('a session without a REST part is refused by extractRequest', async () => {
    const db = new RecordingSessionPool();
    await db.session(async (session) => {
      expect(() => extractRequest(session)).toThrow(KmsSessionError);
    });
  });
});
