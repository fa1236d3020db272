import type { VaultTokenProvider } from '../interfaces/kms-module-options.interface.js';

/**
 * A Vault token given directly: a string, or a function returning the current one (see
 * `KmsModuleOptions.tokenCacheMs`). The same as the `vaultToken` option. Never renewed by the
 * library: whoever issues it keeps it alive.
 * @publicApi
 */
export interface TokenAuthOptions {
  readonly method: 'token';
  readonly token: string | VaultTokenProvider;
}

/**
 * A token read from a file that something else keeps current — typically a Vault Agent sink,
 * which replaces the file (by rename) when it renews or re-authenticates. The file is read again
 * at most once a second, and at once after Vault refused its token: a new token is used within
 * about a second. Surrounding whitespace is ignored. Never renewed by the library.
 * @publicApi
 */
export interface TokenFileAuthOptions {
  readonly method: 'tokenFile';
  /** Path of the file holding the token. */
  readonly path: string;
}

/**
 * AppRole login (`POST auth/<mount>/login`). Give `secretId`, or `secretIdFile` (read at every
 * login, e.g. a file a deployment tool rotates).
 * @publicApi
 */
export interface AppRoleAuthOptions {
  readonly method: 'approle';
  readonly roleId: string;
  /** The secret id; never logged, never part of an error. */
  readonly secretId?: string;
  /** A file holding the secret id, read at every login (surrounding whitespace ignored). */
  readonly secretIdFile?: string;
  /** Where the AppRole method is mounted. @default 'approle' */
  readonly mount?: string;
}

/**
 * Kubernetes login (`POST auth/<mount>/login`) with the pod's service-account JWT, read from
 * `jwtFile` at every login, since projected tokens rotate.
 * @publicApi
 */
export interface KubernetesAuthOptions {
  readonly method: 'kubernetes';
  /** The Vault role bound to the service account. */
  readonly role: string;
  /** @default '/var/run/secrets/kubernetes.io/serviceaccount/token' */
  readonly jwtFile?: string;
  /** Where the Kubernetes method is mounted. @default 'kubernetes' */
  readonly mount?: string;
}

/**
 * How the library gets its Vault token (see `KmsModuleOptions.auth`).
 * @publicApi
 */
export type VaultAuthOptions =
  TokenAuthOptions | TokenFileAuthOptions | AppRoleAuthOptions | KubernetesAuthOptions;
