import type { TenantId } from './key-management-service.interface.js';
import type { ISessionPool } from './session.interface.js';
import type { RestSessionPool } from '../session/rest-session-pool.js';

/** Transit key types usable for wrapping DEKs (the types Vault can create on first encrypt). @publicApi */
export type VaultKeyType = 'aes256-gcm96' | 'aes128-gcm96' | 'chacha20-poly1305';

/**
 * Options of `KmsModule.forRoot()` and of `VaultTransitService`.
 * @publicApi
 */
export interface KmsModuleOptions {
  /** Vault's address, e.g. `https://vault.internal:8200` (a path prefix is allowed for proxies). */
  readonly vaultAddr: string;
  /** The Vault token sent as `X-Vault-Token`. Never logged, never part of an error. */
  readonly vaultToken: string;
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
   * Upper bound of concurrent keep-alive connections to Vault.
   * @default 32
   */
  readonly maxSockets?: number;
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
