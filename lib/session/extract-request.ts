import type { HttpService } from '@nestjs/axios';
import { KmsSessionError } from '../errors/kms-session.error.js';
import { messages } from '../errors/messages.js';
import type { ISession } from '../interfaces/session.interface.js';
import { RestSession } from './rest-session.js';

/**
 * The HTTP client of a session (a REST session, or the REST part of a composite one).
 * Throws {@link KmsSessionError} if the session has ended or has no REST part.
 * @publicApi
 */
export function extractRequest(session: ISession): HttpService {
  return extractRestSession(session).request;
}

/**
 * The REST session of a session (itself, or the REST part of a composite one). Throws
 * {@link KmsSessionError} if the session has ended or has no REST part.
 */
export function extractRestSession(session: ISession): RestSession {
  let rest: RestSession | undefined;
  try {
    rest = typeof session?.part === 'function' ? session.part(RestSession) : undefined;
  } catch (error) {
    if (error instanceof KmsSessionError) throw error;
    rest = undefined; // not a session: a proxy, a getter that throws, …
  }
  if (!(rest instanceof RestSession)) throw new KmsSessionError(messages.sessionWithoutRest());
  rest.assertUsable();
  return rest;
}
