import { KekNotFoundError } from '../../errors/kek-not-found.error.js';
import { KmsAccessDeniedError } from '../../errors/kms-access-denied.error.js';
import { KmsUnavailableError } from '../../errors/kms-unavailable.error.js';
import { messages } from '../../errors/messages.js';
import type {
  GeneratedDek,
  IKeyManagementService,
  TenantId,
} from '../../interfaces/key-management-service.interface.js';
import type { KmsModuleOptions } from '../../interfaces/kms-module-options.interface.js';
import type { ISession } from '../../interfaces/session.interface.js';
import { createTenantKeyNamer, type TenantKeyNamer } from '../../key-naming/tenant-key-namer.js';
import { resolveKmsOptions, type ResolvedKmsOptions } from '../../kms-options.js';
import { extractRequest } from '../../session/extract-request.js';
import { assertDek, parseEncryptedDek } from '../../validation/dek-input.js';
import { readCiphertext, readKeyVersion, readPlaintext } from './vault-answer.js';
import { VaultTransitClient, type VaultRequest } from './vault-transit.client.js';

const DEK_BITS = 256;
/** sys/health statuses of a node that can serve (active, standby, DR secondary, perf standby). */
const SERVING_HEALTH = new Set([200, 429, 472, 473]);

/**
 * {@link IKeyManagementService} over Vault's Transit engine. Each tenant has one Transit key;
 * every call goes through the HTTP client of the session it is given. In the steady state each
 * operation but `deleteKek` costs one request.
 * @publicApi
 */
export class VaultTransitService implements IKeyManagementService {
  private readonly options: ResolvedKmsOptions;
  private readonly client: VaultTransitClient;
  private readonly keyNameOf: TenantKeyNamer;

  constructor(options: KmsModuleOptions) {
    this.options = resolveKmsOptions(options);
    this.client = new VaultTransitClient(this.options);
    this.keyNameOf = createTenantKeyNamer(this.options);
  }

  /** The Transit key name a tenant maps to (validated; throws for ids that cannot be mapped). */
  keyNameFor(tenantId: TenantId): string {
    return this.keyNameOf(tenantId);
  }

  async encryptDek(session: ISession, tenantId: TenantId, dek: Uint8Array): Promise<Buffer> {
    const keyName = this.keyNameOf(tenantId);
    assertDek(dek);
    const answer = await this.call(session, {
      operation: 'encryptDek',
      keyName,
      method: 'POST',
      path: `encrypt/${keyName}`,
      // `type` only matters when Vault creates the key on this first encrypt (upsert).
      body: {
        plaintext: Buffer.from(dek.buffer, dek.byteOffset, dek.byteLength).toString('base64'),
        type: this.options.keyType,
      },
    });
    return Buffer.from(readCiphertext('encryptDek', answer.data), 'utf8');
  }

  async decryptDek(
    session: ISession,
    tenantId: TenantId,
    encryptedDek: Uint8Array,
  ): Promise<Buffer> {
    const keyName = this.keyNameOf(tenantId);
    const { ciphertext } = parseEncryptedDek(encryptedDek);
    const answer = await this.call(session, {
      operation: 'decryptDek',
      keyName,
      method: 'POST',
      path: `decrypt/${keyName}`,
      body: { ciphertext },
    });
    return readPlaintext('decryptDek', answer.data);
  }

  async generateDek(session: ISession, tenantId: TenantId): Promise<GeneratedDek> {
    const keyName = this.keyNameOf(tenantId);
    const request: VaultRequest = {
      operation: 'generateDek',
      keyName,
      method: 'POST',
      path: `datakey/plaintext/${keyName}`,
      body: { bits: DEK_BITS },
    };
    let answer;
    try {
      answer = await this.call(session, request);
    } catch (error) {
      if (!(error instanceof KekNotFoundError)) throw error;
      await this.createKey(session, keyName, 'generateDek');
      answer = await this.call(session, request);
    }
    const encryptedDek = Buffer.from(readCiphertext('generateDek', answer.data), 'utf8');
    return { dek: readPlaintext('generateDek', answer.data), encryptedDek };
  }

