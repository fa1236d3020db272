import { ArgumentsHost, Catch, HttpException, Logger } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import {
  KekNotFoundError,
  KmsError,
  KmsInvalidInputError,
  KmsUnavailableError,
} from '@ascetic-ddd/nestjs-kms';
import { DatabaseBusyError } from '../database/database-busy.error.js';
import { SampleError } from './sample.error.js';

/** The JSON body of every error answer: never a stack, a record's contents or a secret. */
export interface ErrorBody {
  readonly statusCode: number;
  readonly code: string;
  readonly message: string;
}

const RETRY_AFTER_SECONDS = '5';

/**
 * Maps domain errors to HTTP: 400 bad input, 404 unknown record, 410 shredded tenant, 503 when
 * the key service or the database is unavailable (with Retry-After), 500 otherwise (the cause
 * is logged, the client gets a generic message). Nest's own
 * HttpExceptions (unknown route, malformed JSON, body too large) keep Nest's answer.
 */
@Catch()
export class HttpErrorFilter extends BaseExceptionFilter {
  private readonly logger = new Logger('HttpErrorFilter');

  override catch(exception: unknown, host: ArgumentsHost): void {
    if (exception instanceof HttpException || host.getType() !== 'http') {
      super.catch(exception, host);
      return;
    }
    const answer = this.answerFor(exception);
    if (answer === undefined) {
      super.catch(exception, host); // 500 "Internal server error", logged by Nest
      return;
    }
    const adapter = this.httpAdapterHost?.httpAdapter;
    if (!adapter)
      throw new Error('HttpErrorFilter needs the HTTP adapter (register it with APP_FILTER).');
    const response: unknown = host.switchToHttp().getResponse();
    if (answer.statusCode >= 500) {
      // The cause goes to the log (library messages are secret-free), never to the client.
      this.logger.error(`${answer.code}: ${describe(exception)}`);
    }
    if (answer.statusCode === 503) adapter.setHeader(response, 'Retry-After', RETRY_AFTER_SECONDS);
    adapter.reply(response, answer, answer.statusCode);
  }

  private answerFor(exception: unknown): ErrorBody | undefined {
    if (exception instanceof SampleError) {
      const message = exception.status >= 500 ? 'Internal server error' : exception.message;
      return { statusCode: exception.status, code: exception.code, message };
    }
    if (exception instanceof KmsInvalidInputError) {
      return { statusCode: 400, code: 'invalid_request', message: exception.message };
    }
    if (exception instanceof KekNotFoundError) {
      // A shredded tenant is answered 410 before any KMS call; a key missing otherwise is misplaced.
      return { statusCode: 500, code: 'key_missing', message: 'Internal server error' };
    }
    if (exception instanceof KmsUnavailableError || exception instanceof DatabaseBusyError) {
      return {
        statusCode: 503,
        code: exception instanceof DatabaseBusyError ? 'database_busy' : 'kms_unavailable',
        message: 'A backing service is unavailable right now; retry later.',
      };
    }
    if (exception instanceof KmsError) {
      return { statusCode: 500, code: 'kms_error', message: 'Internal server error' };
    }
    return undefined;
  }
}

/** What the log says about a 5xx: the error's class, code and message (library messages are secret-free). */
function describe(exception: unknown): string {
  if (exception instanceof KmsError)
    return `${exception.name} [${exception.code}] ${exception.message}`;
  if (exception instanceof Error) return `${exception.name}: ${exception.message}`;
  return String(exception);
}
