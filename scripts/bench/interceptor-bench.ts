import { createRequire } from 'node:module';
import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type INestApplication,
  type NestInterceptor,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { defer, from, lastValueFrom, type Observable } from 'rxjs';
import { KmsSessionHost, RestSessionPool, SessionInterceptor } from '@ascetic-ddd/nestjs-kms';
import { AppModule } from '../../sample/app.module.js';
import type { DevServerProcess } from './dev-server-process.js';
import { nodeJson } from './node-child.js';

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
  /** CPU time (user + system) of the app's process per request, in µs. */
  readonly appCpuPerRequest: number;
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
  readonly requests?: { readonly average?: number; readonly total?: number };
  readonly latency?: { readonly p50?: number; readonly p99?: number };
  readonly non2xx?: number;
  readonly errors?: number;
  readonly timeouts?: number;
}

/**
 * autocannon in its own process, so that the load generator does not share the app's loop —
 * nor, when processes are pinned, the app's CPU (it runs on `cpu`).
 */
function autocannon(
  url: string,
  seconds: number,
  connections: number,
  cpu: number | undefined,
): Promise<AutocannonReport> {
  const require = createRequire(import.meta.url);
  const bin = require.resolve('autocannon/autocannon.js');
  const args = [bin, '--json', '-c', String(connections), '-d', String(seconds), url];
  return nodeJson<AutocannonReport>(args, cpu, 'autocannon');
}

/**
 * GET of one customer (an SQLite read, one `decryptDek`, AES-256-GCM) under autocannon, with the
 * sample's SessionInterceptor and with {@link BareSessionInterceptor} in its place — alternately,
 * `rounds` times each (the order swapped every round), so that a change in machine load hits both.
 */
export async function measureInterceptor(
  server: DevServerProcess,
  options: {
    readonly seconds: number;
    readonly connections: number;
    readonly rounds: number;
    /** The CPU autocannon is pinned to (the app runs in this process, on another). */
    readonly loadCpu: number | undefined;
  },
): Promise<InterceptorRun[]> {
  const runs: InterceptorRun[] = [];
  // Round 0 is not reported: the first app booted in this process runs with Nest, Express and
  // SQLite code the JIT has not compiled yet, whatever its interceptor.
  for (let round = 0; round <= options.rounds; round++) {
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
        await autocannon(target, 2, options.connections, options.loadCpu); // warm-up
        const cpuBefore = process.cpuUsage();
        const result = await autocannon(
          target,
          options.seconds,
          options.connections,
          options.loadCpu,
        );
        const cpu = process.cpuUsage(cpuBefore);
        if (round > 0)
          runs.push({
            variant: bare ? 'bare withSession' : 'SessionInterceptor',
            requestsPerSecond: result.requests?.average ?? Number.NaN,
            appCpuPerRequest: (cpu.user + cpu.system) / Math.max(1, result.requests?.total ?? 0),
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

/** The interceptor's own cost per call, without HTTP, Nest's router or the route's work. */
export interface InterceptorCallCost {
  readonly sessionInterceptorMicros: number;
  readonly bareMicros: number;
  readonly calls: number;
}

const FAKE_HTTP_CONTEXT = {
  getType: () => 'http',
  getHandler: () => FAKE_HTTP_CONTEXT.getType,
} as unknown as ExecutionContext;

/**
 * Calls each interceptor's `intercept` `calls` times in a row over a RestSessionPool unit of work
 * (after a warm-up), with a handler that awaits once and reads the session: the µs per call are
 * what the interceptor and its unit of work cost, nothing else.
 */
export async function measureInterceptorCalls(calls: number): Promise<InterceptorCallCost> {
  const pool = new RestSessionPool();
  try {
    const host = new KmsSessionHost(pool);
    const handler: CallHandler = {
      handle: () =>
        defer(async () => {
          await Promise.resolve();
          return host.hasSession;
        }),
    };
    const time = async (
      interceptor: SessionInterceptor | BareSessionInterceptor,
    ): Promise<number> => {
      for (let i = 0; i < calls / 5; i++)
        await lastValueFrom(interceptor.intercept(FAKE_HTTP_CONTEXT, handler));
      const started = performance.now();
      for (let i = 0; i < calls; i++)
        await lastValueFrom(interceptor.intercept(FAKE_HTTP_CONTEXT, handler));
      return ((performance.now() - started) * 1000) / calls;
    };
    const interceptors = [new SessionInterceptor(host), new BareSessionInterceptor(host)];
    const best = [Infinity, Infinity];
    for (let round = 0; round < 3; round++) {
      for (const [i, interceptor] of interceptors.entries()) {
        best[i] = Math.min(best[i]!, await time(interceptor));
      }
    }
    return { sessionInterceptorMicros: best[0]!, bareMicros: best[1]!, calls };
  } finally {
    pool.close();
  }
}
