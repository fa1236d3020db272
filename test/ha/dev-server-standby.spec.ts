import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';

let active: TransitDevServer;
let node: TransitDevServer;

beforeEach(async () => {
  active = await startTransitDevServer();
  node = await startTransitDevServer({
    token: active.token,
    standby: { activeAddress: `${active.address}/ignored/path?q=1` },
  });
});
afterEach(async () => {
  await Promise.all([active.close(), node.close()]);
});

/** A raw request that never follows redirects. */
function send(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${node.address}${path}`, {
    ...init,
    redirect: 'manual',
    headers: { 'X-Vault-Token': node.token, ...init.headers },
  });
}

async function health(query = ''): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await send(`/v1/sys/health${query}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('the dev server as a standby node', () => {
  it('answers sys/health 429 with standby: true, and the active code with standbyok', async () => {
    const { status, body } = await health();
    expect(status).toBe(429);
    expect(body).toMatchObject({
      initialized: true,
      sealed: false,
      standby: true,
      performance_standby: false,
      cluster_name: 'vault-cluster-transit-dev',
    });
    expect(typeof body['version']).toBe('string');
    expect((await health('?standbyok=true')).status).toBe(200);
    expect((await health('?standbycode=299')).status).toBe(299);
    expect((await health('?standbyok=maybe')).status).toBe(400);
  });

  it('answers 473 as a performance standby (perfstandbyok → active code)', async () => {
    node.setStandby({ activeAddress: active.address, performance: true });
    const { status, body } = await health();
    expect(status).toBe(473);
    expect(body).toMatchObject({ standby: true, performance_standby: true, sealed: false });
    expect((await health('?perfstandbyok=true')).status).toBe(200);
    expect((await health('?performancestandbycode=200&activecode=204')).status).toBe(200);
  });

  it('redirects API requests with 307 to the active node, path and query kept, body empty', async () => {
    const response = await send('/v1/transit/keys/tenant%2Da?list=true&x=%2F', { method: 'GET' });
    expect(response.status).toBe(307);
    expect(response.headers.get('location')).toBe(
      `${active.address}/v1/transit/keys/tenant%2Da?list=true&x=%2F`,
    );
    expect(response.headers.get('content-type')).toBeNull();
    expect(await response.text()).toBe('');
    const write = await send('/v1/transit/encrypt/t', {
      method: 'POST',
      body: JSON.stringify({ plaintext: 'AAAA' }),
    });
    expect(write.status).toBe(307);
    expect(write.headers.get('location')).toBe(`${active.address}/v1/transit/encrypt/t`);
    // Redirected, not served: no key was created anywhere.
    expect(active.requests).toEqual([]);
    expect(node.requests.map((r) => r.status)).toEqual([307, 307]);
  });

  it('a sealed standby answers 503 sealed instead of redirecting', async () => {
    node.setSealed(true);
    expect((await send('/v1/transit/encrypt/t', { method: 'POST', body: '{}' })).status).toBe(503);
    expect((await health()).status).toBe(503);
  });

  it('setStandby(undefined) makes it the active node again', async () => {
    node.setStandby(undefined);
    expect((await health()).status).toBe(200);
    expect((await health()).body['standby']).toBe(false);
    const write = await send('/v1/transit/encrypt/t', {
      method: 'POST',
      body: JSON.stringify({ plaintext: 'AAAA' }),
    });
    expect(write.status).toBe(200);
  });

  it('refuses a malformed standby setting', async () => {
    expect(() => node.setStandby({ activeAddress: 'not a url' })).toThrow(TypeError);
    expect(() => node.setStandby({ activeAddress: 'ftp://127.0.0.1/' })).toThrow(TypeError);
    await expect(startTransitDevServer({ standby: { activeAddress: '' } })).rejects.toBeInstanceOf(
      TypeError,
    );
  });
});

describe('the dev server uninitialised', () => {
  it('answers sys/health 501 and every other request 503 "Vault is sealed"', async () => {
    node.setStandby(undefined);
    node.setInitialized(false);
    const { status, body } = await health();
    expect(status).toBe(501);
    expect(body).toMatchObject({ initialized: false, sealed: true, standby: true });
    expect(body).not.toHaveProperty('cluster_name');
    expect((await health('?uninitcode=200')).status).toBe(200);
    const write = await send('/v1/transit/encrypt/t', { method: 'POST', body: '{}' });
    expect(write.status).toBe(503);
    expect(await write.json()).toEqual({ errors: ['Vault is sealed'] });
    node.setInitialized(true);
    expect((await health()).status).toBe(200);
  });
});
