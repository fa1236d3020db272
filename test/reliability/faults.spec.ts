import { inspect } from 'node:util';
import { Logger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  KmsError,
  KmsOutcomeUnknownError,
  KmsUnavailableError,
  RestSessionPool,
  VaultTransitService,
  type ISession,
  type KmsModuleOptions,
} from '../../lib/index.js';
import {
  startTransitDevServer,
  type DevServerFault,
  type TransitDevServer,
} from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';
import { TRANSPORTS, expectSentThrough, type Transport } from '../support/transports.js';

/**
 * Every operation × every fault the dev server can inject, over real HTTP: a typed error or a
 * success after the expected number of requests, never a second rotation, never a hang past the
 * deadline, never a secret in an error or a signal. All of it once per transport.
 */

let vault: TransitDevServer;
/** The pool of the transport whose suite runs now (each suite opens its own). */
let rest: RestSessionPool;
/** Everything logged through Nest's Logger or the console while the suite ran. */
const logged: string[] = [];
const DEKS: Buffer[] = [];

function record(...args: unknown[]): void {
  logged.push(inspect(args, { depth: Infinity }));
}

beforeAll(async () => {
  for (const level of ['log', 'warn', 'error', 'debug', 'verbose', 'fatal'] as const) {
    vi.spyOn(Logger.prototype, level).mockImplementation(record);
  }
  for (const level of ['log', 'warn', 'error', 'info', 'debug'] as const) {
    vi.spyOn(console, level).mockImplementation(record);
  }
  vault = await startTransitDevServer();
});
afterAll(async () => {
  vi.restoreAllMocks();
  await vault.close();
});

const DEADLINE_MS = 4_000;
const service = (transport: Transport, options: Partial<KmsModuleOptions> = {}) =>
  new VaultTransitService({
    vaultAddr: vault.address,
    vaultToken: vault.token,
    timeoutMs: 400,
    deadlineMs: DEADLINE_MS,
    retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
    circuitBreaker: false,
    transport,
    ...options,
  });

interface Prepared {
  readonly tenant: string;
  readonly key: string;
  readonly dek: Buffer;
  readonly wrapped: Buffer;
}

type OperationName =
  'encryptDek' | 'decryptDek' | 'generateDek' | 'rewrapDek' | 'rotateKek' | 'deleteKek';

interface Operation {
  /** Arranges what the operation needs before the fault is injected. */
  readonly before?: (kms: VaultTransitService, s: ISession, p: Prepared) => Promise<unknown>;
  /** The path of the request the fault hits (the first step of deleteKek). */
  readonly path: (key: string) => string;
  readonly run: (kms: VaultTransitService, s: ISession, p: Prepared) => Promise<unknown>;
  /** Checks the result of a successful call. */
  readonly check: (result: unknown, p: Prepared, kms: VaultTransitService) => Promise<void>;
}

const decrypts = async (kms: VaultTransitService, p: Prepared, wrapped: Buffer) =>
  expect(await rest.session((s) => kms.decryptDek(s, p.tenant, wrapped))).toEqual(p.dek);

const OPERATIONS: Record<OperationName, Operation> = {
  encryptDek: {
    path: (key) => `/v1/transit/encrypt/${key}`,
    run: (kms, s, p) => kms.encryptDek(s, p.tenant, p.dek),
    check: (result, p, kms) => decrypts(kms, p, result as Buffer),
  },
  decryptDek: {
    path: (key) => `/v1/transit/decrypt/${key}`,
    run: (kms, s, p) => kms.decryptDek(s, p.tenant, p.wrapped),
    check: async (result, p) => expect(result).toEqual(p.dek),
  },
  generateDek: {
    path: (key) => `/v1/transit/datakey/plaintext/${key}`,
    run: (kms, s, p) => kms.generateDek(s, p.tenant),
    check: async (result, p, kms) => {
      const { dek, encryptedDek } = result as { dek: Buffer; encryptedDek: Buffer };
      expect(await rest.session((s) => kms.decryptDek(s, p.tenant, encryptedDek))).toEqual(dek);
    },
  },
  rewrapDek: {
    path: (key) => `/v1/transit/rewrap/${key}`,
    // After a rotation, so the v1 ciphertext is below the latest version and must be sent.
    before: (kms, s, p) => kms.rotateKek(s, p.tenant),
    run: (kms, s, p) => kms.rewrapDek(s, p.tenant, p.wrapped),
    check: (result, p, kms) => decrypts(kms, p, result as Buffer),
  },
  rotateKek: {
    path: (key) => `/v1/transit/keys/${key}/rotate`,
    run: (kms, s, p) => kms.rotateKek(s, p.tenant),
    check: async (result, p) => {
      expect(result).toBe(2); // exactly one rotation from version 1
      expect(await latestVersion(p.key)).toBe(2);
    },
  },
  deleteKek: {
    path: (key) => `/v1/transit/keys/${key}/config`,
    run: (kms, s, p) => kms.deleteKek(s, p.tenant),
    check: async (_result, p) => expect(await latestVersion(p.key)).toBeUndefined(),
  },
};

