import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';

/** The parts of node-vault 0.12's client this test uses (it ships no types). */
interface NodeVaultClient {
  read(path: string): Promise<{ data: Record<string, unknown> }>;
  write(
    path: string,
    data: Record<string, unknown>,
  ): Promise<{ data: Record<string, unknown> } | undefined>;
  list(path: string): Promise<{ data: { keys: string[] } }>;
  delete(path: string): Promise<unknown>;
  health(): Promise<Record<string, unknown>>;
  tokenLookupSelf(): Promise<{ data: Record<string, unknown> }>;
}

const require = createRequire(import.meta.url);
const nodeVault = require('node-vault') as (options: {
  endpoint: string;
  token: string;
}) => NodeVaultClient;

let server: TransitDevServer;
let vault: NodeVaultClient;

beforeAll(async () => {
  server = await startTransitDevServer();
  vault = nodeVault({ endpoint: server.address, token: server.token });
});
afterAll(() => server.close());

describe('another Vault client (node-vault 0.12) against the Transit dev server, unchanged', () => {
  it('creates, reads, lists, rotates, configures and deletes keys (LIST verb included)', async () => {
    await vault.write('transit/keys/orders', { type: 'aes256-gcm96' });
    await vault.write('transit/keys/payments', {});
    const read = await vault.read('transit/keys/orders');
    expect(read.data).toMatchObject({ name: 'orders', type: 'aes256-gcm96', latest_version: 1 });
    expect((await vault.list('transit/keys')).data.keys).toEqual(['orders', 'payments']);
    const rotated = await vault.write('transit/keys/orders/rotate', {});
    expect(rotated?.data).toMatchObject({ latest_version: 2 });
    await vault.write('transit/keys/payments/config', { deletion_allowed: true });
    await vault.delete('transit/keys/payments');
    expect((await vault.list('transit/keys')).data.keys).toEqual(['orders']);
  });

  it('encrypts, decrypts, rewraps and makes data keys', async () => {
    const plaintext = Buffer.from('hello world').toString('base64');
    const encrypted = await vault.write('transit/encrypt/orders', { plaintext });
    const ciphertext = encrypted?.data['ciphertext'] as string;
    expect(ciphertext).toMatch(/^vault:v2:/);
    const decrypted = await vault.write('transit/decrypt/orders', { ciphertext });
    expect(decrypted?.data['plaintext']).toBe(plaintext);
    const datakey = await vault.write('transit/datakey/plaintext/orders', { bits: 256 });
    expect(Buffer.from(datakey?.data['plaintext'] as string, 'base64')).toHaveLength(32);
    await vault.write('transit/keys/orders/rotate', {});
    const rewrapped = await vault.write('transit/rewrap/orders', { ciphertext });
    expect(rewrapped?.data['ciphertext']).toMatch(/^vault:v3:/);
  });

  it('gets Vault’s status codes and error bodies', async () => {
    const missing = await vault
      .write('transit/decrypt/nobody', { ciphertext: 'vault:v1:AAAA' })
      .catch((e: unknown) => e);
    expect(missing).toMatchObject({
      response: { statusCode: 400, body: { errors: ['encryption key not found'] } },
    });
    const notFound = await vault.read('transit/keys/nobody').catch((e: unknown) => e);
    expect(notFound).toMatchObject({ response: { statusCode: 404 } });
  });

  it('reads sys/health and looks up its own token', async () => {
    expect(await vault.health()).toMatchObject({
      initialized: true,
      sealed: false,
      standby: false,
    });
    const self = await vault.tokenLookupSelf();
    expect(self.data).toMatchObject({ policies: ['root'], ttl: 0 });
  });
});
