import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import {
  DekCache,
  DekCacheOptionError,
  type DekCacheOptions,
  type DekEviction,
} from './dek-cache.js';

const KEY_A = 'tenant-a';
const KEY_B = 'tenant-b';

/** A well-formed looking Transit ciphertext, distinct per (version, n). */
function wrapped(version: number, n = 0): string {
  return `vault:v${version}:${Buffer.from(`wrapped-dek-${n}-padding-padding`).toString('base64')}`;
}

function dekOf(byte: number): Buffer {
  return Buffer.alloc(32, byte);
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function isZeroed(bytes: Buffer): boolean {
  return bytes.length > 0 && bytes.every((byte) => byte === 0);
}

/** A loader handing out fresh DEKs filled with `byte`, counting its calls. */
function loader(byte: number) {
  return vi.fn(async () => dekOf(byte));
}

/** A cache on a fake clock that records evictions. */
function harness(options?: DekCacheOptions) {
  const clock = { time: 0 };
  const evictions: DekEviction[] = [];
  const cache = new DekCache(options, {
    now: () => clock.time,
    onEvict: (eviction) => evictions.push(eviction),
  });
  return { cache, clock, evictions };
}

describe('DekCache', () => {
  describe('hits and copies', () => {
    it('loads once, then returns equal bytes in a new buffer on every hit', async () => {
      const { cache } = harness();
      const load = loader(7);
      const first = await cache.get(KEY_A, wrapped(1), load);
      const second = await cache.get(KEY_A, wrapped(1), load);
      const third = await cache.get(KEY_A, wrapped(1), load);
      expect(load).toHaveBeenCalledTimes(1);
      expect(first.equals(dekOf(7))).toBe(true);
      expect(second.equals(dekOf(7))).toBe(true);
      expect(third.equals(dekOf(7))).toBe(true);
      expect(new Set([first, second, third]).size).toBe(3);
      expect(second.buffer).not.toBe(third.buffer);
      expect(cache.size).toBe(1);
    });

    it('is unaffected by callers zeroing their copies', async () => {
      const { cache } = harness();
      const load = loader(9);
      (await cache.get(KEY_A, wrapped(1), load)).fill(0);
      const hit = await cache.get(KEY_A, wrapped(1), load);
      expect(hit.equals(dekOf(9))).toBe(true);
      hit.fill(0);
      expect((await cache.get(KEY_A, wrapped(1), load)).equals(dekOf(9))).toBe(true);
      expect(load).toHaveBeenCalledTimes(1);
    });

    it('takes over the loaded buffer: copies it, then zeroes it', async () => {
      const { cache } = harness();
      const loaded = dekOf(5);
      const got = await cache.get(KEY_A, wrapped(1), async () => loaded);
      expect(got).not.toBe(loaded);
      expect(got.equals(dekOf(5))).toBe(true);
      expect(isZeroed(loaded)).toBe(true);
      expect((await cache.get(KEY_A, wrapped(1), async () => dekOf(0))).equals(dekOf(5))).toBe(
        true,
      );
    });

    it('returns buffers that own their memory', async () => {
      const { cache } = harness();
      const load = loader(3);
      for (const got of [
        await cache.get(KEY_A, wrapped(1), load),
        await cache.get(KEY_A, wrapped(1), load),
      ]) {
        expect(got.byteOffset).toBe(0);
        expect(got.buffer.byteLength).toBe(32);
      }
    });

    it('keys entries by key name and wrapped DEK', async () => {
      const { cache } = harness();
      const a = loader(1);
      const b = loader(2);
      const other = loader(3);
      await cache.get(KEY_A, wrapped(1), a);
      await cache.get(KEY_B, wrapped(1), b);
      await cache.get(KEY_A, wrapped(1, 1), other);
      expect((await cache.get(KEY_A, wrapped(1), a)).equals(dekOf(1))).toBe(true);
      expect((await cache.get(KEY_B, wrapped(1), b)).equals(dekOf(2))).toBe(true);
      expect((await cache.get(KEY_A, wrapped(1, 1), other)).equals(dekOf(3))).toBe(true);
      expect([a, b, other].map((load) => load.mock.calls.length)).toEqual([1, 1, 1]);
      expect(cache.size).toBe(3);
    });

    it('never confuses pairs whose concatenations coincide', async () => {
      const { cache } = harness();
      await cache.get('a:b', 'c', loader(1));
      const load = loader(2);
      expect((await cache.get('a', 'b:c', load)).equals(dekOf(2))).toBe(true);
      expect(load).toHaveBeenCalledTimes(1);
    });
  });

  describe('single flight', () => {
    it('collapses 100 concurrent cold gets into one load, each with its own copy', async () => {
      const { cache } = harness();
      const pending = deferred<Buffer>();
      const load = vi.fn(() => pending.promise);
      const gets = Array.from({ length: 100 }, () => cache.get(KEY_A, wrapped(1), load));
      pending.resolve(dekOf(4));
      const results = await Promise.all(gets);
      expect(load).toHaveBeenCalledTimes(1);
      expect(results.every((dek) => dek.equals(dekOf(4)))).toBe(true);
      expect(new Set(results).size).toBe(100);
      expect(cache.size).toBe(1);
      await cache.get(KEY_A, wrapped(1), load);
      expect(load).toHaveBeenCalledTimes(1);
    });

    it('rejects every waiter with the load error and caches nothing', async () => {
      const { cache } = harness();
      const pending = deferred<Buffer>();
      const failing = vi.fn(() => pending.promise);
      const gets = Array.from({ length: 10 }, () => cache.get(KEY_A, wrapped(1), failing));
      const error = new Error('vault down');
      pending.reject(error);
      const outcomes = await Promise.allSettled(gets);
      expect(failing).toHaveBeenCalledTimes(1);
      expect(outcomes.every((o) => o.status === 'rejected' && o.reason === error)).toBe(true);
      expect(cache.size).toBe(0);
      const retry = loader(6);
      expect((await cache.get(KEY_A, wrapped(1), retry)).equals(dekOf(6))).toBe(true);
      expect(retry).toHaveBeenCalledTimes(1);
    });

    it('rejects when the loader throws synchronously or resolves with something else', async () => {
      const { cache } = harness();
      const error = new Error('bad input');
      await expect(
        cache.get(KEY_A, wrapped(1), () => {
          throw error;
        }),
      ).rejects.toBe(error);
      await expect(
        cache.get(KEY_A, wrapped(1), async () => 'not bytes' as unknown as Buffer),
      ).rejects.toThrow(TypeError);
      expect(cache.size).toBe(0);
    });

    it('does not share a load between different wrapped DEKs', async () => {
      const { cache } = harness();
      const one = loader(1);
      const two = loader(2);
      const [a, b] = await Promise.all([
        cache.get(KEY_A, wrapped(1, 1), one),
        cache.get(KEY_A, wrapped(1, 2), two),
      ]);
      expect(a.equals(dekOf(1)) && b.equals(dekOf(2))).toBe(true);
      expect(one).toHaveBeenCalledTimes(1);
      expect(two).toHaveBeenCalledTimes(1);
    });
  });

  describe('bounds', () => {
    it('evicts the least recently used entry beyond maxEntries, zeroing its buffer', async () => {
      const { cache, evictions } = harness({ maxEntries: 2 });
      const a = loader(1);
      const b = loader(2);
      const c = loader(3);
      const copyOfB = await cache
        .get(KEY_A, wrapped(1, 1), a)
        .then(() => cache.get(KEY_A, wrapped(1, 2), b));
      await cache.get(KEY_A, wrapped(1, 1), a); // a is now the most recently used
      await cache.get(KEY_A, wrapped(1, 3), c);
      expect(cache.size).toBe(2);
      expect(evictions).toHaveLength(1);
      expect(evictions[0]).toMatchObject({ encryptedDek: wrapped(1, 2), reason: 'lru' });
      expect(evictions[0]?.dek).toHaveLength(32);
      expect(isZeroed(evictions[0]!.dek)).toBe(true);
      expect(copyOfB.equals(dekOf(2))).toBe(true); // the caller's copy is untouched
      await cache.get(KEY_A, wrapped(1, 1), a);
      await cache.get(KEY_A, wrapped(1, 3), c);
      expect([a, c].map((load) => load.mock.calls.length)).toEqual([1, 1]);
      await cache.get(KEY_A, wrapped(1, 2), b);
      expect(b).toHaveBeenCalledTimes(2);
      expect(evictions[1]).toMatchObject({ encryptedDek: wrapped(1, 1), reason: 'lru' });
    });

    it('expires entries maxAgeMs after they were loaded (hits do not extend it)', async () => {
      const { cache, clock, evictions } = harness({ maxAgeMs: 1_000 });
      const load = loader(8);
      clock.time = 100;
      await cache.get(KEY_A, wrapped(1), load);
      clock.time = 1_099;
      await cache.get(KEY_A, wrapped(1), load);
      expect(load).toHaveBeenCalledTimes(1);
      clock.time = 1_100;
      expect((await cache.get(KEY_A, wrapped(1), load)).equals(dekOf(8))).toBe(true);
      expect(load).toHaveBeenCalledTimes(2);
      expect(evictions).toHaveLength(1);
      expect(evictions[0]?.reason).toBe('expired');
      expect(isZeroed(evictions[0]!.dek)).toBe(true);
      expect(cache.size).toBe(1);
    });

    it('measures age from the end of the load', async () => {
      const { cache, clock } = harness({ maxAgeMs: 1_000 });
      const pending = deferred<Buffer>();
      const get = cache.get(KEY_A, wrapped(1), () => pending.promise);
      clock.time = 5_000;
      pending.resolve(dekOf(1));
      await get;
      clock.time = 5_999;
      const load = vi.fn(async () => dekOf(2));
      expect((await cache.get(KEY_A, wrapped(1), load)).equals(dekOf(1))).toBe(true);
      expect(load).not.toHaveBeenCalled();
    });

    it('sweeps expired entries at the least recently used end on access', async () => {
      const { cache, clock, evictions } = harness({ maxAgeMs: 1_000 });
      await cache.get(KEY_A, wrapped(1, 1), loader(1));
      await cache.get(KEY_A, wrapped(1, 2), loader(2));
      clock.time = 500;
      await cache.get(KEY_B, wrapped(1, 3), loader(3));
      clock.time = 1_200;
      await cache.get(KEY_B, wrapped(1, 3), loader(3)); // a hit: the two older entries go
      expect(cache.size).toBe(1);
      expect(evictions.map((e) => e.reason)).toEqual(['expired', 'expired']);
      expect(evictions.every((e) => isZeroed(e.dek))).toBe(true);
    });

    it('prune() drops every expired entry, wherever it sits', async () => {
      const { cache, clock } = harness({ maxAgeMs: 1_000 });
      const old = loader(1);
      await cache.get(KEY_A, wrapped(1, 1), old);
      clock.time = 600;
      await cache.get(KEY_A, wrapped(1, 2), loader(2));
      clock.time = 700;
      await cache.get(KEY_A, wrapped(1, 1), old); // the oldest is now the most recently used
      clock.time = 1_100;
      expect(cache.size).toBe(2);
      expect(cache.prune()).toBe(1);
      expect(cache.size).toBe(1);
      await cache.get(KEY_A, wrapped(1, 1), old);
      expect(old).toHaveBeenCalledTimes(2);
    });

    it('evicts an entry after maxUses hits', async () => {
      const { cache, evictions } = harness({ maxUses: 2 });
      const load = loader(5);
      await cache.get(KEY_A, wrapped(1), load); // the load, not a use
      await cache.get(KEY_A, wrapped(1), load); // hit 1
      const last = await cache.get(KEY_A, wrapped(1), load); // hit 2: served, then evicted
      expect(last.equals(dekOf(5))).toBe(true);
      expect(load).toHaveBeenCalledTimes(1);
      expect(cache.size).toBe(0);
      expect(evictions[0]?.reason).toBe('used-up');
      expect(isZeroed(evictions[0]!.dek)).toBe(true);
      await cache.get(KEY_A, wrapped(1), load);
      expect(load).toHaveBeenCalledTimes(2);
    });

    it('does not limit uses by default', async () => {
      const { cache } = harness();
      const load = loader(5);
      for (let i = 0; i < 50; i += 1) await cache.get(KEY_A, wrapped(1), load);
      expect(load).toHaveBeenCalledTimes(1);
    });
  });

  describe('purges', () => {
    it('purgeKey removes and zeroes only that key name’s entries', async () => {
      const { cache, evictions } = harness();
      await cache.get(KEY_A, wrapped(1, 1), loader(1));
      await cache.get(KEY_A, wrapped(2, 2), loader(2));
      const b = loader(3);
      await cache.get(KEY_B, wrapped(1, 1), b);
      expect(cache.purgeKey(KEY_A)).toBe(2);
      expect(cache.size).toBe(1);
      expect(evictions.map((e) => [e.keyName, e.reason])).toEqual([
        [KEY_A, 'purged'],
        [KEY_A, 'purged'],
      ]);
      expect(evictions.every((e) => isZeroed(e.dek))).toBe(true);
      expect((await cache.get(KEY_B, wrapped(1, 1), b)).equals(dekOf(3))).toBe(true);
      expect(b).toHaveBeenCalledTimes(1);
      expect(cache.purgeKey(KEY_A)).toBe(0);
    });

    it('purgeKey racing a load: its waiters get the value, nothing is cached', async () => {
      const { cache } = harness();
      const pending = deferred<Buffer>();
      const stale = vi.fn(() => pending.promise);
      const waiters = [cache.get(KEY_A, wrapped(1), stale), cache.get(KEY_A, wrapped(1), stale)];
      cache.purgeKey(KEY_A);
      // A get after the purge does not join the load it raced: it starts its own.
      const fresh = deferred<Buffer>();
      const after = cache.get(KEY_A, wrapped(1), () => fresh.promise);
      pending.resolve(dekOf(1));
      for (const dek of await Promise.all(waiters)) expect(dek.equals(dekOf(1))).toBe(true);
      expect(stale).toHaveBeenCalledTimes(1);
      expect(cache.size).toBe(0);
      fresh.reject(new Error('encryption key not found'));
      await expect(after).rejects.toThrow('encryption key not found');
      expect(cache.size).toBe(0);
    });

    it('purgeKey leaves other key names’ loads in flight cacheable', async () => {
      const { cache } = harness();
      const pending = deferred<Buffer>();
      const get = cache.get(KEY_B, wrapped(1), () => pending.promise);
      cache.purgeKey(KEY_A);
      pending.resolve(dekOf(2));
      await get;
      expect(cache.size).toBe(1);
    });

    it('purgeVersionsBelow removes the key’s older versions only', async () => {
      const { cache, evictions } = harness();
      await cache.get(KEY_A, wrapped(1), loader(1));
      await cache.get(KEY_A, wrapped(2), loader(2));
      await cache.get(KEY_A, wrapped(12), loader(12));
      await cache.get(KEY_A, 'not-a-transit-ciphertext', loader(9));
      await cache.get(KEY_B, wrapped(1), loader(4));
      expect(cache.purgeVersionsBelow(KEY_A, 3)).toBe(3);
      expect(evictions.map((e) => e.encryptedDek)).toEqual([
        wrapped(1),
        wrapped(2),
        'not-a-transit-ciphertext',
      ]);
      expect(evictions.every((e) => e.reason === 'purged' && isZeroed(e.dek))).toBe(true);
      const kept = vi.fn(async () => dekOf(0));
      expect((await cache.get(KEY_A, wrapped(12), kept)).equals(dekOf(12))).toBe(true);
      expect((await cache.get(KEY_B, wrapped(1), kept)).equals(dekOf(4))).toBe(true);
      expect(kept).not.toHaveBeenCalled();
    });

    it('purgeVersionsBelow keeps a retired version’s load in flight out of the cache', async () => {
      const { cache } = harness();
      const old = deferred<Buffer>();
      const current = deferred<Buffer>();
      const gets = [
        cache.get(KEY_A, wrapped(1), () => old.promise),
        cache.get(KEY_A, wrapped(2), () => current.promise),
      ];
      cache.purgeVersionsBelow(KEY_A, 2);
      old.resolve(dekOf(1));
      current.resolve(dekOf(2));
      await Promise.all(gets);
      expect(cache.size).toBe(1);
      const load = vi.fn(async () => dekOf(0));
      expect((await cache.get(KEY_A, wrapped(2), load)).equals(dekOf(2))).toBe(true);
      expect(load).not.toHaveBeenCalled();
    });

    it('purgeVersionsBelow rejects a version that is not a positive integer', () => {
      const cache = new DekCache();
      for (const bad of [0, -1, 1.5, Number.NaN]) {
        expect(() => cache.purgeVersionsBelow(KEY_A, bad)).toThrow(RangeError);
      }
    });

    it('clear() zeroes everything and keeps loads in flight out of the cache', async () => {
      const { cache, evictions } = harness();
      await cache.get(KEY_A, wrapped(1), loader(1));
      await cache.get(KEY_B, wrapped(1), loader(2));
      const pending = deferred<Buffer>();
      const inFlight = cache.get(KEY_A, wrapped(2), () => pending.promise);
      cache.clear();
      expect(cache.size).toBe(0);
      expect(evictions.map((e) => e.reason)).toEqual(['cleared', 'cleared']);
      expect(evictions.every((e) => isZeroed(e.dek))).toBe(true);
      pending.resolve(dekOf(3));
      expect((await inFlight).equals(dekOf(3))).toBe(true);
      expect(cache.size).toBe(0);
    });
  });

  describe('options', () => {
    it('defaults to 1000 entries, 60 s, unlimited uses', () => {
      expect(DekCache.resolve(undefined)).toEqual({
        maxEntries: 1000,
        maxAgeMs: 60_000,
        maxUses: 0,
      });
      expect(DekCache.resolve({ maxUses: 3 })).toEqual({
        maxEntries: 1000,
        maxAgeMs: 60_000,
        maxUses: 3,
      });
      expect(new DekCache({ maxEntries: 5 }).options.maxEntries).toBe(5);
    });

    it('accepts the bounds of each range', () => {
      expect(() => DekCache.resolve({ maxEntries: 1, maxAgeMs: 1, maxUses: 0 })).not.toThrow();
      expect(() =>
        DekCache.resolve({ maxEntries: 1_000_000, maxAgeMs: 3_600_000, maxUses: 1_000_000_000 }),
      ).not.toThrow();
    });

    it.each([
      [{ maxEntries: 0 }, 'cache.maxEntries'],
      [{ maxEntries: 1.5 }, 'cache.maxEntries'],
      [{ maxEntries: 1_000_001 }, 'cache.maxEntries'],
      [{ maxEntries: '10' }, 'cache.maxEntries'],
      [{ maxAgeMs: 0 }, 'cache.maxAgeMs'],
      [{ maxAgeMs: 3_600_001 }, 'cache.maxAgeMs'],
      [{ maxAgeMs: Number.POSITIVE_INFINITY }, 'cache.maxAgeMs'],
      [{ maxUses: -1 }, 'cache.maxUses'],
      [{ maxUses: Number.NaN }, 'cache.maxUses'],
      [{ maxUses: 1_000_000_001 }, 'cache.maxUses'],
      [null, 'cache'],
      [42, 'cache'],
    ])('rejects %o as a RangeError naming %s', (options, option) => {
      let caught: unknown;
      try {
        expect(new DekCache(options as DekCacheOptions)).toBeUndefined();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(RangeError);
      expect(caught).toBeInstanceOf(DekCacheOptionError);
      expect((caught as DekCacheOptionError).option).toBe(option);
      expect((caught as DekCacheOptionError).message).toMatch(new RegExp(`^${option} must be `));
    });
  });

  it('prints and serializes without key material', async () => {
    const { cache } = harness();
    await cache.get(KEY_A, wrapped(1), loader(0xab));
    const printed = inspect(cache, { depth: Infinity, showHidden: true }) + JSON.stringify(cache);
    expect(printed).toContain('size');
    expect(printed).not.toMatch(/ab ab|abab|171/i);
    expect(printed).not.toContain(KEY_A);
  });
});
