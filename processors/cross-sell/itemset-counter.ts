import { ClickstreamError, requireBound } from '../../src/errors';
import { KeyCountTable } from './key-count-table';

/** Pair keys pack two item slots as `a · 2^21 + b` (a < b): at most 2^21 items per counter. */
export const MAX_PAIR_ITEMS = 2 ** 21;
/** Triple keys pack three slots as `(a · 2^17 + b) · 2^17 + c` (< 2^51): at most 2^17 items when triples are on. */
export const MAX_TRIPLE_ITEMS = 2 ** 17;
const PAIR_SHIFT = MAX_PAIR_ITEMS;
/** Slot arrays start this small and double on demand. */
const INITIAL_SLOTS = 64;
/**
 * Default bound of the basket buffer, in int32 entries per pair of `pairCapacity`: a pair-table slot
 * costs 24 B (key, count, error) at a load factor ≤ 0.7, about 34 B per pair of capacity, so a
 * buffer of 8 entries (32 B) per pair is never larger than the table it stands in for at capacity.
 * (The look-up index `pair`/`triple` build over a buffer, kept until the counter changes, is at most
 * the buffer's size again; the candidates a read counts are at most `pairCapacity`.)
 */
export const BUFFERED_ITEMS_PER_PAIR = 8;
const TRIPLE_SHIFT = MAX_TRIPLE_ITEMS;

export interface ItemsetCounterOptions {
  /** Most distinct items held (count); beyond it the lowest quarter is evicted. ≤ 2^21 (≤ 2^17 with triples). */
  readonly itemCapacity: number;
  /** Most distinct pairs held (count). */
  readonly pairCapacity: number;
  /** Most distinct triples held (count); 0 turns triple counting off. */
  readonly tripleCapacity: number;
  /** Distinct items of one basket that are counted (count); the rest of a larger basket is dropped and counted in `truncatedBaskets`. */
  readonly maxBasketItems: number;
  /**
   * Most basket entries (item slots plus one header per basket) kept in the basket buffer before the
   * pairs are counted into the table (count; default `BUFFERED_ITEMS_PER_PAIR × pairCapacity`; 0
   * counts every pair as it comes).
   */
  readonly maxBufferedItems?: number;
  /** Called with the structure and the number of entries evicted. */
  readonly onEvict?: (structure: 'items' | 'pairs' | 'triples', n: number) => void;
}

/** Absolute error bounds, in baskets: every reported count c of a true count t has t ≤ c ≤ t + bound. */
export interface CountErrorBound {
  readonly items: number;
  readonly pairs: number;
  readonly triples: number;
}

/**
 * JSON form of a counter. Pairs and triples refer to items by their index in `items`. Version 2 is a
 * counter whose pairs are still in its basket buffer: `buffered` holds its baskets (each its length,
 * then its items' indexes), `pairs` and `triples` are empty.
 */
export interface ItemsetCounterSnapshot {
  readonly v: 1 | 2;
  readonly buffered?: readonly number[];
  readonly baskets: number;
  readonly truncatedBaskets: number;
  readonly floors: readonly [number, number, number];
  /** Item names, in the order the flat arrays below refer to them. */
  readonly items: readonly string[];
  /** [count, err] per item, flat. */
  readonly itemCounts: readonly number[];
  /** [i, j, count, err] per pair, flat. */
  readonly pairs: readonly number[];
  /** [i, j, k, count, err] per triple, flat. */
  readonly triples: readonly number[];
}

/**
 * Bounded counting of the items, pairs and (optionally) triples of baskets, where a basket is a SET
 * (a repeated item counts once). Item strings are interned to dense slots (`Map<string, slot>`);
 * item counts live in typed arrays indexed by slot, pairs and triples in KeyCountTables keyed by the
 * packed slots. Exact while every structure stays within its capacity (`errorBound()` is then all
 * zero); beyond that Space-Saving with batched eviction, with the absolute error bound reported.
 *
 * Supports removing a basket (a retracted session) and merging another counter (sum of counts).
 * When an item is evicted its pairs and triples go too, so a freed slot can be reused safely; their
 * true counts are at most the item's, which the pair/triple floors then cover.
 *
 * **Pairs are counted late.** A basket's items are counted at once, but its pairs (n·(n−1)/2 random
 * probes into a table of millions of slots: most of the cost on retail.dat) wait in a basket buffer
 * of item slots, as FP-Growth keeps its transactions. A read of pairs at a minimum count (`forEachPair`,
 * `forEachTriple`: what the rule miner and the API read) counts only the pairs whose items both reach
 * it — an itemset can never be more frequent than its rarest item, so nothing frequent is missed and
 * every count is exact. `pair`/`triple` look-ups intersect the baskets holding each item. Buffered
 * counters merge by appending baskets. The buffer is bounded (`maxBufferedItems`); beyond it, and
 * before anything the buffer cannot express (a removal, a sequential basket, an item eviction, a
 * merge with a counted table), the buffered baskets are counted into the tables in their order,
 * which leaves the tables exactly as counting every basket as it came would have.
 */
