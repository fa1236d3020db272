import {
  context,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type {
  KmsAttemptEndedEvent,
  KmsAttemptStartedEvent,
  KmsCacheLookupEvent,
  KmsOperationEndedEvent,
  KmsOperationStartedEvent,
  KmsSignals,
} from '../providers/vault-transit/kms-signals.js';
import type { Disconnect } from '../session/signal.js';
import type { TenantHasher } from './tenant-hasher.js';

/**
 * Spans from the service's signals: `kms.<operation>` (INTERNAL) per call, a CLIENT span per HTTP
 * request under it. Attributes are codes, counts, versions and the sanitized path — never a
 * message (it may name the key, i.e. the tenant), a token, DEK, ciphertext or body.
 */
export function connectSpans(
  signals: KmsSignals,
  tracer: Tracer,
  hashTenant: TenantHasher | undefined,
): Disconnect {
  const operations = new Map<number, Span>();
  const attempts = new Map<number, Span>();
  const tenantOf = (keyName: string | undefined): Attributes =>
    hashTenant && keyName !== undefined ? { 'kms.tenant.hash': hashTenant(keyName) } : {};

  const onOperationStarted = (event: KmsOperationStartedEvent): void => {
    const span = tracer.startSpan(`kms.${event.operation}`, {
      kind: SpanKind.INTERNAL,
      attributes: {
        'kms.operation': event.operation,
        'kms.mount': event.mount,
        ...tenantOf(event.keyName),
        ...(event.batchSize !== undefined ? { 'kms.batch.size': event.batchSize } : {}),
      },
    });
    operations.set(event.operationId, span);
  };

  const onOperationEnded = (event: KmsOperationEndedEvent): void => {
    const span = operations.get(event.operationId);
    if (span === undefined) return;
    operations.delete(event.operationId);
    if (event.keyVersion !== undefined) span.setAttribute('kms.key.version', event.keyVersion);
    if (event.outcome === 'error') {
      const code = event.errorCode ?? '_OTHER';
      span.setAttribute('error.type', code);
      if (event.errorReason !== undefined) span.setAttribute('kms.error.reason', event.errorReason);
      span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    }
    span.end();
  };

  const onAttemptStarted = (event: KmsAttemptStartedEvent): void => {
    const parent = operations.get(event.operationId);
    const parentContext = parent ? trace.setSpan(context.active(), parent) : context.active();
    const path =
      hashTenant && event.keyName !== undefined
        ? event.route.replace('{key}', hashTenant(event.keyName))
        : event.route;
    const span = tracer.startSpan(
      `${event.method} ${event.route}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'http.request.method': event.method,
          'url.path': path,
          'url.template': event.route,
          'server.address': event.serverAddress,
          'server.port': event.serverPort,
          'kms.operation': event.operation,
          'kms.attempt': event.attempt,
          'kms.retry': event.retry,
          ...tenantOf(event.keyName),
        },
      },
      parentContext,
    );
    attempts.set(event.attemptId, span);
  };

  const onAttemptEnded = (event: KmsAttemptEndedEvent): void => {
    const span = attempts.get(event.attemptId);
    if (span === undefined) return;
    attempts.delete(event.attemptId);
    if (event.status !== undefined) span.setAttribute('http.response.status_code', event.status);
    const errorType = attemptErrorType(event);
    if (errorType !== undefined) {
      span.setAttribute('error.type', errorType);
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorType });
    }
    span.end();
  };

  const onCacheLookup =
    (hit: boolean) =>
    (event: KmsCacheLookupEvent): void => {
      const span = event.operationId === undefined ? undefined : operations.get(event.operationId);
      span?.setAttribute('kms.cache.hit', hit);
    };

  const disconnects = [
    signals.operationStarted.connect(onOperationStarted),
    signals.operationEnded.connect(onOperationEnded),
    signals.attemptStarted.connect(onAttemptStarted),
    signals.attemptEnded.connect(onAttemptEnded),
    signals.cacheHit.connect(onCacheLookup(true)),
    signals.cacheMiss.connect(onCacheLookup(false)),
  ];
  return () => {
    for (const disconnect of disconnects) disconnect();
    // Calls still running when instrumentation stops: their spans end now, unfinished.
    for (const span of [...attempts.values(), ...operations.values()]) span.end();
    attempts.clear();
    operations.clear();
  };
}

/**
 * `error.type` of a request (HTTP semantic conventions): the status as a string for 4xx/5xx
 * answers, the transport's code when no answer arrived.
 */
export function attemptErrorType(event: KmsAttemptEndedEvent): string | undefined {
  if (event.status !== undefined) return event.status >= 400 ? String(event.status) : undefined;
  return event.errorCode ?? '_OTHER';
}
