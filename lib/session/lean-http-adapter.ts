import axios, {
  AxiosError,
  AxiosHeaders,
  CanceledError,
  type AxiosAdapter,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from 'axios';
import {
  HttpExchangeError,
  httpExchange,
  isHttpsUrl,
  textOf,
  type HttpExchangeResponse,
} from './http-exchange.js';

/**
 * Options the lean path does not implement; a request that sets any of them goes through axios's
 * own `http` adapter, so it behaves exactly as axios documents.
 */
const HANDED_TO_AXIOS = [
  'auth',
  'beforeRedirect',
  'cancelToken',
  'family',
  'httpVersion',
  'insecureHTTPParser',
  'lookup',
  'maxRate',
  'onDownloadProgress',
  'onUploadProgress',
  'params',
  'socketPath',
  'timeout',
  'transport',
] as const;

// What the lean path sends: http and https only (`data:` and the rest go to axios).
const HTTP_URL = /^https?:\/\//i;
// axios's isAbsoluteURL: a scheme, or a protocol-relative `//host`.
const ABSOLUTE_URL = /^(?:[a-z][a-z\d+\-.]*:)?\/\//i;
// A scheme, then userinfo before the host: `http://user:pw@host`.
const CREDENTIALS = /^[a-z][a-z\d+\-.]*:\/\/[^/?#]*@/i;

/** Marks the adapters {@link createLeanHttpAdapter} makes. */
const LEAN = Symbol('LeanHttpAdapter');

/**
 * A request option of the lean adapter (axios passes unknown options through to the adapter):
 * the whole exchange — waiting for a socket, connecting, the answer and its body — must end
 * within this many ms, or the request is aborted and rejects with an AxiosError of code
 * `ETIMEDOUT`. Unlike axios's `timeout` (which watches socket idleness), it bounds the exchange,
 * and unlike a `signal` it needs no AbortController per request. Honoured on both paths: the
 * fallback gets an AbortController only when this option is used.
 */
export const EXCHANGE_TIMEOUT_MS = 'exchangeTimeoutMs';

type LeanRequestConfig = InternalAxiosRequestConfig & { readonly [EXCHANGE_TIMEOUT_MS]?: number };

/**
 * An axios adapter for the requests a Vault client sends: a string or Buffer body, a text or JSON
 * answer, no proxy, no redirects. It sends them over `node:http` with the request's agent in one
 * write, skipping the stream, redirect and decompression machinery of axios's `http` adapter.
 * Any request it would not send exactly as axios does (params, auth, a proxy, redirects, a
 * socket-idle `timeout`, progress events, other response types, …) goes to `fallback`.
 * Interceptors, transforms and `validateStatus` still apply: they run around the adapter.
 * See {@link EXCHANGE_TIMEOUT_MS} for its one extra option.
 */
export function createLeanHttpAdapter(
  fallback: AxiosAdapter = axios.getAdapter('http'),
): AxiosAdapter {
  const adapter: AxiosAdapter = (config: LeanRequestConfig) => {
    const url = leanUrl(config);
    return url === undefined ? sendThroughFallback(fallback, config) : sendLean(config, url);
  };
  Object.defineProperty(adapter, LEAN, { value: true });
  return adapter;
}

/** Whether `adapter` (e.g. an axios instance's `defaults.adapter`) is a lean adapter. */
export function isLeanHttpAdapter(adapter: unknown): boolean {
  return typeof adapter === 'function' && (adapter as { [LEAN]?: boolean })[LEAN] === true;
}

/** The fallback, with {@link EXCHANGE_TIMEOUT_MS} turned into an abort of its request. */
async function sendThroughFallback(
  fallback: AxiosAdapter,
  config: LeanRequestConfig,
): Promise<AxiosResponse> {
  const limitMs = exchangeLimit(config);
  if (limitMs === undefined) return fallback(config);
  const controller = new AbortController();
  // Only a real AbortSignal is followed (axios also accepts objects with just `aborted`).
  const given = config.signal as AbortSignal | undefined;
  const outer = typeof given?.addEventListener === 'function' ? given : undefined;
  const onAbort = (): void => controller.abort();
  if (outer?.aborted) controller.abort();
  else outer?.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, limitMs);
  try {
    return await fallback({ ...config, signal: controller.signal });
  } catch (error) {
    if (timedOut && !outer?.aborted) throw exchangeTimeout(config, limitMs);
    throw error;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onAbort);
  }
}

/** {@link EXCHANGE_TIMEOUT_MS} when it is a positive number of ms; anything else is ignored. */
function exchangeLimit(config: LeanRequestConfig): number | undefined {
  const limitMs = config[EXCHANGE_TIMEOUT_MS];
  return typeof limitMs === 'number' && Number.isFinite(limitMs) && limitMs > 0
    ? limitMs
    : undefined;
}

