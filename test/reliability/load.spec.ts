import { randomBytes } from 'node:crypto';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  KekNotFoundError,
  KmsDecryptionError,
  KmsError,
  RestSessionPool,
  VaultTransitService,
  type ISession,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { TRANSPORTS } from '../support/transports.js';

/**
 * Load: 2 000 concurrent mixed operations across 50 tenants against the Transit dev server, all
 * launched at once over one `RestSessionPool({ maxSockets: 16 })`. Checks correctness (zero
 * errors, zero cross-tenant results), the number of TCP connections the server sees at once, and
 * heap growth. Timing is printed, never asserted. Once per transport: the direct one sends over
 * the same agents without axios, so its socket limit, keep-alive and signals are checked too.
 */

const MAX_SOCKETS = 16;
const TENANTS = 50;
const OPERATIONS = 2_000;
/** Tenants rotated once before the storm, so rewraps have something to move. */
const ROTATED_BEFORE = 10;
/** Tenants rotated once during the storm (at most two rotations per tenant in all). */
const ROTATED_DURING = 25;
const CROSS_TENANT_PROBES = 40;
/** Throwaway tenants shredded during the storm (never one of the 50). */
const SHREDDED = ['shred-0', 'shred-1', 'shred-2'];
/** With a forced GC the heap after the run holds only what the run kept (a few MB). */
const HEAP_GROWTH_LIMIT_WITH_GC = 64 * 1024 * 1024;
const HEAP_GROWTH_LIMIT_WITHOUT_GC = 200 * 1024 * 1024;

const tenantIds = Array.from({ length: TENANTS }, (_, i) => `load-${String(i).padStart(2, '0')}`);

/** What was wrapped, by ciphertext text: the tenant it was wrapped for and the plaintext DEK. */
interface Wrapped {
  readonly tenant: string;
  readonly dek: Buffer;
  readonly ciphertext: string;
}

type OperationKind =
  | 'generateDek'
  | 'encryptDek'
  | 'decryptDek'
  | 'rewrapDek'
  | 'rotateKek'
  | 'deleteKek'
  | 'crossTenantDecrypt';

interface Operation {
  readonly kind: OperationKind;
  readonly tenant: string;
  /** Ciphertext the operation works on (decrypt, rewrap, cross-tenant decrypt). */
  readonly input?: Wrapped;
}

/** Deterministic PRNG (mulberry32) so every run plays the same mix. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * A TCP pass-through in front of the dev server that counts the connections the server side
 * sees: how many are open at once (the maximum) and how many were opened in all.
 */
