import { expect } from 'vitest';
import { extractRequest, type KmsModuleOptions, type RestSessionPool } from '../../lib/index.js';

/** How `VaultTransitService` sends its requests (see `KmsModuleOptions.transport`). */
export type Transport = NonNullable<KmsModuleOptions['transport']>;

/**
 * Both transports. They are separate code paths (axios with the pool's lean adapter, or
 * `RestSession.exchange` straight over the agents) with their own timeouts, aborts, network
 * errors and answer parsing, so every suite that talks HTTP to a Vault runs under each, with the
 * transport in the test names: `describe.each(TRANSPORTS)('… (transport: %s)', (transport) => …)`.
 */
export const TRANSPORTS: readonly Transport[] = ['http-service', 'direct'];

/**
 * Runs `work` and checks that its requests really went over `transport` — through the pool's
 * `HttpService` (axios saw each one), or around it (axios saw none) — so a suite parametrized by
 * transport cannot silently test the default twice. The pool's signals see both.
 */
export async function expectSentThrough(
  transport: Transport,
  pool: RestSessionPool,
  work: () => Promise<unknown>,
): Promise<void> {
  const http = await pool.session(async (session) => extractRequest(session));
  const seen = { byAxios: 0, bySignals: 0 };
  const interceptor = http.axiosRef.interceptors.request.use((config) => {
    seen.byAxios += 1;
    return config;
  });
  const disconnect = pool.signals.requestStarted.connect(() => {
    seen.bySignals += 1;
  });
  try {
    await work();
  } finally {
    http.axiosRef.interceptors.request.eject(interceptor);
    disconnect();
  }
  expect(seen.bySignals, 'requests sent').toBeGreaterThan(0);
  expect(seen.byAxios, `requests through axios (transport: ${transport})`).toBe(
    transport === 'direct' ? 0 : seen.bySignals,
  );
}
