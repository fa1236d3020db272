import { inspect } from 'node:util';
import type { OnApplicationShutdown } from '@nestjs/common';
import { ownedFromUtf8 } from '../../bytes.js';
import { KekNotFoundError } from '../../errors/kek-not-found.error.js';
import { KmsConfigurationError } from '../../errors/kms-configuration.error.js';
import { KmsOutcomeUnknownError } from '../../errors/kms-outcome-unknown.error.js';
import { KmsUnavailableError } from '../../errors/kms-unavailable.error.js';
import { messages } from '../../errors/messages.js';
import type {
  BatchItemResult,
  GeneratedDek,
  IKeyManagementService,
  KmsCallOptions,
  RetireKekOptions,
  TenantId,
} from '../../interfaces/key-management-service.interface.js';
import type { KmsModuleOptions } from '../../interfaces/kms-module-options.interface.js';
import type { ISession } from '../../interfaces/session.interface.js';
import { createTenantKeyNamer, type TenantKeyNamer } from '../../key-naming/tenant-key-namer.js';
import { resolveKmsOptions, type ResolvedKmsOptions } from '../../kms-options.js';
import { extractRestSession } from '../../session/extract-request.js';
import type { RestSession } from '../../session/rest-session.js';
import {
  assertKeyVersion,
  dekAsBase64,
  parseEncryptedDek,
  transitCiphertextVersion,
} from '../../validation/dek-input.js';
import { readBatchResults, readItemError } from './batch-answer.js';
import {
  chunksOf,
  itemError,
  prepareBatch,
  settled,
  zeroValues,
  type ItemErrorContext,
  type PendingItem,
} from './batch-items.js';
import { CallContext } from './call-context.js';
import { DekCache } from './dek-cache.js';
import {
  createKmsSignals,
  emitCacheLookup,
  isObserved,
  runObserved,
  type KmsSignals,
  type ObservedOperation,
} from './kms-signals.js';
import { KnownKeyVersions } from './known-key-versions.js';
import { provablyNotProcessed } from './retry-policy.js';
import { readKeyVersion, readPlaintext, readWrappedDek } from './vault-answer.js';
import { READ_VAULT_HEALTH, readVaultHealth, type VaultHealthReading } from './vault-health.js';
import {
  VaultTransitClient,
  type VaultAnswer,
  type VaultExchange,
  type VaultRequest,
} from './vault-transit.client.js';

const DEK_BYTES = 32;

/** What differs between the three batch operations. */
interface BatchOperation {
  readonly operation: 'encryptDeks' | 'decryptDeks' | 'rewrapDeks';
  readonly route: 'encrypt' | 'decrypt' | 'rewrap';
  readonly what: 'deks' | 'encryptedDeks';
}

const ENCRYPT_DEKS: BatchOperation = { operation: 'encryptDeks', route: 'encrypt', what: 'deks' };
const DECRYPT_DEKS: BatchOperation = {
  operation: 'decryptDeks',
  route: 'decrypt',
  what: 'encryptedDeks',
};
/**
 * How long a key version seen in an answer is trusted to be the latest for `rewrapDek`: a
 * ciphertext on it is returned without a request. Bounds how long a rotation by another process
 * can go unnoticed (any answer showing the newer version ends it at once).
 */
const LATEST_VERSION_TRUST_MS = 10_000;

const REWRAP_DEKS: BatchOperation = {
  operation: 'rewrapDeks',
  route: 'rewrap',
  what: 'encryptedDeks',
};
/**
 * `GET sys/health` (sent through `exchange`, never retried). Unauthenticated: no token is
 * resolved or sent, so a health check neither needs a token nor triggers a login.
 */
const sysHealthRequest = (operation: string): VaultRequest => ({
  operation,
  keyName: '',
  method: 'GET',
  path: 'sys/health',
  outsideMount: true,
  unauthenticated: true,
});

/**
 * {@link IKeyManagementService} over Vault's Transit engine. Each tenant has one Transit key;
 * every call goes through the HTTP client of the session it is given. In the steady state each
 * single-item operation but `deleteKek` costs one request (a rewrap of a current ciphertext
 * none); a batch call one per chunk of `batchSize` items, plus, for `rewrapDeks`, a read of the
 * key when some item may already be current.
 * @publicApi
 */
