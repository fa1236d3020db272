import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  KmsAbortedError,
  KmsUnavailableError,
  RestSessionPool,
  VaultTransitService,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';

let vault: TransitDevServer;
let pool: RestSessionPool;
beforeEach(async () => {
  vault = await startTransitDevServer();
  pool = new RestSessionPool({ maxSockets: 8 });
});
afterEach(async () => {
  pool.close();
  await vault.close();
});

describe.each(['http-service', 'direct'] as const)(
  'at most maxSockets requests in flight; the others wait unbuilt (transport: %s)',
  (transport) => {
    const service = (maxSockets: number, timeoutMs = 10_000) =>
      new VaultTransitService({
        vaultAddr: vault.address,
        vaultToken: vault.token,
        maxSockets,
        timeoutMs,
        retry: false,
        transport,
      });

    it('maxSockets 2: 20 concurrent calls never have more than 2 requests at Vault', async () => {
      const kms = service(2);
      const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
      let inFlight = 0;
      let peak = 0;
      pool.signals.requestStarted.connect(() => {
        inFlight += 1;
        peak = Math.max(peak, inFlight);
      });
      pool.signals.requestEnded.connect(() => {
        inFlight -= 1;
      });
      vault.injectFault({ kind: 'delay', ms: 20, times: Infinity });
      const results = await Promise.all(
        Array.from({ length: 20 }, () =>
          pool.session((s) => kms.decryptDek(s, 'acme', encryptedDek)),
        ),
      );
      expect(results).toHaveLength(20);
      expect(peak).toBe(2);
    });

    it('waiting for a slot counts against timeoutMs: a queued call gets only what is left', async () => {
      const kms = service(1, 1_000);
      const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
      vault.injectFault({ kind: 'delay', ms: 5_000, times: Infinity });
      const first = pool
        .session((s) => kms.decryptDek(s, 'acme', encryptedDek))
        .catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 600));
      const started = performance.now();
      const queued = await pool
        .session((s) => kms.decryptDek(s, 'acme', encryptedDek))
        .catch((e: unknown) => e);
      const elapsed = performance.now() - started;
      expect(queued).toBeInstanceOf(KmsUnavailableError);
      expect((queued as KmsUnavailableError).reason).toBe('timeout');
      // ~400 ms waiting for the slot + ~600 ms sending = timeoutMs, not 400 + a fresh 1000.
      expect(elapsed).toBeLessThan(1_250);
      expect(await first).toBeInstanceOf(KmsUnavailableError);
    });

    it('an abort while waiting for a slot ends the call at once, unsent', async () => {
      const kms = service(1);
      const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
      vault.injectFault({ kind: 'delay', ms: 500 });
      const slow = pool.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
      await new Promise((r) => setTimeout(r, 50));
      const controller = new AbortController();
      const queued = pool.session((s) =>
        kms.decryptDek(s, 'acme', encryptedDek, { signal: controller.signal }),
      );
      controller.abort();
      await expect(queued).rejects.toBeInstanceOf(KmsAbortedError);
      await slow;
      expect(vault.requests.filter((r) => r.path.includes('/decrypt/'))).toHaveLength(1);
    });
  },
);
