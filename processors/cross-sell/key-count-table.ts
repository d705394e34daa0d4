import { requireBound } from '../../src/errors';

/** Buckets of the eviction histogram: upper bounds below this are bucketed exactly. */
const HISTOGRAM_BUCKETS = 4096;
/** Slots a table starts with (it doubles on demand up to its capacity): a pane with few pairs stays small. */
const MIN_SLOTS = 64;

/**
 * A bounded open-addressing hash table from non-negative integer keys (< 2^53, e.g. a packed pair of
 * item ids) to counts, in typed arrays: no boxed numbers and no per-key objects on the hot path
 * (a `Map<number, number>` with keys above 2^31 stores every key as a heap number: on retail.dat's
 * 7.2 M pair increments it took about twice as long as this table in every run of
 * bench/cross-sell.bench.ts, e.g. 3.8 s vs 1.4 s on a quiet machine).
 *
 * Each entry keeps `count` (occurrences seen since it was inserted: a lower bound of the true count)
 * and `err` (how much the true count may exceed `count`). `floor` bounds the true count of any key
 * that is not held. While nothing was ever evicted `err` and `floor` are 0 and the counts are exact.
 * When a new key arrives at capacity, the lowest quarter by upper bound (`count + err`) is evicted at
 * once (Space-Saving with batched eviction, amortised O(1)), `floor` rises to the largest upper bound
 * evicted, and the new key starts with `err = floor`. Hence every estimate `count + err` lies in
 * [true, true + floor]: `floor` is the absolute error bound reported.
 */
export class KeyCountTable {
  /** Most keys held; a new key beyond it evicts the lowest quarter. */
  readonly capacity: number;
  /** Upper bound of the true count of any key not held (0 while nothing was evicted). */
  floor = 0;
  #size = 0;
  #mask: number;
  #keys: Float64Array;
  #counts: Float64Array;
  #errs: Float64Array;
  readonly #onEvict: ((n: number) => void) | undefined;
  #spare: { keys: Float64Array; counts: Float64Array; errs: Float64Array } | undefined;
  readonly #hist = new Uint32Array(HISTOGRAM_BUCKETS);

  constructor(capacity: number, onEvict?: (n: number) => void) {
    this.capacity = requireBound('KeyCountTable capacity', capacity);
    this.#onEvict = onEvict;
    const slots = MIN_SLOTS;
    this.#mask = slots - 1;
    this.#keys = new Float64Array(slots).fill(-1);
    this.#counts = new Float64Array(slots);
    this.#errs = new Float64Array(slots);
  }

  get size(): number {
    return this.#size;
  }

