import { inspect } from 'node:util';
import { ownedCopy } from '../../bytes.js';
import { ciphertextVersion } from './ciphertext-version.js';

const MAX_ENTRIES = 1_000_000;
/** One hour: a longer window keeps plaintext DEKs in memory for too long to be worth it. */
const MAX_AGE_MS = 3_600_000;
const MAX_USES = 1_000_000_000;

/** Settings of the opt-in cache of decrypted DEKs. */
export interface DekCacheOptions {
  /**
   * Most DEKs held at once; beyond it the least recently used one is evicted (and zeroed).
   * An integer from 1 to 1 000 000.
   * @default 1000
   */
  readonly maxEntries?: number;
  /**
   * How long a decrypted DEK is served from the cache, in milliseconds, counted from its
   * decryption (not sliding: hits do not extend it). An integer from 1 to 3 600 000 (one hour).
   * @default 60000
   */
  readonly maxAgeMs?: number;
  /**
   * How many times a DEK is served from the cache (hits; the decryption that filled it is not
   * one) before it is evicted and decrypted again. 0 = no limit (age and LRU still bound it).
   * An integer from 0 to 1 000 000 000.
   * @default 0
   */
  readonly maxUses?: number;
}

/** {@link DekCacheOptions} after validation, with every default applied. */
export type ResolvedDekCacheOptions = Readonly<Required<DekCacheOptions>>;

/** A bad {@link DekCacheOptions} value; `option` is its path (e.g. `cache.maxEntries`). */
export class DekCacheOptionError extends RangeError {
  constructor(
    readonly option: string,
    readonly rule: string,
  ) {
    super(`${option} ${rule}`);
    this.name = 'DekCacheOptionError';
  }
}

/** Why an entry left the cache. */
export type DekEvictionReason = 'lru' | 'expired' | 'used-up' | 'purged' | 'cleared';

/** An entry that left the cache; `dek` is the cache's own buffer, already zeroed. */
export interface DekEviction {
  readonly keyName: string;
  readonly encryptedDek: string;
  readonly reason: DekEvictionReason;
  readonly dek: Buffer;
}

/** Seams for tests and metrics. */
export interface DekCacheHooks {
  /** A monotonic clock in milliseconds. @default () => performance.now() */
  readonly now?: () => number;
  /** Called after an entry left the cache, once its buffer is zeroed; errors it throws are ignored. */
  readonly onEvict?: (eviction: DekEviction) => void;
  /**
   * Called on every {@link DekCache.get}: `hit` when the DEK was served from the cache, not when
   * it is loaded or joins a load in flight; errors it throws are ignored.
   */
  readonly onLookup?: (keyName: string, hit: boolean) => void;
}

interface Entry {
  readonly keyName: string;
  readonly encryptedDek: string;
  /** `undefined` when the ciphertext does not start with `vault:v<N>:`. */
  readonly version: number | undefined;
  /** The cache's private copy; never handed out, zeroed when the entry leaves. */
  readonly dek: Buffer;
  readonly storedAt: number;
  uses: number;
}

interface Waiter {
  readonly resolve: (dek: Buffer) => void;
  readonly reject: (error: unknown) => void;
}

/** One decryption in flight, shared by every `get` of the same (key name, wrapped DEK). */
interface Flight {
  readonly keyName: string;
  readonly version: number | undefined;
  readonly waiters: Waiter[];
  /** Cleared by a purge that races the load: its value is returned, never cached. */
  cacheable: boolean;
}

/**
 * An opt-in, LRU-bounded cache of plaintext DEKs for decryption, keyed by Transit key name (the
 * tenant's key) and wrapped DEK, so that decrypting the same wrapped DEK again costs no request.
 *
 * **Security trade-off.** A cached DEK is plaintext key material held in process memory for up
 * to `maxAgeMs` after its decryption: a heap dump, a core file or a compromised process reveals
 * it, and a DEK stays usable here for that long after its tenant's KEK was deleted in Vault
 * (unless {@link purgeKey} runs). Hence the cache is off unless configured; entries expire,
 * are bounded in number and uses, and every buffer that leaves the cache (evicted, expired,
 * used up, purged, cleared) is zeroed at once — which narrows the window but cannot close it
 * (V8 may have moved or copied memory, and callers' copies are theirs to zero).
 *
 * Behaviour:
 * - {@link get} always returns a fresh copy the caller owns (and may zero); the cached buffer
 *   itself is never handed out.
 * - Concurrent misses for the same (key name, wrapped DEK) share one load (single flight); if it
 *   fails, every waiter gets its error and nothing is cached. The shared load runs with the
 *   context (session, deadline, signal) of the caller that started it.
 * - Expiry is checked lazily — on access, plus a sweep of expired entries at the least recently
 *   used end on every `get` and insert; {@link prune} drops every expired entry. No timer is
 *   armed, so the cache never keeps the event loop alive; a quiet cache may hold expired (not yet
 *   zeroed) entries until its next use, `prune()` or `clear()`.
 * - {@link purgeKey} and {@link purgeVersionsBelow} run in O(entries). A load in flight when
 *   they run still answers its waiters (it raced the deletion or retirement, as an uncached
 *   decryption would have) but its value is not cached, and later `get`s start a new load.
 */
