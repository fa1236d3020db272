import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type INestApplication,
  type NestInterceptor,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { from, lastValueFrom, type Observable } from 'rxjs';
import { KmsSessionHost, SessionInterceptor } from '@ascetic-ddd/nestjs-kms';
import { AppModule } from '../../sample/app.module.js';
import type { DevServerProcess } from './dev-server-process.js';

/**
 * The least an interceptor can do to give a handler a unit of work: run it inside
 * `KmsSessionHost.withSession`. Standing in for SessionInterceptor, it isolates what
 * SessionInterceptor itself adds (holding the answer until the commit, SSE and abandonment
 * handling) from what any unit of work costs.
 */
@Injectable()
class BareSessionInterceptor implements NestInterceptor {
  constructor(private readonly host: KmsSessionHost) {}

  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return from(this.host.withSession(() => lastValueFrom(next.handle())));
  }
}

export interface InterceptorRun {
  readonly variant: 'SessionInterceptor' | 'bare withSession';
  readonly requestsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
}

const TENANT = 'bench-read';

async function boot(
  server: DevServerProcess,
  bare: boolean,
): Promise<{ app: INestApplication; url: string }> {
  process.env['VAULT_ADDR'] = server.address;
  process.env['VAULT_TOKEN'] = server.token;
  process.env['DATABASE_PATH'] = ':memory:';
  let builder = Test.createTestingModule({ imports: [AppModule] });
  if (bare) builder = builder.overrideProvider(SessionInterceptor).useClass(BareSessionInterceptor);
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
}

/** The fields of autocannon's `--json` report read here. */
interface AutocannonReport {
  readonly requests?: { readonly average?: number };
  readonly latency?: { readonly p50?: number; readonly p99?: number };
  readonly non2xx?: number;
  readonly errors?: number;
  readonly timeouts?: number;
}

/** autocannon in its own process, so that the load generator does not share the app's loop. */
function autocannon(url: string, seconds: number, connections: number): Promise<AutocannonReport> {
  const require = createRequire(import.meta.url);
  const bin = require.resolve('autocannon/autocannon.js');
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [bin, '--json', '-c', String(connections), '-d', String(seconds), url],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      try {
        resolve(JSON.parse(out) as AutocannonReport);
      } catch {
        reject(new Error(`autocannon exited ${code} without a JSON report`));
      }
    });
  });
}

/**
 * GET of one customer (an SQLite read, one `decryptDek`, AES-256-GCM) under autocannon, with the
 * sample's SessionInterceptor and with {@link BareSessionInterceptor} in its place — alternately,
 * `rounds` times each (the order swapped every round), so that a change in machine load hits both.
 */
export async function measureInterceptor(
  server: DevServerProcess,
  options: { readonly seconds: number; readonly connections: number; readonly rounds: number },
): Promise<InterceptorRun[]> {
  const runs: InterceptorRun[] = [];
  for (let round = 0; round < options.rounds; round++) {
    // Each round swaps which goes first, so that warming up or a load change favours neither.
    for (const bare of round % 2 === 0 ? [false, true] : [true, false]) {
      const { app, url } = await boot(server, bare);
      try {
        const created = await fetch(`${url}/tenants/${TENANT}/customers`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'Ann Example', email: 'ann@example.com' }),
        });
        if (created.status !== 201) throw new Error(`seeding answered ${created.status}`);
        const { id } = (await created.json()) as { id: string };
        const target = `${url}/tenants/${TENANT}/customers/${id}`;
        await autocannon(target, 2, options.connections); // warm-up
        const result = await autocannon(target, options.seconds, options.connections);
        runs.push({
          variant: bare ? 'bare withSession' : 'SessionInterceptor',
          requestsPerSecond: result.requests?.average ?? Number.NaN,
          p50: result.latency?.p50 ?? Number.NaN,
          p99: result.latency?.p99 ?? Number.NaN,
          non2xx: result.non2xx ?? 0,
          errors: (result.errors ?? 0) + (result.timeouts ?? 0),
        });
      } finally {
        await app.close();
      }
    }
  }
  return runs;
}
