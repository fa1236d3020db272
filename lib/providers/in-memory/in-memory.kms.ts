import { Logger } from '@nestjs/common';
import { ownedCopy, ownedFromBase64, ownedFromUtf8 } from '../../bytes.js';
import { extractRequest } from '../../session/extract-request.js';
import { classifyVaultError } from '../../errors/classify-vault-error.js';
import { KekNotFoundError } from '../../errors/kek-not-found.error.js';
import type { KmsError } from '../../errors/kms.error.js';
import { TransitEngine } from '../../engine/transit-engine.js';
import { TransitError } from '../../engine/transit.error.js';
import type {
  BatchItemResult,
  GeneratedDek,
  IKeyManagementService,
  KmsCallOptions,
  RetireKekOptions,
  TenantId,
} from '../../interfaces/key-management-service.interface.js';
import type {
  KmsModuleOptions,
  VaultKeyType,
} from '../../interfaces/kms-module-options.interface.js';
import type { ISession } from '../../interfaces/session.interface.js';
import { KmsAbortedError } from '../../errors/kms-aborted.error.js';
import { messages } from '../../errors/messages.js';
import { createTenantKeyNamer, type TenantKeyNamer } from '../../key-naming/tenant-key-namer.js';
import {
  assertKeyVersion,
  dekAsBase64,
  parseEncryptedDek,
  transitCiphertextVersion,
} from '../../validation/dek-input.js';
import type { ItemResult } from '../../engine/transit-engine.js';
import {
  itemError,
  prepareBatch,
  settled,
  type PendingItem,
} from '../vault-transit/batch-items.js';

/** @publicApi */
export type InMemoryKmsOptions = Pick<KmsModuleOptions, 'keyPrefix' | 'keyName' | 'keyType'>;

/** One recorded call. @publicApi */
export interface InMemoryKmsCall {
  readonly operation: keyof IKeyManagementService;
  readonly tenantId?: TenantId;
  readonly session: ISession;
}

const IN_MEMORY_MOUNT = 'in-memory';

/**
 * {@link IKeyManagementService} with Vault Transit's semantics and no I/O, for tests: versions,
 * rotation, rewrap, min decryption version, shredding, tenant isolation, `vault:v<N>:` ciphertexts,
 * real AES-256-GCM and the same error classes as {@link VaultTransitService}. It records every call
 * and can be told to fail the next one.
 * @publicApi
 */
export class InMemoryKeyManagementService implements IKeyManagementService {
  private readonly engine = new TransitEngine();
  private readonly keyNameOf: TenantKeyNamer;
  private readonly keyType: VaultKeyType;
  private readonly recorded: InMemoryKmsCall[] = [];
  private readonly failures: KmsError[] = [];

  constructor(options: InMemoryKmsOptions = {}) {
    this.keyNameOf = createTenantKeyNamer(options);
    this.keyType = options.keyType ?? 'aes256-gcm96';
    if (process.env['NODE_ENV'] === 'production') {
      new Logger('InMemoryKeyManagementService').warn(
        'InMemoryKeyManagementService is for tests: its keys live in this process only and are lost on exit.',
      );
    }
  }

  /** Every call so far, in order. */
  get calls(): readonly InMemoryKmsCall[] {
    return this.recorded;
  }

  /** Makes the next call fail with `error` (after input validation, as an I/O failure would). */
  failNext(error: KmsError): void {
    this.failures.push(error);
  }

  /** Changes a key's configuration as `POST transit/keys/:name/config` would (e.g. min_decryption_version). */
  configureKek(
    tenantId: TenantId,
    config: { minDecryptionVersion?: number; minEncryptionVersion?: number },
  ): void {
    const keyName = this.keyNameOf(tenantId);
    this.run('configureKek', keyName, () => this.engine.configureKey(keyName, config));
  }

  async encryptDek(
    session: ISession,
    tenantId: TenantId,
    dek: Uint8Array,
    options?: KmsCallOptions,
  ): Promise<Buffer> {
    const keyName = this.keyNameOf(tenantId);
    const plaintext = dekAsBase64(dek);
    this.enter('encryptDek', session, tenantId, options);
    const [result] = this.run('encryptDek', keyName, () =>
      this.engine.encrypt(keyName, [{ plaintext }], false, {
        allowed: true,
        type: this.keyType,
      }),
    );
    return ownedFromUtf8(result?.ciphertext ?? '');
  }

