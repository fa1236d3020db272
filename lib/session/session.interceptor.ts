import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { SSE_METADATA } from '@nestjs/common/constants.js';
import { Observable, type Subscription } from 'rxjs';
import { KmsSessionError } from '../errors/kms-session.error.js';
import { messages } from '../errors/messages.js';
import { KmsSessionHost } from './kms-session.host.js';

/**
 * Runs each request as one unit of work: `pool.session(s => s.atomic(tx => handler))`. The
 * handler, and every service and repository it calls, see `tx` through `@CurrentSession()` or
 * {@link KmsSessionHost}. A handler that succeeds commits; a synchronous throw, a rejected
 * promise or an errored Observable rolls back; the session always closes.
 *
 * The response is released only after the commit, so a client never sees a success for work
 * that was rolled back (a handler that emits several values delivers them after the commit). If
 * the response is abandoned first — an outer interceptor's `timeout()` unsubscribes — the
 * request's unit of work rolls back; the handler is not stopped, but whatever it does next
 * through the session, `@CurrentSession()`, `KmsSessionHost` or `withSession` fails with
 * KmsSessionError (only `'requires-new'` units, which are independent by design, still commit).
 * A timeout that lands while the commit itself runs cannot undo it.
 *
 * Only HTTP handlers get a unit of work. Server-sent-event routes (`@Sse()`; a stream cannot wait
 * for a commit), WebSocket gateways and microservice handlers are passed through: open units of
 * work in them with `KmsSessionHost.withSession` or `@WithSession()`.
 *
 * Mount it for the whole app with KmsModule's `mountInterceptor`, or per controller with
 * `@UseInterceptors(SessionInterceptor)`. Guards and exception filters run outside it.
 * @publicApi
 */
@Injectable()
export class SessionInterceptor implements NestInterceptor {
  constructor(private readonly host: KmsSessionHost) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http' || Reflect.getMetadata(SSE_METADATA, context.getHandler())) {
      return next.handle();
    }
    return new Observable((subscriber) => {
      const handler = new HandlerRun();
      this.host
        .withSession(() => handler.run(next))
        .then(
          (values) => {
            for (const value of values) subscriber.next(value);
            subscriber.complete();
          },
          (error: unknown) => subscriber.error(error),
        );
      return () => handler.abandon();
    });
  }
}

/**
 * The handler's Observable, collected: resolves with everything it emitted once it completes,
 * rejects when it errors — or when the response is abandoned before that.
 */
class HandlerRun {
  private subscription: Subscription | undefined;
  private fail: ((error: unknown) => void) | undefined;
  private settled = false;

  run(next: CallHandler): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      // Abandoned while the unit of work was opening: the handler must not run at all.
      if (this.settled) {
        reject(new KmsSessionError(messages.requestAbandoned()));
        return;
      }
      const values: unknown[] = [];
      this.fail = reject;
      this.subscription = next.handle().subscribe({
        next: (value) => values.push(value),
        error: (error: unknown) => this.settle(() => reject(error)),
        complete: () => this.settle(() => resolve(values)),
      });
    });
  }

  /** The response no longer waits: stop the handler's Observable and roll the work back. */
  abandon(): void {
    if (this.settled) return;
    this.settle(() => this.fail?.(new KmsSessionError(messages.requestAbandoned())));
    this.subscription?.unsubscribe();
  }

  private settle(finish: () => void): void {
    if (this.settled) return;
    this.settled = true;
    finish();
  }
}
