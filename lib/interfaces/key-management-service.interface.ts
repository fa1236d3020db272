import type { KmsError } from '../errors/kms.error.js';
import type { ISession } from './session.interface.js';

/** A tenant's identifier. `1`, `1n` and `"1"` name the same tenant. @publicApi */
export type TenantId = string | number | bigint;

/** A fresh data-encryption key, in plaintext and wrapped under the tenant's KEK. @publicApi */
export interface GeneratedDek {
  /** 32 random bytes. Use it, then drop it (or `fill(0)`); never store it. */
  readonly dek: Buffer;
  /** The Vault ciphertext (`vault:v<N>:<base64>`) as UTF-8 bytes; store it beside the data. */
  readonly encryptedDek: Buffer;
}

/** Per-call options, the last parameter of every method. @publicApi */
export interface KmsCallOptions {
  /**
   * Cancels the call: a request in flight and any wait between retries stop at once, and the
   * call rejects with `KmsAbortedError`. Vault may already have processed a request in flight.
   */
  readonly signal?: AbortSignal;
}

/**
 * The outcome of one item of a batch call (`encryptDeks`, `decryptDeks`, `rewrapDeks`): its value,
 * or the typed error of that item alone. A batch call resolves with one per input item, in input
 * order. @publicApi
 */
export type BatchItemResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: KmsError };

/** Options of `retireKekVersions`. @publicApi */
export interface RetireKekOptions extends KmsCallOptions {
  /** Also delete the retired versions for good (Vault's `trim`); they can never decrypt again. */
  readonly trim?: boolean;
}

/**
 * Envelope encryption with one key-encryption key (KEK) per tenant. Every method takes the
 * session first (its HTTP client or transaction), then the tenant id.
 * @publicApi
 */
export interface IKeyManagementService {
  /** Wraps `dek` with the tenant's current KEK version; creates the KEK if the tenant has none. */
  encryptDek(
    session: ISession,
    tenantId: TenantId,
    dek: Uint8Array,
    options?: KmsCallOptions,
  ): Promise<Buffer>;
  /** Unwraps a DEK produced by `encryptDek`, `generateDek` or `rewrapDek` for the same tenant. */
  decryptDek(
    session: ISession,
    tenantId: TenantId,
    encryptedDek: Uint8Array,
    options?: KmsCallOptions,
  ): Promise<Buffer>;
  /** A new 256-bit DEK, plaintext and wrapped; creates the KEK if the tenant has none. */
  generateDek(
    session: ISession,
    tenantId: TenantId,
    options?: KmsCallOptions,
  ): Promise<GeneratedDek>;
  /** Adds a KEK version (creates version 1 if the tenant has no KEK) and returns its number. */
  rotateKek(session: ISession, tenantId: TenantId, options?: KmsCallOptions): Promise<number>;
  /**
   * Re-wraps a stored DEK under the latest KEK version without revealing it. A ciphertext already
   * on the latest version, as an answer from Vault showed it within the last 10 seconds (any
   * answer carrying a version, and `rotateKek`, refresh this), is returned as it is — a copy —
   * without a request: it is then not verified, so a tampered or another tenant's ciphertext on
   * that version comes back unchanged and fails where it is used, in `decryptDek`. A rotation by
   * another process can go unnoticed for those 10 seconds; `rewrapDeks` always checks the key.
   */
  rewrapDek(
    session: ISession,
    tenantId: TenantId,
    encryptedDek: Uint8Array,
    options?: KmsCallOptions,
  ): Promise<Buffer>;
  /**
   * Batch `encryptDek`: wraps each DEK with the tenant's current KEK version, creating the KEK if
   * the tenant has none. Resolves with one result per item, in input order: a bad item (invalid
   * before any I/O, or refused by Vault) gets its own typed error and never fails the others.
   * The whole call rejects only for a bad tenant id or input that is not an array, and for
   * failures of a whole request (unreachable or sealed Vault after retries, 403, deadline,
   * abort, an answer that is not understood). Sent in chunks of `batchSize` items.
   */
  encryptDeks(
    session: ISession,
    tenantId: TenantId,
    deks: readonly Uint8Array[],
    options?: KmsCallOptions,
  ): Promise<BatchItemResult<Buffer>[]>;
  /**
   * Batch `decryptDek`, with the semantics of {@link encryptDeks}; a tenant without a KEK rejects
   * the whole call with `KekNotFoundError`.
   */
  decryptDeks(
    session: ISession,
    tenantId: TenantId,
    encryptedDeks: readonly Uint8Array[],
    options?: KmsCallOptions,
  ): Promise<BatchItemResult<Buffer>[]>;
  /**
   * Batch `rewrapDek`, with the semantics of {@link encryptDeks}; a tenant without a KEK rejects
   * the whole call with `KekNotFoundError`. The key's latest version is read first (one request
   * per call); items already on it come back as they are, unsent and unverified (see
   * {@link rewrapDek}), and are rewrapped after all should an answer show a rotation meanwhile.
   */
  rewrapDeks(
    session: ISession,
    tenantId: TenantId,
    encryptedDeks: readonly Uint8Array[],
    options?: KmsCallOptions,
  ): Promise<BatchItemResult<Buffer>[]>;
  /**
   * Retires KEK versions below `minVersion`: DEKs wrapped under them stop decrypting (rewrap
   * first); with `trim`, the versions are deleted for good. Idempotent.
   */
  retireKekVersions(
    session: ISession,
    tenantId: TenantId,
    minVersion: number,
    options?: RetireKekOptions,
  ): Promise<void>;
  /** Crypto-shredding: destroys the tenant's KEK and every version of it. Idempotent. */
  deleteKek(session: ISession, tenantId: TenantId, options?: KmsCallOptions): Promise<void>;
  /** Checks the backend can serve calls (Vault: reachable, unsealed, token accepted). */
  setup(session: ISession, options?: KmsCallOptions): Promise<void>;
  /** Releases what `setup` acquired. Never deletes keys. */
  cleanup(session: ISession, options?: KmsCallOptions): Promise<void>;
}