  async decryptDek(
    session: ISession,
    tenantId: TenantId,
    encryptedDek: Uint8Array,
    options?: KmsCallOptions,
  ): Promise<Buffer> {
    const keyName = this.keyNameOf(tenantId);
    const { ciphertext } = parseEncryptedDek(encryptedDek);
    this.enter('decryptDek', session, tenantId, options);
    const [result] = this.run('decryptDek', keyName, () =>
      this.engine.decrypt(keyName, [{ ciphertext }], false),
    );
    return ownedFromBase64(result?.plaintext ?? '');
  }

  async generateDek(
    session: ISession,
    tenantId: TenantId,
    options?: KmsCallOptions,
  ): Promise<GeneratedDek> {
    const keyName = this.keyNameOf(tenantId);
    this.enter('generateDek', session, tenantId, options);
    const generated = this.run('generateDek', keyName, () => {
      if (!this.engine.hasKey(keyName)) this.engine.createKey(keyName, { type: this.keyType });
      return this.engine.dataKey(keyName, { bits: 256 });
    });
    const dek = ownedCopy(generated.plaintext);
    generated.plaintext.fill(0);
    return { dek, encryptedDek: ownedFromUtf8(generated.ciphertext) };
  }

  async rotateKek(
    session: ISession,
    tenantId: TenantId,
    options?: KmsCallOptions,
  ): Promise<number> {
    const keyName = this.keyNameOf(tenantId);
    this.enter('rotateKek', session, tenantId, options);
    const key = this.run('rotateKek', keyName, () =>
      this.engine.hasKey(keyName)
        ? this.engine.rotateKey(keyName)
        : this.engine.createKey(keyName, { type: this.keyType }),
    );
    return key['latest_version'] as number;
  }

  async rewrapDek(
    session: ISession,
    tenantId: TenantId,
    encryptedDek: Uint8Array,
    options?: KmsCallOptions,
  ): Promise<Buffer> {
    const keyName = this.keyNameOf(tenantId);
    const { ciphertext, version } = parseEncryptedDek(encryptedDek);
    this.enter('rewrapDek', session, tenantId, options);
    if (version === this.latestVersion(keyName)) return ownedFromUtf8(ciphertext);
    const [result] = this.run('rewrapDek', keyName, () =>
      this.engine.rewrap(keyName, [{ ciphertext }], false),
    );
    return ownedFromUtf8(result?.ciphertext ?? '');
  }

  /** Batch `encryptDek`, with {@link VaultTransitService.encryptDeks}'s semantics (no chunks). */
  async encryptDeks(
    session: ISession,
    tenantId: TenantId,
    deks: readonly Uint8Array[],
    options?: KmsCallOptions,
  ): Promise<BatchItemResult<Buffer>[]> {
    return this.batch('encryptDeks', session, tenantId, deks, options, (keyName, pending) =>
      this.engine.encrypt(
        keyName,
        pending.map((item) => ({ plaintext: item.text })),
        true,
        { allowed: true, type: this.keyType },
      ),
    );
  }

  /** Batch `decryptDek`; a missing key fails the whole call. */
  async decryptDeks(
    session: ISession,
    tenantId: TenantId,
    encryptedDeks: readonly Uint8Array[],
    options?: KmsCallOptions,
  ): Promise<BatchItemResult<Buffer>[]> {
    return this.batch(
      'decryptDeks',
      session,
      tenantId,
      encryptedDeks,
      options,
      (keyName, pending) =>
        this.engine.decrypt(
          keyName,
          pending.map((item) => ({ ciphertext: item.text })),
          true,
        ),
    );
  }

  /**
   * Batch `rewrapDek`; a missing key fails the whole call. Like {@link rewrapDek}, ciphertexts
   * already on the latest version come back as they are.
   */
  async rewrapDeks(
    session: ISession,
    tenantId: TenantId,
    encryptedDeks: readonly Uint8Array[],
    options?: KmsCallOptions,
  ): Promise<BatchItemResult<Buffer>[]> {
    return this.batch(
      'rewrapDeks',
      session,
      tenantId,
      encryptedDeks,
      options,
      (keyName, pending) => {
        const latest = this.latestVersion(keyName);
        const current = (item: PendingItem): boolean =>
          latest !== undefined && transitCiphertextVersion(item.text) === latest;
        const toRewrap = pending.filter((item) => !current(item));
        const rewrapped =
          toRewrap.length === 0
            ? []
            : this.engine.rewrap(
                keyName,
                toRewrap.map((item) => ({ ciphertext: item.text })),
                true,
              );
        // Rows in `pending`'s order: a current ciphertext is its own result.
        let next = 0;
        return pending.map((item) =>
          current(item)
            ? { ciphertext: item.text, reference: '' }
            : (rewrapped[next++] as ItemResult),
        );
      },
    );
  }

