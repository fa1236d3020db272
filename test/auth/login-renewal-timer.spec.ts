import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AppRoleLogin } from '../../lib/auth/approle-login.js';
import { LoginTokenSource } from '../../lib/auth/login-token-source.js';
import { VaultAuthHttp, type IssuedToken } from '../../lib/auth/vault-auth-http.js';
import { Secret } from '../../lib/secret.js';
import { httpExchange, type HttpExchange } from '../../lib/session/http-exchange.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { harness, sleep, statuses, type AuthHarness } from './auth-fixtures.js';

const RENEW = '/v1/auth/token/renew-self';
const DAY_SECONDS = 86_400;

let vault: TransitDevServer;
let subject: AuthHarness | undefined;
beforeEach(async () => {
  vault = await startTransitDevServer();
});
afterEach(async () => {
  subject?.close();
  subject = undefined;
  await vault.close();
});

describe('login token renewal timer', () => {
  it('a 40-day token is not renewed at once (2/3 of its TTL exceeds the timer range)', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const { roleId, secretId } = vault.addAppRole({
        roleName: 'long',
        tokenTtlSeconds: 40 * DAY_SECONDS,
        tokenMaxTtlSeconds: 60 * DAY_SECONDS,
      });
      subject = harness(vault, { auth: { method: 'approle', roleId, secretId } });
      await subject.roundTrip();
      await sleep(1_000);
      expect(statuses(vault, RENEW)).toEqual([]);
      expect(vault.logins).toHaveLength(1);
      expect(warnings.filter((w) => w.name === 'TimeoutOverflowWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

/** Lets real I/O (the dev server, sockets) progress while timers are faked. */
async function settle(done: () => boolean): Promise<void> {
  for (let i = 0; i < 2_000 && !done(); i += 1) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

describe('login token renewal timer past the timer range', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits in steps of 2^31-1 ms and renews at 2/3 of a 40-day TTL, not before', async () => {
    const { roleId, secretId } = vault.addAppRole({
      roleName: 'long',
      tokenTtlSeconds: 40 * DAY_SECONDS,
      tokenMaxTtlSeconds: 60 * DAY_SECONDS,
    });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const source = new LoginTokenSource(
      new AppRoleLogin(roleId, new Secret(secretId), 'approle'),
      new VaultAuthHttp({ vaultAddr: vault.address, namespace: undefined, timeoutMs: 5_000 }),
    );
    try {
      await source.current({ exchange: httpExchange });
      const dueMs = (40 * DAY_SECONDS * 1_000 * 2) / 3;
      await vi.advanceTimersByTimeAsync(2 ** 31 - 1); // the first step: re-planned, not due
      await vi.advanceTimersByTimeAsync(dueMs - 2 ** 31 - 60_000); // a minute before it is due
      await settle(() => false);
      expect(statuses(vault, RENEW)).toEqual([]);
      // Just past due (not further: the renewal's own 5 s time limit runs on the fake clock).
      await vi.advanceTimersByTimeAsync(60_000 + 10);
      await settle(() => statuses(vault, RENEW).length > 0);
      expect(statuses(vault, RENEW)).toEqual([200]);
      expect(vault.logins).toHaveLength(1);
    } finally {
      source.close();
    }
  });
});

/** Real renewals, held at a gate until the test opens it. */
class GatedAuthHttp extends VaultAuthHttp {
  renewals = 0;
  #open: (() => void) | undefined;
  readonly #gate = new Promise<void>((resolve) => {
    this.#open = resolve;
  });

  open(): void {
    this.#open?.();
  }

  override async renewSelf(exchange: HttpExchange, token: Secret): Promise<IssuedToken> {
    this.renewals += 1;
    await this.#gate;
    return super.renewSelf(exchange, token);
  }
}

describe('close() during a renewal', () => {
  it('a renewal failing after close() starts no background login', async () => {
    const { roleId, secretId } = vault.addAppRole({ roleName: 'r', tokenTtlSeconds: 1 });
    const http = new GatedAuthHttp({
      vaultAddr: vault.address,
      namespace: undefined,
      timeoutMs: 5_000,
    });
    const source = new LoginTokenSource(
      new AppRoleLogin(roleId, new Secret(secretId), 'approle'),
      http,
    );
    try {
      await source.current({ exchange: httpExchange });
      const ends = performance.now() + 8_000;
      while (http.renewals === 0 && performance.now() < ends) await sleep(20);
      expect(http.renewals).toBe(1); // due at ~0.67 s, now held at the gate
      source.close();
      vault.revokeToken(vault.logins[0]!.token); // the renewal will be refused
      http.open();
      await sleep(500);
      expect(statuses(vault, RENEW)).toEqual([403]);
      expect(vault.logins).toHaveLength(1);
    } finally {
      source.close();
    }
  });
});
