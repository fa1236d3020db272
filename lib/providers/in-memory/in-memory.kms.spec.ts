import { Logger } from '@nestjs/common';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KmsUnavailableError } from '../../errors/kms-unavailable.error.js';
import { RestSessionPool } from '../../session/rest-session-pool.js';
import { InMemoryKeyManagementService } from './in-memory.kms.js';

const pool = new RestSessionPool();

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('InMemoryKeyManagementService test affordances', () => {
  it('records every call with its session and tenant', async () => {
    const kms = new InMemoryKeyManagementService();
    await pool.session(async (session) => {
      await kms.generateDek(session, 't1');
      await kms.rotateKek(session, 't1');
      expect(kms.calls).toEqual([
        { operation: 'generateDek', tenantId: 't1', session },
        { operation: 'rotateKek', tenantId: 't1', session },
      ]);
    });
  });

  it('fails the next call on demand, after input validation, then recovers', async () => {
    const kms = new InMemoryKeyManagementService();
    kms.failNext(new KmsUnavailableError('Vault is down (simulated)', 'network'));
    await pool.session(async (session) => {
      await expect(kms.generateDek(session, 't1')).rejects.toBeInstanceOf(KmsUnavailableError);
      await expect(kms.generateDek(session, 't1')).resolves.toMatchObject({
        dek: expect.any(Buffer),
      });
    });
  });

  it('uses the configured key prefix and key type', async () => {
    const kms = new InMemoryKeyManagementService({
      keyPrefix: 'orders-',
      keyType: 'chacha20-poly1305',
    });
    await pool.session(async (session) => {
      const { dek, encryptedDek } = await kms.generateDek(session, 1);
      expect(await kms.decryptDek(session, '1', encryptedDek)).toEqual(dek);
    });
  });

  it('warns when constructed in production', () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    vi.stubEnv('NODE_ENV', 'production');
    new InMemoryKeyManagementService().calls.toString();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('for tests'));
    vi.stubEnv('NODE_ENV', 'test');
    warn.mockClear();
    new InMemoryKeyManagementService().calls.toString();
    expect(warn).not.toHaveBeenCalled();
  });
});
