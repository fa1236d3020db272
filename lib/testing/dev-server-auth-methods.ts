import { randomUUID } from 'node:crypto';
import type { Capability, LogicalOperation } from '../engine/transit-router.js';
import { TransitError } from '../engine/transit.error.js';
import { successEnvelope, type DevAnswer } from './dev-server-answer.js';
import type { DevServerTokenOrigin, DevServerTokens } from './dev-server-tokens.js';

/** Vault's default and maximum lease TTL of `vault server -dev` (vault-transit-api §8.7). */
const SYSTEM_MAX_TTL_SECONDS = 2_764_800;
/** Failed logins per role id within the window that lock it (Vault's user lockout defaults). */
const LOCKOUT_THRESHOLD = 5;
const LOCKOUT_MS = 15 * 60 * 1000;

/** The tokens a role's logins issue. @publicApi */
export interface DevServerLoginTokenOptions {
  /** Capabilities of issued tokens on the Transit mount. @default all */
  readonly capabilities?: readonly Capability[];
  /** TTL of an issued token, in seconds (the role's `token_ttl`). @default 2764800 */
  readonly tokenTtlSeconds?: number;
  /** Lifetime no renewal extends, in seconds (the role's `token_max_ttl`). @default 2764800 */
  readonly tokenMaxTtlSeconds?: number;
}

/** An AppRole role of the dev server (`auth/<mount>/login`, vault-transit-api §8.4). @publicApi */
export interface DevServerAppRoleOptions extends DevServerLoginTokenOptions {
  readonly roleName: string;
  /** @default a random UUID */
  readonly roleId?: string;
  /** The one secret id the role accepts. @default a random UUID */
  readonly secretId?: string;
  /** Where the AppRole method is mounted. @default 'approle' */
  readonly mount?: string;
}

/** The credentials of an AppRole role the dev server created. @publicApi */
export interface DevServerAppRole {
  readonly roleId: string;
  readonly secretId: string;
}

/**
 * A Kubernetes role of the dev server (`auth/<mount>/login`, vault-transit-api §8.5). There is no
 * TokenReview: the role accepts exactly the JWTs it is given (replace them to simulate rotation).
 * @publicApi
 */
export interface DevServerKubernetesRoleOptions extends DevServerLoginTokenOptions {
  readonly role: string;
  /** The service-account JWTs the role accepts. */
  readonly jwts: readonly string[];
  /** Where the Kubernetes method is mounted. @default 'kubernetes' */
  readonly mount?: string;
  /** @default 'default' */
  readonly serviceAccountName?: string;
  /** @default 'default' */
  readonly serviceAccountNamespace?: string;
}

/** One successful login the dev server answered. @publicApi */
export interface DevServerLogin {
  readonly method: 'approle' | 'kubernetes';
  readonly mount: string;
  readonly role: string;
  /** When it was answered, in ms since the epoch. */
  readonly at: number;
  /** The token it issued (e.g. to revoke it in a test). */
  readonly token: string;
}

interface AppRole extends DevServerLoginTokenOptions {
  readonly roleName: string;
  readonly secretId: string;
}

interface KubernetesRole extends DevServerKubernetesRoleOptions {
  readonly mount: string;
}

/**
 * The dev server's login methods: AppRole and Kubernetes roles, each mount enabled by its first
 * role. Logins need no token; their errors are Vault's (status and message, un-wrapped).
 */