/** The key's latest version as Vault holds it (undefined when it does not exist). */
async function latestVersion(key: string): Promise<number | undefined> {
  const response = await fetch(`${vault.address}/v1/transit/keys/${key}`, {
    headers: { 'X-Vault-Token': vault.token },
  });
  if (response.status === 404) return undefined;
  const body = (await response.json()) as { data: { latest_version: number } };
  return body.data.latest_version;
}

interface FaultCase {
  readonly fault: DevServerFault;
  /**
   * What a rotation hit by it must do: succeed after that many rotate requests, or fail with
   * KmsOutcomeUnknownError after one when nothing can tell whether Vault rotated.
   */
  readonly rotation: { readonly requests: 1 | 2 } | 'outcome-unknown';
}

const FAULTS: Record<string, FaultCase> = {
  // Provably not processed: resent.
  'sealed (503)': { fault: { kind: 'sealed' }, rotation: { requests: 2 } },
  '429 with Retry-After': {
    fault: { kind: 'status', status: 429, retryAfterSeconds: 0 },
    rotation: { requests: 2 },
  },
  // Vault's own 500: it finished the request; the key read shows no new version: resent.
  '500': { fault: { kind: 'status', status: 500 }, rotation: { requests: 2 } },
  // Processed, answer lost: the key read shows the new version: not resent.
  'connection reset after processing': {
    fault: { kind: 'reset', when: 'after' },
    rotation: { requests: 1 },
  },
  'a slow body past timeoutMs': {
    fault: { kind: 'slow-body', ms: 1_500 },
    rotation: { requests: 1 },
  },
  // A proxy's 502, a reset or a timeout: the rotation could still be applied later.
  '502': { fault: { kind: 'status', status: 502 }, rotation: 'outcome-unknown' },
  'connection reset before processing': {
    fault: { kind: 'reset', when: 'before' },
    rotation: 'outcome-unknown',
  },
  'a delay past timeoutMs': { fault: { kind: 'delay', ms: 1_500 }, rotation: 'outcome-unknown' },
};

let tenantCounter = 0;

async function prepare(kms: VaultTransitService, operation?: Operation): Promise<Prepared> {
  tenantCounter += 1;
  const tenant = `faults-${tenantCounter}`;
  const { dek, encryptedDek } = await rest.session((s) => kms.generateDek(s, tenant));
  DEKS.push(dek);
  const prepared = { tenant, key: `tenant-${tenant}`, dek, wrapped: encryptedDek };
  if (operation?.before) await rest.session((s) => operation.before!(kms, s, prepared));
  return prepared;
}

const requestsTo = (path: string) => vault.requests.filter((r) => r.path === path).length;

