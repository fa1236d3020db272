import { AsyncLocalStorage } from 'node:async_hooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  RestSessionPool,
  VaultTransitService,
  type KmsAttemptEndedEvent,
  type KmsAttemptStartedEvent,
  type KmsCacheLookupEvent,
  type KmsOperationEndedEvent,
  type KmsOperationStartedEvent,
  type KmsSignals,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';

let vault: TransitDevServer;
let rest: RestSessionPool;

beforeEach(async () => {
  vault = await startTransitDevServer();
  rest = new RestSessionPool();
});
afterEach(async () => {
  vi.restoreAllMocks();
  rest.close();
  await vault.close();
});

type Recorded =
  | ['operationStarted', KmsOperationStartedEvent]
  | ['operationEnded', KmsOperationEndedEvent]
  | ['attemptStarted', KmsAttemptStartedEvent]
  | ['attemptEnded', KmsAttemptEndedEvent]
  | ['cacheHit' | 'cacheMiss', KmsCacheLookupEvent];

/** Every event of every signal, in order. */
function record(signals: KmsSignals): Recorded[] {
  const events: Recorded[] = [];
  for (const name of Object.keys(signals) as (keyof KmsSignals)[]) {
    (signals[name] as KmsSignals['operationStarted']).connect((event) =>
      events.push([name, event] as Recorded),
    );
  }
  return events;
}

/** Whether a store given to AsyncLocalStorage.run is the telemetry's operation scope. */
const isOperationScope = (store: unknown): boolean =>
  typeof store === 'object' && store !== null && 'signals' in store && 'operation' in store;

/** The operation scopes entered so far (stores of AsyncLocalStorage.run calls). */
const operationScopesEntered = (run: { mock: { calls: unknown[][] } }) =>
  run.mock.calls.map(([store]) => store).filter(isOperationScope);

const service = (options: { cache?: boolean } = {}) =>
  new VaultTransitService({
    vaultAddr: vault.address,
    vaultToken: vault.token,
    retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
    ...(options.cache ? { cache: { maxEntries: 10, maxAgeMs: 60_000 } } : {}),
  });

