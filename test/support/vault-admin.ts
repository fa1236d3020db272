/** Out-of-band operator calls to a Vault (or the dev server), as `vault write` would make them. */
export async function vaultSetMinDecryptionVersion(
  address: string,
  token: string,
  mount: string,
  keyName: string,
  version: number,
): Promise<void> {
  const response = await fetch(`${address}/v1/${mount}/keys/${keyName}/config`, {
    method: 'POST',
    headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ min_decryption_version: version }),
  });
  if (!response.ok) throw new Error(`config of ${keyName} answered ${response.status}`);
}