  async rotateKek(session: ISession, tenantId: TenantId): Promise<number> {
    const keyName = this.keyNameOf(tenantId);
    let answer;
    try {
      answer = await this.call(session, {
        operation: 'rotateKek',
        keyName,
        method: 'POST',
        path: `keys/${keyName}/rotate`,
      });
    } catch (error) {
      if (!(error instanceof KekNotFoundError)) throw error;
      answer = await this.createKey(session, keyName, 'rotateKek');
    }
    // Vault < 1.14 answers 204 without the key object: read it.
    const data =
      answer.data ??
      (
        await this.call(session, {
          operation: 'rotateKek',
          keyName,
          method: 'GET',
          path: `keys/${keyName}`,
        })
      ).data;
    return readKeyVersion('rotateKek', data, 'latest_version');
  }

  async rewrapDek(
    session: ISession,
    tenantId: TenantId,
    encryptedDek: Uint8Array,
  ): Promise<Buffer> {
    const keyName = this.keyNameOf(tenantId);
    const { ciphertext } = parseEncryptedDek(encryptedDek);
    const answer = await this.call(session, {
      operation: 'rewrapDek',
      keyName,
      method: 'POST',
      path: `rewrap/${keyName}`,
      body: { ciphertext },
    });
    return Buffer.from(readCiphertext('rewrapDek', answer.data), 'utf8');
  }

  async deleteKek(session: ISession, tenantId: TenantId): Promise<void> {
    const keyName = this.keyNameOf(tenantId);
    try {
      await this.call(session, {
        operation: 'deleteKek',
        keyName,
        method: 'POST',
        path: `keys/${keyName}/config`,
        body: { deletion_allowed: true },
      });
      await this.call(session, {
        operation: 'deleteKek',
        keyName,
        method: 'DELETE',
        path: `keys/${keyName}`,
      });
    } catch (error) {
      // Already gone (never created, or deleted by a concurrent call): shredding has converged.
      if (!(error instanceof KekNotFoundError)) throw error;
    }
  }

  /** Checks Vault is reachable, initialised and unsealed, and that the token is accepted. */
  async setup(session: ISession): Promise<void> {
    const http = extractRequest(session);
    const health = await this.client.exchange(http, {
      operation: 'setup',
      keyName: '',
      method: 'GET',
      path: 'sys/health',
      outsideMount: true,
    });
    if (!SERVING_HEALTH.has(health.status)) {
      const sealed = health.body?.['sealed'] === true;
      throw new KmsUnavailableError(
        messages.unavailable(
          'setup',
          sealed ? 'Vault is sealed' : `sys/health answered ${health.status}`,
        ),
        sealed ? 'sealed' : 'server-error',
        { status: health.status },
      );
    }
    const lookup = await this.client.exchange(http, {
      operation: 'setup',
      keyName: '',
      method: 'GET',
      path: 'auth/token/lookup-self',
      outsideMount: true,
    });
    if (lookup.status === 403) {
      const invalidToken = lookup.errors.some(
        (e) => e.includes('invalid token') || e === 'permission denied',
      );
      throw new KmsAccessDeniedError(
        messages.accessDenied('setup', lookup.errors.join('; ') || 'HTTP 403', invalidToken),
        {
          status: 403,
          vaultErrors: lookup.errors,
        },
      );
    }
  }

  async cleanup(_session: ISession): Promise<void> {
    // Nothing to release: keys are never deleted on cleanup, the HTTP client belongs to the pool.
  }

  private call(session: ISession, request: VaultRequest) {
    return this.client.send(extractRequest(session), request);
  }

  private createKey(session: ISession, keyName: string, operation: string) {
    return this.call(session, {
      operation,
      keyName,
      method: 'POST',
      path: `keys/${keyName}`,
      body: { type: this.options.keyType },
    });
  }
}
