import { KmsAccessDeniedError } from '../errors/kms-access-denied.error.js';
import { KmsConfigurationError } from '../errors/kms-configuration.error.js';
import { KmsError } from '../errors/kms.error.js';
import { KmsUnavailableError } from '../errors/kms-unavailable.error.js';
import { messages } from '../errors/messages.js';
import { followRedirects } from '../providers/vault-transit/vault-redirect.js';
import { redact, Secret } from '../secret.js';
import { textOf, type HttpExchange } from '../session/http-exchange.js';
import { parseJson } from '../providers/vault-transit/vault-transit.client.js';
import { transportError } from '../providers/vault-transit/vault-transport-error.js';
import { authMessages } from './auth.messages.js';

/** A token Vault issued or renewed, and its lease as Vault stated it. */
export interface IssuedToken {
  readonly token: Secret;
  /** The lease in ms (0: it never expires). */
  readonly leaseMs: number;
  readonly renewable: boolean;
}

/** Where and how auth requests go: the client's address, namespace and time limit. */
export interface VaultAuthTarget {
  readonly vaultAddr: string;
  readonly namespace: string | undefined;
  readonly timeoutMs: number;
}

interface AuthAnswer {
  readonly status: number;
  readonly body: Record<string, unknown> | undefined;
  /** Vault's `errors`, with every secret of the request redacted. */
  readonly errors: readonly string[];
}

const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

/**
 * Sends the auth requests — logins and `auth/token/renew-self` — over a session's direct
 * transport, with the namespace header, one attempt each within `timeoutMs`. Failures are typed
 * {@link KmsError}s that never carry a token, a credential or a header.
 */
export class VaultAuthHttp {
  constructor(private readonly target: VaultAuthTarget) {}

  /** `POST auth/<mount>/login`; `secrets` are the request's credentials (redacted from errors). */
  async login(
    exchange: HttpExchange,
    method: string,
    mount: string,
    body: Readonly<Record<string, string>>,
    secrets: readonly string[],
  ): Promise<IssuedToken> {
    const operation = `${method} login`;
    const answer = await this.post(exchange, operation, `auth/${mount}/login`, body, secrets);
    if (answer.status >= 200 && answer.status < 300) {
      const issued = issuedToken(answer.body);
      if (!issued) {
        throw new KmsUnavailableError(authMessages.loginAnswerInvalid(method), 'bad-response', {
          status: answer.status,
        });
      }
      return issued;
    }
    throw loginError(method, mount, answer);
  }

  /** `POST auth/token/renew-self` for the token's own default increment. */
  async renewSelf(exchange: HttpExchange, token: Secret): Promise<IssuedToken> {
    const operation = 'token renewal';
    const answer = await this.post(exchange, operation, 'auth/token/renew-self', {}, [], token);
    const issued = answer.status === 200 ? issuedToken(answer.body) : undefined;
    if (!issued || issued.token.reveal() !== token.reveal()) {
      const text = answer.errors.join('; ') || `HTTP ${answer.status}`;
      throw new KmsUnavailableError(messages.unavailable(operation, text), 'server-error', {
        status: answer.status,
        vaultErrors: answer.errors,
      });
    }
    return issued;
  }

  private async post(
    exchange: HttpExchange,
    operation: string,
    path: string,
    body: Readonly<Record<string, string>>,
    secrets: readonly string[],
    token?: Secret,
  ): Promise<AuthAnswer> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (token) headers['X-Vault-Token'] = token.reveal();
    if (this.target.namespace !== undefined) headers['X-Vault-Namespace'] = this.target.namespace;
    const { timeoutMs } = this.target;
    const json = JSON.stringify(body);
    let text: string;
    let status: number;
    try {
      // A standby's 307/308 to the active node is followed like a Transit call's: same limits,
      // same body and headers, the hops within the one time limit.
      const response = await followRedirects(
        operation,
        `${this.target.vaultAddr}/v1/${path}`,
        timeoutMs,
        performance.now(),
        (url, leftMs) => exchange({ method: 'POST', url, headers, body: json, timeoutMs: leftMs }),
      );
      // Read like a Transit answer: BOM dropped, an unrequested compression refused.
      text = textOf(response);
      status = response.status;
    } catch (error) {
      if (error instanceof KmsError) throw error; // a redirect refused
      throw transportError(operation, error, timeoutMs);
    }
    const parsed = parseJson(text);
    const errors = parsed?.['errors'];
    const hidden = token ? [token.reveal(), ...secrets] : secrets;
    return {
      status,
      body: parsed,
      errors: Array.isArray(errors)
        ? errors.filter((e): e is string => typeof e === 'string').map((e) => redact(e, hidden))
        : [],
    };
  }
}

/** The `auth` block of a login or renewal answer, if it holds a usable token. */
function issuedToken(body: Record<string, unknown> | undefined): IssuedToken | undefined {
  const auth = body?.['auth'];
  if (typeof auth !== 'object' || auth === null) return undefined;
  const { client_token: token, lease_duration: lease, renewable } = auth as Record<string, unknown>;
  if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) return undefined;
  const seconds = typeof lease === 'number' && Number.isFinite(lease) && lease > 0 ? lease : 0;
  return { token: new Secret(token), leaseMs: seconds * 1000, renewable: renewable === true };
}

/**
 * A failed login as a typed error: refused credentials are access denied, a login Vault cannot
 * run as configured (unknown role, mount, missing field) a configuration error, and a Vault that
 * cannot answer (5xx, sealed, rate limited) unavailable like any other call.
 */
function loginError(method: string, mount: string, answer: AuthAnswer): KmsError {
  const { status, errors } = answer;
  const text = errors.join('; ') || `HTTP ${status}`;
  const options = { status, vaultErrors: errors };
  const operation = `${method} login`;
  const has = (needle: string): boolean => errors.some((e) => e.includes(needle));
  if (status === 403 || (status === 400 && has('invalid role or secret ID'))) {
    return new KmsAccessDeniedError(authMessages.loginRefused(method, text), options);
  }
  if (status === 429) {
    return new KmsUnavailableError(messages.unavailable(operation, text), 'rate-limited', options);
  }
  if (status === 503 && has('Vault is sealed')) {
    return new KmsUnavailableError(messages.unavailable(operation, text), 'sealed', options);
  }
  // The Kubernetes method was enabled but never configured: no retry cures that.
  if (status >= 500 && !has('could not load backend configuration')) {
    return new KmsUnavailableError(messages.unavailable(operation, text), 'server-error', options);
  }
  return new KmsConfigurationError(authMessages.loginMisconfigured(method, mount, text), options);
}
