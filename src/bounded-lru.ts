import { LRUCache } from 'lru-cache';
import { requireBound } from './errors';

/** Slots the first inner cache gets (it doubles on demand up to `max`). */
const FIRST_SLOTS = 1_024;

/** How an entry left: as lru-cache reports it (`evict`: pushed out at the bound). */
export type DisposeReason = LRUCache.DisposeReason;

export interface BoundedLruOptions<K, V> {
  /** Most entries; beyond it the least recently used one is evicted. */
  readonly max: number;
  /** Called when an entry leaves: evicted at the bound, replaced by `set`, deleted or cleared. */
  readonly dispose?: (value: V, key: K, reason: DisposeReason) => void;
}

/**
 * An LRU cache bounded by `max` that takes memory as it fills: lru-cache allocates all `max` slots
 * up front (≈ 28 bytes each: two arrays and three typed arrays), so the app's dozen caches sized for
 * a busy shop held ~35 MB before the first event. This keeps an lru-cache of 1,024 slots and moves
 * its entries into one twice the size (least recently used first, so the order is kept) whenever it
 * is full and below `max`; at `max` it is that lru-cache. Same answers, the same recency order and
 * the same evictions as one `LRUCache({max})` (tested side by side); the copy is amortised O(1) per
 * insert and happens at most log2(max / 1,024) times.
 */
export class BoundedLru<K extends {}, V extends {}> {
  readonly max: number;
  readonly #dispose: BoundedLruOptions<K, V>['dispose'];
  #cache: LRUCache<K, V>;

  constructor(opts: BoundedLruOptions<K, V>) {
    this.max = requireBound('BoundedLru max', opts.max);
    this.#dispose = opts.dispose;
    this.#cache = this.#make(Math.min(this.max, FIRST_SLOTS));
  }

  #make(slots: number): LRUCache<K, V> {
    return new LRUCache<K, V>(this.#dispose === undefined ? { max: slots } : { max: slots, dispose: this.#dispose });
  }

  /** Slots held now (grows to `max`). */
  get capacity(): number {
    return this.#cache.max;
  }

  get size(): number {
    return this.#cache.size;
  }

  /** The value, marking the key most recently used. */
  get(key: K): V | undefined {
    return this.#cache.get(key);
  }

  /** The value, without touching recency. */
  peek(key: K): V | undefined {
    return this.#cache.peek(key);
  }

  has(key: K): boolean {
    return this.#cache.has(key);
  }

  set(key: K, value: V): this {
    const c = this.#cache;
    if (c.size >= c.max && c.max < this.max && !c.has(key)) this.#grow();
    this.#cache.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    return this.#cache.delete(key);
  }

  /** Removes everything (dispose reason `delete` for each) and gives the slots back. */
  clear(): void {
    this.#cache.clear();
    if (this.#cache.max > FIRST_SLOTS) this.#cache = this.#make(Math.min(this.max, FIRST_SLOTS));
  }

  /** Most recently used first. */
  entries(): Generator<[K, V]> {
    return this.#cache.entries();
  }

  /** Least recently used first. */
  rentries(): Generator<[K, V]> {
    return this.#cache.rentries() as Generator<[K, V]>;
  }

  keys(): Generator<K> {
    return this.#cache.keys();
  }

  rkeys(): Generator<K> {
    return this.#cache.rkeys();
  }

  values(): Generator<V> {
    return this.#cache.values();
  }

  forEach(fn: (value: V, key: K) => void): void {
    this.#cache.forEach((v, k) => fn(v, k));
  }

  #grow(): void {
    const next = this.#make(Math.min(this.max, this.#cache.max * 2));
    // Least recently used first: the new cache ends in the same order. The old one is dropped, not
    // cleared, so nothing is disposed by the move.
    for (const [k, v] of this.rentries()) next.set(k, v);
    this.#cache = next;
  }
}
