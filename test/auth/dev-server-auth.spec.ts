import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';

let vault: TransitDevServer;
beforeEach(async () => {
  vault = await startTransitDevServer();
});
afterEach(async () => {
  await vault.close();
});

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function send(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${vault.address}/v1/${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

const auth = (answer: Answer) => answer.body['auth'] as Record<string, unknown>;

describe('dev server: auth/approle/login (vault-transit-api §8.4)', () => {
  it('issues a renewable token with the role’s TTL and metadata, and counts the login', async () => {
    const { roleId, secretId } = vault.addAppRole({ roleName: 'orders', tokenTtlSeconds: 60 });
    const login = await send('POST', 'auth/approle/login', {
      role_id: roleId,
      secret_id: secretId,
    });
    expect(login.status).toBe(200);
    expect(login.body['data']).toBeNull();
    expect(auth(login)).toMatchObject({
      lease_duration: 60,
      renewable: true,
      metadata: { role_name: 'orders' },
      token_type: 'service',
    });
    const token = auth(login)['client_token'] as string;
    expect(token).toMatch(/^hvs\./);
    expect(vault.logins).toEqual([
      expect.objectContaining({ method: 'approle', mount: 'approle', role: 'orders' }),
    ]);
    const lookup = await send('GET', 'auth/token/lookup-self', undefined, {
      'X-Vault-Token': token,
    });
    expect(lookup.status).toBe(200);
    expect(lookup.body['data']).toMatchObject({
      path: 'auth/approle/login',
      meta: { role_name: 'orders' },
      renewable: true,
      creation_ttl: 60,
    });
    const encrypt = await send(
      'POST',
      'transit/encrypt/k',
      { plaintext: 'aGk=' },
      { 'X-Vault-Token': token },
    );
    expect(encrypt.status).toBe(200);
  });

  it('answers Vault’s errors, unwrapped, and locks a role id out after 5 failures', async () => {
    const { roleId, secretId } = vault.addAppRole({ roleName: 'r' });
    expect(await send('POST', 'auth/approle/login', { role_id: roleId })).toEqual({
      status: 400,
      body: { errors: ['missing secret_id'] },
    });
    expect(await send('POST', 'auth/approle/login', { role_id: '', secret_id: 'x' })).toEqual({
      status: 500,
      body: { errors: ['failed to determine alias name from login request'] },
    });
    expect(await send('POST', 'auth/approle/login', { role_id: 'nope', secret_id: 'x' })).toEqual({
      status: 400,
      body: { errors: ['invalid role or secret ID'] },
    });
    for (let i = 0; i < 5; i += 1) {
      const wrong = await send('POST', 'auth/approle/login', { role_id: roleId, secret_id: 'x' });
      expect(wrong).toEqual({ status: 400, body: { errors: ['invalid role or secret ID'] } });
    }
    // Locked: even the right secret id is refused now.
    expect(
      await send('POST', 'auth/approle/login', { role_id: roleId, secret_id: secretId }),
    ).toEqual({ status: 403, body: { errors: ['permission denied'] } });
    expect(vault.logins).toHaveLength(0);
  });

  it('serves only enabled mounts; other methods than update are unsupported', async () => {
    // No role yet: the path is no login path, so it needs a token like any other.
    expect(
      (await send('POST', 'auth/approle/login', { role_id: 'a', secret_id: 'b' })).status,
    ).toBe(403);
    const { roleId, secretId } = vault.addAppRole({ roleName: 'r', mount: 'ci-approle' });
    const login = await send('POST', 'auth/ci-approle/login', {
      role_id: roleId,
      secret_id: secretId,
    });
    expect(login.status).toBe(200);
    const get = await send('GET', 'auth/ci-approle/login');
    expect(get.status).toBe(405);
  });
});

describe('dev server: auth/kubernetes/login (vault-transit-api §8.5)', () => {
  it('accepts the configured JWTs only, with Vault’s errors otherwise', async () => {
    vault.setKubernetesRole({ role: 'app', jwts: ['jwt-one'], serviceAccountName: 'orders' });
    const ok = await send('POST', 'auth/kubernetes/login', { role: 'app', jwt: 'jwt-one' });
    expect(ok.status).toBe(200);
    expect(auth(ok)['metadata']).toMatchObject({
      role: 'app',
      service_account_name: 'orders',
      service_account_namespace: 'default',
    });
    expect(await send('POST', 'auth/kubernetes/login', { jwt: 'jwt-one' })).toEqual({
      status: 400,
      body: { errors: ['missing role'] },
    });
    expect(await send('POST', 'auth/kubernetes/login', { role: 'app' })).toEqual({
      status: 400,
      body: { errors: ['missing jwt'] },
    });
    expect(await send('POST', 'auth/kubernetes/login', { role: 'x', jwt: 'jwt-one' })).toEqual({
      status: 400,
      body: { errors: ['invalid role name "x"'] },
    });
    expect(await send('POST', 'auth/kubernetes/login', { role: 'app', jwt: 'other' })).toEqual({
      status: 403,
      body: { errors: ['permission denied'] },
    });
    // A rotated JWT: the role now accepts the new one only.
    vault.setKubernetesRole({ role: 'app', jwts: ['jwt-two'] });
    expect(
      (await send('POST', 'auth/kubernetes/login', { role: 'app', jwt: 'jwt-one' })).status,
    ).toBe(403);
    expect(vault.logins.map((l) => l.method)).toEqual(['kubernetes']);
  });
});

describe('dev server: renew-self with a max TTL (vault-transit-api §8.3)', () => {
  it('caps a renewal at the time left before the max TTL, with Vault’s warning', async () => {
    const token = vault.createToken({ ttlSeconds: 2, maxTtlSeconds: 3 });
    const headers = { 'X-Vault-Token': token };
    const first = await send('POST', 'auth/token/renew-self', {}, headers);
    expect(auth(first)['lease_duration']).toBe(2);
    expect(first.body['warnings']).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    // ~1.9 s left of the max TTL, less on a loaded machine: whole seconds left, 1 or 0.
    const capped = await send('POST', 'auth/token/renew-self', {}, headers);
    const left = auth(capped)['lease_duration'];
    expect([0, 1]).toContain(left);
    expect(capped.body['warnings']).toEqual([
      `TTL of "2s" exceeded the effective max_ttl of "${String(left)}s"; TTL value is capped accordingly`,
    ]);
    const lookup = await send('GET', 'auth/token/lookup-self', undefined, headers);
    expect((lookup.body['data'] as Record<string, unknown>)['explicit_max_ttl']).toBe(3);
    // The max TTL (3 s) ends it, whatever the renewals.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const gone = await send('GET', 'auth/token/lookup-self', undefined, headers);
    expect(gone.status).toBe(403);
  });
});

describe('dev server: a required namespace', () => {
  it('serves the mount, logins and namespace tokens only inside it', async () => {
    await vault.close();
    vault = await startTransitDevServer({ namespace: '/team-a/' });
    const { roleId, secretId } = vault.addAppRole({ roleName: 'r' });
    const credentials = { role_id: roleId, secret_id: secretId };
    const inside = { 'X-Vault-Namespace': 'team-a/' };
    expect(await send('POST', 'auth/approle/login', credentials)).toEqual({
      status: 403,
      body: { errors: ['permission denied'] },
    });
    const login = await send('POST', 'auth/approle/login', credentials, inside);
    expect(login.status).toBe(200);
    const token = auth(login)['client_token'] as string;
    const outside = await send(
      'POST',
      'transit/encrypt/k',
      { plaintext: 'aGk=' },
      {
        'X-Vault-Token': token,
      },
    );
    expect(outside.status).toBe(403);
    expect((outside.body['errors'] as string[])[0]).toContain('invalid token');
    const ok = await send(
      'POST',
      'transit/encrypt/k',
      { plaintext: 'aGk=' },
      {
        'X-Vault-Token': token,
        ...inside,
      },
    );
    expect(ok.status).toBe(200);
    const root = await send(
      'POST',
      'transit/encrypt/k',
      { plaintext: 'aGk=' },
      {
        'X-Vault-Token': vault.token,
        'X-Vault-Namespace': 'team-b',
      },
    );
    expect(root).toEqual({
      status: 404,
      body: { errors: ['no handler for route "transit/encrypt/k". route entry not found.'] },
    });
    expect((await send('GET', 'sys/health')).status).toBe(200);
  });
});
