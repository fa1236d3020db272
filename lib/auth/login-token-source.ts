import { inspect } from 'node:util';
import type { KmsAccessDeniedError } from '../errors/kms-access-denied.error.js';
import type { Secret } from '../secret.js';
import type { HttpExchange } from '../session/http-exchange.js';
import type { IssuedToken, VaultAuthHttp } from './vault-auth-http.js';
import type { VaultLogin } from './vault-login.js';
import type { TokenRequestContext, VaultTokenSupplier } from './vault-token-supplier.js';

/** Share of a lease after which the token is renewed (or replaced by a new login). */
const REFRESH_AT = 2 / 3;
/** Bounds of the wait before trying again after a failed background login. */
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;
/** The longest delay `setTimeout` takes (2^31−1 ms, ~24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * Least time between two logins forced by a refused token: within it, callers refused again
 * share the last login's token rather than each logging in (a token Vault keeps refusing).
 */
export const MIN_FORCED_LOGIN_INTERVAL_MS = 1_000;

interface Held {
  readonly token: Secret;
  /** `performance.now()` time at which the lease ends (Infinity: it never does). */
  readonly expiresAt: number;
  /** The lease the login granted: a renewal granting less has hit the token's max TTL. */
  readonly loginLeaseMs: number;
}

/**
 * Tokens from a login method (AppRole, Kubernetes). It logs in on first use; renews a renewable
 * token at two thirds of its lease; logs in again — in the background, the old token serving
 * meanwhile — at two thirds of a lease that renewal no longer extends (the max TTL is near) or
 * after a failed renewal; and at once when Vault refused the token as invalid. Concurrent callers
 * share one login, and a token refused again within {@link MIN_FORCED_LOGIN_INTERVAL_MS} of a
 * forced login is kept rather than replaced once per call. Timers are `unref`'d and cleared by
 * {@link close}. Logins and renewals go over the direct exchange of the session that last asked
 * for a token (the pool's keep-alive agents; axios interceptors never apply).
 */
export class LoginTokenSource implements VaultTokenSupplier {
  readonly dynamic = true;
  #held: Held | undefined;
  #pending: Promise<Secret> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #exchange: HttpExchange | undefined;
  #closed = false;
  /** `performance.now()` of the last login forced by a refusal. */
  #forcedAt = -Infinity;

  constructor(
    private readonly login: VaultLogin,
    private readonly http: VaultAuthHttp,
  ) {}

  current(context: TokenRequestContext): Promise<Secret> {
    const exchange = context.exchange;
    this.#exchange = exchange;
    const held = this.#held;
    if (held && performance.now() < held.expiresAt) return Promise.resolve(held.token);
    return this.#pending ?? this.logIn(exchange);
  }

  /**
   * Only a refusal of the token itself (unknown, expired, revoked: "invalid token", or Vault
   * ≤ 1.16's bare "permission denied") calls for a new login; a missing capability does not.
   */
  refused(token: Secret | undefined, error: KmsAccessDeniedError): boolean {
    if (token === undefined || !isTokenRefusal(error)) return false;
    if (this.#held?.token.reveal() === token.reveal()) {
      const now = performance.now();
      // Refused again right after a forced login: keep its token rather than log in per call.
      if (now - this.#forcedAt < MIN_FORCED_LOGIN_INTERVAL_MS) return true;
      this.#forcedAt = now;
      this.#held = undefined;
      this.clearTimer();
    }
    return true;
  }

  close(): void {
    this.#closed = true;
    this.clearTimer();
  }

  private logIn(exchange: HttpExchange): Promise<Secret> {
    const started = performance.now();
    const pending = this.login
      .logIn(this.http, exchange)
      .then((issued) => this.adopt(issued, started))
      .finally(() => {
        if (this.#pending === pending) this.#pending = undefined;
      });
    this.#pending = pending;
    return pending;
  }

  /** Holds a freshly issued token and plans its renewal (or replacement). */
  private adopt(issued: IssuedToken, started: number): Secret {
    const held: Held = {
      token: issued.token,
      expiresAt: issued.leaseMs > 0 ? started + issued.leaseMs : Infinity,
      loginLeaseMs: issued.leaseMs,
    };
    this.#held = held;
    if (issued.leaseMs > 0) {
      this.plan(issued.renewable ? 'renew' : 'login', started + issued.leaseMs * REFRESH_AT);
    } else {
      this.clearTimer(); // a login's lease 0: a token that never expires, nothing to renew
    }
    return issued.token;
  }

  private plan(action: 'renew' | 'login', at: number): void {
    this.clearTimer();
    if (this.#closed) return;
    const delay = Math.max(0, at - performance.now());
    const timer = setTimeout(
      () => {
        if (this.#timer === timer) this.#timer = undefined;
        // A delay past the timer's range waits in steps: plan again on waking, nothing is due.
        if (delay > MAX_TIMER_MS) this.plan(action, at);
        else this.refresh(action).catch(() => undefined);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    timer.unref();
    this.#timer = timer;
  }

  private clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The timer's work: renew, or log in again while the held token still serves. */
  private async refresh(action: 'renew' | 'login'): Promise<void> {
    const held = this.#held;
    const exchange = this.#exchange;
    if (this.#closed || !held || !exchange) return;
    if (action === 'renew') {
      const started = performance.now();
      try {
        const renewed = await this.http.renewSelf(exchange, held.token);
        if (this.#held !== held) return; // replaced meanwhile
        // A renewal's lease 0 (unlike a login's 0, a token that never expires) means Vault
        // cannot extend the token: it is taken as ended (expiresAt = started), and being less
        // than the login's lease it is "capped", so a new login is planned at once.
        const expiresAt = started + renewed.leaseMs;
        this.#held = { ...held, expiresAt };
        // A renewal that grants less than the login did is capped by the max TTL: the token
        // will end soon whatever happens, so the next step is a new login.
        const capped = renewed.leaseMs < held.loginLeaseMs;
        this.plan(capped ? 'login' : 'renew', started + renewed.leaseMs * REFRESH_AT);
        return;
      } catch {
        if (this.#held !== held) return;
        // A failed renewal (revoked token, Vault down): log in again.
      }
    }
    // Closed while the renewal was in flight: no login in the background any more.
    if (this.#pending || this.#closed) return;
    try {
      await this.logIn(exchange);
    } catch {
      // The held token serves while it lasts; try again in a while (callers asking after it
      // expired log in themselves and see the error).
      if (this.#held !== held || this.#closed) return;
      const left = held.expiresAt - performance.now();
      if (left > RETRY_MIN_MS) {
        this.plan(
          'login',
          performance.now() + Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, left / 3)),
        );
      }
    }
  }

  toJSON(): string {
    return '[REDACTED]';
  }

  [inspect.custom](): string {
    return '[REDACTED]';
  }
}

/** A 403 about the token itself (vault-transit-api §1.5), not about a capability. */
function isTokenRefusal(error: KmsAccessDeniedError): boolean {
  const errors = error.vaultErrors ?? [];
  return (
    error.status === 403 &&
    (errors.some((e) => e.includes('invalid token')) || errors.includes('permission denied'))
  );
}
