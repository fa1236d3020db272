import { setTimeout as sleep } from 'node:timers/promises';
import {
  Controller,
  Get,
  Injectable,
  Module,
  Param,
  Post,
  Sse,
  UseInterceptors,
  type CallHandler,
  type ExecutionContext,
  type MessageEvent,
  type NestInterceptor,
  type INestApplication,
  type Provider,
} from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { of, throwError, timeout, type Observable } from 'rxjs';
import request from 'supertest';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import {
  CompositeSessionPool,
  CurrentSession,
  InjectKeyManagementService,
  InMemoryKeyManagementService,
  KEY_MANAGEMENT_SERVICE,
  KmsConfigurationError,
  KmsModule,
  KmsSessionError,
  KmsSessionHost,
  SESSION_POOL,
  SessionInterceptor,
  type IKeyManagementService,
  type ISession,
  type ISessionPool,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { RecordingSession, RecordingSessionPool } from '../support/recording-session-pool.js';

let server: TransitDevServer;
let app: INestApplication | undefined;

beforeAll(async () => {
  server = await startTransitDevServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** A repository: takes the session it is given and writes through its database part. */
@Injectable()
class NotesRepository {
  readonly seen: ISession[] = [];

  insert(session: ISession, note: string): void {
    this.seen.push(session);
    const db = session.part(RecordingSession);
    if (!db) throw new Error('no database part');
    db.execute(`insert ${note}`);
  }
}

/** A service: reads the current session from the host instead of receiving it. */
@Injectable()
class NotesService {
  constructor(
    private readonly sessions: KmsSessionHost,
    private readonly notes: NotesRepository,
    @InjectKeyManagementService() private readonly kms: IKeyManagementService,
  ) {}

  async add(tenant: string, note: string): Promise<ISession> {
    const session = this.sessions.session;
    await this.kms.generateDek(session, tenant);
    await sleep(Math.random() * 10); // let concurrent requests interleave
    this.notes.insert(this.sessions.session, note);
    return session;
  }
}

const seenByHandlers: ISession[] = [];
const detached: Promise<unknown>[] = [];

@Controller('notes')
class NotesController {
  constructor(
    private readonly service: NotesService,
    private readonly sessions: KmsSessionHost,
  ) {}

  @Post('add/:tenant/:note')
  async add(
    @Param('tenant') tenant: string,
    @Param('note') note: string,
    @CurrentSession() session: ISession,
  ): Promise<{ same: boolean }> {
    seenByHandlers.push(session);
    const used = await this.service.add(tenant, note);
    return { same: used === session };
  }

  @Post('throw-sync/:note')
  throwSync(@Param('note') note: string, @CurrentSession() session: ISession): never {
    session.part(RecordingSession)?.execute(`insert ${note}`);
    throw new Error('sync failure');
  }

  @Post('reject/:note')
  async reject(@Param('note') note: string): Promise<never> {
    this.sessions.session.part(RecordingSession)?.execute(`insert ${note}`);
    await sleep(1);
    throw new Error('async failure');
  }

  @Post('observable-error/:note')
  observableError(@Param('note') note: string): Observable<never> {
    this.sessions.session.part(RecordingSession)?.execute(`insert ${note}`);
    return throwError(() => new Error('observable failure'));
  }

  @Post('detach')
  detach(): { ok: true } {
    detached.push(
      sleep(20).then(() => {
        try {
          return this.sessions.session;
        } catch (error) {
          return error;
        }
      }),
    );
    detached.push(
      sleep(20).then(() =>
        this.sessions.withSession((s) => s.isActive).catch((error: unknown) => error),
      ),
    );
    detached.push(
      sleep(20).then(() =>
        this.sessions.withSession((s) => s.isActive, { propagation: 'requires-new' }),
      ),
    );
    return { ok: true };
  }
}

/** What an app's own timeout interceptor does (the NestJS docs' TimeoutInterceptor). */
@Injectable()
class TimeoutInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(timeout(30));
  }
}

@Controller('edge')
class EdgeController {
  constructor(private readonly sessions: KmsSessionHost) {}

  /** A nested atomic scope: the host follows it, and withSession joins it. */
  @Post('nested')
  async nested(@CurrentSession() tx: ISession): Promise<{ joined: boolean }> {
    return tx.atomic(async (inner) => {
      const joined = await this.sessions.withSession((session) => {
        session.part(RecordingSession)?.execute('insert nested');
        return session === inner;
      });
      return { joined: joined && this.sessions.session === inner };
    });
  }

  /** A tombstone that must persist although the request then fails. */
  @Post('requires-new')
  async requiresNew(@CurrentSession() tx: ISession): Promise<never> {
    await this.sessions.withSession(
      (own) => {
        own.part(RecordingSession)?.execute('insert tombstone');
        expect(own).not.toBe(tx);
      },
      { propagation: 'requires-new' },
    );
    tx.part(RecordingSession)?.execute('insert lost');
    throw new Error('request fails after its tombstone');
  }

  @Post('slow')
  @UseInterceptors(TimeoutInterceptor, SessionInterceptor)
  async slow(): Promise<{ done: true }> {
    const db = this.sessions.session.part(RecordingSession);
    await sleep(100);
    // The response was abandoned: joining the request's unit of work fails instead of committing.
    await this.sessions
      .withSession((session) => session.part(RecordingSession)?.execute('insert joined'))
      .catch(() => undefined);
    db?.execute('insert late'); // and the session itself has ended
    return { done: true };
  }

  @Sse('events')
  events(): Observable<MessageEvent> {
    return of({ data: { hasSession: this.sessions.hasSession } } as MessageEvent);
  }
}

@Controller('plain')
class PlainController {
  @Get()
  read(@CurrentSession() session: ISession): { active: boolean } {
    return { active: session.isActive };
  }
}

@Controller('scoped')
@UseInterceptors(SessionInterceptor)
class ScopedController {
  @Get()
  read(@CurrentSession() session: ISession): { depth: number } {
    return { depth: (session as RecordingSession).depth };
  }
}

interface Harness {
  log: string[];
  database: RecordingSessionPool;
  kms: InMemoryKeyManagementService;
}

async function bootApp(
  controllers: (new (...args: never[]) => unknown)[],
  extras: { mountInterceptor?: boolean } = {},
  providers: Provider[] = [],
): Promise<Harness> {
  const database = new RecordingSessionPool('db');
  const kms = new InMemoryKeyManagementService();
  @Module({
    imports: [
      KmsModule.forRoot({
        vaultAddr: server.address,
        vaultToken: server.token,
        sessionPool: (rest) => new CompositeSessionPool(database, rest),
        ...extras,
      }),
    ],
    controllers,
    providers: [NotesService, NotesRepository, ...providers],
  })
  class AppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
    .overrideProvider(KEY_MANAGEMENT_SERVICE)
    .useValue(kms)
    .compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return { log: database.log, database, kms };
}

/** A route handler with no metadata, for calling the interceptor directly. */
function routeHandler(): void {}
const httpContext = { getType: () => 'http', getHandler: () => routeHandler } as never;

/** A pool whose sessions take a while to open (a database connect, a BEGIN round trip). */
class SlowOpeningPool extends RecordingSessionPool {
  override async session<T>(work: (session: ISession) => Promise<T>): Promise<T> {
    await sleep(20);
    return super.session(work);
  }
}

describe('SessionInterceptor', () => {
  it('runs a request in one atomic session shared by handler, service, repository and KMS', async () => {
    const { log, kms } = await bootApp([NotesController], { mountInterceptor: true });
    seenByHandlers.length = 0;
    const response = await request(app!.getHttpServer()).post('/notes/add/t1/hello').expect(201);
    expect(response.body).toEqual({ same: true });
    expect(log).toEqual([
      'db: open',
      'db: begin tx',
      'db: insert hello',
      'db: commit tx',
      'db: close',
    ]);
    const [handlerSession] = seenByHandlers;
    const repository = app!.get(NotesRepository);
    expect(repository.seen).toEqual([handlerSession]);
    expect(kms.calls.map((c) => [c.operation, c.session])).toEqual([
      ['generateDek', handlerSession],
    ]);
    expect((handlerSession as RecordingSession).depth).toBe(1);
    expect(handlerSession?.isActive).toBe(false);
  });

  it.each([
    ['a synchronous throw', 'throw-sync'],
    ['a rejected promise', 'reject'],
    ['an errored Observable', 'observable-error'],
  ])('rolls back on %s and still closes the session', async (_label, route) => {
    const { log } = await bootApp([NotesController], { mountInterceptor: true });
    await request(app!.getHttpServer()).post(`/notes/${route}/lost`).expect(500);
    expect(log).toEqual([
      'db: open',
      'db: begin tx',
      'db: insert lost',
      'db: rollback tx',
      'db: close',
    ]);
  });

  it('answers only after the commit: a failed commit turns the success into an error', async () => {
    const { log, database } = await bootApp([NotesController], { mountInterceptor: true });
    database.faults.failCommits = 1;
    await request(app!.getHttpServer()).post('/notes/add/t1/unsaved').expect(500);
    expect(log).toEqual([
      'db: open',
      'db: begin tx',
      'db: insert unsaved',
      'db: rollback tx',
      'db: close',
    ]);
  });

  it('keeps concurrent requests in separate sessions', async () => {
    const { log } = await bootApp([NotesController], { mountInterceptor: true });
    seenByHandlers.length = 0;
    const http = app!.getHttpServer();
    const answers = await Promise.all(
      Array.from({ length: 25 }, (_, i) => request(http).post(`/notes/add/tenant-${i % 5}/n${i}`)),
    );
    for (const answer of answers) expect(answer.body).toEqual({ same: true });
    expect(new Set(seenByHandlers).size).toBe(25);
    expect(log.filter((line) => line === 'db: commit tx')).toHaveLength(25);
    const repository = app!.get(NotesRepository);
    expect(new Set(repository.seen)).toEqual(new Set(seenByHandlers));
  });

  it('does not lend a finished request’s session to work it left running', async () => {
    const { log } = await bootApp([NotesController], { mountInterceptor: true });
    detached.length = 0;
    await request(app!.getHttpServer()).post('/notes/detach').expect(201);
    const [lookup, joined, independent] = await Promise.all(detached);
    // The work still belongs to the finished request: it can neither use nor join its session.
    expect(lookup).toBeInstanceOf(KmsSessionError);
    expect((lookup as Error).message).toMatch(/has ended/);
    expect(joined).toBeInstanceOf(KmsSessionError);
    expect(independent).toBe(true); // 'requires-new' opens a unit of work of its own
    expect(log.filter((line) => line === 'db: open')).toHaveLength(2);
  });

  it('can be mounted per controller; routes without it have no session', async () => {
    await bootApp([ScopedController, PlainController]);
    expect((await request(app!.getHttpServer()).get('/scoped').expect(200)).body).toEqual({
      depth: 1,
    });
    await request(app!.getHttpServer()).get('/plain').expect(500);
  });

  it('can be mounted by the application with APP_INTERCEPTOR', async () => {
    const { log } = await bootApp([PlainController], {}, [
      { provide: APP_INTERCEPTOR, useExisting: SessionInterceptor },
    ]);
    expect((await request(app!.getHttpServer()).get('/plain').expect(200)).body).toEqual({
      active: true,
    });
    expect(log).toEqual(['db: open', 'db: begin tx', 'db: commit tx', 'db: close']);
  });

  it('mounted both globally and on a controller, a request still gets one session', async () => {
    const { log } = await bootApp([ScopedController], { mountInterceptor: true });
    await request(app!.getHttpServer()).get('/scoped').expect(200);
    expect(log).toEqual(['db: open', 'db: begin tx', 'db: commit tx', 'db: close']);
  });

  it('follows nested atomic scopes: the host and withSession use the innermost one', async () => {
    const { log } = await bootApp([EdgeController], { mountInterceptor: true });
    const response = await request(app!.getHttpServer()).post('/edge/nested').expect(201);
    expect(response.body).toEqual({ joined: true });
    expect(log).toEqual([
      'db: open',
      'db: begin tx',
      'db: begin savepoint2',
      'db: insert nested',
      'db: commit savepoint2',
      'db: commit tx',
      'db: close',
    ]);
  });

  it("'requires-new' commits its own unit of work although the request then rolls back", async () => {
    const { log } = await bootApp([EdgeController], { mountInterceptor: true });
    await request(app!.getHttpServer()).post('/edge/requires-new').expect(500);
    expect(log).toEqual([
      'db: open',
      'db: begin tx',
      'db: open',
      'db: begin tx',
      'db: insert tombstone',
      'db: commit tx',
      'db: close',
      'db: insert lost',
      'db: rollback tx',
      'db: close',
    ]);
  });

  it('rolls back when an outer timeout abandons the response', async () => {
    const { log } = await bootApp([EdgeController]);
    await request(app!.getHttpServer()).post('/edge/slow').expect(500);
    await sleep(150); // let the handler wake up and try to write
    expect(log).toEqual(['db: open', 'db: begin tx', 'db: rollback tx', 'db: close']);
  });

  it('an abandoned response stops the handler from running if the unit of work was still opening', async () => {
    const database = new SlowOpeningPool('db');
    const interceptor = new SessionInterceptor(new KmsSessionHost(database));
    let handled = false;
    const subscription = interceptor
      .intercept(httpContext, {
        handle: () => {
          handled = true;
          return of('done');
        },
      })
      .subscribe();
    subscription.unsubscribe(); // an outer timeout() gave up at once
    await sleep(60);
    expect(handled).toBe(false);
    expect(database.log).toEqual(['db: open', 'db: begin tx', 'db: rollback tx', 'db: close']);
  });

  it('passes server-sent-event routes through without a session', async () => {
    const { log } = await bootApp([EdgeController], { mountInterceptor: true });
    const response = await request(app!.getHttpServer()).get('/edge/events').expect(200);
    expect(response.text).toContain('{"hasSession":false}');
    expect(log).toEqual([]);
  });

  it('rolls back when next.handle() itself throws synchronously', async () => {
    const database = new RecordingSessionPool('db');
    const interceptor = new SessionInterceptor(new KmsSessionHost(database));
    const failure = new Error('handle() failed');
    const outcome = new Promise((resolve) => {
      interceptor
        .intercept(httpContext, {
          handle: () => {
            throw failure;
          },
        })
        .subscribe({ error: resolve, complete: () => resolve('completed') });
    });
    expect(await outcome).toBe(failure);
    expect(database.log).toEqual(['db: open', 'db: begin tx', 'db: rollback tx', 'db: close']);
  });
});

describe('KmsModule session wiring', () => {
  it('registers the sessionPool option’s pool under SESSION_POOL', async () => {
    await bootApp([]);
    expect(app!.get(SESSION_POOL)).toBeInstanceOf(CompositeSessionPool);
  });

  it.each([
    ['not a function', 'composite' as unknown],
    ['a function that returns no pool', () => ({})],
  ])('refuses a sessionPool that is %s at bootstrap', async (_label, sessionPool) => {
    const failure: unknown = await Test.createTestingModule({
      imports: [
        KmsModule.forRoot({
          vaultAddr: server.address,
          vaultToken: server.token,
          sessionPool: sessionPool as (rest: ISessionPool) => ISessionPool,
        }),
      ],
    })
      .compile()
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(KmsConfigurationError);
    expect((failure as Error).message).toMatch(/"sessionPool"/);
  });
});
