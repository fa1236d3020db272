import { KmsConfigurationError } from './errors/kms-configuration.error.js';
import { messages } from './errors/messages.js';
import type {
  CircuitBreakerOptions,
  KmsModuleOptions,
  KmsTransport,
  RetryOptions,
  VaultKeyType,
} from './interfaces/kms-module-options.interface.js';
import { resolveVaultAuth } from './auth/resolve-vault-auth.js';
import type { VaultTokenSupplier } from './auth/vault-token-supplier.js';
import { resolveNamespace } from './auth/vault-namespace.js';
import {
  DekCache,
  DekCacheOptionError,
  type DekCacheOptions,
  type ResolvedDekCacheOptions,
} from './providers/vault-transit/dek-cache.js';
import { resolveTlsOptions } from './session/tls-options.js';
import { DEFAULT_KEY_PREFIX, KEY_PREFIX_PATTERN } from './key-naming/tenant-key-namer.js';

export const VAULT_KEY_TYPES: readonly VaultKeyType[] = [
  'aes256-gcm96',
  'aes128-gcm96',
  'chacha20-poly1305',
];
const MOUNT_PATTERN = /^[\w-]+(?:\.[\w-]+)*(?:\/[\w-]+(?:\.[\w-]+)*)*$/;
const MAX_TIMEOUT_MS = 600_000;
/**
 * Items per batch request by default. OpenBao refuses a request body with more than 1,000 JSON
 * strings; an item holds up to 4 (`plaintext`/`ciphertext` and `reference`, keys and values,
 * should keys count), plus a few at the top level: 200 items stay well below the limit.
 */
export const DEFAULT_BATCH_SIZE = 200;
const MAX_BATCH_SIZE = 1000;
const TRANSPORTS: readonly KmsTransport[] = ['http-service', 'direct'];

/** Retry settings after validation (maxAttempts 1 = no retry). */
export type ResolvedRetry = Required<RetryOptions>;
/** Circuit-breaker settings after validation. */
export type ResolvedCircuitBreaker = Required<CircuitBreakerOptions>;

/** Options after validation, with every default applied (defaults live only here). */
export interface ResolvedKmsOptions {
  readonly vaultAddr: string;
  /**
   * Where tokens come from (`vaultToken` or `auth`): a token, a function, a file or a login
   * method; prints `[REDACTED]`, never a token, a credential or the function.
   */
  readonly vaultToken: VaultTokenSupplier;
  /** Sent as `X-Vault-Namespace` on every request; surrounding `/` removed. */
  readonly namespace: string | undefined;
  readonly mount: string;
  readonly keyType: VaultKeyType;
  readonly timeoutMs: number;
  readonly deadlineMs: number;
  readonly retry: ResolvedRetry;
  /** Absent when turned off. */
  readonly circuitBreaker: ResolvedCircuitBreaker | undefined;
  readonly keyPrefix: string;
  readonly keyName: KmsModuleOptions['keyName'];
  readonly maxSockets: number;
  readonly batchSize: number;
  /** The DEK cache's settings, absent when off. */
  readonly cache: ResolvedDekCacheOptions | undefined;
  readonly transport: KmsTransport;
}

function invalid(option: string, rule: string): KmsConfigurationError {
  return new KmsConfigurationError(messages.invalidOption(option, rule));
}

/**
 * Validates options and merges defaults. Throws {@link KmsConfigurationError} naming the first
 * bad option; the message never contains the token.
 */
