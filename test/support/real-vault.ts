/** Where a real Vault for the contract suite comes from, or why there is none. */
export type RealVault =
  | {
      readonly available: true;
      readonly address: string;
      readonly token: string;
      readonly mount: string;
      stop(): Promise<void>;
    }
  | { readonly available: false; readonly reason: string };

const VAULT_IMAGE = 'hashicorp/vault:1.21';

/**
 * A real Vault: `TEST_VAULT_ADDR` + `TEST_VAULT_TOKEN` (e.g. `docker compose up`), else a
 * testcontainers Vault when a container runtime exists. Transit is enabled at
 * `TEST_VAULT_MOUNT` (default `transit`) if it is not yet.
 */
export async function findRealVault(): Promise<RealVault> {
  const address = process.env['TEST_VAULT_ADDR'];
  const mount = process.env['TEST_VAULT_MOUNT'] ?? 'transit';
  if (address) {
    const token = process.env['TEST_VAULT_TOKEN'];
    if (!token)
      return { available: false, reason: 'TEST_VAULT_ADDR is set but TEST_VAULT_TOKEN is not' };
    await enableTransit(address, token, mount);
    return {
      available: true,
      address: address.replace(/\/+$/, ''),
      token,
      mount,
      stop: async () => undefined,
    };
  }
  let runtimeError: string;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    const { VaultContainer } = await import('@testcontainers/vault');
    const token = 'root';
    const container = await new VaultContainer(VAULT_IMAGE).withVaultToken(token).start();
    const started = container.getAddress();
    await enableTransit(started, token, mount);
    return {
      available: true,
      address: started,
      token,
      mount,
      stop: async () => void (await container.stop()),
    };
  } catch (error) {
    runtimeError = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
  }
  return {
    available: false,
    reason: `no TEST_VAULT_ADDR/TEST_VAULT_TOKEN and no container runtime for testcontainers (${runtimeError})`,
  };
}

async function enableTransit(address: string, token: string, mount: string): Promise<void> {
  const response = await fetch(`${address.replace(/\/+$/, '')}/v1/sys/mounts/${mount}`, {
    method: 'POST',
    headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'transit' }),
  });
  if (response.status === 204) return;
  const text = await response.text();
  if (response.status === 400 && text.includes('path is already in use')) return;
  throw new Error(`enabling transit at ${mount} answered ${response.status}`);
}
