import { requireBound } from '../../src/errors';

/**
 * Space-Saving top-k counter (Metwally, Agrawal, El Abbadi 2005), weighted and mergeable.
 *
 * Guarantee: for every monitored key, `count − error ≤ true count ≤ count`; a key that is not
 * monitored has a true count ≤ `maxError()` (≤ total / capacity for a single stream). While nothing
 * was ever evicted (`exact`), every count is exact and `error` is 0.
 *
 * Layout: parallel arrays + a key → slot Map. While the summary is not full no order is kept (an add is
 * a Map lookup and an increment); the first eviction heapifies once (a min-heap on count) and from then
 * on an add costs O(log capacity) worst case, O(1) typical (heavy keys sit at the leaves).
 *
 * Merge follows Cafaro et al. ("Parallel Space Saving", 2016): counts of shared keys add; a key missing
 * from one side gets that side's bound for unmonitored keys (its count and error both grow by it), then
 * the largest `capacity` are kept and the bound becomes the largest dropped count (or the sum of bounds).
 */
export interface SpaceSavingEntry<K> {
  readonly key: K;
  /** Estimated count (an over-estimate by at most `error`). */
  readonly count: number;
  /** Maximum over-estimation of `count`; 0 when exact. */
  readonly error: number;
}

export interface SpaceSavingJSON<K> {
  readonly capacity: number;
  readonly total: number;
  /** Upper bound on the true count of any unmonitored key. */
  readonly floor: number;
  /**
   * The monitored keys with their counts and errors, as three parallel arrays: arrays of primitives
   * parse several times faster than one small array per key (a restart parses every pane's summaries).
   */
  readonly keys: readonly K[];
  readonly counts: readonly number[];
  readonly errors: readonly number[];
}

export class SpaceSaving<K extends string | number = string> {
  readonly capacity: number;
  #keys: K[] = [];
  #counts: Float64Array;
  #errors: Float64Array;
  #slot = new Map<K, number>();
  #heap = false;
  #total = 0;
  #floor = 0;
  #evictions = 0;
  readonly #onEvict: (() => void) | undefined;

  /** `onEvict` is called for each key evicted by `add` (not for truncation in merges). */
  constructor(capacity: number, onEvict?: () => void) {
    this.capacity = requireBound('SpaceSaving capacity', capacity);
    this.#onEvict = onEvict;
    // TRICKY: typed arrays grow by doubling up to capacity, so a large capacity costs nothing until used.
    const initial = Math.min(capacity, 64);
    this.#counts = new Float64Array(initial);
    this.#errors = new Float64Array(initial);
  }

  /** Sum of all weights added (exact). */
  get total(): number {
    return this.#total;
  }

  /** True while nothing was ever evicted: every count is exact. */
  get exact(): boolean {
    return this.#floor === 0;
  }

  /** Keys monitored now. */
  get size(): number {
    return this.#keys.length;
  }

  /** Keys evicted so far (each one replaced by a newcomer). */
  get evictions(): number {
    return this.#evictions;
  }

  /** Upper bound on the true count of any key that is not monitored, and on every `error`. */
  maxError(): number {
    return this.#floor;
  }

