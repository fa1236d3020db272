import { KmsConfigurationError } from '../../errors/kms-configuration.error.js';
import { messages } from '../../errors/messages.js';

/**
 * Redirect hops one request may take: a standby points at the active node, which answers. A few
 * more allow for a proxy in between; a loop ends with a typed error.
 */
export const MAX_REDIRECT_HOPS = 3;

/** The statuses followed: both keep the method and body (RFC 9110 §15.4.8–9). */
const FOLLOWED = new Set([307, 308]);

/**
 * Where a 307/308 answer sends the request next, resolved against the URL it answered; undefined
 * for any other answer (other 3xx stay answers) or one without a `Location`. Throws a
 * {@link KmsConfigurationError} for a redirect that must not be followed: past
 * {@link MAX_REDIRECT_HOPS}, to a scheme other than http(s), from https to http (the token would
 * travel in clear text), to a URL with userinfo, or to a `Location` that is no URL. The error names the target by scheme,
 * host and path only (no userinfo, no query string).
 */
export function redirectTarget(
  operation: string,
  status: number,
  location: unknown,
  from: string,
  hop: number,
): string | undefined {
  if (!FOLLOWED.has(status) || typeof location !== 'string' || location === '') return undefined;
  const refuse = (target: string, why: string): KmsConfigurationError =>
    new KmsConfigurationError(messages.redirectRefused(operation, status, target, why), {
      status,
    });
  let target: URL;
  try {
    target = new URL(location, from);
  } catch {
    throw refuse('a Location that is no URL', 'it cannot be parsed');
  }
  const shown = describeUrl(target);
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    throw refuse(shown, 'only http and https are followed');
  if (target.username !== '' || target.password !== '')
    throw refuse(shown, 'it carries credentials (userinfo), which Vault never sends');
  if (target.protocol === 'http:' && new URL(from).protocol === 'https:')
    throw refuse(shown, 'it leaves https for http, which would send the token unencrypted');
  if (hop >= MAX_REDIRECT_HOPS)
    throw refuse(shown, `more than ${MAX_REDIRECT_HOPS} redirects in a row`);
  target.hash = '';
  return target.href;
}

/** Scheme, host and path of a URL: never its userinfo, query string or fragment. */
export function describeUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** What a redirect is decided on: the answer's status and headers. */
export interface HopAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, unknown>>;
}

/**
 * Sends a request with `send(url, leftMs)` and follows the 307/308 answers {@link redirectTarget}
 * accepts, with the same method, body and headers (the caller's `send` keeps them). The hops share
 * one time limit: each gets what is left of `limitMs` counted from `started` (`performance.now()`).
 * Used by Transit calls and by the auth requests (logins, `renew-self`) alike.
 */
export async function followRedirects<T extends HopAnswer>(
  operation: string,
  url: string,
  limitMs: number,
  started: number,
  send: (url: string, leftMs: number) => Promise<T>,
): Promise<T> {
  let target = url;
  for (let hop = 0; ; hop += 1) {
    const leftMs = Math.max(1, Math.ceil(limitMs - (performance.now() - started)));
    const answer = await send(target, leftMs);
    const next = redirectTarget(operation, answer.status, answer.headers['location'], target, hop);
    if (next === undefined) return answer;
    target = next;
  }
}
