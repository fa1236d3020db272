import { createParamDecorator } from '@nestjs/common';
import { KmsSessionError } from '../errors/kms-session.error.js';
import { messages } from '../errors/messages.js';
import type { ISession } from '../interfaces/session.interface.js';
import { activeSession } from './session-context.js';

function currentSession(): ISession {
  const session = activeSession();
  if (!session) throw new KmsSessionError(messages.noCurrentSession());
  return session;
}

/**
 * Injects the request's atomic session into a handler parameter:
 * `create(@CurrentSession() session: ISession)`. Needs {@link SessionInterceptor} on the route;
 * without it the request fails with a KmsSessionError.
 * @publicApi
 */
export const CurrentSession: () => ParameterDecorator = createParamDecorator(currentSession);
