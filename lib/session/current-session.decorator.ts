import { createParamDecorator } from '@nestjs/common';
import { requireActiveSession } from './session-context.js';

/**
 * Injects the request's atomic session into a handler parameter:
 * `create(@CurrentSession() session: ISession)`. Needs {@link SessionInterceptor} on the route;
 * without it the request fails with a KmsSessionError.
 * @publicApi
 */
export const CurrentSession: () => ParameterDecorator = createParamDecorator(() =>
  requireActiveSession(),
);
