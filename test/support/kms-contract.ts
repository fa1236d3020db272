import { describe, expect, it } from 'vitest';
import type { IKeyManagementService, ISession, ISessionPool, TenantId } from '../../lib/index.js';
import { RecordingSessionPool } from './recording-session-pool.js';
import { expectNoSecrets } from './secrets.js';
import {
  KekNotFoundError,
  KmsDecryptionError,
  KmsInvalidInputError,
  KmsSessionError,
} from '../../lib/index.js';

/** What one backend under the contract provides. */
export interface KmsContractSubject {
  readonly kms: IKeyManagementService;
  readonly pool: ISessionPool;
  /** Sets a tenant key's min_decryption_version out of band (as an operator would in Vault). */
  setMinDecryptionVersion(tenantId: TenantId, version: number): Promise<void>;
  /** How many requests reached the backend so far (I/O count), if it can tell. */
  ioCount(): number;
  close(): Promise<void>;
}

let tenantSequence = 0;
/** A tenant id no other test (nor a previous run against a long-lived Vault) uses. */
export function freshTenant(): string {
  tenantSequence += 1;
  return `contract-${process.pid}-${Date.now().toString(36)}-${tenantSequence}`;
}

type ContractWork = (
  kms: IKeyManagementService,
  session: ISession,
  subject: KmsContractSubject,
) => Promise<void>;

async function runWithSubject(
  open: () => Promise<KmsContractSubject>,
  work: ContractWork,
): Promise<void> {
  const subject = await open();
  try {
    await subject.pool.session((session) => work(subject.kms, session, subject));
  } finally {
    await subject.close();
  }
}

const VAULT_CIPHERTEXT = /^vault:v\d+:[A-Za-z0-9+/]+={0,2}$/;

/**
 * The one contract every IKeyManagementService must honour: the seed's eight integration
 * scenarios and ours. `open` is called per test and must give an isolated subject.
 */
