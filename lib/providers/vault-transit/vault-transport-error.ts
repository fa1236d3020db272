import { KmsUnavailableError } from '../../errors/kms-unavailable.error.js';
import { messages } from '../../errors/messages.js';

// ERR_CANCELED: our deadline signal fired; the others are socket-level timeouts.
const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ERR_CANCELED']);
// An answer arrived but cannot be read: larger than the transport accepts, or compressed
// (httpExchange's codes; the lean adapter keeps them as its AxiosError's cause).
const BAD_ANSWER_CODES = new Set(['ERR_RESPONSE_TOO_LARGE', 'ERR_COMPRESSED_ANSWER']);

/** The code of an error's cause (the lean adapter keeps the exchange's own code there). */
function causeCode(error: unknown): string {
  const code = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof code === 'string' ? code : '';
}

/**
 * A network failure or timeout as a {@link KmsUnavailableError}, for Transit calls and auth
 * requests alike. Only the error code is kept: the axios error holds the request config,
 * including the token header.
 */
export function transportError(
  operation: string,
  error: unknown,
  timeoutMs: number,
): KmsUnavailableError {
  const code =
    typeof (error as { code?: unknown })?.code === 'string'
      ? (error as { code: string }).code
      : 'UNKNOWN';
  const cause = Object.assign(new Error(`HTTP transport error ${code}`), { code });
  if (TIMEOUT_CODES.has(code)) {
    return new KmsUnavailableError(messages.timeout(operation, timeoutMs), 'timeout', { cause });
  }
  if (
    BAD_ANSWER_CODES.has(code) ||
    BAD_ANSWER_CODES.has(causeCode(error)) ||
    // axios's own adapter: an answer over maxContentLength (not a cut-off stream).
    (code === 'ERR_BAD_RESPONSE' && String((error as Error).message).startsWith('maxContentLength'))
  ) {
    return new KmsUnavailableError(
      messages.badResponse(operation, 'the answer is too large or compressed'),
      'bad-response',
      { cause },
    );
  }
  return new KmsUnavailableError(
    messages.unavailable(operation, `no answer (${code})`),
    'network',
    { cause },
  );
}
