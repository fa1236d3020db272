import axios, {
  AxiosError,
  AxiosHeaders,
  CanceledError,
  type AxiosAdapter,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from 'axios';
import { HttpExchangeError, httpExchange, type HttpExchangeResponse } from './http-exchange.js';

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

// axios's isAbsoluteURL: a scheme, or a protocol-relative `//host`.
const ABSOLUTE_URL = /^(?:[a-z][a-z\d+\-.]*:)?\/\//i;
// A scheme, then userinfo before the host: `http://user:pw@host`.
const CREDENTIALS = /^[a-z][a-z\d+\-.]*:\/\/[^/?#]*@/i;
const COMPRESSED = /^(?:gzip|x-gzip|deflate|compress|br|zstd)$/i;

/**
 * An axios adapter for the requests a Vault client sends: a string or Buffer body, a text or JSON
 * answer, no proxy, no redirects. It sends them over `node:http` with the request's agent in one
 * write, skipping the stream, redirect and decompression machinery of axios's `http` adapter.
 * Any request it would not send exactly as axios does (params, auth, a proxy, redirects, a
 * socket-idle `timeout`, progress events, other response types, …) goes to `fallback`.
 * Interceptors, transforms and `validateStatus` still apply: they run around the adapter.
 */
export function createLeanHttpAdapter(
  fallback: AxiosAdapter = axios.getAdapter('http'),
): AxiosAdapter {
  return (config) => (leanPathApplies(config) ? sendLean(config) : fallback(config));
}

function leanPathApplies(config: InternalAxiosRequestConfig): boolean {
  const { data, responseType, responseEncoding, url } = config;
  return (
    config.proxy === false &&
    config.maxRedirects === 0 &&
    config.allowAbsoluteUrls !== false &&
    (responseType === undefined || responseType === 'json' || responseType === 'text') &&
    (responseEncoding === undefined || /^utf-?8$/i.test(responseEncoding)) &&
    (data === undefined || data === null || typeof data === 'string' || Buffer.isBuffer(data)) &&
    typeof url === 'string' &&
    !hasCredentials(config.baseURL, url) &&
    HANDED_TO_AXIOS.every((option) => config[option] === undefined || config[option] === 0)
  );
}

async function sendLean(config: InternalAxiosRequestConfig): Promise<AxiosResponse> {
  const url = fullUrl(config.baseURL, config.url as string);
  const https = url.startsWith('https:');
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
  let answer: HttpExchangeResponse;
  try {
    answer = await httpExchange({
      method: (config.method ?? 'get').toUpperCase(),
      url,
      headers: config.headers.toJSON(),
      ...(body !== undefined ? { body } : {}),
      ...(config.signal ? { signal: config.signal as AbortSignal } : {}),
      agent: https ? config.httpsAgent : config.httpAgent,
      ...(maxContentLength > -1 ? { maxResponseBytes: maxContentLength } : {}),
    });
  } catch (error) {
    throw axiosErrorFor(error, config);
  }
  const encoding = answer.headers['content-encoding'];
  if (typeof encoding === 'string' && COMPRESSED.test(encoding.trim())) {
    throw new AxiosError(
      `Compressed answer (${encoding}) to a request that did not ask for one`,
      AxiosError.ERR_BAD_RESPONSE,
      config,
    );
  }
  const response: AxiosResponse = {
    data: stripBom(answer.body.toString('utf8')),
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

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfe_ff ? text.slice(1) : text;
}

function axiosErrorFor(error: unknown, config: InternalAxiosRequestConfig): Error {
  if (!(error instanceof HttpExchangeError)) return error as Error;
  if (error.code === 'ERR_CANCELED') return new CanceledError(undefined, config);
  if (error.code === 'ERR_RESPONSE_TOO_LARGE') {
    return new AxiosError(error.message, AxiosError.ERR_BAD_RESPONSE, config);
  }
  return AxiosError.from(error, error.code, config);
}