export class ItemsetCounter {
  readonly options: ItemsetCounterOptions;
  /** Baskets counted (exact). */
  baskets = 0;
  /** Baskets larger than maxBasketItems whose surplus items were not counted. */
  truncatedBaskets = 0;
  readonly #slots = new Map<string, number>();
  readonly #names: (string | undefined)[] = [];
  // Slot arrays grow by doubling up to itemCapacity: a pane with a handful of items stays small.
  #counts: Float64Array;
  #errs: Float64Array;
  /** Basket sequence number that last touched each slot: dedupes a basket and protects it from eviction. */
  #touched: Uint32Array;
  #free: Int32Array;
  #freeTop = 0;
  #nextSlot = 0;
  #itemFloor = 0;
  #seq = 0;
  #version = 0;
  readonly #scratch: Int32Array;
  #pairs: KeyCountTable;
  #triples: KeyCountTable | undefined;
  /** Baskets whose pairs are not counted yet: [n, slot × n (ascending)] each; undefined once counted into the tables for good. */
  #buffer: Int32Array | undefined;
  #buffered = 0;
  readonly #maxBuffered: number;
  /** Per-item basket lists over the buffer for `pair`/`triple` look-ups, built on demand for one version. */
  #postings: { readonly version: number; readonly starts: Int32Array; readonly offsets: Int32Array } | undefined;

  constructor(options: ItemsetCounterOptions) {
    this.options = options;
    const cap = requireBound('ItemsetCounter itemCapacity', options.itemCapacity);
    requireBound('ItemsetCounter pairCapacity', options.pairCapacity);
    requireBound('ItemsetCounter maxBasketItems', options.maxBasketItems);
    const triples = options.tripleCapacity > 0;
    const maxItems = triples ? MAX_TRIPLE_ITEMS : MAX_PAIR_ITEMS;
    if (cap > maxItems) {
      throw new ClickstreamError('CM_ERR_CONFIG', `itemCapacity ${cap} exceeds ${maxItems} (the packed ${triples ? 'triple' : 'pair'} key limit)`);
    }
    if (cap <= options.maxBasketItems) {
      throw new ClickstreamError('CM_ERR_CONFIG', `itemCapacity ${cap} must exceed maxBasketItems ${options.maxBasketItems} (a basket must fit)`);
    }
    const initial = Math.min(cap, INITIAL_SLOTS);
    this.#counts = new Float64Array(initial);
    this.#errs = new Float64Array(initial);
    this.#touched = new Uint32Array(initial);
    this.#free = new Int32Array(initial);
    this.#scratch = new Int32Array(options.maxBasketItems);
    const onEvict = options.onEvict;
    this.#pairs = new KeyCountTable(options.pairCapacity, onEvict && ((n) => onEvict('pairs', n)));
    this.#triples = triples ? new KeyCountTable(options.tripleCapacity, onEvict && ((n) => onEvict('triples', n))) : undefined;
    this.#maxBuffered = options.maxBufferedItems ?? BUFFERED_ITEMS_PER_PAIR * options.pairCapacity;
    this.#buffer = this.#maxBuffered > 0 ? new Int32Array(INITIAL_SLOTS) : undefined;
  }

  /** True while pairs wait in the basket buffer (every count exact); false once they are counted into the tables. */
  get buffered(): boolean {
    return this.#buffer !== undefined;
  }

  /** An empty counter with the same options. */
  emptyLike(): ItemsetCounter {
    return new ItemsetCounter(this.options);
  }

  /**
   * Bumped by every change (add, addBipartite, remove, mergeFrom): the same counter object with the
   * same version holds the same counts, so a merge of it can be reused (cross-sell window prefixes).
   */
  get version(): number {
    return this.#version;
  }

