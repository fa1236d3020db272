import type { TenantId } from './key-management-service.interface.js';
import type { ISessionPool } from './session.interface.js';
import type { DekCacheOptions } from '../providers/vault-transit/dek-cache.js';
import type { RestSessionPool } from '../session/rest-session-pool.js';
import type { VaultAuthOptions } from '../auth/vault-auth-options.interface.js';
import type { KmsTlsOptions } from '../session/tls-options.js';

/** Returns the current Vault token (e.g. read from a Vault Agent sink). @publicApi */
export type VaultTokenProvider = () => string | Promise<string>;

/** @publicApi */
export interface RetryOptions {
  /** Attempts per call, the first included (1 = no retry). @default 3 */
  readonly maxAttempts?: number;
  /** Upper bound of the first wait; doubles per attempt. @default 100 */
  readonly baseDelayMs?: number;
  /** Cap of any wait (a longer `Retry-After` is honoured within the deadline). @default 2000 */
  readonly maxDelayMs?: number;
}

/** @publicApi */
export interface CircuitBreakerOptions {
  /** Consecutive failed requests that open the circuit. @default 5 */
  readonly failureThreshold?: number;
  /** How long the circuit stays open before one probe is let through. @default 5000 */
  readonly resetTimeoutMs?: number;
}

/** Transit key types usable for wrapping DEKs (the types Vault can create on first encrypt). @publicApi */
export type VaultKeyType = 'aes256-gcm96' | 'aes128-gcm96' | 'chacha20-poly1305';

/**
 * Options of `KmsModule.forRoot()` and of `VaultTransitService`.
 * @publicApi
 */