export class VaultTransitService implements IKeyManagementService, OnApplicationShutdown {
  readonly #options: ResolvedKmsOptions;
  readonly #client: VaultTransitClient;
  readonly #keyNameOf: TenantKeyNamer;
  readonly #versions = new KnownKeyVersions();
  readonly #cache: DekCache | undefined;
  /**
   * Observability signals: each call (operation started/ended), each HTTP request it sends
   * (attempt started/ended) and each DEK cache lookup. Nothing is measured while no listener is
   * connected. `instrumentKms` from `@ascetic-ddd/nestjs-kms/opentelemetry` turns them into
   * OpenTelemetry spans and metrics. Events never carry a token, DEK, ciphertext or body; their
   * `keyName` identifies the tenant.
   */
  readonly signals: KmsSignals = createKmsSignals();

  constructor(options: KmsModuleOptions) {
    this.#options = resolveKmsOptions(options);
    this.#client = new VaultTransitClient(this.#options);
    this.#keyNameOf = createTenantKeyNamer(this.#options);
    const { mount } = this.#options;
    this.#cache =
      this.#options.cache &&
      new DekCache(this.#options.cache, {
        onLookup: (keyName, hit) => emitCacheLookup(this.signals, mount, keyName, hit),
      });
  }

  /**
   * Runs one call of a public operation: straight through while nobody listens to
   * {@link signals}, else as an observed call (operation events, a scope for its attempt and
   * cache events). `input` is what the events describe: a batch's items, a decrypt's ciphertext.
   */
  #observe<T>(
    operation: ObservedOperation,
    tenantId: TenantId | undefined,
    run: () => Promise<T>,
    input?: unknown,
  ): Promise<T> {
    if (!isObserved(this.signals)) return run();
    const keyName = tenantId === undefined ? undefined : this.#mappedKeyName(tenantId);
    return runObserved(
      this.signals,
      { operation, mount: this.#options.mount, keyName, input },
      run,
    );
  }

  /** The key name for the events; undefined when the id cannot be mapped (the call fails). */
  #mappedKeyName(tenantId: TenantId): string | undefined {
    try {
      return this.#keyNameOf(tenantId);
    } catch {
      return undefined;
    }
  }

  /** The Transit key name a tenant maps to (validated; throws for ids that cannot be mapped). */
  keyNameFor(tenantId: TenantId): string {
    return this.#keyNameOf(tenantId);
  }

  encryptDek(
    session: ISession,
    tenantId: TenantId,
    dek: Uint8Array,
    options?: KmsCallOptions,
  ): Promise<Buffer> {
    return this.#observe('encryptDek', tenantId, () =>
      this.#encryptDek(session, tenantId, dek, options),
    );
  }

  async #encryptDek(
    session: ISession,
    tenantId: TenantId,
    dek: Uint8Array,
    options: KmsCallOptions | undefined,
  ): Promise<Buffer> {
    const keyName = this.#keyNameOf(tenantId);
    const plaintext = dekAsBase64(dek);
    const call = this.callContext('encryptDek', options);
    const request: VaultRequest = {
      operation: 'encryptDek',
      keyName,
      method: 'POST',
      path: `encrypt/${keyName}`,
      // `type` only matters when Vault creates the key on this first encrypt (upsert).
      body: { plaintext, type: this.#options.keyType },
      secrets: [plaintext],
    };
    // With upsert disabled (transit/config/keys) a missing key is "encryption key not found".
    const answer = await this.callCreatingKey(session, request, call);
    return this.observed(keyName, 'encryptDek', answer.data);
  }

  decryptDek(
    session: ISession,
    tenantId: TenantId,
    encryptedDek: Uint8Array,
    options?: KmsCallOptions,
  ): Promise<Buffer> {
    return this.#observe(
      'decryptDek',
      tenantId,
      () => this.#decryptDek(session, tenantId, encryptedDek, options),
      encryptedDek,
    );
  }

  async #decryptDek(
    session: ISession,
    tenantId: TenantId,
    encryptedDek: Uint8Array,
    options: KmsCallOptions | undefined,
  ): Promise<Buffer> {
    // Validated before any I/O, and before the cache: a hostile value never becomes a cache key.
    const keyName = this.#keyNameOf(tenantId);
    const { ciphertext } = parseEncryptedDek(encryptedDek);
    const load = async (): Promise<Buffer> => {
      const answer = await this.callWithCiphertext(
        session,
        'decryptDek',
        'decrypt',
        keyName,
        ciphertext,
        options,
      );
      return readPlaintext('decryptDek', answer.data);
    };
    if (!this.#cache) return load();
    extractRestSession(session); // the same session rules for hits as for calls that are sent
    return this.#cache.get(keyName, ciphertext, load);
  }

  generateDek(
    session: ISession,
    tenantId: TenantId,
    options?: KmsCallOptions,
  ): Promise<GeneratedDek> {
    return this.#observe('generateDek', tenantId, () =>
      this.#generateDek(session, tenantId, options),
    );
  }

  async #generateDek(
    session: ISession,
    tenantId: TenantId,
    options: KmsCallOptions | undefined,
  ): Promise<GeneratedDek> {
    const keyName = this.#keyNameOf(tenantId);
    const call = this.callContext('generateDek', options);
    const answer = await this.callCreatingKey(
      session,
      {
        operation: 'generateDek',
        keyName,
        method: 'POST',
        path: `datakey/plaintext/${keyName}`,
        body: { bits: DEK_BYTES * 8 },
      },
      call,
    );
    const encryptedDek = this.observed(keyName, 'generateDek', answer.data);
    return { dek: readPlaintext('generateDek', answer.data, DEK_BYTES), encryptedDek };
  }

  /**
   * Rotates once. A failed rotation is resent only when Vault provably did not process it
   * (sealed, throttled, connection refused). When its answer is lost, the key is read back:
   * a version Vault created after the call began (by Vault's own clock) is the result; if Vault
   * itself failed the request (its own 500) and the latest version predates the call, it is sent
   * again; otherwise — or if anything fails after the rotation was sent — the call fails with
   * {@link KmsOutcomeUnknownError}, never rotating twice.
   */
  rotateKek(session: ISession, tenantId: TenantId, options?: KmsCallOptions): Promise<number> {
    return this.#observe('rotateKek', tenantId, () => this.#rotateKek(session, tenantId, options));
  }

  async #rotateKek(
    session: ISession,
    tenantId: TenantId,
    options: KmsCallOptions | undefined,
  ): Promise<number> {
    const keyName = this.#keyNameOf(tenantId);
    const call = this.callContext('rotateKek', options);
    const rotate: VaultRequest = {
      operation: 'rotateKek',
      keyName,
      method: 'POST',
      path: `keys/${keyName}/rotate`,
      repeatable: 'if-not-processed',
    };
    const began = performance.now();
    let answer: VaultAnswer;
    try {
      answer = await this.call(session, rotate, call);
    } catch (error) {
      if (error instanceof KekNotFoundError) {
        answer = await this.createKey(extractRestSession(session), keyName, 'rotateKek', call);
        // Another caller created and rotated the key meanwhile: creating added no version, so
        // rotate as asked rather than report someone else's version as ours.
        const created = await this.keyObject(session, keyName, answer, call);
        if (readKeyVersion('rotateKek', created, 'latest_version') > 1)
          answer = await this.call(session, rotate, call);
      } else if (mayHaveRotated(error)) {
        answer = await this.recoverLostRotation(session, keyName, rotate, call, began, error);
      } else {
        throw error;
      }
    }
    const version = readKeyVersion(
      'rotateKek',
      await this.keyObject(session, keyName, answer, call),
      'latest_version',
    );
    this.#versions.observe(keyName, version);
    return version;
  }

  /** After a rotation whose answer was lost: the key read back decides (see rotateKek). */
  private async recoverLostRotation(
    session: ISession,
    keyName: string,
    rotate: VaultRequest,
    call: CallContext,
    began: number,
    lost: unknown,
  ): Promise<VaultAnswer> {
    const unknown = new KmsOutcomeUnknownError(messages.rotationOutcomeUnknown(keyName));
    const known = this.#versions.get(keyName);
    try {
      const sent = performance.now();
      const read = await this.readKey(session, keyName, call);
      const outcome = rotationOutcome(read, known, {
        sinceSent: sent - began,
        sinceAnswered: performance.now() - began,
        vaultFailedIt: lost instanceof KmsUnavailableError && lost.status === 500,
      });
      if (outcome === 'rotated') return read;
      if (outcome === 'not-rotated') return await this.call(session, rotate, call);
    } catch {
      // A failed read or resend leaves the outcome unknown.
    }
    throw unknown;
  }

  rewrapDek(
    session: ISession,
    tenantId: TenantId,
    encryptedDek: Uint8Array,
    options?: KmsCallOptions,
  ): Promise<Buffer> {
    return this.#observe('rewrapDek', tenantId, () =>
      this.#rewrapDek(session, tenantId, encryptedDek, options),
    );
  }

  async #rewrapDek(
    session: ISession,
    tenantId: TenantId,
    encryptedDek: Uint8Array,
    options: KmsCallOptions | undefined,
  ): Promise<Buffer> {
    const keyName = this.#keyNameOf(tenantId);
    const { ciphertext, version } = parseEncryptedDek(encryptedDek);
    if (this.#versions.confirmed(keyName, LATEST_VERSION_TRUST_MS) === version) {
      extractRestSession(session); // the same session rules as for calls that are sent
      this.callContext('rewrapDek', options).assertCanContinue(); // and an aborted call ends
      return ownedFromUtf8(ciphertext);
    }
    const answer = await this.callWithCiphertext(
      session,
      'rewrapDek',
      'rewrap',
      keyName,
      ciphertext,
      options,
    );
    return this.observed(keyName, 'rewrapDek', answer.data);
  }

  /**
   * Batch `encryptDek` over `batch_input` (see {@link IKeyManagementService.encryptDeks}): chunks
   * of `batchSize` items, one request each, sent one after the other; each chunk is a call of its
   * own for retries and `deadlineMs`. A missing key is created by upsert, or created and the chunk
   * sent again when upsert is disabled.
   */
  encryptDeks(
    session: ISession,
    tenantId: TenantId,
    deks: readonly Uint8Array[],
    options?: KmsCallOptions,
  ): Promise<BatchItemResult<Buffer>[]> {
    return this.#observe(
      'encryptDeks',
      tenantId,
      () => this.batch(session, tenantId, deks, options, ENCRYPT_DEKS),
      deks,
    );
  }

  /** Batch `decryptDek` (see {@link encryptDeks}); a missing key fails the whole call. */
  decryptDeks(
    session: ISession,
    tenantId: TenantId,
    encryptedDeks: readonly Uint8Array[],
    options?: KmsCallOptions,
  ): Promise<BatchItemResult<Buffer>[]> {
    return this.#observe(
      'decryptDeks',
      tenantId,
      () => this.batch(session, tenantId, encryptedDeks, options, DECRYPT_DEKS),
      encryptedDeks,
    );
  }

  /** Batch `rewrapDek` (see {@link encryptDeks}); a missing key fails the whole call. */
  rewrapDeks(
    session: ISession,
    tenantId: TenantId,
    encryptedDeks: readonly Uint8Array[],
    options?: KmsCallOptions,
  ): Promise<BatchItemResult<Buffer>[]> {
    return this.#observe(
      'rewrapDeks',
      tenantId,
      () => this.batch(session, tenantId, encryptedDeks, options, REWRAP_DEKS),
      encryptedDeks,
    );
  }

  /**
   * Validates the tenant id (else the whole call fails) and each item (an invalid one gets its
   * error and is not sent), then sends the valid items chunk by chunk. Decrypted DEKs already
   * received are zeroed if a later chunk fails the call.
   */
  private async batch(
    session: ISession,
    tenantId: TenantId,
    input: readonly Uint8Array[],
    options: KmsCallOptions | undefined,
    kind: BatchOperation,
  ): Promise<BatchItemResult<Buffer>[]> {
    const keyName = this.#keyNameOf(tenantId);
    const encrypting = kind.route === 'encrypt';
    const { results, pending } = prepareBatch(input, kind.what, (item) =>
      encrypting ? dekAsBase64(item) : parseEncryptedDek(item).ciphertext,
    );
    const rest = extractRestSession(session);
    this.callContext(kind.operation, options).assertCanContinue();
    try {
      if (kind.route === 'rewrap') {
        await this.rewrapBatch(rest, keyName, pending, results, options);
      } else {
        for (const chunk of chunksOf(pending, this.#options.batchSize)) {
          await this.sendChunk(rest, keyName, chunk, results, kind, options);
        }
      }
    } catch (error) {
      if (kind.route === 'decrypt') zeroValues(results);
      throw error;
    }
    return settled(results);
  }

  /**
   * The items of a `rewrapDeks` call: the key's latest version is read first (one request, so
   * that a rotation by another process is never missed — unless no item can be current, see
   * {@link latestForRewrap}), items already on it come back as they are, the others are sent
   * chunk by chunk. Should an answer show that the key was rotated meanwhile, the skipped items
   * are sent too.
   */
  private async rewrapBatch(
    rest: RestSession,
    keyName: string,
    pending: readonly PendingItem[],
    results: (BatchItemResult<Buffer> | undefined)[],
    options: KmsCallOptions | undefined,
  ): Promise<void> {
    if (pending.length === 0) return;
    const latest = await this.latestForRewrap(rest, keyName, pending, options);
    const skipped: PendingItem[] = [];
    const toSend: PendingItem[] = [];
    for (const item of pending) {
      if (latest !== undefined && transitCiphertextVersion(item.text) === latest) {
        results[item.index] = { ok: true, value: ownedFromUtf8(item.text) };
        skipped.push(item);
      } else toSend.push(item);
    }
    for (const chunk of chunksOf(toSend, this.#options.batchSize)) {
      await this.sendChunk(rest, keyName, chunk, results, REWRAP_DEKS, options);
    }
    if (latest !== undefined && skipped.length > 0 && (this.#versions.get(keyName) ?? 0) > latest) {
      for (const chunk of chunksOf(skipped, this.#options.batchSize)) {
        await this.sendChunk(rest, keyName, chunk, results, REWRAP_DEKS, options);
      }
    }
  }

  /**
   * The key's latest version read from Vault, or undefined when there is nothing to skip: every
   * item is below the version already known (a lower bound: none can be current, no need to
   * ask), or the read found no key — then all items go out, and the rewrap's own answer tells a
   * missing key (KekNotFoundError) from, say, a wrong address prefix.
   */
  private async latestForRewrap(
    rest: RestSession,
    keyName: string,
    pending: readonly PendingItem[],
    options: KmsCallOptions | undefined,
  ): Promise<number | undefined> {
    const known = this.#versions.get(keyName);
    if (
      known !== undefined &&
      pending.every((item) => (transitCiphertextVersion(item.text) ?? 0) < known)
    ) {
      return undefined;
    }
    let read: VaultAnswer;
    try {
      read = await this.#client.send(
        rest,
        { operation: 'rewrapDeks', keyName, method: 'GET', path: `keys/${keyName}` },
        this.callContext('rewrapDeks', options),
      );
    } catch (error) {
      if (error instanceof KekNotFoundError) return undefined;
      throw error;
    }
    const latest = readKeyVersion('rewrapDeks', read.data, 'latest_version');
    this.#versions.observe(keyName, latest);
    return latest;
  }

  /** One request for `chunk`; fills the chunk's slots of `results`. */
  private async sendChunk(
    rest: RestSession,
    keyName: string,
    chunk: readonly PendingItem[],
    results: (BatchItemResult<Buffer> | undefined)[],
    kind: BatchOperation,
    options: KmsCallOptions | undefined,
  ): Promise<void> {
    const { operation, route } = kind;
    const encrypting = route === 'encrypt';
    const field = encrypting ? 'plaintext' : 'ciphertext';
    const references = chunk.map((item) => String(item.index));
    const secrets = encrypting ? chunk.map((item) => item.text) : [];
    const request: VaultRequest = {
      operation,
      keyName,
      method: 'POST',
      path: `${route}/${keyName}`,
      body: {
        batch_input: chunk.map((item, i) => ({ [field]: item.text, reference: references[i] })),
        // `type` only matters when Vault creates the key on this first encrypt (upsert).
        ...(encrypting ? { type: this.#options.keyType } : {}),
      },
      secrets,
      batch: true,
    };
    const call = this.callContext(operation, options);
    let answer: VaultAnswer;
    try {
      answer = await this.#client.send(rest, request, call);
    } catch (error) {
      // With upsert disabled (transit/config/keys) a missing key is "encryption key not found".
      if (!encrypting || !(error instanceof KekNotFoundError)) throw error;
      await this.createKey(rest, keyName, operation, call);
      answer = await this.#client.send(rest, request, call);
    }
    const rows = readBatchResults(operation, answer.data, references);
    const context: ItemErrorContext = { operation, keyName, mount: this.#options.mount, secrets };
    rows.forEach((row, i) => {
      const slot = (chunk[i] as PendingItem).index;
      const failure = readItemError(operation, row);
      if (failure !== undefined) {
        results[slot] = { ok: false, error: itemError(context, failure) };
      } else if (route === 'decrypt') {
        results[slot] = { ok: true, value: readPlaintext(operation, row) };
      } else {
        results[slot] = { ok: true, value: this.observed(keyName, operation, row) };
      }
    });
  }

  deleteKek(session: ISession, tenantId: TenantId, options?: KmsCallOptions): Promise<void> {
    return this.#observe('deleteKek', tenantId, () => this.#deleteKek(session, tenantId, options));
  }

  async #deleteKek(
    session: ISession,
    tenantId: TenantId,
    options: KmsCallOptions | undefined,
  ): Promise<void> {
    const keyName = this.#keyNameOf(tenantId);
    this.#versions.forget(keyName);
    this.#cache?.purgeKey(keyName);
    const call = this.callContext('deleteKek', options);
    let config: VaultAnswer;
    try {
      config = await this.call(
        session,
        {
          operation: 'deleteKek',
          keyName,
          method: 'POST',
          path: `keys/${keyName}/config`,
          body: { deletion_allowed: true },
        },
        call,
      );
    } catch (error) {
      // Never created, or already shredded: deletion has converged.
      if (error instanceof KekNotFoundError) return;
      throw error;
    }
    // Vault >= 1.14 answers with the key object; anything else is not the key we meant to shred.
    if (config.data !== undefined && config.data['name'] !== keyName) {
      throw new KmsUnavailableError(
        messages.badResponse('deleteKek', 'the key configuration answer names another key'),
        'bad-response',
        { status: config.status },
      );
    }
    try {
      await this.call(
        session,
        { operation: 'deleteKek', keyName, method: 'DELETE', path: `keys/${keyName}` },
        call,
      );
    } catch (error) {
      // Deleted by a concurrent call between our two requests.
      if (!(error instanceof KekNotFoundError)) throw error;
    }
    // And again now the key is gone: nothing loaded meanwhile may stay cached.
    this.#cache?.purgeKey(keyName);
  }

  /**
   * Retires KEK versions below `minVersion`: they stop decrypting (`min_decryption_version`);
   * with `trim`, Vault deletes them for good (`keys/:name/trim`). Rewrap stored DEKs first. Both
   * requests are idempotent, so the call can be repeated.
   */
  retireKekVersions(
    session: ISession,
    tenantId: TenantId,
    minVersion: number,
    options?: RetireKekOptions,
  ): Promise<void> {
    return this.#observe('retireKekVersions', tenantId, () =>
      this.#retireKekVersions(session, tenantId, minVersion, options),
    );
  }

  async #retireKekVersions(
    session: ISession,
    tenantId: TenantId,
    minVersion: number,
    options: RetireKekOptions | undefined,
  ): Promise<void> {
    const keyName = this.#keyNameOf(tenantId);
    assertKeyVersion(minVersion);
    this.#cache?.purgeVersionsBelow(keyName, minVersion);
    const call = this.callContext('retireKekVersions', options);
    await this.call(
      session,
      {
        operation: 'retireKekVersions',
        keyName,
        method: 'POST',
        path: `keys/${keyName}/config`,
        // Vault trims only with min_encryption_version set; encryption uses the latest anyway.
        body: {
          min_decryption_version: minVersion,
          ...(options?.trim ? { min_encryption_version: minVersion } : {}),
        },
      },
      call,
    );
    if (options?.trim) {
      await this.call(
        session,
        {
          operation: 'retireKekVersions',
          keyName,
          method: 'POST',
          path: `keys/${keyName}/trim`,
          body: { min_available_version: minVersion },
        },
        call,
      );
    }
  }

  /** Checks Vault is reachable, initialised and unsealed, and that the token is accepted. */
  setup(session: ISession, options?: KmsCallOptions): Promise<void> {
    return this.#observe('setup', undefined, () => this.#setup(session, options));
  }

  async #setup(session: ISession, options: KmsCallOptions | undefined): Promise<void> {
    const rest = extractRestSession(session);
    const call = this.callContext('setup', options);
    const healthRequest = sysHealthRequest('setup');
    const health = await this.#client.exchange(rest, healthRequest, call);
    // Standby codes (429, 473) are a serving node, not a rate limit: its requests reach the
    // active node. A node that exists but cannot serve (sealed, uninitialised, DR secondary,
    // a standby cut off from its active node, removed) is unavailable.
    const reading = readVaultHealth(health.status, health.body);
    if (reading.state !== undefined && !reading.serving) {
      const sealed =
        reading.state === 'sealed' ||
        reading.state === 'uninitialized' ||
        health.body?.['sealed'] === true;
      throw new KmsUnavailableError(
        messages.unavailable('setup', reading.problem ?? `sys/health answered ${health.status}`),
        sealed ? 'sealed' : 'server-error',
        { status: health.status },
      );
    }
    if (!reading.serving) throw this.setupError(healthRequest, health);
    if (health.body?.['initialized'] !== true || health.body['sealed'] !== false) {
      throw new KmsUnavailableError(
        messages.badResponse('setup', 'sys/health did not describe an initialised, unsealed Vault'),
        'bad-response',
        { status: health.status },
      );
    }
    // Needs `read` on auth/token/lookup-self, which Vault's default policy grants.
    const lookupRequest: VaultRequest = {
      operation: 'setup',
      keyName: '',
      method: 'GET',
      path: 'auth/token/lookup-self',
      outsideMount: true,
    };
    const lookup = await this.#client.exchange(rest, lookupRequest, call);
    if (lookup.status < 200 || lookup.status >= 300) throw this.setupError(lookupRequest, lookup);
  }

  /**
   * sys/health and lookup-self never answer 400/404/405/413 from a Vault: such an answer means
   * vaultAddr does not lead to Vault's API. Denials, rate limits and 5xx are classified as usual.
   */
  private setupError(request: VaultRequest, answer: VaultExchange): Error {
    const { status, errors } = answer;
    if (status >= 400 && status < 500 && ![401, 403, 407, 429].includes(status)) {
      return new KmsConfigurationError(messages.notVault('setup', request.path, status), {
        status,
        vaultErrors: errors,
      });
    }
    return this.#client.classify(request, answer);
  }

  /**
   * One `sys/health` read through the session's HTTP client, never retried (the health
   * indicator's check). Internal: keyed by a symbol the main entry does not export.
   * @internal
   */
  async [READ_VAULT_HEALTH](
    session: ISession,
    options?: KmsCallOptions,
  ): Promise<VaultHealthReading> {
    const call = this.callContext('healthCheck', options);
    const rest = extractRestSession(session);
    const answer = await this.#client.exchange(rest, sysHealthRequest('healthCheck'), call);
    return readVaultHealth(answer.status, answer.body);
  }

  cleanup(_session: ISession, _options?: KmsCallOptions): Promise<void> {
    // Nothing to release: keys are never deleted on cleanup, the HTTP client belongs to the pool.
    return this.#observe('cleanup', undefined, () => Promise.resolve());
  }

  /**
   * Stops the auth method's token renewal timers (they are `unref`'d, so they never hold the
   * process open either). Calls still work afterwards: a token is logged in on demand.
   */
  close(): void {
    this.#options.vaultToken.close();
  }

  onApplicationShutdown(): void {
    this.close();
  }

  /** Logs and serializes without options or token. */
  toJSON(): Record<string, unknown> {
    return { service: 'VaultTransitService', mount: this.#options.mount };
  }

  [inspect.custom](): string {
    return `VaultTransitService { mount: '${this.#options.mount}' }`;
  }

  /** A ciphertext from an answer; notes the version it names (the key's latest then). */
  private observed(
    keyName: string,
    operation: string,
    data: Record<string, unknown> | undefined,
  ): Buffer {
    const { ciphertext, version } = readWrappedDek(operation, data);
    this.#versions.observe(keyName, version);
    return ciphertext;
  }

  private callContext(operation: string, options: KmsCallOptions | undefined): CallContext {
    const signal = options?.signal;
    return new CallContext(operation, this.#options.deadlineMs, signal);
  }

  private call(session: ISession, request: VaultRequest, call: CallContext): Promise<VaultAnswer> {
    return this.#client.send(extractRestSession(session), request, call);
  }

  /** Sends `request`; if the key is missing, creates it and sends `request` once more. */
  private async callCreatingKey(
    session: ISession,
    request: VaultRequest,
    call: CallContext,
  ): Promise<VaultAnswer> {
    try {
      return await this.call(session, request, call);
    } catch (error) {
      if (!(error instanceof KekNotFoundError)) throw error;
      await this.createKey(extractRestSession(session), request.keyName, request.operation, call);
      return this.call(session, request, call);
    }
  }

  private callWithCiphertext(
    session: ISession,
    operation: 'decryptDek' | 'rewrapDek',
    route: 'decrypt' | 'rewrap',
    keyName: string,
    ciphertext: string,
    options: KmsCallOptions | undefined,
  ): Promise<VaultAnswer> {
    return this.call(
      session,
      { operation, keyName, method: 'POST', path: `${route}/${keyName}`, body: { ciphertext } },
      this.callContext(operation, options),
    );
  }

  private createKey(
    rest: RestSession,
    keyName: string,
    operation: string,
    call: CallContext,
  ): Promise<VaultAnswer> {
    return this.#client.send(
      rest,
      {
        operation,
        keyName,
        method: 'POST',
        path: `keys/${keyName}`,
        body: { type: this.#options.keyType },
      },
      call,
    );
  }

  private async readKey(
    session: ISession,
    keyName: string,
    call: CallContext,
  ): Promise<VaultAnswer> {
    return this.call(
      session,
      { operation: 'rotateKek', keyName, method: 'GET', path: `keys/${keyName}` },
      call,
    );
  }

  /** The key object of a keys/* answer; Vault < 1.14 answers 204, then it is read. */
  private async keyObject(
    session: ISession,
    keyName: string,
    answer: VaultAnswer,
    call: CallContext,
  ): Promise<Record<string, unknown> | undefined> {
    if (answer.data) return answer.data;
    return (await this.readKey(session, keyName, call)).data;
  }
}

/** A failure after which Vault may have processed the rotation (its answer was lost). */
function mayHaveRotated(error: unknown): boolean {
  return (
    error instanceof KmsUnavailableError &&
    ['network', 'timeout', 'server-error', 'bad-response'].includes(error.reason) &&
    !provablyNotProcessed(error)
  );
}

interface ReadTiming {
  /** Milliseconds from the call's start to sending the key read. */
  readonly sinceSent: number;
  /** Milliseconds from the call's start to the key read's answer. */
  readonly sinceAnswered: number;
  /** Whether Vault itself answered the rotation with its own 500 (it finished the request). */
  readonly vaultFailedIt: boolean;
}

/**
 * Whether a rotation whose answer was lost happened, from the key read back.
 *
 * Vault's clock bounds when the call began: its `Date` header on the read (whole seconds, the
 * moment it answered) and the elapsed times measured here put the start in
 * [date − sinceAnswered, date + 1 s − sinceSent). A version created (whole seconds) at or after
 * that interval's end came after the start; one created before its beginning, before it.
 *
 * - rotated: the latest version came after the start, or it is newer than any version this
 *   service saw before and not provably older than the start (a rotation at the call's time);
 * - not rotated: Vault itself failed the request (its own 500, so nothing is still running) and
 *   the latest version is the one seen before or provably older than the start;
 * - otherwise unknown (a timeout or reset may still be applied later; another instance may have
 *   deleted and re-created the key).
 */
function rotationOutcome(
  read: VaultAnswer,
  known: number | undefined,
  timing: ReadTiming,
): 'rotated' | 'not-rotated' | 'unknown' {
  const latest = read.data?.['latest_version'];
  if (typeof latest !== 'number') return 'unknown';
  const created = (read.data?.['keys'] as Record<string, unknown> | undefined)?.[String(latest)];
  const dated = read.date !== undefined && typeof created === 'number';
  const createdMs = (created as number) * 1000;
  const date = read.date as number;
  const afterStart = dated && createdMs >= date + 1000 - timing.sinceSent;
  const beforeStart = dated && createdMs + 1000 <= date - timing.sinceAnswered;
  if (afterStart) return 'rotated';
  if (known !== undefined && latest > known && !beforeStart) return 'rotated';
  if (timing.vaultFailedIt && ((known !== undefined && latest === known) || beforeStart)) {
    return 'not-rotated';
  }
  return 'unknown';
}
