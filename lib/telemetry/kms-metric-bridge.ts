import type { Attributes, Meter } from '@opentelemetry/api';
import type { KmsSignals } from '../providers/vault-transit/kms-signals.js';
import type { Disconnect } from '../session/signal.js';
import { attemptErrorType } from './kms-span-bridge.js';

/** The HTTP semantic conventions' advice for `http.client.request.duration`, in seconds. */
const DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/**
 * Metrics from the service's signals. Attributes are low-cardinality: operation, mount, method,
 * route template, status, error code — never the tenant.
 */
export function connectMetrics(signals: KmsSignals, meter: Meter): Disconnect {
  const requestDuration = meter.createHistogram('http.client.request.duration', {
    description: 'Duration of HTTP requests to Vault, one per attempt.',
    unit: 's',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const operationDuration = meter.createHistogram('kms.operation.duration', {
    description: 'Duration of KMS calls, retries and cache lookups included.',
    unit: 's',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const errors = meter.createCounter('kms.errors', {
    description: 'Failed KMS calls, by error code.',
    unit: '{error}',
  });
  const cacheHits = meter.createCounter('kms.cache.hits', {
    description: 'decryptDek calls served from the DEK cache.',
    unit: '{lookup}',
  });
  const cacheMisses = meter.createCounter('kms.cache.misses', {
    description: 'decryptDek calls the DEK cache could not serve.',
    unit: '{lookup}',
  });

  const disconnects = [
    signals.attemptEnded.connect((event) => {
      const errorType = attemptErrorType(event);
      const attributes: Attributes = {
        'http.request.method': event.method,
        'url.template': event.route,
        'server.address': event.serverAddress,
        'server.port': event.serverPort,
        'kms.operation': event.operation,
        ...(event.status !== undefined ? { 'http.response.status_code': event.status } : {}),
        ...(errorType !== undefined ? { 'error.type': errorType } : {}),
      };
      requestDuration.record(event.durationMs / 1000, attributes);
    }),
    signals.operationEnded.connect((event) => {
      const attributes: Attributes = {
        'kms.operation': event.operation,
        'kms.mount': event.mount,
        ...(event.errorCode !== undefined ? { 'error.type': event.errorCode } : {}),
      };
      operationDuration.record(event.durationMs / 1000, attributes);
      if (event.outcome === 'error') {
        errors.add(1, {
          ...attributes,
          ...(event.errorReason !== undefined ? { 'kms.error.reason': event.errorReason } : {}),
        });
      }
    }),
    signals.cacheHit.connect((event) => cacheHits.add(1, { 'kms.mount': event.mount })),
    signals.cacheMiss.connect((event) => cacheMisses.add(1, { 'kms.mount': event.mount })),
  ];
  return () => {
    for (const disconnect of disconnects) disconnect();
  };
}