export interface KmsModuleOptions {
  /** Vault's address, e.g. `https://vault.internal:8200` (a path prefix is allowed for proxies). */
  readonly vaultAddr: string;
  /**
   * The Vault token sent as `X-Vault-Token`: a string, or a function (sync or async) returning
   * the current token — e.g. reading a file a Vault Agent rewrites — called for each request, or
   * at most once per `tokenCacheMs`. Never logged, never part of an error. The shorthand of
   * `auth: { method: 'token', token }`: give exactly one of `vaultToken` and `auth`.
   */
  readonly vaultToken?: string | VaultTokenProvider;
  /**
   * How the library gets its Vault token, instead of `vaultToken` (give exactly one of them):
   * - `{ method: 'token', token }`: as `vaultToken`.
   * - `{ method: 'tokenFile', path }`: a file kept current by e.g. a Vault Agent sink; read again
   *   at most once a second and at once after Vault refused its token.
   * - `{ method: 'approle', roleId, secretId | secretIdFile, mount? }` and
   *   `{ method: 'kubernetes', role, jwtFile?, mount? }`: the library logs in on first use
   *   (credential files are read at every login), renews a renewable token at about two thirds of
   *   its TTL, and logs in again when renewal no longer extends it (max TTL), when renewal fails,
   *   or when Vault answers 403 `invalid token` — one login however many calls are waiting.
   *   Renewal timers are `unref`'d and stop on application shutdown (or `VaultTransitService.close()`).
   *   Logins and renewals use the sessions' keep-alive agents and this module's `timeoutMs`.
   *
   * Credentials (tokens, secret ids, JWTs) never appear in an error, a log or `inspect()`. A
   * refused login is a `KmsAccessDeniedError`, a login Vault cannot run as configured (unknown
   * role or mount) a `KmsConfigurationError`, an unreachable Vault a `KmsUnavailableError`.
   */
  readonly auth?: VaultAuthOptions;
  /**
   * Vault Enterprise / OpenBao namespace, sent as `X-Vault-Namespace` on every request — logins
   * and renewals included. Leading and trailing `/` are removed; visible ASCII only, no empty,
   * `.` or `..` segments. The `mount` and auth mounts are paths inside it.
   * @default none (the root namespace)
   */
  readonly namespace?: string;
  /**
   * With a token function: how long a token it returned is reused. After a 403 the cached token
   * is dropped at once, and a call is repeated once if the function then gives another token.
   * @default 0 (the function is called for every request)
   */
  readonly tokenCacheMs?: number;
  /**
   * Where the Transit engine is mounted.
   * @default 'transit'
   */
  readonly mount?: string;
  /**
   * Type of the tenant KEKs the library creates.
   * @default 'aes256-gcm96'
   */
  readonly keyType?: VaultKeyType;
  /**
   * Time limit of one HTTP request to Vault, in milliseconds (connect, answer and body).
   * @default 10000
   */
  readonly timeoutMs?: number;
  /**
   * Time limit of one call, in milliseconds, retries and their waits included. Each attempt
   * gets `min(timeoutMs, time left)`; no wait starts that would end past it.
   * @default 30000
   */
  readonly deadlineMs?: number;
  /**
   * Retries of calls that are safe to repeat (encrypt, decrypt, datakey, rewrap, key reads and
   * creation, the two steps of a delete) after a network error, a timeout, a 5xx, a 429 or a
   * sealed Vault, with capped exponential backoff and full jitter; a `Retry-After` header is
   * honoured. A rotation is never repeated blindly: it is resent only when Vault provably did
   * not process it, otherwise the key is read back. `false` turns retries off.
   * @default { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 2000 }
   */
  readonly retry?: false | RetryOptions;
  /**
   * Fails calls fast while Vault is down: after `failureThreshold` consecutive failed requests
   * (network errors, timeouts, 5xx, sealed), calls fail at once with reason `circuit-open` for
   * `resetTimeoutMs`; then one call probes Vault and, if it succeeds, traffic resumes. `false`
   * turns it off.
   * @default { failureThreshold: 5, resetTimeoutMs: 5000 }
   */
  readonly circuitBreaker?: false | CircuitBreakerOptions;
  /**
   * Prefix of every tenant's key name: tenant `42` uses key `tenant-42` by default, `orders-42`
   * with prefix `orders-`. It keeps tenant keys apart from other keys in the mount; use one
   * prefix per mount and application. Must be empty or a valid start of a Vault key name.
   * @default 'tenant-'
   */
  readonly keyPrefix?: string;
  /**
   * Custom tenant id → key name mapping, used instead of `keyPrefix`. It must be injective
   * (two tenants never share a name); its result is still checked against Vault's key-name rule
   * before any request.
   */
  readonly keyName?: (tenantId: TenantId) => string;
  /**
   * Upper bound of concurrent keep-alive connections to Vault (the module's REST pool), and of
   * requests this service has in flight: further calls wait in a queue, within their `timeoutMs`,
   * before their request is even built — 10,000 concurrent calls cost 10,000 small queue entries,
   * not 10,000 HTTP requests.
   * @default 32
   */
  readonly maxSockets?: number;
  /**
   * Items per request of the batch methods (`encryptDeks`, `decryptDeks`, `rewrapDeks`): a
   * longer input is sent in chunks of this size, one after the other. An integer from 1 to 1000;
   * the default keeps a request within OpenBao's limit of 1,000 JSON strings per body.
   * @default 200
   */
  readonly batchSize?: number;
  /**
   * Opt-in cache of plaintext DEKs for `decryptDek`: a hot DEK decrypts without a request.
   * LRU-bounded (`maxEntries`), each entry kept at most `maxAgeMs` and, if set, `maxUses` hits;
   * concurrent misses for one DEK share one request; evicted entries are zeroed; `deleteKek` and
   * `retireKekVersions` purge the tenant's entries at once. Trade-off: plaintext DEKs stay in this
   * process's memory for up to `maxAgeMs` (a heap dump or a compromised process reveals them), and
   * a DEK cached here still decrypts in this process until it expires if another process shreds
   * the tenant. Off by default.
   * @default undefined (no cache)
   */
  readonly cache?: DekCacheOptions;
  /**
   * How requests reach Vault.
   * - `'http-service'`: through the session's `HttpService` (axios): its interceptors, transforms
   *   and adapter apply — with `RestSessionPool`, a lean keep-alive `node:http` adapter.
   * - `'direct'`: straight over the session's keep-alive agents (`RestSession.exchange`),
   *   skipping axios's per-request pipeline. Faster; axios interceptors, transforms and a custom
   *   adapter on that `HttpService` are not applied to the KMS's requests (the pool's request
   *   signals still are emitted).
   * @default 'http-service'
   */
  readonly transport?: KmsTransport;
  /**
   * TLS settings of the module's connections to Vault (needs an `https://` `vaultAddr`): `ca`
   * to trust a private CA, `cert` + `key` for mutual TLS, `servername`, and
   * `rejectUnauthorized` (`false` is unsafe, development only). PEM text or file paths, read at
   * startup. Applies to the module's REST pool; a pool built by hand takes it as
   * `new RestSessionPool({ tls })`. See the README section "TLS".
   * @default Node's defaults: built-in CAs, no client certificate, full verification
   */
  readonly tls?: KmsTlsOptions;
  /**
   * Builds the pool that sessions (and {@link SessionInterceptor}'s units of work) come from,
   * given the module's REST pool. Use it to put your database in the same unit of work:
   * `sessionPool: (rest) => new CompositeSessionPool(databasePool, rest)` — the database
   * transaction then commits only after the request's work succeeded. The pool must include
   * `rest` (the KMS takes its HTTP client from it).
   * @default the REST pool itself
   */
  readonly sessionPool?: (rest: RestSessionPool) => ISessionPool;
}

/** See {@link KmsModuleOptions.transport}. @publicApi */
export type KmsTransport = 'http-service' | 'direct';