describe('VaultTransitService.signals', () => {
  it('a call: operation started, one attempt per request, operation ended — linked by ids', async () => {
    const kms = service();
    await rest.session((s) => kms.rotateKek(s, 'acme'));
    const events = record(kms.signals);
    await rest.session((s) => kms.encryptDek(s, 'acme', Buffer.alloc(32, 1)));

    expect(events.map(([name]) => name)).toEqual([
      'operationStarted',
      'attemptStarted',
      'attemptEnded',
      'operationEnded',
    ]);
    const [[, started], [, attempt], [, attemptEnded], [, ended]] = events as [
      ['operationStarted', KmsOperationStartedEvent],
      ['attemptStarted', KmsAttemptStartedEvent],
      ['attemptEnded', KmsAttemptEndedEvent],
      ['operationEnded', KmsOperationEndedEvent],
    ];
    expect(started).toEqual({
      operationId: started.operationId,
      operation: 'encryptDek',
      mount: 'transit',
      keyName: 'tenant-acme',
    });
    const { port } = new URL(vault.address);
    expect(attempt).toEqual({
      attemptId: attempt.attemptId,
      operationId: started.operationId,
      operation: 'encryptDek',
      mount: 'transit',
      keyName: 'tenant-acme',
      method: 'POST',
      path: '/v1/transit/encrypt/tenant-acme',
      route: '/v1/transit/encrypt/{key}',
      serverAddress: '127.0.0.1',
      serverPort: Number(port),
      attempt: 1,
      retry: false,
    });
    expect(attemptEnded).toMatchObject({ ...attempt, status: 200 });
    expect(attemptEnded.durationMs).toBeGreaterThan(0);
    expect(ended).toMatchObject({ ...started, outcome: 'ok', keyVersion: 1 });
    expect(ended.durationMs).toBeGreaterThanOrEqual(attemptEnded.durationMs);
  });

  it('concurrent calls keep their own ids', async () => {
    const kms = service();
    const events = record(kms.signals);
    await Promise.all(
      ['a', 'b', 'c'].map((tenant) =>
        rest.session((s) => kms.encryptDek(s, tenant, Buffer.alloc(32, 1))),
      ),
    );
    const operations = new Map<number, string | undefined>();
    for (const [name, event] of events) {
      if (name === 'operationStarted') operations.set(event.operationId, event.keyName);
    }
    expect(new Set(operations.values())).toEqual(new Set(['tenant-a', 'tenant-b', 'tenant-c']));
    for (const [name, event] of events) {
      if (name === 'attemptStarted' || name === 'attemptEnded') {
        expect(operations.get(event.operationId)).toBe(event.keyName);
      }
    }
  });

  it('a retried request: attempt 2 with retry set, the first ended with the transport code', async () => {
    const kms = service();
    await rest.session((s) => kms.rotateKek(s, 'acme'));
    const events = record(kms.signals);
    vault.injectFault({ kind: 'reset', when: 'before', match: { path: /\/encrypt\// } });
    await rest.session((s) => kms.encryptDek(s, 'acme', Buffer.alloc(32, 1)));
    const ends = events.flatMap(([name, e]) => (name === 'attemptEnded' ? [e] : []));
    expect(ends.map((e) => [e.attempt, e.retry, e.status, e.errorCode])).toEqual([
      [1, false, undefined, 'ECONNRESET'],
      [2, true, 200, undefined],
    ]);
  });

  it('a failed call ends with its error code and reason', async () => {
    const kms = service();
    const events = record(kms.signals);
    vault.injectFault({ kind: 'sealed', times: Infinity });
    await expect(rest.session((s) => kms.generateDek(s, 'acme'))).rejects.toMatchObject({
      code: 'KMS_UNAVAILABLE',
    });
    const [, ended] = events.at(-1) as ['operationEnded', KmsOperationEndedEvent];
    expect(ended).toMatchObject({
      operation: 'generateDek',
      outcome: 'error',
      errorCode: 'KMS_UNAVAILABLE',
      errorReason: 'sealed',
    });
  });

  it('cache lookups name the call that made them', async () => {
    const kms = service({ cache: true });
    const { encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
    const events = record(kms.signals);
    await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
    await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
    const lookups = events.filter(([name]) => name === 'cacheHit' || name === 'cacheMiss');
    const starts = events.flatMap(([name, e]) => (name === 'operationStarted' ? [e] : []));
    expect(lookups).toEqual([
      [
        'cacheMiss',
        { operationId: starts[0]?.operationId, mount: 'transit', keyName: 'tenant-acme' },
      ],
      [
        'cacheHit',
        { operationId: starts[1]?.operationId, mount: 'transit', keyName: 'tenant-acme' },
      ],
    ]);
  });

  it('a listener that throws changes nothing', async () => {
    const kms = service();
    kms.signals.operationStarted.connect(() => {
      throw new Error('listener bug');
    });
    kms.signals.attemptEnded.connect(() => {
      throw new Error('listener bug');
    });
    const { dek, encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
    expect(await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek))).toEqual(dek);
  });

  it('nobody listening: no signal is connected and calls run through unobserved', async () => {
    const run = vi.spyOn(AsyncLocalStorage.prototype, 'run');
    const kms = service({ cache: true });
    for (const signal of Object.values(kms.signals)) expect(signal.connected).toBe(false);
    const { dek, encryptedDek } = await rest.session((s) => kms.generateDek(s, 'acme'));
    expect(await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek))).toEqual(dek);
    expect(operationScopesEntered(run)).toEqual([]); // the observed path was not taken
    // Listening starts with the next call, not in the middle of one.
    const events = record(kms.signals);
    await rest.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
    expect(events.map(([name]) => name)).toEqual([
      'operationStarted',
      'cacheHit',
      'operationEnded',
    ]);
    expect(operationScopesEntered(run)).toMatchObject([{ operation: 'decryptDek' }]);
  });

  it('a spy on the prototype installed after construction sees the calls; no own methods', async () => {
    const kms = service();
    expect(Object.entries(kms).filter(([, value]) => typeof value === 'function')).toEqual([]);
    const encryptDek = vi.spyOn(VaultTransitService.prototype, 'encryptDek');
    const events = record(kms.signals);
    await rest.session((s) => kms.encryptDek(s, 'acme', Buffer.alloc(32, 1)));
    expect(encryptDek).toHaveBeenCalledTimes(1);
    expect(events.map(([name]) => name)).toContain('operationEnded');
  });

  it('a subclass replacing an operation on the instance is called, and observed through super', async () => {
    class Counting extends VaultTransitService {
      calls = 0;
      constructor(options: ConstructorParameters<typeof VaultTransitService>[0]) {
        super(options);
        // As a class field would: an own property set after the base constructor ran.
        this.rotateKek = (...args) => {
          this.calls += 1;
          return super.rotateKek(...args);
        };
      }
    }
    const kms = new Counting({ vaultAddr: vault.address, vaultToken: vault.token });
    const events = record(kms.signals);
    expect(await rest.session((s) => kms.rotateKek(s, 'acme'))).toBe(1);
    expect(kms.calls).toBe(1);
    expect(events.filter(([name]) => name === 'operationEnded')).toMatchObject([
      ['operationEnded', { operation: 'rotateKek', outcome: 'ok', keyVersion: 1 }],
    ]);
  });

  it('once the last listener left, the operation scope is disabled (no async tracking left on)', async () => {
    const run = vi.spyOn(AsyncLocalStorage.prototype, 'run');
    const disable = vi.spyOn(AsyncLocalStorage.prototype, 'disable');
    const kms = service();
    const disconnect = kms.signals.operationEnded.connect(() => undefined);
    await rest.session((s) => kms.rotateKek(s, 'acme'));
    await rest.session((s) => kms.rotateKek(s, 'acme'));
    const scopes = run.mock.contexts.filter((_, i) => isOperationScope(run.mock.calls[i]?.[0]));
    expect(scopes).toHaveLength(2);
    const scope = scopes[0] as AsyncLocalStorage<unknown>;
    expect(disable.mock.contexts).not.toContain(scope); // still listened to
    disconnect();
    await rest.session((s) => kms.rotateKek(s, 'acme')); // unobserved: releases the scope
    expect(disable.mock.contexts.filter((c) => c === scope)).toHaveLength(1);
    await rest.session((s) => kms.rotateKek(s, 'acme'));
    expect(disable.mock.contexts.filter((c) => c === scope)).toHaveLength(1); // once
    // Listening again re-enters it, events and all.
    const events = record(kms.signals);
    await rest.session((s) => kms.encryptDek(s, 'acme', Buffer.alloc(32, 1)));
    expect(events.map(([name]) => name)).toEqual([
      'operationStarted',
      'attemptStarted',
      'attemptEnded',
      'operationEnded',
    ]);
  });

  it('a listener leaving during a call: the scope is disabled when the call ends', async () => {
    const run = vi.spyOn(AsyncLocalStorage.prototype, 'run');
    const disable = vi.spyOn(AsyncLocalStorage.prototype, 'disable');
    const kms = service();
    const disconnect = kms.signals.attemptStarted.connect(() => disconnect());
    await rest.session((s) => kms.rotateKek(s, 'acme'));
    const scopes = run.mock.contexts.filter((_, i) => isOperationScope(run.mock.calls[i]?.[0]));
    expect(scopes).toHaveLength(1);
    expect(disable.mock.contexts.filter((c) => c === scopes[0])).toHaveLength(1);
  });
});