  add(key: K, weight = 1): void {
    if (!(weight > 0)) return;
    this.#total += weight;
    const i = this.#slot.get(key);
    if (i !== undefined) {
      this.#counts[i]! += weight;
      if (this.#heap) this.#siftDown(i);
      return;
    }
    const n = this.#keys.length;
    if (n < this.capacity) {
      this.#grow(n + 1);
      this.#keys.push(key);
      // TRICKY: after a merge or restore the summary may have room yet a bound > 0: a key new to it may
      // have been dropped before, so it starts at the bound like an evicting newcomer.
      this.#counts[n] = this.#floor + weight;
      this.#errors[n] = this.#floor;
      this.#slot.set(key, n);
      if (this.#heap) this.#siftUp(n);
      return;
    }
    if (!this.#heap) this.#heapify();
    // Replace the minimum: the newcomer inherits its count as its possible over-estimation.
    const min = this.#counts[0]!;
    this.#slot.delete(this.#keys[0]!);
    this.#evictions++;
    this.#keys[0] = key;
    this.#counts[0] = min + weight;
    this.#errors[0] = min;
    this.#slot.set(key, 0);
    if (min > this.#floor) this.#floor = min;
    this.#siftDown(0);
    this.#onEvict?.();
  }

  /**
   * Retracts `weight` previously added for `key` (a revised event, a re-opened session). A monitored
   * key's count drops; an unmonitored one's true count was already within the bound. Returns whether
   * the key was monitored. The guarantee holds as long as only weight that was added is retracted.
   */
  remove(key: K, weight = 1): boolean {
    if (!(weight > 0)) return false;
    this.#total -= weight;
    const i = this.#slot.get(key);
    if (i === undefined) return false;
    this.#counts[i]! -= weight;
    if (this.#heap) this.#siftUp(i);
    return true;
  }

  get(key: K): { count: number; error: number } | undefined {
    const i = this.#slot.get(key);
    return i === undefined ? undefined : { count: this.#counts[i]!, error: this.#errors[i]! };
  }

  /** The `limit` largest (default: all), sorted by count descending, ties by key. */
  top(limit = this.#keys.length): Array<SpaceSavingEntry<K>> {
    const all = this.entries();
    return limit >= all.length ? all : all.slice(0, Math.max(0, limit));
  }

  /**
   * All monitored keys with a positive count, sorted by count descending, ties by key (stable output
   * for pagination). Keys retracted to 0 are left out.
   */
  entries(): Array<SpaceSavingEntry<K>> {
    const out: Array<SpaceSavingEntry<K>> = [];
    for (let i = 0; i < this.#keys.length; i++) {
      const c = this.#counts[i]!;
      if (c > 0) out.push({ key: this.#keys[i]!, count: c, error: this.#errors[i]! });
    }
    out.sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out;
  }

  /** Visits every monitored key without sorting or allocating entries. */
  forEach(fn: (key: K, count: number, error: number) => void): void {
    for (let i = 0; i < this.#keys.length; i++) fn(this.#keys[i]!, this.#counts[i]!, this.#errors[i]!);
  }

  /** Folds another summary in (it is left unchanged). Capacities may differ; this one's is kept. */
  merge(other: SpaceSaving<K>): void {
    if (this.#keys.length === 0 && this.#total === 0 && this.#floor === 0 && other.#keys.length <= this.capacity) {
      // Merging into an empty summary (the first pane of a window): a copy, without per-key work.
      const n = other.#keys.length;
      this.#keys = other.#keys.slice();
      this.#slot = new Map(other.#slot);
      this.#counts = new Float64Array(Math.max(n, Math.min(this.capacity, 64)));
      this.#counts.set(other.#counts.subarray(0, n));
      this.#errors = new Float64Array(this.#counts.length);
      this.#errors.set(other.#errors.subarray(0, n));
      this.#heap = false;
      this.#total = other.#total;
      this.#floor = other.#floor;
      this.#evictions += other.#evictions;
      return;
    }
    const fa = this.#floor;
    const fb = other.#floor;
    const n0 = this.#keys.length;
    // Keys of this summary that the other one also monitors; the rest get the other's bound.
    const touched = fb > 0 ? new Uint8Array(n0) : undefined;
    let overflow: Array<readonly [K, number, number]> | undefined;
    for (let i = 0; i < other.#keys.length; i++) {
      const k = other.#keys[i]!;
      const c = other.#counts[i]!;
      const e = other.#errors[i]!;
      const j = this.#slot.get(k);
      if (j !== undefined) {
        this.#counts[j]! += c;
        this.#errors[j]! += e;
        if (touched !== undefined && j < n0) touched[j] = 1;
        continue;
      }
      const n = this.#keys.length;
      if (n < this.capacity) {
        this.#grow(n + 1);
        this.#keys.push(k);
        this.#counts[n] = c + fa;
        this.#errors[n] = e + fa;
        this.#slot.set(k, n);
      } else (overflow ??= []).push([k, c + fa, e + fa]);
    }
    if (touched !== undefined) {
      for (let j = 0; j < n0; j++) {
        if (touched[j] === 0) {
          this.#counts[j]! += fb;
          this.#errors[j]! += fb;
        }
      }
    }
    const total = this.#total + other.#total;
    this.#evictions += other.#evictions;
    if (overflow === undefined) {
      // Counts changed in place: the heap order is rebuilt lazily at the next eviction.
      this.#heap = false;
      this.#total = total;
      this.#floor = fa + fb;
      return;
    }
    this.#truncate(overflow, fa + fb, total);
  }

  /**
   * The end of a merge that overflowed (this summary full, `overflow` the other's keys that found no
   * slot): keeps the largest `capacity` of both, in place. A kept key keeps its slot, a newcomer takes
   * a dropped key's; at the threshold count the monitored keys (in slot order) go before the newcomers.
   * Each key dropped raises the bound to its count. It touches the key map only for the keys that
   * change — rebuilding the whole summary sorted (20 k keys) at every pane merged made a one-day window
   * over 16 partitions take ~20 s at 1 M events.
   */
  #truncate(overflow: ReadonlyArray<readonly [K, number, number]>, floor: number, total: number): void {
    const n = this.#keys.length;
    const m = overflow.length;
    const cap = this.capacity;
    const all = new Float64Array(n + m);
    all.set(this.#counts.subarray(0, n));
    for (let i = 0; i < m; i++) all[n + i] = overflow[i]![1];
    const threshold = kthSmallest(all, n + m - cap); // the cap-th largest
    let greater = 0;
    for (let i = 0; i < all.length; i++) if (all[i]! > threshold) greater++;
    let ties = cap - greater; // keys at the threshold count that are kept
    let bound = floor;
    const free: number[] = [];
    for (let j = 0; j < n; j++) {
      const c = this.#counts[j]!;
      if (c > threshold) continue;
      if (c === threshold && ties > 0) {
        ties--;
        continue;
      }
      if (c > bound) bound = c;
      this.#slot.delete(this.#keys[j]!);
      free.push(j);
    }
    let f = 0;
    for (let i = 0; i < m; i++) {
      const [k, c, e] = overflow[i]!;
      if (c < threshold || (c === threshold && ties === 0)) {
        if (c > bound) bound = c;
        continue;
      }
      if (c === threshold) ties--;
      const j = free[f++]!;
      this.#keys[j] = k;
      this.#counts[j] = c;
      this.#errors[j] = e;
      this.#slot.set(k, j);
    }
    this.#evictions += m;
    this.#floor = bound;
    this.#total = total;
    this.#heap = false;
  }

  /**
   * Folds a summary's JSON in: `merge(SpaceSaving.fromJSON(j))`, but straight into an empty summary
   * (a pane being restored) without building one in between — a restart rebuilds every pane's
   * summaries, and the second key → slot map and copies were ~6 % of it.
   */
  mergeJSON(j: SpaceSavingJSON<K>): void {
    const n = j.keys.length;
    if (this.#keys.length !== 0 || this.#total !== 0 || this.#floor !== 0 || n > this.capacity) {
      this.merge(SpaceSaving.fromJSON(j));
      return;
    }
    if (n !== j.counts.length || n !== j.errors.length) throw new RangeError(`Space-Saving JSON with ${n} keys, ${j.counts.length} counts and ${j.errors.length} errors`);
    this.#keys = j.keys.slice();
    this.#counts = new Float64Array(Math.max(n, Math.min(this.capacity, 64)));
    this.#counts.set(j.counts);
    this.#errors = new Float64Array(this.#counts.length);
    this.#errors.set(j.errors);
    const slot = this.#slot;
    for (let i = 0; i < n; i++) slot.set(j.keys[i]!, i);
    this.#heap = false;
    this.#floor = j.floor;
    this.#total = j.total;
  }

  clear(): void {
    this.#keys = [];
    this.#slot.clear();
    this.#heap = false;
    this.#total = 0;
    this.#floor = 0;
  }

  toJSON(): SpaceSavingJSON<K> {
    const n = this.#keys.length;
    return { capacity: this.capacity, total: this.#total, floor: this.#floor, keys: this.#keys.slice(), counts: Array.from(this.#counts.subarray(0, n)), errors: Array.from(this.#errors.subarray(0, n)) };
  }

  static fromJSON<K extends string | number>(j: SpaceSavingJSON<K>, capacity = j.capacity, onEvict?: () => void): SpaceSaving<K> {
    const s = new SpaceSaving<K>(capacity, onEvict);
    const n = j.keys.length;
    if (n !== j.counts.length || n !== j.errors.length) throw new RangeError(`Space-Saving JSON with ${n} keys, ${j.counts.length} counts and ${j.errors.length} errors`);
    if (n > capacity) {
      const entries: Array<readonly [K, number, number]> = new Array(n);
      for (let i = 0; i < n; i++) entries[i] = [j.keys[i]!, j.counts[i]!, j.errors[i]!];
      s.#load(entries, j.floor, j.total);
      return s;
    }
    // Within capacity (always, for a summary that was written under the same settings): taken as it is.
    s.#keys = j.keys.slice();
    s.#counts = new Float64Array(Math.max(n, Math.min(capacity, 64)));
    s.#counts.set(j.counts);
    s.#errors = new Float64Array(s.#counts.length);
    s.#errors.set(j.errors);
    for (let i = 0; i < n; i++) s.#slot.set(j.keys[i]!, i);
    s.#floor = j.floor;
    s.#total = j.total;
    return s;
  }

  /** Replaces the content with the given entries, keeping the largest `capacity`. */
  #load(entries: ReadonlyArray<readonly [K, number, number]>, floor: number, total: number): void {
    let list = entries;
    let bound = floor;
    if (list.length > this.capacity) {
      const sorted = [...list].sort((a, b) => b[1] - a[1]);
      const firstDropped = sorted[this.capacity]![1];
      this.#evictions += sorted.length - this.capacity;
      list = sorted.slice(0, this.capacity);
      if (firstDropped > bound) bound = firstDropped;
    }
    this.#keys = new Array(list.length);
    this.#slot.clear();
    this.#counts = new Float64Array(Math.max(list.length, Math.min(this.capacity, 64)));
    this.#errors = new Float64Array(this.#counts.length);
    for (let i = 0; i < list.length; i++) {
      const [k, c, e] = list[i]!;
      this.#keys[i] = k;
      this.#counts[i] = c;
      this.#errors[i] = e;
      this.#slot.set(k, i);
    }
    this.#floor = bound;
    this.#total = total;
    this.#heap = false;
  }

  #grow(need: number): void {
    if (need <= this.#counts.length) return;
    const len = Math.min(this.capacity, Math.max(need, this.#counts.length * 2));
    const c = new Float64Array(len);
    c.set(this.#counts);
    const e = new Float64Array(len);
    e.set(this.#errors);
    this.#counts = c;
    this.#errors = e;
  }

  #heapify(): void {
    for (let i = (this.#keys.length >> 1) - 1; i >= 0; i--) this.#siftDown(i);
    this.#heap = true;
  }

  #swap(i: number, j: number): void {
    const keys = this.#keys;
    const ki = keys[i]!;
    const kj = keys[j]!;
    keys[i] = kj;
    keys[j] = ki;
    const c = this.#counts;
    const tc = c[i]!;
    c[i] = c[j]!;
    c[j] = tc;
    const e = this.#errors;
    const te = e[i]!;
    e[i] = e[j]!;
    e[j] = te;
    this.#slot.set(kj, i);
    this.#slot.set(ki, j);
  }

  #siftDown(i: number): void {
    const n = this.#keys.length;
    const c = this.#counts;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const m = r < n && c[r]! < c[l]! ? r : l;
      if (c[m]! >= c[i]!) return;
      this.#swap(i, m);
      i = m;
    }
  }

  #siftUp(i: number): void {
    const c = this.#counts;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (c[p]! <= c[i]!) return;
      this.#swap(i, p);
      i = p;
    }
  }
}

/**
 * The k-th smallest value of `a` (0-based), rearranging `a`: quickselect with a three-way partition
 * (counts repeat a lot, most are 1 or 2), median-of-three pivots. O(n) expected.
 */
function kthSmallest(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const x = a[lo]!;
    const y = a[(lo + hi) >>> 1]!;
    const z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    // [lo, lt) < pivot, [lt, i) == pivot, (gt, hi] > pivot
    let lt = lo;
    let gt = hi;
    let i = lo;
    while (i <= gt) {
      const v = a[i]!;
      if (v < pivot) {
        a[i] = a[lt]!;
        a[lt] = v;
        lt++;
        i++;
      } else if (v > pivot) {
        a[i] = a[gt]!;
        a[gt] = v;
        gt--;
      } else i++;
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return pivot;
  }
  return a[k]!;
}