  /**
   * An exact copy: same keys in the same slots, same floor and capacity, the same eviction callback.
   * Whatever is done to the copy next gives the same result as doing it to this table.
   */
  clone(): KeyCountTable {
    const out = new KeyCountTable(this.capacity, this.#onEvict);
    out.floor = this.floor;
    out.#size = this.#size;
    out.#mask = this.#mask;
    out.#keys = this.#keys.slice();
    out.#counts = this.#counts.slice();
    out.#errs = this.#errs.slice();
    return out;
  }

  /** Adds `delta` (> 0) to `key`, inserting it (and evicting if full). */
  add(key: number, delta: number): void {
    let i = this.#find(key);
    if (this.#keys[i] === key) {
      this.#counts[i]! += delta;
      return;
    }
    if (this.#size >= this.capacity) {
      this.#evictLowest();
      i = this.#find(key);
    } else if ((this.#size + 1) * 10 > (this.#mask + 1) * 7) {
      this.#rehash(slotsFor(Math.min(this.capacity, (this.#size + 1) * 2)));
      i = this.#find(key);
    }
    this.#keys[i] = key;
    this.#counts[i] = delta;
    this.#errs[i] = this.floor;
    this.#size++;
  }

  /**
   * Retracts `delta` occurrences of `key` (a basket removed). `count` never drops below 0: an
   * occurrence that happened before the key's (re)insertion is part of `err`, which stays a valid
   * upper slack because the true count drops too.
   */
  subtract(key: number, delta: number): void {
    const i = this.#find(key);
    if (this.#keys[i] !== key) return;
    const c = this.#counts[i]! - delta;
    this.#counts[i] = c > 0 ? c : 0;
  }

  /** Merges an entry from another table: counts add, slacks add (see ItemsetCounter.mergeFrom). */
  addEntry(key: number, count: number, err: number): void {
    // A held key gets `err` added, a new one is inserted with `err + floor`: mergeEntry with a zero floor.
    this.mergeEntry(key, count, err, 0);
  }

  /**
   * Merges an entry of a table whose floor is `fromFloor` (one probe instead of `has` + `addEntry`):
   * a held key gets count and `err - fromFloor` added (its slack for the other side was added by
   * addSlackToAll), a new key is inserted as `addEntry(key, count, err)` would.
   */
  mergeEntry(key: number, count: number, err: number, fromFloor: number): void {
    let i = this.#find(key);
    if (this.#keys[i] === key) {
      this.#counts[i]! += count;
      this.#errs[i]! += err - fromFloor;
      return;
    }
    if (this.#size >= this.capacity) {
      this.#evictLowest();
      i = this.#find(key);
    } else if ((this.#size + 1) * 10 > (this.#mask + 1) * 7) {
      this.#rehash(slotsFor(Math.min(this.capacity, (this.#size + 1) * 2)));
      i = this.#find(key);
    }
    this.#keys[i] = key;
    this.#counts[i] = count;
    this.#errs[i] = err + this.floor;
    this.#size++;
  }

  /** Adds `slack` to the err of every held key (merging a table whose floor is `slack`). */
  addSlackToAll(slack: number): void {
    if (slack === 0) return;
    const keys = this.#keys;
    for (let i = 0; i <= this.#mask; i++) if (keys[i]! >= 0) this.#errs[i]! += slack;
  }

  /** The estimate `count + err` of `key`, or 0 when it is not held (its true count is then ≤ floor). */
  estimate(key: number): number {
    const i = this.#find(key);
    return this.#keys[i] === key ? this.#counts[i]! + this.#errs[i]! : 0;
  }

  /** `err` of a held key, else `floor`. */
  errorOf(key: number): number {
    const i = this.#find(key);
    return this.#keys[i] === key ? this.#errs[i]! : this.floor;
  }

  has(key: number): boolean {
    return this.#keys[this.#find(key)] === key;
  }

  /** Calls `fn(key, count, err)` for every held key, in slot order. */
  forEach(fn: (key: number, count: number, err: number) => void): void {
    const keys = this.#keys;
    for (let i = 0; i <= this.#mask; i++) {
      const k = keys[i]!;
      if (k >= 0) fn(k, this.#counts[i]!, this.#errs[i]!);
    }
  }

  /** Removes every key for which `drop(key, upper)` holds; `floor` rises to the largest upper bound removed. */
  removeWhere(drop: (key: number, upper: number) => boolean): number {
    const keys = this.#keys;
    const counts = this.#counts;
    const errs = this.#errs;
    let removed = 0;
    let top = this.floor;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k < 0) continue;
      const upper = counts[i]! + errs[i]!;
      if (drop(k, upper)) {
        if (upper > top) top = upper;
        keys[i] = -2; // tombstone until the rebuild below
        removed++;
      }
    }
    if (removed > 0) {
      this.floor = top;
      this.#size -= removed;
      this.#rehash(keys.length);
    }
    return removed;
  }

  /** Raises the floor (a bound known from elsewhere, e.g. a purged item's pairs). */
  raiseFloor(f: number): void {
    if (f > this.floor) this.floor = f;
  }

  clear(): void {
    this.#keys.fill(-1);
    this.#counts.fill(0);
    this.#errs.fill(0);
    this.#size = 0;
    this.floor = 0;
  }

  #find(key: number): number {
    const keys = this.#keys;
    const mask = this.#mask;
    let i = hashKey(key) & mask;
    for (;;) {
      const k = keys[i]!;
      if (k === key || k === -1) return i;
      i = (i + 1) & mask;
    }
  }

  /** Empty key/count/error arrays of `slots`: evictions rebuild at the same size, so the spare buffers are reused (less GC churn). */
  #emptyArrays(slots: number): { keys: Float64Array; counts: Float64Array; errs: Float64Array } {
    const spare = this.#spare;
    if (spare !== undefined && spare.keys.length === slots) return { keys: spare.keys.fill(-1), counts: spare.counts, errs: spare.errs };
    return { keys: new Float64Array(slots).fill(-1), counts: new Float64Array(slots), errs: new Float64Array(slots) };
  }

  #rehash(slots: number): void {
    const oldKeys = this.#keys;
    const oldCounts = this.#counts;
    const oldErrs = this.#errs;
    const { keys, counts, errs } = this.#emptyArrays(slots);
    const mask = slots - 1;
    for (let j = 0; j < oldKeys.length; j++) {
      const k = oldKeys[j]!;
      if (k < 0) continue;
      let i = hashKey(k) & mask;
      while (keys[i]! !== -1) i = (i + 1) & mask;
      keys[i] = k;
      counts[i] = oldCounts[j]!;
      errs[i] = oldErrs[j]!;
    }
    this.#mask = mask;
    this.#keys = keys;
    this.#counts = counts;
    this.#errs = errs;
    this.#spare = oldKeys.length === slots ? { keys: oldKeys, counts: oldCounts, errs: oldErrs } : undefined;
  }

  /**
   * Evicts the lowest quarter by upper bound (ties broken by slot order). The threshold comes from a
   * histogram of the upper bounds (integers, mostly small) in one pass: a full sort of the table on
   * every eviction made bounded counting several times slower than exact counting on retail.dat.
   */
  #evictLowest(): void {
    const quota = Math.max(1, Math.floor(this.#size / 4));
    const keys = this.#keys;
    const counts = this.#counts;
    const errs = this.#errs;
    const last = HISTOGRAM_BUCKETS - 1;
    const hist = this.#hist;
    hist.fill(0);
    for (let i = 0; i < keys.length; i++) {
      if (keys[i]! < 0) continue;
      const u = counts[i]! + errs[i]!;
      hist[u < last ? Math.floor(u) : last]!++;
    }
    let threshold = -1;
    let below = 0;
    for (let b = 0, seen = 0; b < last; b++) {
      if (seen + hist[b]! >= quota) {
        threshold = b;
        below = seen;
        break;
      }
      seen += hist[b]!;
    }
    let removed: number;
    if (threshold >= 0) {
      // Evict everything below the threshold bucket, then ties at it in slot order. Upper bounds are
      // integers (sums of integer counts), so bucket b holds exactly the value b.
      removed = this.#evictBelow(threshold, quota - below, false);
    } else {
      // Rare: over three quarters of the keys have bounds ≥ the last bucket; sort to find the threshold.
      const uppers = new Float64Array(this.#size);
      let n = 0;
      for (let i = 0; i < keys.length; i++) if (keys[i]! >= 0) uppers[n++] = counts[i]! + errs[i]!;
      uppers.sort();
      const t = uppers[quota - 1]!;
      let ties = 0;
      for (let j = 0; j < quota; j++) if (uppers[j] === t) ties++;
      removed = this.#evictBelow(t, ties, true);
    }
    this.#onEvict?.(removed);
  }

  /**
   * Drops every key whose upper bound is below `t`, then the first `ties` (slot order) at `t` —
   * `upper === t` when `exact`, else `upper < t + 1` (the histogram's integer bucket) — and rebuilds
   * the survivors at the same size in the same pass. Equivalent to `removeWhere` with that predicate
   * (same keys dropped, same slot order re-inserted, same floor) without a callback per key and
   * without a separate marking pass: evictions dominated retail.dat replays (bench/pipeline.bench.ts).
   */
  #evictBelow(t: number, ties: number, exact: boolean): number {
    const oldKeys = this.#keys;
    const oldCounts = this.#counts;
    const oldErrs = this.#errs;
    const slots = oldKeys.length;
    const { keys, counts, errs } = this.#emptyArrays(slots);
    const mask = slots - 1;
    const tieBelow = t + 1;
    let left = ties;
    let removed = 0;
    let top = this.floor;
    for (let j = 0; j < slots; j++) {
      const k = oldKeys[j]!;
      if (k < 0) continue;
      const c = oldCounts[j]!;
      const e = oldErrs[j]!;
      const upper = c + e;
      if (upper < t || (left > 0 && (exact ? upper === t : upper < tieBelow))) {
        if (upper >= t) left--;
        if (upper > top) top = upper;
        removed++;
        continue;
      }
      let i = hashKey(k) & mask;
      while (keys[i]! !== -1) i = (i + 1) & mask;
      keys[i] = k;
      counts[i] = c;
      errs[i] = e;
    }
    if (removed === 0) {
      // Nothing dropped: keep the current layout (a rebuild may move keys), the new buffers become the spare.
      this.#spare = { keys, counts, errs };
      return 0;
    }
    this.floor = top;
    this.#size -= removed;
    this.#keys = keys;
    this.#counts = counts;
    this.#errs = errs;
    this.#spare = { keys: oldKeys, counts: oldCounts, errs: oldErrs };
    return removed;
  }
}

/** Table slots for `n` keys at a load factor ≤ 0.7, a power of two. */
function slotsFor(n: number): number {
  let s = MIN_SLOTS;
  while (s * 7 < n * 10) s *= 2;
  return s;
}

/** Hashes a non-negative integer key < 2^53 from its low and high 32-bit halves (murmur3 finaliser). */
function hashKey(key: number): number {
  let h = (key >>> 0) ^ Math.imul((key / 4294967296) | 0, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}