export class DekCache {
  readonly #options: ResolvedDekCacheOptions;
  readonly #now: () => number;
  readonly #onEvict: ((eviction: DekEviction) => void) | undefined;
  readonly #onLookup: ((keyName: string, hit: boolean) => void) | undefined;
  /** In recency order: the first entry is the least recently used. */
  readonly #entries = new Map<string, Entry>();
  readonly #flights = new Map<string, Flight>();

  constructor(options?: DekCacheOptions, hooks: DekCacheHooks = {}) {
    this.#options = DekCache.resolve(options);
    this.#now = hooks.now ?? (() => performance.now());
    this.#onEvict = hooks.onEvict;
    this.#onLookup = hooks.onLookup;
  }

  /**
   * Validates options and applies defaults; throws {@link DekCacheOptionError} (a `RangeError`)
   * naming the first bad option as `cache.<name>`.
   */
  static resolve(options: DekCacheOptions | undefined): ResolvedDekCacheOptions {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new DekCacheOptionError('cache', 'must be an object { maxEntries, maxAgeMs, maxUses }');
    }
    const { maxEntries = 1000, maxAgeMs = 60_000, maxUses = 0 } = options ?? {};
    checkInteger('cache.maxEntries', maxEntries, 1, MAX_ENTRIES);
    checkInteger('cache.maxAgeMs', maxAgeMs, 1, MAX_AGE_MS, ' milliseconds');
    checkInteger('cache.maxUses', maxUses, 0, MAX_USES, ' (0 = no limit)');
    return { maxEntries, maxAgeMs, maxUses };
  }

  /** The settings in force. */
  get options(): ResolvedDekCacheOptions {
    return this.#options;
  }

  /** Entries held (plaintext DEKs in memory), expired ones not yet swept included. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The plaintext DEK of `encryptedDek` under `keyName`, as a copy the caller owns. On a miss,
   * `load` is called — once for all concurrent callers of the same pair — and must resolve with
   * a buffer nobody else uses: the cache copies it and then zeroes it. A failed load rejects
   * every waiter with its error and caches nothing.
   */
  async get(keyName: string, encryptedDek: string, load: () => Promise<Buffer>): Promise<Buffer> {
    const now = this.#now();
    this.#sweep(now);
    const id = entryId(keyName, encryptedDek);
    const entry = this.#entries.get(id);
    if (entry !== undefined) {
      if (!this.#expired(entry, now)) {
        this.#lookedUp(keyName, true);
        return this.#hit(id, entry);
      }
      this.#evict(id, entry, 'expired');
    }
    this.#lookedUp(keyName, false);
    return new Promise<Buffer>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      const inFlight = this.#flights.get(id);
      if (inFlight !== undefined) {
        inFlight.waiters.push(waiter);
        return;
      }
      const flight: Flight = {
        keyName,
        version: ciphertextVersion(encryptedDek),
        waiters: [waiter],
        cacheable: true,
      };
      this.#flights.set(id, flight);
      void this.#load(id, encryptedDek, flight, load);
    });
  }

  /**
   * Removes and zeroes every entry of `keyName` (its tenant's KEK was deleted); loads in flight
   * for it answer their waiters but are not cached. Returns the number of entries removed.
   */
  purgeKey(keyName: string): number {
    return this.#purge((candidate) => candidate.keyName === keyName);
  }

  /**
   * Removes and zeroes the entries of `keyName` whose wrapped DEK is `vault:v<N>:` with
   * N < `minVersion` (versions retired, e.g. by `min_decryption_version`), and those whose
   * version cannot be read; loads in flight for them are not cached. Returns the number removed.
   */
  purgeVersionsBelow(keyName: string, minVersion: number): number {
    if (!Number.isSafeInteger(minVersion) || minVersion < 1) {
      throw new RangeError('minVersion must be a positive integer');
    }
    return this.#purge(
      (candidate) =>
        candidate.keyName === keyName &&
        (candidate.version === undefined || candidate.version < minVersion),
    );
  }

  /** Removes and zeroes every expired entry. Returns the number removed. */
  prune(): number {
    const now = this.#now();
    let removed = 0;
    for (const [id, entry] of this.#entries) {
      if (!this.#expired(entry, now)) continue;
      this.#evict(id, entry, 'expired');
      removed += 1;
    }
    return removed;
  }

  /** Removes and zeroes everything (shutdown); loads in flight answer but are not cached. */
  clear(): void {
    for (const flight of this.#flights.values()) flight.cacheable = false;
    this.#flights.clear();
    for (const [id, entry] of this.#entries) this.#evict(id, entry, 'cleared');
  }

  /** Logs and serializes without key material. */
  toJSON(): Record<string, unknown> {
    return { cache: 'DekCache', size: this.size };
  }

  [inspect.custom](): string {
    return `DekCache { size: ${this.size} }`;
  }

  #purge(
    matches: (candidate: { keyName: string; version: number | undefined }) => boolean,
  ): number {
    for (const [id, flight] of this.#flights) {
      if (!matches(flight)) continue;
      flight.cacheable = false;
      this.#flights.delete(id);
    }
    let removed = 0;
    for (const [id, entry] of this.#entries) {
      if (!matches(entry)) continue;
      this.#evict(id, entry, 'purged');
      removed += 1;
    }
    return removed;
  }

  #lookedUp(keyName: string, hit: boolean): void {
    if (this.#onLookup === undefined) return;
    try {
      this.#onLookup(keyName, hit);
    } catch {
      // Observability must never change what the cache does.
    }
  }

  #hit(id: string, entry: Entry): Buffer {
    const copy = ownedCopy(entry.dek);
    entry.uses += 1;
    const { maxUses } = this.#options;
    if (maxUses > 0 && entry.uses >= maxUses) {
      this.#evict(id, entry, 'used-up');
    } else {
      this.#entries.delete(id); // re-insert: most recently used last
      this.#entries.set(id, entry);
    }
    return copy;
  }

  /** Runs a shared load and settles its waiters synchronously, before anything can evict. */
  async #load(
    id: string,
    encryptedDek: string,
    flight: Flight,
    load: () => Promise<Buffer>,
  ): Promise<void> {
    let loaded: Buffer;
    try {
      loaded = await load();
      if (!(loaded instanceof Uint8Array)) {
        throw new TypeError('The DEK cache loader must resolve with a Buffer');
      }
    } catch (error) {
      if (this.#flights.get(id) === flight) this.#flights.delete(id);
      for (const waiter of flight.waiters) waiter.reject(error);
      return;
    }
    if (this.#flights.get(id) === flight) this.#flights.delete(id);
    try {
      for (const waiter of flight.waiters) waiter.resolve(ownedCopy(loaded));
      // One registered flight per id, so no entry appeared meanwhile; checked all the same.
      if (flight.cacheable && !this.#entries.has(id)) {
        this.#store(id, {
          keyName: flight.keyName,
          encryptedDek,
          version: flight.version,
          dek: ownedCopy(loaded),
          storedAt: this.#now(),
          uses: 0,
        });
      }
    } finally {
      loaded.fill(0);
    }
  }

  #store(id: string, entry: Entry): void {
    this.#sweep(entry.storedAt);
    this.#entries.set(id, entry);
    while (this.#entries.size > this.#options.maxEntries) {
      const oldest = this.#entries.entries().next().value;
      if (oldest === undefined) break;
      this.#evict(oldest[0], oldest[1], 'lru');
    }
  }

  /** Evicts expired entries at the least recently used end, up to the first live one. */
  #sweep(now: number): void {
    for (const [id, entry] of this.#entries) {
      if (!this.#expired(entry, now)) return;
      this.#evict(id, entry, 'expired');
    }
  }

  #expired(entry: Entry, now: number): boolean {
    return now - entry.storedAt >= this.#options.maxAgeMs;
  }

  #evict(id: string, entry: Entry, reason: DekEvictionReason): void {
    this.#entries.delete(id);
    entry.dek.fill(0);
    if (this.#onEvict === undefined) return;
    try {
      this.#onEvict({
        keyName: entry.keyName,
        encryptedDek: entry.encryptedDek,
        reason,
        dek: entry.dek,
      });
    } catch {
      // A hook must not leave the cache half-updated.
    }
  }
}

/** Unambiguous whatever the strings hold: the key name's length prefixes it. */
function entryId(keyName: string, encryptedDek: string): string {
  return `${keyName.length}:${keyName}:${encryptedDek}`;
}

function checkInteger(option: string, value: unknown, min: number, max: number, unit = ''): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new DekCacheOptionError(option, `must be an integer between ${min} and ${max}${unit}`);
  }
}
