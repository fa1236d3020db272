import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  KekNotFoundError,
  KmsAbortedError,
  KmsSessionError,
  RestSessionPool,
  VaultTransitService,
  type ISession,
  type KmsModuleOptions,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';

let vault: TransitDevServer;
let rest: RestSessionPool;

beforeEach(async () => {
  vault = await startTransitDevServer();
  rest = new RestSessionPool();
});
afterEach(async () => {
  rest.close();
  await vault.close();
});

const service = (options: Partial<KmsModuleOptions> = {}) =>
  new VaultTransitService({ vaultAddr: vault.address, vaultToken: vault.token, ...options });
const rewraps = () => vault.requests.filter((r) => r.path.includes('/rewrap/')).length;
const versionOf = (ciphertext: Buffer) => /^vault:v(\d+):/.exec(ciphertext.toString())?.[1];

describe.each(['http-service', 'direct'] as const)(
  'rewrap skips ciphertexts on the latest known version (transport: %s)',
  (transport) => {
    it('a ciphertext on the latest known version costs no request and comes back as a copy', async () => {
      const kms = service({ transport });
      const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
      const same = await rest.session((s) => kms.rewrapDek(s, 'acme', encryptedDek));
      expect(rewraps()).toBe(0);
      expect(same.equals(encryptedDek)).toBe(true);
      expect(same.buffer).not.toBe(encryptedDek.buffer);
      expect(same.byteOffset).toBe(0);
    });

    it('the latest version is learned from answers and raised by rotateKek', async () => {
      const kms = service({ transport });
      const { encryptedDek: v1 } = await rest.session((s) => kms.generateDek(s, 'acme'));
      expect(await rest.session((s) => kms.rotateKek(s, 'acme'))).toBe(2);
      const v2 = await rest.session((s) => kms.rewrapDek(s, 'acme', v1));
      expect(versionOf(v2)).toBe('2');
      expect(rewraps()).toBe(1);
      await rest.session((s) => kms.rewrapDek(s, 'acme', v2));
      expect(rewraps()).toBe(1);
    });

    it('a service that knows no version yet asks Vault once, then knows', async () => {
      const writer = service({ transport });
      const { encryptedDek } = await rest.session((s) => writer.generateDek(s, 'acme'));
      const fresh = service({ transport });
      const first = await rest.session((s) => fresh.rewrapDek(s, 'acme', encryptedDek));
      expect(rewraps()).toBe(1);
      expect(versionOf(first)).toBe('1');
      await rest.session((s) => fresh.rewrapDek(s, 'acme', encryptedDek));
      expect(rewraps()).toBe(1);
    });

    it('a rotation by another process: a newer ciphertext is sent, and teaches the new version', async () => {
      const stale = service({ transport });
      const other = service({ transport });
      const { encryptedDek: v1 } = await rest.session((s) => stale.generateDek(s, 'acme'));
      await rest.session((s) => other.rotateKek(s, 'acme'));
      const v2 = await rest.session((s) => other.encryptDek(s, 'acme', Buffer.alloc(32, 7)));
      // `stale` still believes v1 is the latest: v1 is returned as is (the documented limit) …
      await rest.session((s) => stale.rewrapDek(s, 'acme', v1));
      expect(rewraps()).toBe(0);
      // … a v2 ciphertext is above what it knows, so it is sent, and v2 is learned …
      await rest.session((s) => stale.rewrapDek(s, 'acme', v2));
      expect(rewraps()).toBe(1);
      // … after which v1 is rewrapped.
      const rewrapped = await rest.session((s) => stale.rewrapDek(s, 'acme', v1));
      expect(versionOf(rewrapped)).toBe('2');
      expect(rewraps()).toBe(2);
    });

    it('deleteKek forgets the version: a rewrap after a shred asks Vault and fails', async () => {
      const kms = service({ transport });
      const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
      await rest.session((s) => kms.deleteKek(s, 'acme'));
      await expect(
        rest.session((s) => kms.rewrapDek(s, 'acme', encryptedDek)),
      ).rejects.toBeInstanceOf(KekNotFoundError);
      expect(rewraps()).toBe(1);
    });

    it('the version is per key: another tenant on the same version number is not skipped', async () => {
      const kms = service({ transport });
      const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
      await rest.session((s) => kms.generateDek(s, 'globex'));
      await rest.session((s) => kms.rotateKek(s, 'globex'));
      await expect(rest.session((s) => kms.rewrapDek(s, 'globex', encryptedDek))).rejects.toThrow();
      expect(rewraps()).toBe(1);
    });

    it('rewrapDeks sends only the items not on the latest version, results in input order', async () => {
      const kms = service({ transport, batchSize: 1 });
      const old = await rest.session((s) => kms.generateDek(s, 'acme'));
      await rest.session((s) => kms.rotateKek(s, 'acme'));
      const current = await rest.session((s) => kms.generateDek(s, 'acme'));
      const input = [
        current.encryptedDek,
        old.encryptedDek,
        current.encryptedDek,
        old.encryptedDek,
      ];
      const results = await rest.session((s) => kms.rewrapDeks(s, 'acme', input));
      expect(rewraps()).toBe(2); // batchSize 1: one request per item sent
      const values = results.map((r) => (r.ok ? r.value : undefined));
      expect(values.map((v) => v && versionOf(v))).toEqual(['2', '2', '2', '2']);
      expect(values[0]!.equals(current.encryptedDek)).toBe(true);
      expect(values[2]!.equals(current.encryptedDek)).toBe(true);
      expect(values[0]!.buffer).not.toBe(current.encryptedDek.buffer);
      expect(values[1]!.equals(old.encryptedDek)).toBe(false);

      const allCurrent = await rest.session((s) =>
        kms.rewrapDeks(s, 'acme', [current.encryptedDek, current.encryptedDek]),
      );
      expect(allCurrent.every((r) => r.ok)).toBe(true);
      expect(rewraps()).toBe(2);
    });

    it('a skipped rewrap keeps the session rules: an ended session is refused', async () => {
      const kms = service({ transport });
      const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
      let ended: ISession | undefined;
      await rest.session(async (s) => {
        ended = s;
      });
      await expect(kms.rewrapDek(ended!, 'acme', encryptedDek)).rejects.toBeInstanceOf(
        KmsSessionError,
      );
      await expect(kms.rewrapDeks(ended!, 'acme', [encryptedDek])).rejects.toBeInstanceOf(
        KmsSessionError,
      );
    });

    it('rewrapDeks reads the key first: a rotation by another process is never missed', async () => {
      const stale = service({ transport });
      const other = service({ transport });
      const { encryptedDek: v1 } = await rest.session((s) => stale.generateDek(s, 'acme'));
      await rest.session((s) => other.rotateKek(s, 'acme'));
      // `stale` still believes v1 is the latest; the batch call asks Vault and rewraps it.
      const [result] = await rest.session((s) => stale.rewrapDeks(s, 'acme', [v1]));
      expect(result?.ok && versionOf(result.value)).toBe('2');
      expect(
        vault.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/keys/tenant-acme')),
      ).toHaveLength(1);
    });

    it('rewrapDeks: a rotation while the call runs makes the skipped items go out too', async () => {
      const kms = service({ transport, batchSize: 1 });
      const other = service({ transport });
      const old = await rest.session((s) => kms.generateDek(s, 'acme'));
      await rest.session((s) => kms.rotateKek(s, 'acme'));
      const current = await rest.session((s) => kms.generateDek(s, 'acme')); // v2
      // The first rewrap request waits; meanwhile another process rotates to v3, so its answer
      // shows v3 and the v2 item skipped at the start is no longer current.
      vault.injectFault({ kind: 'delay', ms: 300, match: { path: /\/rewrap\// } });
      const pending = rest.session((s) =>
        kms.rewrapDeks(s, 'acme', [old.encryptedDek, current.encryptedDek]),
      );
      await new Promise((r) => setTimeout(r, 100));
      await rest.session((s) => other.rotateKek(s, 'acme'));
      const results = await pending;
      expect(results.map((r) => r.ok && versionOf(r.value))).toEqual(['3', '3']);
    });

    it('an aborted signal ends a rewrap that would be skipped, like any other call', async () => {
      const kms = service({ transport });
      const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
      const signal = AbortSignal.abort();
      await expect(
        rest.session((s) => kms.rewrapDek(s, 'acme', encryptedDek, { signal })),
      ).rejects.toBeInstanceOf(KmsAbortedError);
      await expect(
        rest.session((s) => kms.rewrapDeks(s, 'acme', [encryptedDek], { signal })),
      ).rejects.toBeInstanceOf(KmsAbortedError);
    });

    it('rewrapDek trusts a version only for a while: after 10 s without an answer showing it, it asks', async () => {
      const kms = service({ transport });
      const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
      const realNow = performance.now.bind(performance);
      const later = vi.spyOn(performance, 'now').mockImplementation(() => realNow() + 10_500);
      try {
        await rest.session((s) => kms.rewrapDek(s, 'acme', encryptedDek));
        expect(rewraps()).toBe(1);
        // That answer confirmed v1 again: the next one is skipped.
        await rest.session((s) => kms.rewrapDek(s, 'acme', encryptedDek));
        expect(rewraps()).toBe(1);
      } finally {
        later.mockRestore();
      }
    });

    it('rewrapDeks asks nothing more when no item can be current (all below the version known)', async () => {
      const kms = service({ transport });
      const { encryptedDek: v1 } = await rest.session((s) => kms.generateDek(s, 'acme'));
      await rest.session((s) => kms.rotateKek(s, 'acme')); // known: v2
      const [result] = await rest.session((s) => kms.rewrapDeks(s, 'acme', [v1]));
      expect(result?.ok && versionOf(result.value)).toBe('2');
      expect(vault.requests.filter((r) => r.method === 'GET')).toHaveLength(0);
    });

    it('rewrapDeks against a wrong address prefix is not mistaken for a missing key', async () => {
      const kms = service({ transport });
      const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
      const misplaced = service({ transport, vaultAddr: `${vault.address}/not-vault` });
      const error = await rest
        .session((s) => misplaced.rewrapDeks(s, 'acme', [encryptedDek]))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(KekNotFoundError);
    });
  },
);
