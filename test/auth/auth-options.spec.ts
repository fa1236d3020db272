import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  KmsConfigurationError,
  VaultTransitService,
  type KmsModuleOptions,
} from '../../lib/index.js';
import { expectNoSecrets } from '../support/secrets.js';

const VAULT_ADDR = 'http://127.0.0.1:1';
const SECRET = 'secret-id-never-to-be-printed-7c1d';

/** The configuration error `options` give, or a failure when they give none. */
function configurationError(options: Partial<KmsModuleOptions> & Record<string, unknown>): Error {
  try {
    const kms = new VaultTransitService({ vaultAddr: VAULT_ADDR, ...options } as KmsModuleOptions);
    kms.close();
  } catch (error) {
    expect(error).toBeInstanceOf(KmsConfigurationError);
    return error as Error;
  }
  throw new Error('expected a KmsConfigurationError');
}

describe('auth and vaultToken options', () => {
  it('requires exactly one of vaultToken and auth', () => {
    expect(configurationError({}).message).toContain('"vaultToken"');
    const both = configurationError({
      vaultToken: SECRET,
      auth: { method: 'token', token: SECRET },
    });
    expect(both.message).toContain('"auth"');
    expectNoSecrets(both, [SECRET]);
  });

  it('keeps vaultToken as the shorthand of { method: "token" }', () => {
    expect(
      () => new VaultTransitService({ vaultAddr: VAULT_ADDR, vaultToken: 's.abc' }),
    ).not.toThrow();
    expect(
      () =>
        new VaultTransitService({
          vaultAddr: VAULT_ADDR,
          auth: { method: 'token', token: 's.abc' },
        }),
    ).not.toThrow();
    expect(
      () =>
        new VaultTransitService({
          vaultAddr: VAULT_ADDR,
          auth: { method: 'token', token: () => 's.abc' },
          tokenCacheMs: 1_000,
        }),
    ).not.toThrow();
    expect(configurationError({ auth: { method: 'token', token: 'has space' } }).message).toContain(
      '"auth.token"',
    );
  });

  it.each([
    [{ auth: null }, 'auth'],
    [{ auth: 'approle' }, 'auth'],
    [{ auth: { method: 'ldap' } }, 'auth.method'],
    [{ auth: { method: 'tokenFile' } }, 'auth.path'],
    [{ auth: { method: 'tokenFile', path: '' } }, 'auth.path'],
    [{ auth: { method: 'approle', secretId: SECRET } }, 'auth.roleId'],
    [{ auth: { method: 'approle', roleId: ' r ', secretId: SECRET } }, 'auth.roleId'],
    [{ auth: { method: 'approle', roleId: 'r' } }, 'auth.secretId'],
    [
      { auth: { method: 'approle', roleId: 'r', secretId: SECRET, secretIdFile: '/f' } },
      'auth.secretId',
    ],
    [{ auth: { method: 'approle', roleId: 'r', secretId: `${SECRET} x` } }, 'auth.secretId'],
    [{ auth: { method: 'approle', roleId: 'r', secretIdFile: 7 } }, 'auth.secretIdFile'],
    [
      { auth: { method: 'approle', roleId: 'r', secretId: SECRET, mount: '/approle/' } },
      'auth.mount',
    ],
    [{ auth: { method: 'approle', roleId: 'r', secretId: SECRET, mount: 'a/../b' } }, 'auth.mount'],
    [{ auth: { method: 'kubernetes' } }, 'auth.role'],
    [{ auth: { method: 'kubernetes', role: 'r\n' } }, 'auth.role'],
    [{ auth: { method: 'kubernetes', role: 'r', jwtFile: '' } }, 'auth.jwtFile'],
    [{ auth: { method: 'kubernetes', role: 'r', mount: '' } }, 'auth.mount'],
  ])('refuses %j, naming %s, without printing a credential', (options, option) => {
    const error = configurationError(options as Record<string, unknown>);
    expect(error.message).toContain(`Invalid KmsModule option "${option}"`);
    expectNoSecrets(error, [SECRET]);
  });

  it.each([
    ['auth.jwtPath', { method: 'kubernetes', role: 'r', jwtPath: '/var/run/token' }],
    ['auth.secretID', { method: 'approle', roleId: 'r', secretId: SECRET, secretID: SECRET }],
    ['auth.roleId', { method: 'kubernetes', role: 'r', roleId: 'r' }],
    ['auth.file', { method: 'tokenFile', path: '/run/token', file: '/run/token' }],
    ['auth.tokenCacheMs', { method: 'token', token: SECRET, tokenCacheMs: 5 }],
  ])('refuses an unknown key of the method, naming it: %s', (option, auth) => {
    const error = configurationError({ auth } as Record<string, unknown>);
    expect(error.message).toContain(`Invalid KmsModule option "${option}"`);
    expectNoSecrets(error, [SECRET]);
  });

  it('takes a key set to undefined as absent (a config object shared by several methods)', () => {
    const kms = new VaultTransitService({
      vaultAddr: VAULT_ADDR,
      auth: { method: 'approle', roleId: 'r', secretId: SECRET, role: undefined } as never,
    });
    expect(kms).toBeInstanceOf(VaultTransitService);
  });

  it('quotes and cuts an unknown key that is not a plain name (no forged log line)', () => {
    const key = `x\nERROR forged line ${'y'.repeat(60)}`;
    const error = configurationError({
      auth: { method: 'approle', roleId: 'r', secretId: SECRET, [key]: 1 },
    } as Record<string, unknown>);
    expect(error.message).toContain(`auth[${JSON.stringify(key.slice(0, 40))}]`);
    expect(error.message).not.toContain('\n');
    expect(error.message).not.toContain('y'.repeat(30));
  });

  it('builds a login method without any I/O and never prints its credentials', () => {
    // Port 1 on loopback: any request would fail; none is made until the first call.
    const kms = new VaultTransitService({
      vaultAddr: VAULT_ADDR,
      auth: { method: 'approle', roleId: 'role-1', secretId: SECRET },
    });
    expectNoSecrets(inspect(kms, { depth: Infinity, showHidden: true }), [SECRET]);
    expectNoSecrets(JSON.stringify(kms), [SECRET]);
    kms.close();
  });
});