export class DevServerAuthMethods {
  readonly logins: DevServerLogin[] = [];
  /** Per mount, per role id. */
  private readonly appRoles = new Map<string, Map<string, AppRole>>();
  /** Per mount, per role name. */
  private readonly kubernetesRoles = new Map<string, Map<string, KubernetesRole>>();
  /** Recent failed AppRole logins per mount and role id (user lockout). */
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly tokens: DevServerTokens) {}

  addAppRole(options: DevServerAppRoleOptions): DevServerAppRole {
    const mount = options.mount ?? 'approle';
    checkName('mount', mount);
    checkName('roleName', options.roleName);
    checkTtls(options);
    const roleId = options.roleId ?? randomUUID();
    const secretId = options.secretId ?? randomUUID();
    const roles = this.appRoles.get(mount) ?? new Map<string, AppRole>();
    this.appRoles.set(mount, roles);
    roles.set(roleId, { ...options, secretId });
    return { roleId, secretId };
  }

  /** Adds the role, or replaces it (its JWTs) when it exists. */
  setKubernetesRole(options: DevServerKubernetesRoleOptions): void {
    const mount = options.mount ?? 'kubernetes';
    checkName('mount', mount);
    checkName('role', options.role);
    checkTtls(options);
    if (!Array.isArray(options.jwts)) throw new TypeError('jwts must be an array of strings');
    const roles = this.kubernetesRoles.get(mount) ?? new Map<string, KubernetesRole>();
    this.kubernetesRoles.set(mount, roles);
    roles.set(options.role, { ...options, jwts: [...options.jwts], mount });
  }

  /** Whether the logical path is the login path of an enabled method. */
  isLogin(logicalPath: string): boolean {
    const mount = loginMount(logicalPath);
    return mount !== undefined && (this.appRoles.has(mount) || this.kubernetesRoles.has(mount));
  }

  /** Answers a request to a path for which {@link isLogin} is true. */
  login(
    operation: LogicalOperation | 'patch',
    logicalPath: string,
    data: Record<string, unknown>,
  ): DevAnswer {
    const mount = loginMount(logicalPath) as string;
    if (operation !== 'update') {
      const unsupported = TransitError.unsupportedOperation();
      return { status: unsupported.status, body: { errors: unsupported.errors } };
    }
    const appRoles = this.appRoles.get(mount);
    if (appRoles) return this.appRoleLogin(mount, appRoles, data);
    return this.kubernetesLogin(
      mount,
      this.kubernetesRoles.get(mount) as Map<string, KubernetesRole>,
      data,
    );
  }

  private appRoleLogin(
    mount: string,
    roles: Map<string, AppRole>,
    data: Record<string, unknown>,
  ): DevAnswer {
    const roleId = stringField(data, 'role_id');
    // The lockout check looks the alias (the role id) up first, and fails without one (§8.4).
    if (!roleId) return error(500, 'failed to determine alias name from login request');
    const key = `${mount}\u0000${roleId}`;
    const now = Date.now();
    const recent = (this.failures.get(key) ?? []).filter((at) => now - at < LOCKOUT_MS);
    this.failures.set(key, recent);
    if (recent.length >= LOCKOUT_THRESHOLD) return error(403, 'permission denied');
    const role = roles.get(roleId);
    const secretId = stringField(data, 'secret_id');
    if (role && !secretId) return error(400, 'missing secret_id');
    if (!role || secretId !== role.secretId) {
      recent.push(now);
      return error(400, 'invalid role or secret ID');
    }
    this.failures.delete(key);
    return this.issue('approle', mount, role.roleName, role, { role_name: role.roleName });
  }

  private kubernetesLogin(
    mount: string,
    roles: Map<string, KubernetesRole>,
    data: Record<string, unknown>,
  ): DevAnswer {
    const roleName = stringField(data, 'role');
    if (!roleName) return error(400, 'missing role');
    const jwt = stringField(data, 'jwt');
    if (!jwt) return error(400, 'missing jwt');
    const role = roles.get(roleName);
    if (!role) return error(400, `invalid role name "${roleName}"`);
    // A JWT the (simulated) TokenReview does not accept: a signature or review failure.
    if (!role.jwts.includes(jwt)) return error(403, 'permission denied');
    const serviceAccountName = role.serviceAccountName ?? 'default';
    const serviceAccountNamespace = role.serviceAccountNamespace ?? 'default';
    return this.issue('kubernetes', mount, roleName, role, {
      role: roleName,
      service_account_name: serviceAccountName,
      service_account_namespace: serviceAccountNamespace,
      service_account_secret_name: '',
      service_account_uid: randomUUID(),
    });
  }

  private issue(
    method: DevServerLogin['method'],
    mount: string,
    role: string,
    options: DevServerLoginTokenOptions,
    meta: Record<string, string>,
  ): DevAnswer {
    const ttlSeconds = options.tokenTtlSeconds ?? SYSTEM_MAX_TTL_SECONDS;
    const maxTtlSeconds = options.tokenMaxTtlSeconds ?? SYSTEM_MAX_TTL_SECONDS;
    const origin: DevServerTokenOrigin = {
      path: `auth/${mount}/login`,
      displayName: `${method}-${role}`.slice(0, 64),
      meta,
    };
    const id = this.tokens.create(
      {
        ttlSeconds,
        maxTtlSeconds,
        renewable: true,
        ...(options.capabilities ? { capabilities: options.capabilities } : {}),
      },
      origin,
    );
    const token = this.tokens.find(id);
    if (!token) throw TransitError.internal('the token just issued is gone');
    this.logins.push({ method, mount, role, at: Date.now(), token: token.id });
    const auth = {
      client_token: token.id,
      accessor: token.accessor,
      policies: token.policies,
      token_policies: token.policies,
      metadata: meta,
      lease_duration: Math.min(ttlSeconds, maxTtlSeconds),
      renewable: true,
      entity_id: randomUUID(),
      token_type: 'service',
      orphan: true,
      mfa_requirement: null,
      num_uses: 0,
    };
    return { status: 200, body: { ...successEnvelope(null, undefined, method), auth } };
  }
}

/** `approle` for `auth/approle/login`; undefined for any other path. */
function loginMount(logicalPath: string): string | undefined {
  const match = /^auth\/(.+)\/login$/.exec(logicalPath);
  return match?.[1];
}

function stringField(data: Record<string, unknown>, name: string): string {
  const value = data[name];
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return '';
}

function error(status: number, message: string): DevAnswer {
  return { status, body: { errors: [message] } };
}

function checkName(what: string, value: unknown): void {
  if (typeof value !== 'string' || !/^[\w-]+(?:\/[\w-]+)*$/.test(value)) {
    throw new TypeError(`${what} must be a non-empty name of letters, digits, "_" and "-"`);
  }
}

function checkTtls(options: DevServerLoginTokenOptions): void {
  for (const [name, value] of [
    ['tokenTtlSeconds', options.tokenTtlSeconds],
    ['tokenMaxTtlSeconds', options.tokenMaxTtlSeconds],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new RangeError(`${name} must be a positive integer number of seconds`);
    }
  }
}