  /**
   * Validates as VaultTransitService does (tenant id for the whole call, then each item), records
   * one call, and runs the valid items in one engine batch; item errors stay in their slots.
   */
  private batch(
    operation: 'encryptDeks' | 'decryptDeks' | 'rewrapDeks',
    session: ISession,
    tenantId: TenantId,
    input: readonly Uint8Array[],
    options: KmsCallOptions | undefined,
    work: (keyName: string, pending: readonly PendingItem[]) => ItemResult[],
  ): BatchItemResult<Buffer>[] {
    const keyName = this.keyNameOf(tenantId);
    const encrypting = operation === 'encryptDeks';
    const { results, pending } = prepareBatch(
      input,
      encrypting ? 'deks' : 'encryptedDeks',
      (item) => (encrypting ? dekAsBase64(item) : parseEncryptedDek(item).ciphertext),
    );
    this.enter(operation, session, tenantId, options);
    if (pending.length === 0) return settled(results);
    const rows = this.run(operation, keyName, () => work(keyName, pending));
    const context = {
      operation,
      keyName,
      mount: IN_MEMORY_MOUNT,
      secrets: encrypting ? pending.map((item) => item.text) : [],
    };
    rows.forEach((row, i) => {
      const slot = (pending[i] as PendingItem).index;
      if (row.error) results[slot] = { ok: false, error: itemError(context, row.error) };
      else if (operation === 'decryptDeks')
        results[slot] = { ok: true, value: ownedFromBase64(row.plaintext ?? '') };
      else results[slot] = { ok: true, value: ownedFromUtf8(row.ciphertext ?? '') };
    });
    return settled(results);
  }

  /** The key's latest version, or undefined when it does not exist. */
  private latestVersion(keyName: string): number | undefined {
    const latest = this.engine.readKey(keyName)?.['latest_version'];
    return typeof latest === 'number' ? latest : undefined;
  }

  async deleteKek(session: ISession, tenantId: TenantId, options?: KmsCallOptions): Promise<void> {
    const keyName = this.keyNameOf(tenantId);
    this.enter('deleteKek', session, tenantId, options);
    try {
      this.run('deleteKek', keyName, () => {
        this.engine.configureKey(keyName, { deletionAllowed: true });
        this.engine.deleteKey(keyName);
      });
    } catch (error) {
      if (!(error instanceof KekNotFoundError)) throw error;
    }
  }

  async retireKekVersions(
    session: ISession,
    tenantId: TenantId,
    minVersion: number,
    options?: RetireKekOptions,
  ): Promise<void> {
    const keyName = this.keyNameOf(tenantId);
    assertKeyVersion(minVersion);
    this.enter('retireKekVersions', session, tenantId, options);
    this.run('retireKekVersions', keyName, () => {
      this.engine.configureKey(keyName, {
        minDecryptionVersion: minVersion,
        ...(options?.trim ? { minEncryptionVersion: minVersion } : {}),
      });
      if (options?.trim) this.engine.trimKey(keyName, minVersion);
    });
  }

  async setup(session: ISession, options?: KmsCallOptions): Promise<void> {
    this.enter('setup', session, undefined, options);
  }

  async cleanup(session: ISession, options?: KmsCallOptions): Promise<void> {
    this.enter('cleanup', session, undefined, options);
  }

  /**
   * Checks the session as VaultTransitService would (active, with a REST part, no scope open)
   * and the caller's signal, records the call, and fails it if told to.
   */
  private enter(
    operation: keyof IKeyManagementService,
    session: ISession,
    tenantId: TenantId | undefined,
    options: KmsCallOptions | undefined,
  ): void {
    extractRequest(session);
    if (options?.signal?.aborted) throw new KmsAbortedError(messages.callAborted(operation));
    this.recorded.push({ operation, ...(tenantId !== undefined ? { tenantId } : {}), session });
    const failure = this.failures.shift();
    if (failure) throw failure;
  }

  /** Runs an engine operation; Vault-shaped failures become the same errors as over HTTP. */
  private run<T>(operation: string, keyName: string, work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (!(error instanceof TransitError)) throw error;
      throw classifyVaultError({
        operation,
        method: 'POST',
        keyName,
        mount: IN_MEMORY_MOUNT,
        status: error.status,
        errors: error.errors,
      });
    }
  }
}