  /**
   * An exact copy of the whole state (slots, free list, basket sequence, table layouts, floors), so any
   * later operation gives the copy the same result as this counter, merges and evictions included.
   */
  clone(): ItemsetCounter {
    const out = new ItemsetCounter(this.options);
    out.baskets = this.baskets;
    out.truncatedBaskets = this.truncatedBaskets;
    // TRICKY: a Map copy keeps the iteration order, which mergeFrom and eviction ties follow.
    for (const [name, slot] of this.#slots) out.#slots.set(name, slot);
    for (let i = 0; i < this.#names.length; i++) out.#names.push(this.#names[i]);
    out.#counts = this.#counts.slice();
    out.#errs = this.#errs.slice();
    out.#touched = this.#touched.slice();
    out.#free = this.#free.slice();
    out.#freeTop = this.#freeTop;
    out.#nextSlot = this.#nextSlot;
    out.#itemFloor = this.#itemFloor;
    out.#seq = this.#seq;
    out.#version = this.#version;
    out.#pairs = this.#pairs.clone();
    out.#triples = this.#triples?.clone();
    out.#buffer = this.#buffer?.slice(0, Math.max(this.#buffered, INITIAL_SLOTS));
    out.#buffered = this.#buffered;
    return out;
  }

  get triplesEnabled(): boolean {
    return this.#triples !== undefined;
  }

  /** Distinct items held. */
  get itemCount(): number {
    return this.#slots.size;
  }

  /** Distinct pairs held (while buffered: counted afresh from the buffer, or from the tables when they overflow — for tests and benchmarks). */
  get pairCount(): number {
    return this.#candidates(1, false)?.size ?? this.#pairs.size;
  }

  /** Distinct triples held (as pairCount). */
  get tripleCount(): number {
    if (this.#triples === undefined) return 0;
    return this.#candidates(1, true)?.size ?? this.#triples.size;
  }

  /** Counts one basket (duplicates within it ignored). */
  add(basket: readonly string[]): void {
    this.#version++;
    const n = this.#collect(basket, true, 0);
    this.baskets++;
    if (n === 0) return;
    const s = this.#scratch;
    const counts = this.#counts;
    for (let i = 0; i < n; i++) counts[s[i]!]! += 1;
    if (n < 2) return;
    // Sorted slots make the packed keys canonical (a < b < c) without a min/max per pair.
    s.subarray(0, n).sort();
    if (this.#buffer !== undefined) {
      if (this.#buffered + n + 1 <= this.#maxBuffered) {
        this.#append(s, n);
        return;
      }
      this.#flush();
    }
    this.#countBasket(s, 0, n, this.#pairs, this.#triples);
  }

  /** Counts the pairs (and triples) of the ascending slots `s[from, from + n)` into the given tables. */
  #countBasket(s: Int32Array, from: number, n: number, pairs: KeyCountTable, triples: KeyCountTable | undefined): void {
    const end = from + n;
    for (let i = from; i < end; i++) {
      const base = s[i]! * PAIR_SHIFT;
      for (let j = i + 1; j < end; j++) pairs.add(base + s[j]!, 1);
    }
    if (triples !== undefined && n >= 3) countTriples(s, from, end, triples);
  }

  /** Appends the ascending slots `s[0, n)` as one buffered basket. */
  #append(s: Int32Array, n: number): void {
    let buf = this.#buffer!;
    const at = this.#buffered;
    if (at + n + 1 > buf.length) {
      let size = buf.length * 2;
      while (size < at + n + 1) size *= 2;
      const grown = new Int32Array(Math.min(size, Math.max(this.#maxBuffered, at + n + 1)));
      grown.set(buf.subarray(0, at));
      this.#buffer = buf = grown;
    }
    buf[at] = n;
    for (let i = 0; i < n; i++) buf[at + 1 + i] = s[i]!;
    this.#buffered = at + n + 1;
  }

  /**
   * Counts every buffered basket into the tables, in the order they came, and counts pairs as they
   * come from now on: the tables end exactly as if no basket had waited.
   */
  #flush(): void {
    const buf = this.#buffer;
    if (buf === undefined) return;
    this.#buffer = undefined;
    this.#postings = undefined;
    const end = this.#buffered;
    this.#buffered = 0;
    for (let at = 0; at < end; ) {
      const n = buf[at]!;
      this.#countBasket(buf, at + 1, n, this.#pairs, this.#triples);
      at += n + 1;
    }
  }

  /**
   * The pairs (or triples) of the buffered baskets among the items whose count reaches `minCount`,
   * counted into a fresh table of the counter's capacity: every count exact. Undefined when the
   * candidates overflow that capacity (only where the table itself would have evicted): the caller
   * then flushes and reads the tables.
   */
  #countBuffered(minCount: number, triples: boolean): KeyCountTable | undefined {
    const buf = this.#buffer!;
    const counts = this.#counts;
    const errs = this.#errs;
    let evicted = false;
    const out = new KeyCountTable(triples ? this.options.tripleCapacity : this.options.pairCapacity, () => (evicted = true));
    const s = this.#scratch;
    const end = this.#buffered;
    for (let at = 0; at < end && !evicted; ) {
      const n = buf[at]!;
      let m = 0;
      for (let i = at + 1; i <= at + n; i++) {
        const slot = buf[i]!;
        if (counts[slot]! + errs[slot]! >= minCount) s[m++] = slot;
      }
      if (!triples) {
        if (m >= 2) {
          for (let i = 0; i < m; i++) {
            const base = s[i]! * PAIR_SHIFT;
            for (let j = i + 1; j < m; j++) out.add(base + s[j]!, 1);
          }
        }
      } else if (m >= 3) countTriples(s, 0, m, out);
      at += n + 1;
    }
    return evicted ? undefined : out;
  }

  /** The buffered candidates at `minCount`, or undefined after flushing when they overflow (the tables are then read). */
  #candidates(minCount: number, triples: boolean): KeyCountTable | undefined {
    if (this.#buffer === undefined) return undefined;
    const out = this.#countBuffered(minCount, triples);
    if (out === undefined) this.#flush();
    return out;
  }

  /**
   * Counts a sequential basket: every item of both sides, but only the pairs across the sides (`before`
   * × `after`): pairs within one side never make a "before ⇒ after" rule. The sides must not share a
   * name (the caller prefixes them). No triples.
   */
  addBipartite(before: readonly string[], after: readonly string[]): void {
    this.#version++;
    this.#flush();
    const nb = this.#collect(before, true, 0);
    const n = this.#collect(after, true, nb);
    this.baskets++;
    const s = this.#scratch;
    const counts = this.#counts;
    for (let i = 0; i < n; i++) counts[s[i]!]! += 1;
    const pairs = this.#pairs;
    for (let i = 0; i < nb; i++) {
      const a = s[i]!;
      for (let j = nb; j < n; j++) {
        const b = s[j]!;
        pairs.add(a < b ? a * PAIR_SHIFT + b : b * PAIR_SHIFT + a, 1);
      }
    }
  }

  /**
   * Counts one sequence (sequential rules with sequence support): every item once and exactly the
   * given ordered pairs once (`[x, y]`: x occurs before y; the caller prefixes the sides), no
   * triples. `sign` −1 retracts a sequence added before with the same items and pairs.
   */
  addSequence(items: readonly string[], pairs: ReadonlyArray<readonly [string, string]>, sign: 1 | -1 = 1): void {
    this.#version++;
    this.#flush();
    const insert = sign === 1;
    const n = this.#collect(items, insert, 0);
    if (insert) this.baskets++;
    else if (this.baskets > 0) this.baskets--;
    const s = this.#scratch;
    const counts = this.#counts;
    for (let i = 0; i < n; i++) {
      const c = counts[s[i]!]! + sign;
      counts[s[i]!] = c > 0 ? c : 0;
    }
    const seq = this.#seq;
    for (const [x, y] of pairs) {
      const a = this.#slots.get(x);
      const b = this.#slots.get(y);
      // Only items of this sequence that were counted (a full basket truncates the rest).
      if (a === undefined || b === undefined || this.#touched[a] !== seq || this.#touched[b] !== seq) continue;
      const key = a < b ? a * PAIR_SHIFT + b : b * PAIR_SHIFT + a;
      if (insert) this.#pairs.add(key, 1);
      else this.#pairs.subtract(key, 1);
    }
  }

  /** Retracts one basket previously added (e.g. a re-opened session). */
  remove(basket: readonly string[]): void {
    this.#version++;
    // A removal floors counts at 0 as it goes: only the tables say exactly what that leaves.
    this.#flush();
    const n = this.#collect(basket, false, 0);
    if (this.baskets > 0) this.baskets--;
    const s = this.#scratch;
    const counts = this.#counts;
    for (let i = 0; i < n; i++) {
      const c = counts[s[i]!]! - 1;
      counts[s[i]!] = c > 0 ? c : 0;
    }
    if (n < 2) return;
    s.subarray(0, n).sort();
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        this.#pairs.subtract(s[i]! * PAIR_SHIFT + s[j]!, 1);
        if (this.#triples === undefined) continue;
        const base = (s[i]! * TRIPLE_SHIFT + s[j]!) * TRIPLE_SHIFT;
        for (let k = j + 1; k < n; k++) this.#triples.subtract(base + s[k]!, 1);
      }
    }
  }

  /** Estimated count of an item (0 when not held: its true count is then ≤ errorBound().items). */
  item(name: string): number {
    const slot = this.#slots.get(name);
    return slot === undefined ? 0 : this.#counts[slot]! + this.#errs[slot]!;
  }

  /** Estimated count of the pair {a, b}. */
  pair(a: string, b: string): number {
    const sa = this.#slots.get(a);
    const sb = this.#slots.get(b);
    if (sa === undefined || sb === undefined || sa === sb) return 0;
    if (this.#buffer !== undefined) return this.#bufferedWith([sa, sb]);
    return this.#pairs.estimate(sa < sb ? sa * PAIR_SHIFT + sb : sb * PAIR_SHIFT + sa);
  }

  /** Estimated count of the triple {a, b, c} (0 when triples are off). */
  triple(a: string, b: string, c: string): number {
    if (this.#triples === undefined) return 0;
    const x = this.#slots.get(a);
    const y = this.#slots.get(b);
    const z = this.#slots.get(c);
    if (x === undefined || y === undefined || z === undefined || x === y || y === z || x === z) return 0;
    if (this.#buffer !== undefined) return this.#bufferedWith([x, y, z]);
    const [p, q, r] = [x, y, z].sort((u, v) => u - v) as [number, number, number];
    return this.#triples.estimate((p * TRIPLE_SHIFT + q) * TRIPLE_SHIFT + r);
  }

  /** Buffered baskets holding every one of `slots` (distinct): the shortest item's basket list checked against the others. */
  #bufferedWith(slots: readonly number[]): number {
    const { starts, offsets } = this.#postingsNow();
    const buf = this.#buffer!;
    let rare = slots[0]!;
    for (const x of slots) if (starts[x + 1]! - starts[x]! < starts[rare + 1]! - starts[rare]!) rare = x;
    let n = 0;
    for (let p = starts[rare]!; p < starts[rare + 1]!; p++) {
      const at = offsets[p]!;
      const len = buf[at]!;
      let all = true;
      for (const x of slots) {
        if (x === rare) continue;
        let found = false;
        for (let i = at + 1; i <= at + len && !found; i++) found = buf[i] === x;
        if (!found) {
          all = false;
          break;
        }
      }
      if (all) n++;
    }
    return n;
  }

  /** Per slot, the buffer offsets of the baskets holding it (CSR: `offsets[starts[x] .. starts[x + 1])`). */
  #postingsNow(): { readonly starts: Int32Array; readonly offsets: Int32Array } {
    if (this.#postings !== undefined && this.#postings.version === this.#version) return this.#postings;
    const buf = this.#buffer!;
    const end = this.#buffered;
    const starts = new Int32Array(this.#counts.length + 1);
    let entries = 0;
    for (let at = 0; at < end; at += buf[at]! + 1) {
      for (let i = at + 1; i <= at + buf[at]!; i++) starts[buf[i]! + 1]!++;
      entries += buf[at]!;
    }
    for (let x = 0; x < this.#counts.length; x++) starts[x + 1]! += starts[x]!;
    const offsets = new Int32Array(entries);
    const fill = starts.slice(0, this.#counts.length);
    for (let at = 0; at < end; at += buf[at]! + 1) for (let i = at + 1; i <= at + buf[at]!; i++) offsets[fill[buf[i]!]!++] = at;
    this.#postings = { version: this.#version, starts, offsets };
    return this.#postings;
  }

  errorBound(): CountErrorBound {
    return { items: this.#itemFloor, pairs: this.#pairs.floor, triples: this.#triples?.floor ?? 0 };
  }

  /** Calls fn for every held item with its estimated count. */
  forEachItem(fn: (name: string, count: number) => void): void {
    for (const [name, slot] of this.#slots) fn(name, this.#counts[slot]! + this.#errs[slot]!);
  }

  /** Calls fn for every held pair whose estimated count is ≥ minCount (names in slot order, not sorted). */
  forEachPair(minCount: number, fn: (a: string, b: string, count: number) => void): void {
    const names = this.#names;
    const table = this.#candidates(minCount, false) ?? this.#pairs;
    table.forEach((key, c, e) => {
      if (c + e < minCount) return;
      const a = Math.floor(key / PAIR_SHIFT);
      fn(names[a]!, names[key - a * PAIR_SHIFT]!, c + e);
    });
  }

  /** Calls fn for every held triple whose estimated count is ≥ minCount. */
  forEachTriple(minCount: number, fn: (a: string, b: string, c: string, count: number) => void): void {
    if (this.#triples === undefined) return;
    const names = this.#names;
    const table = this.#candidates(minCount, true) ?? this.#triples;
    table.forEach((key, c, e) => {
      if (c + e < minCount) return;
      const ab = Math.floor(key / TRIPLE_SHIFT);
      const a = Math.floor(ab / TRIPLE_SHIFT);
      fn(names[a]!, names[ab - a * TRIPLE_SHIFT]!, names[key - ab * TRIPLE_SHIFT]!, c + e);
    });
  }

  /**
   * Folds `other` in (sum of counts). Where one side does not hold a key, its share is bounded by
   * that side's floor, which goes into the key's slack; the floors add up.
   */
  mergeFrom(other: ItemsetCounter): void {
    this.#version++;
    this.baskets += other.baskets;
    this.truncatedBaskets += other.truncatedBaskets;
    const otherItemFloor = other.#itemFloor;
    if (otherItemFloor > 0) for (const slot of this.#slots.values()) this.#errs[slot]! += otherItemFloor;
    this.#seq = (this.#seq + 1) >>> 0 || 1;
    for (const [name, os] of other.#slots) {
      const c = other.#counts[os]!;
      const e = other.#errs[os]!;
      const mine = this.#slots.get(name);
      if (mine !== undefined) {
        this.#counts[mine]! += c;
        this.#errs[mine]! += e - otherItemFloor;
      } else {
        // The floor may have risen by an eviction during this merge: it bounds our share either way.
        const slot = this.#intern(name);
        this.#counts[slot] = c;
        this.#errs[slot] = e + this.#itemFloor;
      }
    }
    // TRICKY: evictions during this merge may have raised our floor; the sum must use the raised one,
    // or a B-only item's slack (its err + our raised floor) could exceed the reported bound.
    this.#itemFloor += otherItemFloor;
    const map = new Int32Array(other.#names.length).fill(-1);
    for (const [name, os] of other.#slots) map[os] = this.#slots.get(name) ?? -1;
    if (other.#buffer !== undefined) {
      if (this.#buffer !== undefined && this.#buffered + other.#buffered <= this.#maxBuffered) this.#appendFrom(other, map);
      else {
        this.#flush();
        this.#countFrom(other, map);
      }
      return;
    }
    this.#flush();
    mergeTable(this.#pairs, other.#pairs, (key) => {
      const a = map[Math.floor(key / PAIR_SHIFT)]!;
      const b = map[key % PAIR_SHIFT]!;
      if (a < 0 || b < 0) return -1;
      return a < b ? a * PAIR_SHIFT + b : b * PAIR_SHIFT + a;
    });
    if (this.#triples !== undefined && other.#triples !== undefined) {
      mergeTable(this.#triples, other.#triples, (key) => {
        const ab = Math.floor(key / TRIPLE_SHIFT);
        const a = map[Math.floor(ab / TRIPLE_SHIFT)]!;
        const b = map[ab % TRIPLE_SHIFT]!;
        const c = map[key % TRIPLE_SHIFT]!;
        if (a < 0 || b < 0 || c < 0) return -1;
        const [p, q, r] = [a, b, c].sort((u, v) => u - v) as [number, number, number];
        return (p * TRIPLE_SHIFT + q) * TRIPLE_SHIFT + r;
      });
    }
  }

  /** Appends `other`'s buffered baskets, its slots mapped to ours by `map` (none unmapped: nothing was evicted while both buffer). */
  #appendFrom(other: ItemsetCounter, map: Int32Array): void {
    const buf = other.#buffer!;
    const s = new Int32Array(Math.max(this.options.maxBasketItems, other.options.maxBasketItems));
    for (let at = 0, end = other.#buffered; at < end; at += buf[at]! + 1) {
      const n = buf[at]!;
      for (let i = 0; i < n; i++) s[i] = map[buf[at + 1 + i]!]!;
      const basket = s.subarray(0, n).sort();
      this.#append(basket, n);
    }
  }

  /**
   * Counts `other`'s buffered baskets into our tables, its slots mapped by `map`. An item we no longer
   * hold (evicted during this merge) leaves its pairs out: their counts are at most its count in
   * `other`, which the floors then cover (as mergeTable does for an unmapped key).
   */
  #countFrom(other: ItemsetCounter, map: Int32Array): void {
    const buf = other.#buffer!;
    const s = new Int32Array(Math.max(this.options.maxBasketItems, other.options.maxBasketItems));
    const pairFloor = this.#pairs.floor;
    const tripleFloor = this.#triples?.floor ?? 0;
    let dropped = -1;
    for (let at = 0, end = other.#buffered; at < end; at += buf[at]! + 1) {
      const n = buf[at]!;
      let m = 0;
      for (let i = 0; i < n; i++) {
        const os = buf[at + 1 + i]!;
        const mine = map[os]!;
        if (mine >= 0) s[m++] = mine;
        else dropped = Math.max(dropped, other.#counts[os]! + other.#errs[os]!);
      }
      if (m >= 2) this.#countBasket(s.subarray(0, m).sort(), 0, m, this.#pairs, this.#triples);
    }
    if (dropped >= 0) {
      this.#pairs.raiseFloor(dropped + pairFloor);
      this.#triples?.raiseFloor(dropped + tripleFloor);
    }
  }

  snapshot(): ItemsetCounterSnapshot {
    const items: string[] = [];
    const itemCounts: number[] = [];
    const index = new Int32Array(this.#names.length).fill(-1);
    for (const [name, slot] of this.#slots) {
      index[slot] = items.length;
      items.push(name);
      itemCounts.push(this.#counts[slot]!, this.#errs[slot]!);
    }
    const pairs: number[] = [];
    this.#pairs.forEach((key, c, e) => {
      const a = Math.floor(key / PAIR_SHIFT);
      pairs.push(index[a]!, index[key - a * PAIR_SHIFT]!, c, e);
    });
    const triples: number[] = [];
    this.#triples?.forEach((key, c, e) => {
      const ab = Math.floor(key / TRIPLE_SHIFT);
      const a = Math.floor(ab / TRIPLE_SHIFT);
      triples.push(index[a]!, index[ab - a * TRIPLE_SHIFT]!, index[key - ab * TRIPLE_SHIFT]!, c, e);
    });
    const buf = this.#buffer;
    let buffered: number[] | undefined;
    if (buf !== undefined) {
      buffered = new Array<number>(this.#buffered);
      for (let at = 0; at < this.#buffered; at += buf[at]! + 1) {
        buffered[at] = buf[at]!;
        for (let i = at + 1; i <= at + buf[at]!; i++) buffered[i] = index[buf[i]!]!;
      }
    }
    return {
      v: buffered === undefined ? 1 : 2,
      ...(buffered === undefined ? {} : { buffered }),
      baskets: this.baskets,
      truncatedBaskets: this.truncatedBaskets,
      floors: [this.#itemFloor, this.#pairs.floor, this.#triples?.floor ?? 0],
      items,
      itemCounts,
      pairs,
      triples,
    };
  }

  /** Rebuilds a counter from a snapshot (options as configured now; entries beyond capacity are evicted). */
  static fromSnapshot(s: ItemsetCounterSnapshot, options: ItemsetCounterOptions): ItemsetCounter {
    if ((s.v !== 1 && s.v !== 2) || s.itemCounts.length !== s.items.length * 2 || s.pairs.length % 4 !== 0 || s.triples.length % 5 !== 0 || (s.v === 2) !== Array.isArray(s.buffered)) {
      throw new ClickstreamError('CM_ERR_SNAPSHOT', 'not an ItemsetCounter v1 or v2 snapshot');
    }
    const out = new ItemsetCounter(options);
    out.baskets = s.baskets;
    out.truncatedBaskets = s.truncatedBaskets;
    out.#itemFloor = s.floors[0];
    out.#pairs.raiseFloor(s.floors[1]);
    out.#triples?.raiseFloor(s.floors[2]);
    const slots = new Int32Array(s.items.length);
    s.items.forEach((name, i) => {
      const slot = out.#intern(name);
      slots[i] = slot;
      out.#counts[slot] = s.itemCounts[2 * i]!;
      // TRICKY: #intern set err to the floor; the snapshot's err already includes it.
      out.#errs[slot] = s.itemCounts[2 * i + 1]!;
    });
    if (s.buffered !== undefined) {
      out.#restoreBuffered(s.buffered, slots);
      return out;
    }
    out.#flush();
    for (let i = 0; i < s.pairs.length; i += 4) {
      const a = slots[s.pairs[i]!]!;
      const b = slots[s.pairs[i + 1]!]!;
      out.#pairs.addEntry(a < b ? a * PAIR_SHIFT + b : b * PAIR_SHIFT + a, s.pairs[i + 2]!, s.pairs[i + 3]! - out.#pairs.floor);
    }
    if (out.#triples !== undefined) {
      for (let i = 0; i < s.triples.length; i += 5) {
        const [p, q, r] = [slots[s.triples[i]!]!, slots[s.triples[i + 1]!]!, slots[s.triples[i + 2]!]!].sort((u, v) => u - v) as [number, number, number];
        out.#triples.addEntry((p * TRIPLE_SHIFT + q) * TRIPLE_SHIFT + r, s.triples[i + 3]!, s.triples[i + 4]! - out.#triples.floor);
      }
    }
    return out;
  }

  /** The baskets of a v2 snapshot, item indexes mapped to `slots`; counted into the tables where the buffer bound is lower now. */
  #restoreBuffered(records: readonly number[], slots: Int32Array): void {
    const s = this.#scratch;
    for (let at = 0; at < records.length; ) {
      const n = records[at]!;
      if (!Number.isInteger(n) || n < 2 || n > s.length || at + n >= records.length) throw new ClickstreamError('CM_ERR_SNAPSHOT', 'ItemsetCounter v2 snapshot: a buffered basket out of range');
      for (let i = 0; i < n; i++) {
        const slot = slots[records[at + 1 + i]!];
        if (slot === undefined) throw new ClickstreamError('CM_ERR_SNAPSHOT', 'ItemsetCounter v2 snapshot: a buffered basket names an unknown item');
        s[i] = slot;
      }
      s.subarray(0, n).sort();
      if (this.#buffer !== undefined && this.#buffered + n + 1 <= this.#maxBuffered) this.#append(s, n);
      else {
        this.#flush();
        this.#countBasket(s, 0, n, this.#pairs, this.#triples);
      }
      at += n + 1;
    }
  }

  /**
   * Maps the basket to distinct slots in #scratch, returns how many. Interns when `insert` (adding),
   * else skips unknown items (removing: an unknown item has no counts to retract).
   */
  #collect(basket: readonly string[], insert: boolean, offset = 0): number {
    // A new basket starts a new sequence number; a second side (offset > 0) continues the same one.
    if (offset === 0) this.#seq = (this.#seq + 1) >>> 0 || 1;
    const seq = this.#seq;
    const max = this.options.maxBasketItems;
    const s = this.#scratch;
    let n = offset;
    for (let i = 0; i < basket.length; i++) {
      const name = basket[i]!;
      let slot = this.#slots.get(name);
      if (slot === undefined) {
        if (!insert) continue;
        if (n === max) {
          this.truncatedBaskets++;
          break;
        }
        slot = this.#intern(name);
      } else if (this.#touched[slot] === seq) continue;
      if (n === max) {
        if (insert) this.truncatedBaskets++;
        break;
      }
      // TRICKY: #intern may have grown the slot arrays: always index the current one.
      this.#touched[slot] = seq;
      s[n++] = slot;
    }
    return n;
  }

  /** A slot for a new item, evicting the lowest quarter of items when full (never the current basket's). */
  #intern(name: string): number {
    if (this.#freeTop === 0 && this.#nextSlot === this.#counts.length) {
      if (this.#counts.length < this.options.itemCapacity) this.#grow();
      else this.#evictItems();
    }
    const slot = this.#freeTop > 0 ? this.#free[--this.#freeTop]! : this.#nextSlot++;
    this.#slots.set(name, slot);
    this.#names[slot] = name;
    this.#counts[slot] = 0;
    this.#errs[slot] = this.#itemFloor;
    return slot;
  }

  #grow(): void {
    const size = Math.min(this.options.itemCapacity, this.#counts.length * 2);
    const grow = <T extends Float64Array | Uint32Array | Int32Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    this.#counts = grow(this.#counts, new Float64Array(size));
    this.#errs = grow(this.#errs, new Float64Array(size));
    this.#touched = grow(this.#touched, new Uint32Array(size));
    this.#free = grow(this.#free, new Int32Array(size));
  }

  #evictItems(): void {
    // The buffer refers to slots that are about to be reused.
    this.#flush();
    const seq = this.#seq;
    const candidates: number[] = [];
    for (const slot of this.#slots.values()) if (this.#touched[slot] !== seq) candidates.push(slot);
    const upper = (slot: number): number => this.#counts[slot]! + this.#errs[slot]!;
    candidates.sort((a, b) => upper(a) - upper(b));
    const quota = Math.max(1, Math.floor(this.#slots.size / 4));
    const gone = new Uint8Array(this.#counts.length);
    let evicted = 0;
    for (let i = 0; i < quota && i < candidates.length; i++) {
      const slot = candidates[i]!;
      const u = upper(slot);
      if (u > this.#itemFloor) this.#itemFloor = u;
      gone[slot] = 1;
      this.#slots.delete(this.#names[slot]!);
      this.#names[slot] = undefined;
      this.#free[this.#freeTop++] = slot;
      evicted++;
    }
    this.options.onEvict?.('items', evicted);
    // Pairs and triples of an evicted item go with it (their slots will be reused).
    const pairs = this.#pairs.removeWhere((key) => gone[Math.floor(key / PAIR_SHIFT)] === 1 || gone[key % PAIR_SHIFT] === 1);
    if (pairs > 0) this.options.onEvict?.('pairs', pairs);
    const triples = this.#triples?.removeWhere((key) => {
      const ab = Math.floor(key / TRIPLE_SHIFT);
      return gone[Math.floor(ab / TRIPLE_SHIFT)] === 1 || gone[ab % TRIPLE_SHIFT] === 1 || gone[key % TRIPLE_SHIFT] === 1;
    }) ?? 0;
    if (triples > 0) this.options.onEvict?.('triples', triples);
  }
}

/** Counts the triples of the ascending slots `s[from, end)`. */
function countTriples(s: Int32Array, from: number, end: number, triples: KeyCountTable): void {
  for (let i = from; i < end; i++) {
    for (let j = i + 1; j < end; j++) {
      const base = (s[i]! * TRIPLE_SHIFT + s[j]!) * TRIPLE_SHIFT;
      for (let k = j + 1; k < end; k++) triples.add(base + s[k]!, 1);
    }
  }
}

/** Merges table `from` into `into`, mapping keys with `remap` (-1: an item `into` no longer holds). */
function mergeTable(into: KeyCountTable, from: KeyCountTable, remap: (key: number) => number): void {
  const intoFloor = into.floor;
  const fromFloor = from.floor;
  into.addSlackToAll(fromFloor);
  from.forEach((key, c, e) => {
    const k = remap(key);
    if (k < 0) {
      // Our side of it was purged with its item: both shares are bounded, so the floor covers it.
      into.raiseFloor(c + e + intoFloor);
      return;
    }
    // A held key already got fromFloor from addSlackToAll; a new one gets into's current floor as the slack for into's share.
    into.mergeEntry(k, c, e, fromFloor);
  });
  into.raiseFloor(into.floor + fromFloor);
}