function exchangeTimeout(config: InternalAxiosRequestConfig, limitMs: number): AxiosError {
  return new AxiosError(`no answer in ${limitMs} ms`, 'ETIMEDOUT', config);
}

/** The full URL of a request the lean path sends exactly as axios would; otherwise undefined. */
function leanUrl(config: InternalAxiosRequestConfig): string | undefined {
  const { data, responseType, responseEncoding, url } = config;
  if (!(
    config.proxy === false &&
    config.maxRedirects === 0 &&
    config.allowAbsoluteUrls !== false &&
    (responseType === undefined || responseType === 'json' || responseType === 'text') &&
    (responseEncoding === undefined || /^utf-?8$/i.test(responseEncoding)) &&
    (data === undefined || data === null || typeof data === 'string' || Buffer.isBuffer(data)) &&
    typeof url === 'string' &&
    !hasCredentials(config.baseURL, url) &&
    (config.signal === undefined ||
      typeof (config.signal as { addEventListener?: unknown }).addEventListener === 'function') &&
    HANDED_TO_AXIOS.every((option) => config[option] === undefined || config[option] === 0)
  )) {
    return undefined;
  }
  const full = fullUrl(config.baseURL, url);
  return HTTP_URL.test(full) ? full : undefined;
}

async function sendLean(config: LeanRequestConfig, url: string): Promise<AxiosResponse> {
  const https = isHttpsUrl(url);
  const body = (config.data ?? undefined) as string | Buffer | undefined;
  const maxBody = config.maxBodyLength ?? -1;
  if (body !== undefined && maxBody > -1 && Buffer.byteLength(body) > maxBody) {
    throw new AxiosError(
      'Request body larger than maxBodyLength limit',
      AxiosError.ERR_BAD_REQUEST,
      config,
    );
  }
  const maxContentLength = config.maxContentLength ?? -1;
  const limitMs = exchangeLimit(config);
  let answer: HttpExchangeResponse;
  try {
    answer = await httpExchange({
      method: (config.method ?? 'get').toUpperCase(),
      url,
      headers: config.headers.toJSON(),
      ...(body !== undefined ? { body } : {}),
      ...(config.signal ? { signal: config.signal as AbortSignal } : {}),
      agent: https ? config.httpsAgent : config.httpAgent,
      // axios's default (-1) is no limit.
      maxResponseBytes: maxContentLength > -1 ? maxContentLength : Infinity,
      ...(limitMs !== undefined ? { timeoutMs: limitMs } : {}),
    });
  } catch (error) {
    throw axiosErrorFor(error, config);
  }
  let text: string;
  try {
    text = textOf(answer);
  } catch (error) {
    throw axiosErrorFor(error, config);
  }
  const response: AxiosResponse = {
    data: text,
    status: answer.status,
    statusText: answer.statusText,
    headers: new AxiosHeaders(answer.headers as Record<string, string>),
    config,
  };
  const validateStatus = config.validateStatus;
  if (!answer.status || !validateStatus || validateStatus(answer.status)) return response;
  // axios's settle(): only a 4xx is the request's fault.
  throw new AxiosError(
    `Request failed with status code ${answer.status}`,
    answer.status >= 400 && answer.status < 500
      ? AxiosError.ERR_BAD_REQUEST
      : AxiosError.ERR_BAD_RESPONSE,
    config,
    undefined,
    response,
  );
}

/** `user:password@` in the URL: axios turns it into an Authorization header; the lean path does not. */
function hasCredentials(baseURL: string | undefined, url: string): boolean {
  return CREDENTIALS.test(url) || (!ABSOLUTE_URL.test(url) && CREDENTIALS.test(baseURL ?? ''));
}

/** axios's rule: a relative `url` is appended to `baseURL` with exactly one slash between. */
export function fullUrl(baseURL: string | undefined, url: string): string {
  if (!baseURL || ABSOLUTE_URL.test(url)) return url;
  return url ? `${baseURL.replace(/\/+$/, '')}/${url.replace(/^\/+/, '')}` : baseURL;
}

function axiosErrorFor(error: unknown, config: InternalAxiosRequestConfig): Error {
  if (!(error instanceof HttpExchangeError)) return error as Error;
  if (error.code === 'ERR_CANCELED') return new CanceledError(undefined, config);
  if (error.code === 'ERR_RESPONSE_TOO_LARGE' || error.code === 'ERR_COMPRESSED_ANSWER') {
    // The exchange's own code stays readable as the cause.
    return Object.assign(new AxiosError(error.message, AxiosError.ERR_BAD_RESPONSE, config), {
      cause: error,
    });
  }
  return AxiosError.from(error, error.code, config);
}