export function describeKmsContract(
  name: string,
  open: () => Promise<KmsContractSubject>,
  options: { readonly skipReason?: string } = {},
): void {
  const suite = options.skipReason ? describe.skip : describe;
  const withKms = (work: ContractWork) => runWithSubject(open, work);
  suite(`IKeyManagementService contract: ${name}`, () => {
    // --- the seed's eight scenarios -------------------------------------------------------
    it('seed 1: rotate, then encrypt and decrypt a DEK', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        await kms.rotateKek(s, tenant);
        const dek = Buffer.alloc(32, 7);
        const wrapped = await kms.encryptDek(s, tenant, dek);
        expect(await kms.decryptDek(s, tenant, wrapped)).toEqual(dek);
      }));

    it('seed 2: generateDek returns a 32-byte DEK that its encryptedDek decrypts to', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        const { dek, encryptedDek } = await kms.generateDek(s, tenant);
        expect(dek).toBeInstanceOf(Buffer);
        expect(dek).toHaveLength(32);
        expect(await kms.decryptDek(s, tenant, encryptedDek)).toEqual(dek);
      }));

    it('seed 3: rotateKek returns 1 for a new tenant, then 2', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        expect(await kms.rotateKek(s, tenant)).toBe(1);
        expect(await kms.rotateKek(s, tenant)).toBe(2);
      }));

    it('seed 4: a DEK wrapped before a rotation still decrypts after it', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        const { dek, encryptedDek } = await kms.generateDek(s, tenant);
        await kms.rotateKek(s, tenant);
        expect(await kms.decryptDek(s, tenant, encryptedDek)).toEqual(dek);
      }));

    it('seed 5: rewrap after rotation gives a new ciphertext on the new version, same DEK', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        const { dek, encryptedDek } = await kms.generateDek(s, tenant);
        expect(encryptedDek.toString()).toMatch(/^vault:v1:/);
        await kms.rotateKek(s, tenant);
        const rewrapped = await kms.rewrapDek(s, tenant, encryptedDek);
        expect(rewrapped.toString()).toMatch(/^vault:v2:/);
        expect(rewrapped.equals(encryptedDek)).toBe(false);
        expect(await kms.decryptDek(s, tenant, rewrapped)).toEqual(dek);
      }));

    it('seed 6: after deleteKek the tenant’s DEKs no longer decrypt (crypto-shredding)', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        const { encryptedDek } = await kms.generateDek(s, tenant);
        await kms.deleteKek(s, tenant);
        const error = await kms.decryptDek(s, tenant, encryptedDek).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(KekNotFoundError);
        expect(error).toMatchObject({ code: 'KMS_KEK_NOT_FOUND', retryable: false });
      }));

    it('seed 7: encryptDek creates the tenant’s KEK on first use', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        const dek = Buffer.from('0123456789abcdef0123456789abcdef');
        const wrapped = await kms.encryptDek(s, tenant, dek);
        expect(wrapped.toString()).toMatch(/^vault:v1:/);
        expect(await kms.decryptDek(s, tenant, wrapped)).toEqual(dek);
        expect(await kms.rotateKek(s, tenant)).toBe(2);
      }));

    it('seed 8: tenant isolation — another tenant cannot decrypt a DEK', () =>
      withKms(async (kms, s) => {
        const owner = freshTenant();
        const other = freshTenant();
        const { encryptedDek } = await kms.generateDek(s, owner);
        await expect(kms.decryptDek(s, other, encryptedDek)).rejects.toBeInstanceOf(
          KekNotFoundError,
        );
        await kms.generateDek(s, other);
        const error = await kms.decryptDek(s, other, encryptedDek).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(KmsDecryptionError);
        expect((error as KmsDecryptionError).vaultErrors).toEqual([
          'cipher: message authentication failed',
        ]);
      }));

    // --- beyond the seed ------------------------------------------------------------------
    it('wrapped DEKs are Vault ciphertext strings as UTF-8 bytes', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        const wrapped = await kms.encryptDek(s, tenant, Buffer.alloc(16, 1));
        expect(wrapped).toBeInstanceOf(Buffer);
        expect(wrapped.toString('utf8')).toMatch(VAULT_CIPHERTEXT);
        // nonce (12) + 16 bytes + tag (16)
        expect(Buffer.from(wrapped.toString().split(':')[2] ?? '', 'base64')).toHaveLength(44);
      }));

    it('deleteKek is idempotent, also for a tenant that never had a key', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        await kms.deleteKek(s, freshTenant());
        await kms.generateDek(s, tenant);
        await kms.deleteKek(s, tenant);
        await kms.deleteKek(s, tenant);
        await expect(kms.rotateKek(s, tenant)).resolves.toBe(1);
      }));

    it('after shredding, a new KEK starts at v1 and old DEKs stay unreadable', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        const { encryptedDek: v1 } = await kms.generateDek(s, tenant);
        await kms.rotateKek(s, tenant);
        const v2 = await kms.rewrapDek(s, tenant, v1);
        await kms.deleteKek(s, tenant);
        const fresh = await kms.encryptDek(s, tenant, Buffer.alloc(32, 3));
        expect(fresh.toString()).toMatch(/^vault:v1:/);
        const [e1, e2] = await Promise.all([
          kms.decryptDek(s, tenant, v1).catch((e: unknown) => e),
          kms.decryptDek(s, tenant, v2).catch((e: unknown) => e),
        ]);
        expect(e1).toBeInstanceOf(KmsDecryptionError);
        expect((e1 as KmsDecryptionError).vaultErrors).toEqual([
          'cipher: message authentication failed',
        ]);
        expect(e2).toBeInstanceOf(KmsDecryptionError);
        expect((e2 as KmsDecryptionError).vaultErrors).toEqual([
          'invalid ciphertext: version is too new',
        ]);
      }));

    it('versions below min_decryption_version stop decrypting; rewrapped DEKs keep working', () =>
      withKms(async (kms, s, subject) => {
        const tenant = freshTenant();
        const { dek, encryptedDek } = await kms.generateDek(s, tenant);
        await kms.rotateKek(s, tenant);
        const rewrapped = await kms.rewrapDek(s, tenant, encryptedDek);
        await subject.setMinDecryptionVersion(tenant, 2);
        const error = await kms.decryptDek(s, tenant, encryptedDek).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(KmsDecryptionError);
        expect((error as KmsDecryptionError).vaultErrors).toEqual([
          'ciphertext or signature version is disallowed by policy (too old)',
        ]);
        expect(await kms.decryptDek(s, tenant, rewrapped)).toEqual(dek);
      }));

    it('1, 1n and "1"-like ids address the same tenant', () =>
      withKms(async (kms, s) => {
        const base = 9_000_000 + (Date.now() % 1_000_000) * 100 + (tenantSequence++ % 100);
        const wrapped = await kms.encryptDek(s, base, Buffer.alloc(32, 9));
        expect(await kms.decryptDek(s, BigInt(base), wrapped)).toEqual(Buffer.alloc(32, 9));
        expect(await kms.decryptDek(s, String(base), wrapped)).toEqual(Buffer.alloc(32, 9));
        await kms.deleteKek(s, base);
      }));

    it('a tampered ciphertext fails as a decryption error, in decrypt and in rewrap (older version)', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        const { encryptedDek } = await kms.generateDek(s, tenant);
        await kms.rotateKek(s, tenant); // v1 is no longer the latest: rewrap must open it
        const text = encryptedDek.toString();
        const payload = Buffer.from(text.slice('vault:v1:'.length), 'base64');
        payload[20] = (payload[20] ?? 0) ^ 0x01;
        const tampered = Buffer.from(`vault:v1:${payload.toString('base64')}`);
        await expect(kms.decryptDek(s, tenant, tampered)).rejects.toBeInstanceOf(
          KmsDecryptionError,
        );
        await expect(kms.rewrapDek(s, tenant, tampered)).rejects.toBeInstanceOf(KmsDecryptionError);
        const [item] = await kms.rewrapDeks(s, tenant, [tampered]);
        expect(item?.ok === false && item.error).toBeInstanceOf(KmsDecryptionError);
      }));

    it('rewrap returns a ciphertext already on the latest version as it is (a copy), unverified', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        const { dek, encryptedDek } = await kms.generateDek(s, tenant);
        const same = await kms.rewrapDek(s, tenant, encryptedDek);
        expect(same.equals(encryptedDek)).toBe(true);
        expect(same.buffer).not.toBe(encryptedDek.buffer);
        expect(await kms.decryptDek(s, tenant, same)).toEqual(dek);
        // Not opened, so not verified: a tampered ciphertext on the latest version comes back
        // unchanged, and fails where it is used — decryption.
        const text = encryptedDek.toString();
        const payload = Buffer.from(text.slice('vault:v1:'.length), 'base64');
        payload[20] = (payload[20] ?? 0) ^ 0x01;
        const tampered = Buffer.from(`vault:v1:${payload.toString('base64')}`);
        expect((await kms.rewrapDek(s, tenant, tampered)).equals(tampered)).toBe(true);
        const [item] = await kms.rewrapDeks(s, tenant, [tampered]);
        expect(item?.ok && item.value.equals(tampered)).toBe(true);
        await expect(kms.decryptDek(s, tenant, tampered)).rejects.toBeInstanceOf(
          KmsDecryptionError,
        );
        // Malformed input is still refused before anything else.
        await expect(kms.rewrapDek(s, tenant, Buffer.from('vault:v1:'))).rejects.toBeInstanceOf(
          KmsInvalidInputError,
        );
      }));

    it('rewrapDeks: current ciphertexts come back as they are, older ones rewrapped, in order', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        const first = await kms.generateDek(s, tenant);
        await kms.rotateKek(s, tenant);
        const second = await kms.generateDek(s, tenant);
        const results = await kms.rewrapDeks(s, tenant, [
          first.encryptedDek,
          second.encryptedDek,
          first.encryptedDek,
        ]);
        const values = results.map((result) => {
          if (!result.ok) throw result.error;
          return result.value;
        });
        expect(values.map((v) => v.toString().slice(0, 9))).toEqual([
          'vault:v2:',
          'vault:v2:',
          'vault:v2:',
        ]);
        expect(values[1]!.equals(second.encryptedDek)).toBe(true);
        expect(values[0]!.equals(first.encryptedDek)).toBe(false);
        expect(await kms.decryptDek(s, tenant, values[0]!)).toEqual(first.dek);
        expect(await kms.decryptDek(s, tenant, values[1]!)).toEqual(second.dek);
      }));

    it('hostile tenant ids and malformed inputs are refused before any I/O', () =>
      withKms(async (kms, s, subject) => {
        const tenant = freshTenant();
        const { encryptedDek } = await kms.generateDek(s, tenant);
        const before = subject.ioCount();
        const hostileIds: unknown[] = [
          'a/rotate',
          '../sys/seal',
          'x%2Fconfig',
          '',
          'ünï',
          'a b',
          'a..b',
          'a-',
          'a\nb',
          'a?list=true',
          'a#x',
          '%2e%2e',
          1.5,
          -0.5,
          Number.NaN,
          null,
          undefined,
          {},
          [],
          true,
          'a'.repeat(300),
        ];
        for (const id of hostileIds) {
          await expect(kms.generateDek(s, id as TenantId)).rejects.toBeInstanceOf(
            KmsInvalidInputError,
          );
          await expect(kms.rotateKek(s, id as TenantId)).rejects.toBeInstanceOf(
            KmsInvalidInputError,
          );
          await expect(kms.deleteKek(s, id as TenantId)).rejects.toBeInstanceOf(
            KmsInvalidInputError,
          );
          await expect(kms.decryptDek(s, id as TenantId, encryptedDek)).rejects.toBeInstanceOf(
            KmsInvalidInputError,
          );
        }
        const badDeks: unknown[] = [
          Buffer.alloc(0),
          'a string',
          [1, 2, 3],
          null,
          undefined,
          42,
          Buffer.alloc(2048),
        ];
        for (const dek of badDeks) {
          await expect(kms.encryptDek(s, tenant, dek as Uint8Array)).rejects.toBeInstanceOf(
            KmsInvalidInputError,
          );
        }
        const badCiphertexts: unknown[] = [
          Buffer.alloc(0),
          encryptedDek.toString(),
          Buffer.from('garbage'),
          Buffer.from('vault:v1:'),
          Buffer.from('vault:v0:' + encryptedDek.toString().slice(9)),
          Buffer.from('vault:vX:' + encryptedDek.toString().slice(9)),
          Buffer.from('vault:v1:AAAA'),
          Buffer.from(encryptedDek.toString().slice(0, -1)),
          Buffer.from(encryptedDek.toString().replace(/.$/, '-')),
          Buffer.from('age:v1:' + encryptedDek.toString().slice(9)),
          Buffer.from([0xff, 0xfe, 0xfd]),
          Buffer.from(encryptedDek.toString() + '\n'),
        ];
        for (const bad of badCiphertexts) {
          await expect(kms.decryptDek(s, tenant, bad as Uint8Array)).rejects.toBeInstanceOf(
            KmsInvalidInputError,
          );
          await expect(kms.rewrapDek(s, tenant, bad as Uint8Array)).rejects.toBeInstanceOf(
            KmsInvalidInputError,
          );
        }
        expect(subject.ioCount()).toBe(before);
      }));

    it('no error of any kind carries the plaintext DEK', () =>
      withKms(async (kms, s) => {
        const owner = freshTenant();
        const other = freshTenant();
        const { dek, encryptedDek } = await kms.generateDek(s, owner);
        await kms.generateDek(s, other);
        // v1 is not `other`'s latest: its rewrap opens the ciphertext (and fails: wrong key).
        await kms.rotateKek(s, other);
        const text = encryptedDek.toString();
        const at = 'vault:v1:'.length + 10;
        const tampered = Buffer.from(
          text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1),
        );
        const errors = [
          await kms.decryptDek(s, other, encryptedDek).catch((e: unknown) => e),
          await kms.rewrapDek(s, other, encryptedDek).catch((e: unknown) => e),
          await kms.decryptDek(s, owner, tampered).catch((e: unknown) => e),
          await kms.decryptDek(s, freshTenant(), encryptedDek).catch((e: unknown) => e),
          await kms.encryptDek(s, 'a/b', dek).catch((e: unknown) => e),
          await kms
            .encryptDek(s, owner, Buffer.concat([dek, Buffer.alloc(1024)]))
            .catch((e: unknown) => e),
        ];
        for (const error of errors) {
          expect(error).toBeInstanceOf(Error);
          expectNoSecrets(error, [dek]);
        }
      }));

    it('returned DEKs and ciphertexts own their memory (no shared pool slab)', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        const { dek, encryptedDek } = await kms.generateDek(s, tenant);
        const outputs = [
          dek,
          encryptedDek,
          await kms.decryptDek(s, tenant, encryptedDek),
          await kms.encryptDek(s, tenant, dek),
          await kms.rewrapDek(s, tenant, encryptedDek),
        ];
        for (const output of outputs) {
          expect(output.byteOffset).toBe(0);
          expect(output.buffer.byteLength).toBe(output.length);
        }
        expect(dek.buffer).not.toBe(encryptedDek.buffer);
      }));

    it('concurrent rotations of a new tenant never report the same rotated version twice', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        const versions = await Promise.all(
          Array.from({ length: 6 }, () => kms.rotateKek(s, tenant)),
        );
        const rotated = versions.filter((v) => v > 1);
        expect(new Set(rotated).size).toBe(rotated.length);
        const latest = await kms.rotateKek(s, tenant);
        expect(latest).toBeGreaterThan(Math.max(...versions));
      }));

    it('a session without a REST part is refused, as VaultTransitService requires one', async () => {
      const subject = await open();
      try {
        await new RecordingSessionPool('db').session(async (session) => {
          await expect(subject.kms.generateDek(session, freshTenant())).rejects.toBeInstanceOf(
            KmsSessionError,
          );
        });
      } finally {
        await subject.close();
      }
    });

    it('concurrent first uses of a tenant all succeed and share one KEK', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        const generated = await Promise.all(
          Array.from({ length: 8 }, () => kms.generateDek(s, tenant)),
        );
        for (const { dek, encryptedDek } of generated) {
          expect(encryptedDek.toString()).toMatch(/^vault:v1:/);
          expect(await kms.decryptDek(s, tenant, encryptedDek)).toEqual(dek);
        }
      }));

    it('a session used after its scope ended is refused', async () => {
      const subject = await open();
      try {
        const stale = await subject.pool.session(async (session) => session);
        await expect(subject.kms.generateDek(stale, freshTenant())).rejects.toBeInstanceOf(
          KmsSessionError,
        );
      } finally {
        await subject.close();
      }
    });

    it('works inside nested atomic scopes', () =>
      withKms(async (kms, s) => {
        const tenant = freshTenant();
        const dek = await s.atomic((tx) =>
          tx.atomic(async (inner) => kms.generateDek(inner, tenant)),
        );
        expect(await kms.decryptDek(s, tenant, dek.encryptedDek)).toEqual(dek.dek);
      }));
  });
}
