import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KmsAccessDeniedError, KmsConfigurationError } from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';
import { harness, replaceByRename, tempDir, type AuthHarness } from './auth-fixtures.js';

const JWT_ONE = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLW9uZQ';
const JWT_TWO = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EyIn0.c2lnbmF0dXJlLXR3bw';

let vault: TransitDevServer;
let subject: AuthHarness | undefined;
let dir: ReturnType<typeof tempDir>;
beforeEach(async () => {
  vault = await startTransitDevServer();
  dir = tempDir();
});
afterEach(async () => {
  subject?.close();
  subject = undefined;
  dir.remove();
  await vault.close();
});

describe('kubernetes auth', () => {
  it('logs in with the service-account JWT, read again at every login (rotation)', async () => {
    vault.setKubernetesRole({ role: 'orders', jwts: [JWT_ONE] });
    const jwtFile = dir.file('token');
    writeFileSync(jwtFile, `${JWT_ONE}\n`);
    subject = harness(vault, { auth: { method: 'kubernetes', role: 'orders', jwtFile } });
    await subject.roundTrip();
    expect(vault.logins).toEqual([
      expect.objectContaining({ method: 'kubernetes', mount: 'kubernetes', role: 'orders' }),
    ]);
    // The kubelet rotates the projected token; Vault accepts the new one only.
    replaceByRename(jwtFile, JWT_TWO);
    vault.setKubernetesRole({ role: 'orders', jwts: [JWT_TWO] });
    vault.revokeToken(vault.logins[0]!.token);
    await subject.roundTrip();
    expect(vault.logins).toHaveLength(2);
  });

  it('uses the given mount', async () => {
    vault.setKubernetesRole({ role: 'orders', jwts: [JWT_ONE], mount: 'k8s-eu' });
    const jwtFile = dir.file('token');
    writeFileSync(jwtFile, JWT_ONE);
    subject = harness(vault, {
      auth: { method: 'kubernetes', role: 'orders', jwtFile, mount: 'k8s-eu' },
    });
    await subject.roundTrip();
    expect(vault.requests[0]?.path).toBe('/v1/auth/k8s-eu/login');
  });

  it('a JWT Vault refuses is access denied; the JWT never leaks', async () => {
    vault.setKubernetesRole({ role: 'orders', jwts: [JWT_ONE] });
    const jwtFile = dir.file('token');
    writeFileSync(jwtFile, JWT_TWO);
    subject = harness(vault, { auth: { method: 'kubernetes', role: 'orders', jwtFile } });
    const error = await subject.roundTrip().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsAccessDeniedError);
    expect((error as Error).message).toContain('kubernetes login');
    expectNoSecrets(error, [JWT_ONE, JWT_TWO]);
  });

  it('an unknown role is a configuration error with Vault’s message', async () => {
    vault.setKubernetesRole({ role: 'orders', jwts: [JWT_ONE] });
    const jwtFile = dir.file('token');
    writeFileSync(jwtFile, JWT_ONE);
    subject = harness(vault, { auth: { method: 'kubernetes', role: 'billing', jwtFile } });
    const error = await subject.roundTrip().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsConfigurationError);
    expect((error as KmsConfigurationError).status).toBe(400);
    expect((error as Error).message).toContain('invalid role name "billing"');
    expectNoSecrets(error, [JWT_ONE]);
  });

  it('a JWT file that cannot be read fails before any request, naming the file only', async () => {
    vault.setKubernetesRole({ role: 'orders', jwts: [JWT_ONE] });
    subject = harness(vault, {
      auth: { method: 'kubernetes', role: 'orders', jwtFile: dir.file('missing') },
    });
    const missing = await subject.roundTrip().catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(KmsConfigurationError);
    expect((missing as Error).message).toContain('(ENOENT)');
    const empty = dir.file('empty');
    writeFileSync(empty, '  \n');
    subject.close();
    subject = harness(vault, { auth: { method: 'kubernetes', role: 'orders', jwtFile: empty } });
    const blank = await subject.roundTrip().catch((e: unknown) => e);
    expect(blank).toBeInstanceOf(KmsConfigurationError);
    expect((blank as Error).message).toContain('holds no usable value');
    expect(vault.requests).toEqual([]);
  });
});
