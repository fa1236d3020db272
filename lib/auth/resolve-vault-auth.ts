import { KmsConfigurationError } from '../errors/kms-configuration.error.js';
import { messages } from '../errors/messages.js';
import { TOKEN_PATTERN, TokenSource } from '../providers/vault-transit/token-source.js';
import { Secret } from '../secret.js';
import { AppRoleLogin } from './approle-login.js';
import { DEFAULT_SERVICE_ACCOUNT_TOKEN_FILE, KubernetesLogin } from './kubernetes-login.js';
import { LoginTokenSource } from './login-token-source.js';
import { TokenFileSource } from './token-file-source.js';
import { VaultAuthHttp, type VaultAuthTarget } from './vault-auth-http.js';
import type { VaultTokenSupplier } from './vault-token-supplier.js';

/** A Vault mount path: `approle`, `auth-ci/approle` (no leading or trailing `/`, no `..`). */
const MOUNT_PATTERN = /^[\w-]+(?:\.[\w-]+)*(?:\/[\w-]+(?:\.[\w-]+)*)*$/;
/** Non-empty, without control characters (Unicode category Cc). */
const NO_CONTROL = /^\P{Cc}+$/u;
const METHODS = ['token', 'tokenFile', 'approle', 'kubernetes'];
/** The keys each method takes: any other key is refused (most likely a misspelt one). */
const KEYS: Readonly<Record<string, readonly string[]>> = {
  token: ['method', 'token'],
  tokenFile: ['method', 'path'],
  approle: ['method', 'roleId', 'secretId', 'secretIdFile', 'mount'],
  kubernetes: ['method', 'role', 'jwtFile', 'mount'],
};

/** The options that decide where tokens come from (as given, not yet validated). */
export interface VaultAuthInput {
  readonly vaultToken: unknown;
  readonly auth: unknown;
  readonly tokenCacheMs: unknown;
}

function invalid(option: string, rule: string): KmsConfigurationError {
  return new KmsConfigurationError(messages.invalidOption(option, rule));
}

/**
 * Validates `vaultToken` / `auth` (exactly one of them) and builds the token supplier. No I/O:
 * files are read and logins sent on first use. Messages name the option, never a value.
 */
export function resolveVaultAuth(
  input: VaultAuthInput,
  target: VaultAuthTarget,
): VaultTokenSupplier {
  const { vaultToken, auth, tokenCacheMs } = input;
  if (vaultToken !== undefined && auth !== undefined) {
    throw invalid(
      'auth',
      "give either vaultToken or auth, not both (vaultToken is the shorthand of { method: 'token' })",
    );
  }
  if (auth === undefined) {
    if (vaultToken === undefined) {
      throw invalid(
        'vaultToken',
        'a Vault token (vaultToken) or an auth method (auth) is required',
      );
    }
    return resolveToken('vaultToken', vaultToken, tokenCacheMs, target.timeoutMs);
  }
  if (typeof auth !== 'object' || auth === null) {
    throw invalid('auth', "must be an object such as { method: 'approle', roleId, secretId }");
  }
  const options = auth as Record<string, unknown>;
  const method = options['method'];
  const keys = typeof method === 'string' && Object.hasOwn(KEYS, method) ? KEYS[method] : undefined;
  // A key set to undefined counts as absent (config objects shared by several methods).
  const unknown =
    keys && Object.keys(options).find((key) => !keys.includes(key) && options[key] !== undefined);
  if (keys && unknown !== undefined) {
    throw invalid(
      // Any other key is the caller's text: quoted and cut, so it cannot forge a log line.
      /^[A-Za-z_$][\w$]{0,39}$/.test(unknown)
        ? `auth.${unknown}`
        : `auth[${JSON.stringify(unknown.slice(0, 40))}]`,
      `is not an option of the ${String(method)} method (${keys.join(', ')})`,
    );
  }
  switch (method) {
    case 'token':
      return resolveToken('auth.token', options['token'], tokenCacheMs, target.timeoutMs);
    case 'tokenFile':
      return new TokenFileSource(filePath('auth.path', options['path']));
    case 'approle':
      return new LoginTokenSource(approle(options), new VaultAuthHttp(target));
    case 'kubernetes':
      return new LoginTokenSource(kubernetes(options), new VaultAuthHttp(target));
    default:
      throw invalid('auth.method', `must be one of ${METHODS.map((m) => `'${m}'`).join(', ')}`);
  }
}

function approle(options: Record<string, unknown>): AppRoleLogin {
  const roleId = options['roleId'];
  if (typeof roleId !== 'string' || !NO_CONTROL.test(roleId) || roleId.trim() !== roleId) {
    throw invalid(
      'auth.roleId',
      'must be a non-empty string without control characters or surrounding spaces',
    );
  }
  const { secretId, secretIdFile } = options;
  if ((secretId === undefined) === (secretIdFile === undefined)) {
    throw invalid('auth.secretId', 'give exactly one of secretId and secretIdFile');
  }
  let secret: Secret | { readonly file: string };
  if (secretId !== undefined) {
    if (typeof secretId !== 'string' || !TOKEN_PATTERN.test(secretId)) {
      throw invalid('auth.secretId', 'must be a non-empty string of visible ASCII characters');
    }
    secret = new Secret(secretId);
  } else {
    secret = { file: filePath('auth.secretIdFile', secretIdFile) };
  }
  return new AppRoleLogin(roleId, secret, mountOf(options, 'approle'));
}

function kubernetes(options: Record<string, unknown>): KubernetesLogin {
  const role = options['role'];
  if (typeof role !== 'string' || !NO_CONTROL.test(role) || role.trim() !== role) {
    throw invalid(
      'auth.role',
      'must be a non-empty string without control characters or surrounding spaces',
    );
  }
  const jwtFile =
    options['jwtFile'] === undefined
      ? DEFAULT_SERVICE_ACCOUNT_TOKEN_FILE
      : filePath('auth.jwtFile', options['jwtFile']);
  return new KubernetesLogin(role, jwtFile, mountOf(options, 'kubernetes'));
}

function mountOf(options: Record<string, unknown>, fallback: string): string {
  const mount = options['mount'] ?? fallback;
  if (typeof mount !== 'string' || !MOUNT_PATTERN.test(mount)) {
    throw invalid(
      'auth.mount',
      `must be an auth mount path such as "${fallback}" (no leading or trailing "/", no "..")`,
    );
  }
  return mount;
}

function filePath(option: string, value: unknown): string {
  if (typeof value !== 'string' || !NO_CONTROL.test(value)) {
    throw invalid(option, 'must be a non-empty file path without control characters');
  }
  return value;
}

/** A token or token function (the `vaultToken` option, or `auth: { method: 'token' }`). */
function resolveToken(
  option: string,
  value: unknown,
  cacheMs: unknown,
  timeoutMs: number,
): TokenSource {
  if (typeof value === 'function') {
    if (!Number.isInteger(cacheMs) || (cacheMs as number) < 0 || (cacheMs as number) > 3_600_000) {
      throw invalid(
        'tokenCacheMs',
        'must be an integer number of milliseconds between 0 and 3600000',
      );
    }
    return TokenSource.from(value as () => string | Promise<string>, cacheMs as number, timeoutMs);
  }
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid(option, 'must be a non-empty string or a function returning one');
  }
  if (!TOKEN_PATTERN.test(value)) {
    throw invalid(option, 'must contain only visible ASCII characters (no spaces or line breaks)');
  }
  return TokenSource.fixed(new Secret(value));
}
