import { Inject } from '@nestjs/common';
import { KmsSessionError } from '../errors/kms-session.error.js';
import { messages } from '../errors/messages.js';
import { KmsSessionHost } from './kms-session.host.js';
import type { WithSessionOptions } from './session-propagation.js';

/** Property under which `@WithSession()` has Nest inject the host into the decorated class. */
const SESSION_HOST = Symbol('KmsSessionHost');

type HostCarrier = { [SESSION_HOST]?: KmsSessionHost };

/** Prototypes that already asked for the host (one injection per class, however many methods). */
const carriers = new WeakSet<object>();

/**
 * Runs the decorated method as one unit of work, as `KmsSessionHost.withSession(() => method(),
 * options)` would: it opens a session and an atomic scope that commit when the method resolves
 * and roll back when it throws — or joins the current session when there is one, unless
 * `propagation` is `'requires-new'`. For queue
 * consumers, cron jobs and CLI commands; the method's result becomes a Promise. The class must
 * be a Nest provider (the decorator has Nest inject {@link KmsSessionHost} into it). Metadata
 * other decorators put on the method (e.g. `@Cron`, `@EventPattern`) is kept.
 * @publicApi
 */
export function WithSession(options: WithSessionOptions = {}): MethodDecorator {
  return (target, propertyKey, descriptor) => {
    const original: unknown = descriptor.value;
    if (typeof original !== 'function') {
      throw new TypeError(`@WithSession() decorates methods; ${String(propertyKey)} is not one.`);
    }
    if (!carriers.has(target)) {
      carriers.add(target);
      Inject(KmsSessionHost)(target, SESSION_HOST);
    }
    const method = `${(target as object).constructor.name}.${String(propertyKey)}`;
    function inSession(this: HostCarrier, ...args: unknown[]): Promise<unknown> {
      const host = this[SESSION_HOST];
      if (!host)
        return Promise.reject(new KmsSessionError(messages.withSessionWithoutHost(method)));
      return host.withSession(
        () => (original as (...a: unknown[]) => unknown).apply(this, args),
        options,
      );
    }
    copyMetadata(original, inSession);
    Object.defineProperty(inSession, 'name', { value: original.name });
    descriptor.value = inSession as typeof descriptor.value;
    return descriptor;
  };
}

function copyMetadata(from: object, to: object): void {
  for (const key of Reflect.getOwnMetadataKeys(from)) {
    Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, from), to);
  }
}
