import { Injectable, Module, SetMetadata } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CompositeSessionPool,
  KmsModule,
  KmsSessionError,
  KmsSessionHost,
  WithSession,
  type ISession,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { RecordingSession, RecordingSessionPool } from '../support/recording-session-pool.js';

let server: TransitDevServer;
let moduleRef: TestingModule | undefined;

beforeAll(async () => {
  server = await startTransitDevServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await moduleRef?.close();
  moduleRef = undefined;
});

const JOB = 'job-name';

/** A queue consumer / cron job: no HTTP request, same unit-of-work semantics. */
@Injectable()
class ImportJob {
  constructor(readonly sessions: KmsSessionHost) {}

  @WithSession()
  @SetMetadata(JOB, 'nightly-import')
  async run(rows: string[]): Promise<number> {
    for (const row of rows) this.db().execute(`insert ${row}`);
    if (rows.includes('bad')) throw new Error('bad row');
    return rows.length;
  }

  @WithSession()
  async runTwice(): Promise<ISession[]> {
    const outer = this.sessions.session;
    await this.run(['a']);
    return [outer, this.sessions.session];
  }

  private db(): RecordingSession {
    const db = this.sessions.session.part(RecordingSession);
    if (!db) throw new Error('no database part');
    return db;
  }
}

async function boot(): Promise<{ log: string[]; job: ImportJob; host: KmsSessionHost }> {
  const database = new RecordingSessionPool('db');
  @Module({
    imports: [
      KmsModule.forRoot({
        vaultAddr: server.address,
        vaultToken: server.token,
        sessionPool: (rest) => new CompositeSessionPool(database, rest),
      }),
    ],
    providers: [ImportJob],
  })
  class WorkerModule {}
  moduleRef = await Test.createTestingModule({ imports: [WorkerModule] }).compile();
  await moduleRef.init();
  return { log: database.log, job: moduleRef.get(ImportJob), host: moduleRef.get(KmsSessionHost) };
}

describe('@WithSession() and KmsSessionHost.withSession', () => {
  it('runs a method outside HTTP as one committed unit of work', async () => {
    const { log, job } = await boot();
    expect(await job.run(['a', 'b'])).toBe(2);
    expect(log).toEqual([
      'db: open',
      'db: begin tx',
      'db: insert a',
      'db: insert b',
      'db: commit tx',
      'db: close',
    ]);
  });

  it('rolls back when the method throws, and rethrows the same error', async () => {
    const { log, job } = await boot();
    await expect(job.run(['a', 'bad'])).rejects.toThrow('bad row');
    expect(log).toEqual([
      'db: open',
      'db: begin tx',
      'db: insert a',
      'db: insert bad',
      'db: rollback tx',
      'db: close',
    ]);
  });

  it('a nested call joins the current session instead of opening another', async () => {
    const { log, job } = await boot();
    const [outer, after] = await job.runTwice();
    expect(after).toBe(outer);
    expect(log).toEqual(['db: open', 'db: begin tx', 'db: insert a', 'db: commit tx', 'db: close']);
  });

  it('keeps the metadata other decorators put on the method, and its name', () => {
    expect(Reflect.getMetadata(JOB, ImportJob.prototype.run)).toBe('nightly-import');
    expect(ImportJob.prototype.run.name).toBe('run');
  });

  it('withSession works the same for CLI code holding the host', async () => {
    const { log, host } = await boot();
    expect(host.hasSession).toBe(false);
    expect(() => host.session).toThrow(KmsSessionError);
    const result = await host.withSession((session) => {
      session.part(RecordingSession)?.execute('insert cli');
      return host.hasSession;
    });
    expect(result).toBe(true);
    expect(log).toEqual([
      'db: open',
      'db: begin tx',
      'db: insert cli',
      'db: commit tx',
      'db: close',
    ]);
  });

  it('fails clearly when the decorated class was not created by Nest', async () => {
    const job = new ImportJob(undefined as unknown as KmsSessionHost);
    await expect(job.run([])).rejects.toThrow(
      /@WithSession\(\) on ImportJob.run found no KmsSessionHost/,
    );
    await expect(job.run([])).rejects.toBeInstanceOf(KmsSessionError);
  });
});