describe.each(TRANSPORTS)('faults (transport: %s)', (transport) => {
  /** Every signal event this transport's pool emitted. */
  const events: unknown[] = [];
  beforeAll(() => {
    rest = new RestSessionPool();
    for (const signal of Object.values(rest.signals)) {
      signal.connect((event: unknown) => events.push(event));
    }
  });
  afterAll(() => rest.close());

  it('sends over the transport under test', async () => {
    const kms = service(transport);
    await expectSentThrough(transport, rest, async () => {
      const prepared = await prepare(kms);
      await decrypts(kms, prepared, prepared.wrapped);
    });
  });

  describe('every operation × every transient fault', () => {
    for (const [operationName, operation] of Object.entries(OPERATIONS)) {
      for (const [faultName, { fault, rotation }] of Object.entries(FAULTS)) {
        it(`${operationName} after ${faultName}`, async () => {
          const kms = service(transport);
          const prepared = await prepare(kms, operation);
          const path = operation.path(prepared.key);
          const sentBefore = requestsTo(path);
          vault.injectFault({ ...fault, times: 1, match: { path } } as DevServerFault);
          const started = performance.now();

          const outcome = await rest
            .session((s) => operation.run(kms, s, prepared))
            .then(
              (result) => ({ result }),
              (error: unknown) => ({ error }),
            );

          expect(performance.now() - started).toBeLessThan(DEADLINE_MS + 1_000);
          const sent = requestsTo(path) - sentBefore;
          if (operationName === 'rotateKek' && rotation === 'outcome-unknown') {
            expect('error' in outcome && outcome.error).toBeInstanceOf(KmsOutcomeUnknownError);
            expect(sent).toBe(1);
            expect(await latestVersion(prepared.key)).toBe(1); // and it truly did not rotate
            return;
          }
          if ('error' in outcome) throw outcome.error;
          await operation.check(outcome.result, prepared, kms);
          expect(sent).toBe(
            operationName === 'rotateKek' && rotation !== 'outcome-unknown' ? rotation.requests : 2,
          );
        });
      }
    }
  });

  describe('a lasting outage ends every operation with a typed error in time', () => {
    for (const [operationName, operation] of Object.entries(OPERATIONS)) {
      it(`${operationName} while Vault is sealed`, async () => {
        const kms = service(transport);
        const prepared = await prepare(kms, operation);
        const path = operation.path(prepared.key);
        const sentBefore = requestsTo(path);
        const versionBefore = await latestVersion(prepared.key);
        vault.injectFault({ kind: 'sealed', times: Infinity, match: { path } });
        const started = performance.now();
        try {
          const error = await rest
            .session((s) => operation.run(kms, s, prepared))
            .then(
              () => new Error('expected a failure'),
              (e: unknown) => e,
            );
          expect(error).toBeInstanceOf(KmsUnavailableError);
          expect(error).toMatchObject({ reason: 'sealed', retryable: true });
          expect(requestsTo(path) - sentBefore).toBe(3); // maxAttempts
          expect(performance.now() - started).toBeLessThan(DEADLINE_MS + 1_000);
          // nothing rotated, nothing deleted
          expect(await latestVersion(prepared.key)).toBe(versionBefore);
          expectNoSecrets(error, [vault.token, prepared.dek]);
        } finally {
          vault.clearFaults();
        }
      });

      it(`${operationName} against a Vault that never answers stops at the deadline`, async () => {
        const kms = service(transport, { timeoutMs: 10_000, deadlineMs: 600 });
        const prepared = await prepare(kms, operation);
        const path = operation.path(prepared.key);
        vault.injectFault({ kind: 'delay', ms: 60_000, times: Infinity, match: { path } });
        const started = performance.now();
        try {
          const error = await rest
            .session((s) => operation.run(kms, s, prepared))
            .then(
              () => new Error('expected a failure'),
              (e: unknown) => e,
            );
          if (operationName === 'rotateKek') {
            // The rotation was sent and never answered: whether it happened cannot be told.
            expect(error).toBeInstanceOf(KmsOutcomeUnknownError);
            expect(error).toMatchObject({ retryable: false });
          } else {
            expect(error).toBeInstanceOf(KmsUnavailableError);
            expect(error).toMatchObject({ reason: 'timeout' });
          }
          expect(performance.now() - started).toBeLessThan(3_000);
          expectNoSecrets(error, [vault.token, prepared.dek]);
        } finally {
          vault.clearFaults();
        }
      });
    }
  });

  describe('deleteKek converges when its second step is hit', () => {
    for (const fault of [
      { kind: 'reset', when: 'after' },
      { kind: 'reset', when: 'before' },
      { kind: 'status', status: 500 },
      { kind: 'sealed' },
    ] as const) {
      it(`DELETE keys/:name after ${fault.kind}${'when' in fault ? ` ${fault.when}` : ''}`, async () => {
        const kms = service(transport);
        const prepared = await prepare(kms);
        const path = `/v1/transit/keys/${prepared.key}`;
        vault.injectFault({ ...fault, times: 1, match: { method: 'DELETE', path } });
        await rest.session((s) => kms.deleteKek(s, prepared.tenant));
        expect(await latestVersion(prepared.key)).toBeUndefined();
        expect(vault.requests.filter((r) => r.method === 'DELETE' && r.path === path)).toHaveLength(
          2,
        );
      });
    }
  });

  describe('the circuit breaker against the dev server', () => {
    it('fails fast while sealed and recovers once unsealed, without a restart', async () => {
      const kms = service(transport, {
        retry: false,
        circuitBreaker: { failureThreshold: 5, resetTimeoutMs: 1_500 },
      });
      const prepared = await prepare(kms);
      vault.setSealed(true);
      try {
        for (let i = 0; i < 5; i += 1) {
          await expect(
            rest.session((s) => kms.decryptDek(s, prepared.tenant, prepared.wrapped)),
          ).rejects.toMatchObject({ reason: 'sealed' });
        }
        const before = vault.requests.length;
        const started = performance.now();
        const fast = await Promise.allSettled(
          Array.from({ length: 50 }, () =>
            rest.session((s) => kms.decryptDek(s, prepared.tenant, prepared.wrapped)),
          ),
        );
        expect(performance.now() - started).toBeLessThan(1_500);
        expect(vault.requests.length).toBe(before); // none of the 50 was sent
        for (const outcome of fast) {
          expect(outcome.status).toBe('rejected');
          expect((outcome as PromiseRejectedResult).reason).toMatchObject({
            reason: 'circuit-open',
          });
        }
      } finally {
        vault.setSealed(false);
      }
      await new Promise((resolve) => setTimeout(resolve, 1_600));
      expect(
        await rest.session((s) => kms.decryptDek(s, prepared.tenant, prepared.wrapped)),
      ).toEqual(prepared.dek);
    });
  });

  describe('signals and logs', () => {
    it('never carried a token or a DEK through all of the above', () => {
      expect(events.length).toBeGreaterThan(100);
      expectNoSecrets(JSON.stringify(events), [vault.token, ...DEKS]);
      for (const event of events) expect(event).not.toBeInstanceOf(KmsError);
      for (const line of logged) expectNoSecrets(line, [vault.token, ...DEKS]);
    });
  });
});