async function startCountingProxy(target: string): Promise<{
  address: string;
  stats: { open: number; maxOpen: number; total: number };
  close: () => Promise<void>;
}> {
  const { hostname, port } = new URL(target);
  const stats = { open: 0, maxOpen: 0, total: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    stats.open += 1;
    stats.total += 1;
    stats.maxOpen = Math.max(stats.maxOpen, stats.open);
    const upstream = connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    let closed = false;
    const onClose = (): void => {
      if (closed) return;
      closed = true;
      stats.open -= 1;
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', onClose).on('close', onClose);
    upstream.on('error', onClose).on('close', onClose);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const bound = server.address() as AddressInfo;
  return {
    address: `http://127.0.0.1:${bound.port}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Forces a full GC when the runtime lets us (global.gc, or V8's flag set at run time). */
function forcedGc(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

function heapUsed(gc: (() => void) | undefined): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

function versionOf(ciphertext: string): number {
  const match = /^vault:v(\d+):/.exec(ciphertext);
  if (!match) throw new Error(`not a Transit ciphertext: ${ciphertext.slice(0, 12)}…`);
  return Number(match[1]);
}

function errorCode(error: unknown): string {
  if (error instanceof KmsError) return error.code;
  if (error instanceof Error) return error.name;
  return typeof error;
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

describe.each(TRANSPORTS)(
  'load: concurrent mixed operations across tenants (transport: %s)',
  (transport) => {
    let server: TransitDevServer;
    let proxy: Awaited<ReturnType<typeof startCountingProxy>>;
    let pool: RestSessionPool;
    let kms: VaultTransitService;

    beforeAll(async () => {
      server = await startTransitDevServer();
      proxy = await startCountingProxy(server.address);
      pool = new RestSessionPool({ maxSockets: MAX_SOCKETS });
      kms = new VaultTransitService({
        vaultAddr: proxy.address,
        vaultToken: server.token,
        // The deadline of a request includes its wait behind the 16 sockets: with 2 000 launched
        // at once the last ones wait for most of the storm. Leave room for a slow CI machine.
        timeoutMs: 30_000,
        transport,
      });
    });

    afterAll(async () => {
      pool?.close();
      await proxy?.close();
      await server?.close();
    });

    it(`completes ${OPERATIONS} operations over ${TENANTS} tenants with no error, no cross-tenant result, ≤ ${MAX_SOCKETS} sockets and bounded memory`, async () => {
      const random = prng(0x5eed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const gc = forcedGc();

      /** Every ciphertext produced, by its text. */
      const wrapped = new Map<string, Wrapped>();
      const errors: { kind: OperationKind; code: string; message: string }[] = [];
      const violations: string[] = [];
      const counts = {
        ok: 0,
        expectedCrossTenantFailures: 0,
        rotations: new Map<string, number>(),
      };

      const record = (tenant: string, dek: Buffer, encryptedDek: Buffer): Wrapped => {
        const ciphertext = encryptedDek.toString('utf8');
        if (wrapped.has(ciphertext)) violations.push(`ciphertext produced twice (${tenant})`);
        const entry: Wrapped = { tenant, dek: Buffer.from(dek), ciphertext };
        wrapped.set(ciphertext, entry);
        return entry;
      };
      /** A decrypt result must be exactly the DEK that was wrapped for THAT tenant. */
      const checkDecrypted = (tenant: string, input: Wrapped, dek: Buffer): void => {
        const expected = wrapped.get(input.ciphertext);
        if (!expected) violations.push(`decrypted an unknown ciphertext for ${tenant}`);
        else if (expected.tenant !== tenant)
          violations.push(`${tenant} decrypted ${expected.tenant}'s ciphertext`);
        else if (!dek.equals(expected.dek))
          violations.push(`${tenant} got another DEK than the one wrapped for it`);
      };
      /** Some operations run inside an atomic scope, as a request's unit of work would. */
      const inSession = <T>(index: number, work: (session: ISession) => Promise<T>): Promise<T> =>
        pool.session((session) => (index % 5 === 0 ? session.atomic(work) : work(session)));

      // Seed: two DEKs per tenant (creates the 50 KEKs), the throwaway tenants' keys, then one
      // rotation of the first tenants so that their seed ciphertexts are one version behind.
      const seedByTenant = new Map<string, Wrapped[]>(tenantIds.map((t) => [t, []]));
      await Promise.all(
        [...tenantIds, ...tenantIds, ...SHREDDED].map((tenant, i) =>
          inSession(i, async (s) => {
            const { dek, encryptedDek } = await kms.generateDek(s, tenant);
            const entry = record(tenant, dek, encryptedDek);
            seedByTenant.get(tenant)?.push(entry);
          }),
        ),
      );
      await Promise.all(
        tenantIds
          .slice(0, ROTATED_BEFORE)
          .map((tenant, i) => inSession(i, (s) => kms.rotateKek(s, tenant))),
      );
      const shreddedCiphertexts = SHREDDED.map((tenant) =>
        [...wrapped.values()].find((entry) => entry.tenant === tenant)!,
      );

      // The mix: fixed numbers of rotations, deletions and cross-tenant probes, the rest drawn
      // by weight; then shuffled so every kind overlaps every other.
      const operations: Operation[] = [];
      for (const tenant of tenantIds.slice(0, ROTATED_DURING))
        operations.push({ kind: 'rotateKek', tenant });
      // shred-0 is deleted twice at once: deletion must converge.
      for (const tenant of [...SHREDDED, SHREDDED[0]!])
        operations.push({ kind: 'deleteKek', tenant });
      for (let i = 0; i < CROSS_TENANT_PROBES; i += 1) {
        const owner = pick(tenantIds);
        const other = pick(tenantIds.filter((t) => t !== owner));
        operations.push({
          kind: 'crossTenantDecrypt',
          tenant: other,
          input: pick(seedByTenant.get(owner)!),
        });
      }
      while (operations.length < OPERATIONS) {
        const tenant = pick(tenantIds);
        const draw = random();
        if (draw < 0.3) operations.push({ kind: 'generateDek', tenant });
        else if (draw < 0.55) operations.push({ kind: 'encryptDek', tenant });
        else if (draw < 0.85)
          operations.push({ kind: 'decryptDek', tenant, input: pick(seedByTenant.get(tenant)!) });
        else {
          // Rewraps favour the rotated tenants, whose seed ciphertexts are behind.
          const target = random() < 0.7 ? pick(tenantIds.slice(0, ROTATED_BEFORE)) : tenant;
          operations.push({
            kind: 'rewrapDek',
            tenant: target,
            input: pick(seedByTenant.get(target)!),
          });
        }
      }
      for (let i = operations.length - 1; i > 0; i -= 1) {
        const j = Math.floor(random() * (i + 1));
        [operations[i], operations[j]] = [operations[j]!, operations[i]!];
      }

      // Agent-side view of the sockets, sampled while the storm runs.
      let maxAgentSockets = 0;
      const countAgentSockets = (): number => {
        let n = 0;
        for (const list of Object.values(pool.httpAgent.sockets)) n += list?.length ?? 0;
        for (const list of Object.values(pool.httpAgent.freeSockets)) n += list?.length ?? 0;
        return n;
      };
      const sampleSockets = (): void => {
        maxAgentSockets = Math.max(maxAgentSockets, countAgentSockets());
      };
      const disconnectSampler = pool.signals.requestStarted.connect(sampleSockets);
      // Retryable failures (transport errors, 429, 5xx) must not happen at all, not even ones a
      // retry would hide from the caller.
      const retryableFailures: string[] = [];
      const disconnectFailures = pool.signals.requestEnded.connect((event) => {
        if (event.errorCode !== undefined || (event.status !== undefined && event.status >= 429))
          retryableFailures.push(
            `${event.method} ${event.path} → ${event.status ?? event.errorCode}`,
          );
      });
      let peakHeap = 0;
      const sampler = setInterval(() => {
        sampleSockets();
        peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
      }, 5);

      const heapBefore = heapUsed(gc);
      const rssBefore = process.memoryUsage().rss;
      const requestsBefore = server.requests.length;
      const started = performance.now();

      const run = async (operation: Operation, index: number): Promise<void> => {
        const { kind, tenant, input } = operation;
        try {
          await inSession(index, async (s) => {
            switch (kind) {
              case 'generateDek': {
                const { dek, encryptedDek } = await kms.generateDek(s, tenant);
                if (dek.length !== 32) violations.push(`generateDek gave ${dek.length} bytes`);
                record(tenant, dek, encryptedDek);
                break;
              }
              case 'encryptDek': {
                const dek = randomBytes(32);
                record(tenant, dek, await kms.encryptDek(s, tenant, dek));
                break;
              }
              case 'decryptDek':
                checkDecrypted(
                  tenant,
                  input!,
                  await kms.decryptDek(s, tenant, Buffer.from(input!.ciphertext)),
                );
                break;
              case 'rewrapDek': {
                const rewrapped = await kms.rewrapDek(s, tenant, Buffer.from(input!.ciphertext));
                const text = rewrapped.toString('utf8');
                if (versionOf(text) < versionOf(input!.ciphertext))
                  violations.push(`rewrap of ${tenant} went back a version`);
                // Already on the latest known version: returned as it was, at no request.
                if (text !== input!.ciphertext) record(tenant, input!.dek, rewrapped);
                break;
              }
              case 'rotateKek': {
                const version = await kms.rotateKek(s, tenant);
                counts.rotations.set(tenant, version);
                break;
              }
              case 'deleteKek':
                await kms.deleteKek(s, tenant);
                break;
              case 'crossTenantDecrypt':
                try {
                  await kms.decryptDek(s, tenant, Buffer.from(input!.ciphertext));
                  violations.push(`${tenant} decrypted ${input!.tenant}'s ciphertext`);
                } catch (error) {
                  if (!(error instanceof KmsDecryptionError)) throw error;
                  counts.expectedCrossTenantFailures += 1;
                }
                return;
            }
            counts.ok += 1;
          });
        } catch (error) {
          errors.push({
            kind,
            code: errorCode(error),
            message: error instanceof Error ? error.message : String(error),
          });
        }
      };
      await Promise.all(operations.map((operation, i) => run(operation, i)));

      const stormMs = performance.now() - started;
      const stormRequests = server.requests.length - requestsBefore;

      // Afterwards: every ciphertext still decrypts, for its own tenant, to its own DEK.
      const survivors = [...wrapped.values()].filter((entry) => !SHREDDED.includes(entry.tenant));
      await Promise.all(
        survivors.map((entry, i) =>
          inSession(i, async (s) =>
            checkDecrypted(
              entry.tenant,
              entry,
              await kms.decryptDek(s, entry.tenant, Buffer.from(entry.ciphertext)),
            ),
          ).catch((error: unknown) =>
            errors.push({ kind: 'decryptDek', code: errorCode(error), message: String(error) }),
          ),
        ),
      );
      // Shredded tenants' DEKs are gone for good.
      const shredResults = await Promise.all(
        shreddedCiphertexts.map((entry) =>
          pool
            .session((s) => kms.decryptDek(s, entry.tenant, Buffer.from(entry.ciphertext)))
            .then(
              () => 'decrypted',
              (error: unknown) => (error instanceof KekNotFoundError ? 'gone' : errorCode(error)),
            ),
        ),
      );

      clearInterval(sampler);
      disconnectSampler();
      disconnectFailures();
      const heapAfter = heapUsed(gc);
      const rssAfter = process.memoryUsage().rss;
      const heapGrowth = heapAfter - heapBefore;
      const totalMs = performance.now() - started;

      console.log(
        `load (transport: ${transport}): ${OPERATIONS} ops (${stormRequests} requests) over ${TENANTS} tenants in ${stormMs.toFixed(0)} ms` +
          ` (+${survivors.length} verification decrypts, ${totalMs.toFixed(0)} ms in all);` +
          ` ${counts.ok} ok, ${errors.length} errors, ${retryableFailures.length} retryable request failures, ${violations.length} cross-tenant violations,` +
          ` ${counts.expectedCrossTenantFailures}/${CROSS_TENANT_PROBES} cross-tenant probes refused;` +
          ` sockets max ${proxy.stats.maxOpen} at the server (${proxy.stats.total} opened), max ${maxAgentSockets} in the agent, limit ${MAX_SOCKETS};` +
          ` heap ${mb(heapBefore)} → ${mb(heapAfter)} (${heapGrowth >= 0 ? '+' : ''}${mb(heapGrowth)}, peak ${mb(peakHeap)}, gc ${gc ? 'forced' : 'unavailable'}),` +
          ` rss ${mb(rssBefore)} → ${mb(rssAfter)}`,
      );

      expect(errors.slice(0, 10)).toEqual([]);
      expect(violations.slice(0, 10)).toEqual([]);
      expect(retryableFailures.slice(0, 10)).toEqual([]);
      expect(counts.ok + counts.expectedCrossTenantFailures).toBe(OPERATIONS);
      expect(counts.expectedCrossTenantFailures).toBe(CROSS_TENANT_PROBES);
      expect(shredResults).toEqual(SHREDDED.map(() => 'gone'));
      // Rotations stayed sane: one before and/or one during the storm, never more.
      for (const [tenant, version] of counts.rotations)
        expect(version, tenant).toBeLessThanOrEqual(
          tenantIds.indexOf(tenant) < ROTATED_BEFORE ? 3 : 2,
        );

      expect(proxy.stats.maxOpen).toBeGreaterThan(0);
      expect(proxy.stats.maxOpen).toBeLessThanOrEqual(MAX_SOCKETS);
      expect(maxAgentSockets).toBeLessThanOrEqual(MAX_SOCKETS);
      // Keep-alive: the same few connections carried the whole run.
      expect(proxy.stats.total).toBeLessThanOrEqual(MAX_SOCKETS * 2);

      expect(heapGrowth).toBeLessThan(
        gc ? HEAP_GROWTH_LIMIT_WITH_GC : HEAP_GROWTH_LIMIT_WITHOUT_GC,
      );
    }, 60_000);
  },
);