export function resolveKmsOptions(options: KmsModuleOptions | undefined): ResolvedKmsOptions {
  if (!options || typeof options !== 'object')
    throw invalid('options', 'an options object is required');
  const {
    vaultAddr,
    vaultToken,
    mount = 'transit',
    keyType = 'aes256-gcm96',
    timeoutMs = 10_000,
  } = options;
  const { keyPrefix = DEFAULT_KEY_PREFIX, keyName, maxSockets = 32 } = options;
  const { deadlineMs = 30_000, tokenCacheMs = 0, batchSize = DEFAULT_BATCH_SIZE } = options;
  const { transport = 'http-service' } = options;

  if (typeof vaultAddr !== 'string' || !isHttpUrl(vaultAddr)) {
    throw invalid(
      'vaultAddr',
      'must be an absolute http(s) URL without credentials, query or fragment, e.g. http://127.0.0.1:8200',
    );
  }
  if (options.tls !== undefined) {
    if (!/^\s*https:/i.test(vaultAddr))
      throw invalid('tls', 'needs an https:// vaultAddr (TLS options do nothing over http://)');
    resolveTlsOptions(options.tls); // reads the PEM files: a bad one fails here, naming it
  }
  const namespace = resolveNamespace(options.namespace);
  const tokenSource = resolveVaultAuth(
    { vaultToken, auth: options.auth, tokenCacheMs },
    {
      vaultAddr: normalizeVaultAddr(vaultAddr),
      namespace,
      timeoutMs: Number.isInteger(timeoutMs) ? timeoutMs : 10_000,
    },
  );
  if (typeof mount !== 'string' || !MOUNT_PATTERN.test(mount)) {
    throw invalid(
      'mount',
      'must be a Vault mount path such as "transit" or "kms/transit" (no leading or trailing "/", no "..")',
    );
  }
  if (!VAULT_KEY_TYPES.includes(keyType)) {
    throw invalid('keyType', `must be one of ${VAULT_KEY_TYPES.join(', ')}`);
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    throw invalid(
      'timeoutMs',
      `must be an integer number of milliseconds between 1 and ${MAX_TIMEOUT_MS}`,
    );
  }
  if (
    typeof keyPrefix !== 'string' ||
    !KEY_PREFIX_PATTERN.test(keyPrefix) ||
    keyPrefix.includes('..')
  ) {
    throw invalid(
      'keyPrefix',
      'must be empty or start a valid Vault key name (ASCII letters, digits, "_", then also "-" and ".")',
    );
  }
  if (keyName !== undefined && typeof keyName !== 'function') {
    throw invalid('keyName', 'must be a function from tenant id to key name');
  }
  if (!Number.isInteger(maxSockets) || maxSockets < 1 || maxSockets > 1024) {
    throw invalid('maxSockets', 'must be an integer between 1 and 1024');
  }
  if (!Number.isInteger(deadlineMs) || deadlineMs < 1 || deadlineMs > MAX_TIMEOUT_MS) {
    throw invalid(
      'deadlineMs',
      `must be an integer number of milliseconds between 1 and ${MAX_TIMEOUT_MS}`,
    );
  }
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw invalid('batchSize', `must be an integer between 1 and ${MAX_BATCH_SIZE}`);
  }
  if (!TRANSPORTS.includes(transport)) {
    throw invalid('transport', `must be one of ${TRANSPORTS.map((t) => `'${t}'`).join(', ')}`);
  }
  return {
    vaultAddr: normalizeVaultAddr(vaultAddr),
    vaultToken: tokenSource,
    namespace,
    mount,
    keyType,
    timeoutMs,
    deadlineMs,
    retry: resolveRetry(options.retry),
    circuitBreaker: resolveCircuitBreaker(options.circuitBreaker),
    keyPrefix,
    keyName,
    maxSockets,
    batchSize,
    cache: resolveCache(options.cache),
    transport,
  };
}

/** The scheme in lower case (URLs allow any): transports pick their agent by it. */
function normalizeVaultAddr(vaultAddr: string): string {
  return vaultAddr
    .trim()
    .replace(/\/+$/, '')
    .replace(/^[a-z]+:/i, (scheme) => scheme.toLowerCase());
}

const DEFAULT_RETRY: ResolvedRetry = { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 2_000 };

function resolveRetry(value: unknown): ResolvedRetry {
  if (value === undefined) return DEFAULT_RETRY;
  if (value === false) return { ...DEFAULT_RETRY, maxAttempts: 1 };
  if (typeof value !== 'object' || value === null) {
    throw invalid('retry', 'must be false or { maxAttempts, baseDelayMs, maxDelayMs }');
  }
  const { maxAttempts = 3, baseDelayMs = 100, maxDelayMs = 2_000 } = value as RetryOptions;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 10) {
    throw invalid('retry.maxAttempts', 'must be an integer between 1 and 10');
  }
  if (!Number.isInteger(baseDelayMs) || baseDelayMs < 0 || baseDelayMs > 60_000) {
    throw invalid(
      'retry.baseDelayMs',
      'must be an integer number of milliseconds between 0 and 60000',
    );
  }
  if (!Number.isInteger(maxDelayMs) || maxDelayMs < baseDelayMs || maxDelayMs > MAX_TIMEOUT_MS) {
    throw invalid(
      'retry.maxDelayMs',
      `must be an integer between baseDelayMs and ${MAX_TIMEOUT_MS}`,
    );
  }
  return { maxAttempts, baseDelayMs, maxDelayMs };
}

const DEFAULT_BREAKER: ResolvedCircuitBreaker = { failureThreshold: 5, resetTimeoutMs: 5_000 };

function resolveCircuitBreaker(value: unknown): ResolvedCircuitBreaker | undefined {
  if (value === undefined) return DEFAULT_BREAKER;
  if (value === false) return undefined;
  if (typeof value !== 'object' || value === null) {
    throw invalid('circuitBreaker', 'must be false or { failureThreshold, resetTimeoutMs }');
  }
  const { failureThreshold = 5, resetTimeoutMs = 5_000 } = value as CircuitBreakerOptions;
  if (!Number.isInteger(failureThreshold) || failureThreshold < 1 || failureThreshold > 1000) {
    throw invalid('circuitBreaker.failureThreshold', 'must be an integer between 1 and 1000');
  }
  if (!Number.isInteger(resetTimeoutMs) || resetTimeoutMs < 1 || resetTimeoutMs > 10_000) {
    throw invalid(
      'circuitBreaker.resetTimeoutMs',
      'must be an integer number of milliseconds between 1 and 10000 (calls resume within 10 s of Vault’s return)',
    );
  }
  return { failureThreshold, resetTimeoutMs };
}

function resolveCache(value: unknown): ResolvedDekCacheOptions | undefined {
  if (value === undefined) return undefined;
  try {
    return DekCache.resolve(value as DekCacheOptions);
  } catch (error) {
    if (error instanceof DekCacheOptionError) throw invalid(error.option, error.rule);
    throw error;
  }
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      url.username === '' &&
      url.password === '' &&
      url.search === '' &&
      url.hash === '' &&
      !value.includes('?') &&
      !value.includes('#')
    );
  } catch {
    return false;
  }
}
