import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { performance } from 'node:perf_hooks';
import { HttpService } from '@nestjs/axios';
import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import axios, { type AxiosError, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';
import type { ISession, ISessionPool } from '../interfaces/session.interface.js';
import {
  httpExchange,
  isHttpsUrl,
  type HttpExchangeRequest,
  type HttpExchangeResponse,
} from './http-exchange.js';
import { createLeanHttpAdapter, fullUrl } from './lean-http-adapter.js';
import { openSession } from './open-session.js';
import { RestSession } from './rest-session.js';
import { createSessionSignals, type SessionSignals } from './session-signals.js';
import { resolveTlsOptions, type KmsTlsOptions } from './tls-options.js';

/** @publicApi */
export interface RestSessionPoolOptions {
  /**
   * Most sockets open at once per Vault host; further requests queue.
   * @default 32
   */
  readonly maxSockets?: number;
  /** Name used in signals. @default 'rest' */
  readonly name?: string;
  /**
   * TLS settings of the `https.Agent` (CA, client certificate for mutual TLS, server name,
   * verification); PEM text or file paths, read here. Invalid ones throw a
   * `KmsConfigurationError` naming the field.
   * @default Node's defaults (built-in CAs, no client certificate, full verification)
   */
  readonly tls?: KmsTlsOptions;
}

/**
 * Opens REST sessions over one keep-alive HTTP client (an `@nestjs/axios` `HttpService` with one
 * `http.Agent` and one `https.Agent` shared by all sessions, and a lean `node:http` adapter: no
 * redirects, no proxy). Emits request signals with method, path, status and duration — never
 * bodies or headers — for requests through the `HttpService` and through the sessions' direct
 * transport alike. Call {@link close} on shutdown.
 * @publicApi
 */
export class RestSessionPool implements ISessionPool, OnApplicationShutdown {
  readonly signals: SessionSignals = createSessionSignals();
  readonly httpAgent: HttpAgent;
  readonly httpsAgent: HttpsAgent;
  private readonly http: HttpService;
  readonly name: string;
  /** Per request in flight: when it started and what it was (described once). */
  private readonly inFlight = new WeakMap<
    object,
    { started: number; method: string; path: string }
  >();

  constructor(options: RestSessionPoolOptions = {}) {
    const maxSockets = options.maxSockets ?? 32;
    this.name = options.name ?? 'rest';
    this.httpAgent = new HttpAgent({ keepAlive: true, maxSockets });
    const tls = options.tls === undefined ? undefined : resolveTlsOptions(options.tls);
    if (tls?.rejectUnauthorized === false) warnUnverifiedTls(this.name);
    // A secure context, not PEM options: the agent keeps its options, and they would hold the key.
    this.httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets, ...tls });
    const instance = axios.create({
      httpAgent: this.httpAgent,
      httpsAgent: this.httpsAgent,
      maxRedirects: 0,
      proxy: false,
      adapter: createLeanHttpAdapter(),
    });
    // axios's default header set, without its `Content-Type: undefined` entry; the per-method
    // maps stay (empty) so that `defaults.headers.post[…] = …` still works.
    instance.defaults.headers = {
      common: { Accept: 'application/json, text/plain, */*' },
      ...Object.fromEntries(
        Object.keys(axios.defaults.headers)
          .filter((method) => method !== 'common')
          .map((method) => [method, {}]),
      ),
    } as unknown as typeof instance.defaults.headers;
    // Synchronous, and skipped while nobody listens: no promise hop per request for it.
    instance.interceptors.request.use((config) => this.onRequest(config), undefined, {
      synchronous: true,
      runWhen: () => this.signals.requestStarted.connected || this.signals.requestEnded.connected,
    });
    instance.interceptors.response.use(
      (response) => this.onResponse(response),
      (error: unknown) => this.onError(error),
    );
    this.http = new HttpService(instance);
  }

  session<T>(work: (session: ISession) => Promise<T>): Promise<T> {
    return openSession(this, (scope) => new RestSession(this.http, scope, this.exchange), work);
  }

  /** The sessions' direct transport: over the pool's agents, with the pool's request signals. */
  private readonly exchange = (request: HttpExchangeRequest): Promise<HttpExchangeResponse> => {
    const https = isHttpsUrl(request.url);
    const sent = httpExchange({ ...request, agent: https ? this.httpsAgent : this.httpAgent });
    const { requestStarted, requestEnded } = this.signals;
    if (!requestStarted.connected && !requestEnded.connected) return sent;
    const started = performance.now();
    const described = { method: request.method.toUpperCase(), path: urlPath(request.url) };
    requestStarted.emit({ pool: this.name, ...described });
    const ended = (fields: { status: number } | { errorCode: string }): void =>
      requestEnded.emit({
        pool: this.name,
        ...described,
        ...fields,
        durationMs: performance.now() - started,
      });
    sent.then(
      (response) => ended({ status: response.status }),
      (error: unknown) => ended({ errorCode: (error as { code?: string }).code ?? 'UNKNOWN' }),
    );
    return sent;
  };

  /** Closes idle keep-alive sockets and refuses to keep new ones. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  onApplicationShutdown(): void {
    this.close();
  }

  private onRequest(config: InternalAxiosRequestConfig): InternalAxiosRequestConfig {
    const { requestStarted, requestEnded } = this.signals;
    // Nobody listens: no bookkeeping on the request path.
    if (!requestStarted.connected && !requestEnded.connected) return config;
    const described = describeRequest(config);
    this.inFlight.set(config, { started: performance.now(), ...described });
    requestStarted.emit({ pool: this.name, ...described });
    return config;
  }

  private onResponse(response: AxiosResponse): AxiosResponse {
    this.emitEnded(response.config, response.status, undefined);
    return response;
  }

  private onError(error: unknown): Promise<never> {
    const axiosError = error as AxiosError;
    if (axiosError?.config) {
      this.emitEnded(
        axiosError.config,
        axiosError.response?.status,
        axiosError.response ? undefined : axiosError.code,
      );
    }
    return Promise.reject(error);
  }

  private emitEnded(
    config: InternalAxiosRequestConfig,
    status: number | undefined,
    errorCode: string | undefined,
  ): void {
    const request = this.inFlight.get(config);
    if (!request) return;
    this.inFlight.delete(config);
    const { started, method, path } = request;
    this.signals.requestEnded.emit({
      pool: this.name,
      method,
      path,
      ...(status !== undefined ? { status } : {}),
      ...(errorCode !== undefined ? { errorCode } : {}),
      durationMs: performance.now() - started,
    });
  }
}

/** Once per pool: `tls.rejectUnauthorized: false` turns off what TLS is there for. */
function warnUnverifiedTls(pool: string): void {
  new Logger('RestSessionPool').warn(
    `Pool "${pool}": tls.rejectUnauthorized is false — Vault's certificate is not verified, so ` +
      'anyone on the network path can impersonate Vault and read the token and plaintext DEKs. ' +
      'Development only; trust the server with tls.ca instead.',
  );
}

function describeRequest(config: InternalAxiosRequestConfig): { method: string; path: string } {
  return {
    method: (config.method ?? 'get').toUpperCase(),
    path: urlPath(fullUrl(config.baseURL, config.url ?? '')),
  };
}

/** The path of a URL, never its query string; '' if it cannot be parsed. */
function urlPath(url: string): string {
  try {
    return new URL(url, 'http://localhost').pathname;
  } catch {
    return '';
  }
}
