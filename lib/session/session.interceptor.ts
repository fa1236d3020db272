import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Observable } from 'rxjs';
import { KmsSessionHost } from './kms-session.host.js';

/**
 * Runs each request as one unit of work: `pool.session(s => s.atomic(tx => handler))`. The
 * handler, and every service and repository it calls, see `tx` through `@CurrentSession()` or
 * {@link KmsSessionHost}. A handler that succeeds commits; a synchronous throw, a rejected
 * promise or an errored Observable rolls back; the session always closes.
 *
 * The response is released only after the commit, so a client never sees a success for work
 * that was rolled back (a handler that streams many values delivers them after the commit).
 * Mount it for the whole app with KmsModule's `mountInterceptor`, or per controller with
 * `@UseInterceptors(SessionInterceptor)`. Guards and exception filters run outside it.
 * @publicApi
 */
@Injectable()
export class SessionInterceptor implements NestInterceptor {
  constructor(private readonly host: KmsSessionHost) {}

  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return new Observable((subscriber) => {
      this.host
        .withSession(() => collect(next.handle()))
        .then(
          (values) => {
            for (const value of values) subscriber.next(value);
            subscriber.complete();
          },
          (error: unknown) => subscriber.error(error),
        );
    });
  }
}

/** Subscribes to the handler's Observable and resolves with everything it emitted. */
function collect(source: Observable<unknown>): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const values: unknown[] = [];
    source.subscribe({
      next: (value) => values.push(value),
      error: reject,
      complete: () => resolve(values),
    });
  });
}
