import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RestSessionPool, VaultTransitService, type KmsModuleOptions } from '../../lib/index.js';
import type { TransitDevServer } from '../../lib/testing/index.js';

export const DEK = Buffer.alloc(32, 5);

/** A service and its pool against the dev server; `close()` ends both. */
export interface AuthHarness {
  readonly kms: VaultTransitService;
  readonly pool: RestSessionPool;
  /** Encrypts and decrypts one DEK for the tenant, in one session. */
  roundTrip(tenant?: string | number): Promise<Buffer>;
  close(): void;
}

export function harness(
  vault: TransitDevServer,
  options: Omit<KmsModuleOptions, 'vaultAddr'> & { vaultAddr?: string },
): AuthHarness {
  const pool = new RestSessionPool();
  const kms = new VaultTransitService({ vaultAddr: vault.address, ...options });
  return {
    kms,
    pool,
    roundTrip: (tenant = 1) =>
      pool.session(async (session) => {
        const encrypted = await kms.encryptDek(session, tenant, DEK);
        return kms.decryptDek(session, tenant, encrypted);
      }),
    close: () => {
      kms.close();
      pool.close();
    },
  };
}

/** A private temporary directory, removed by `remove()`. */
export function tempDir(): { readonly path: string; file(name: string): string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'kms-auth-'));
  return {
    path,
    file: (name) => join(path, name),
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}

/** Replaces a file the way Vault Agent's sink does: write a temporary file, rename it over. */
export function replaceByRename(path: string, content: string): void {
  const temporary = `${path}.tmp-${process.pid}`;
  writeFileSync(temporary, content, { mode: 0o600 });
  renameSync(temporary, path);
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** The dev server's answers to a path, by status. */
export function statuses(vault: TransitDevServer, path: string): number[] {
  return vault.requests.filter((r) => r.path === path).map((r) => r.status);
}

/** Polls every 50 ms until `done()` holds; fails after a generous deadline (a loaded machine). */
export async function eventually(done: () => boolean, deadlineMs = 10_000): Promise<void> {
  const ends = performance.now() + deadlineMs;
  while (!done()) {
    if (performance.now() > ends) throw new Error(`condition not met within ${deadlineMs} ms`);
    await sleep(50);
  }
}
