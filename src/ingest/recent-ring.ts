import { requireBound } from '../errors';

/**
 * The most recent items of one kind, bounded: a ring that overwrites its oldest item (the caller
 * counts that eviction) and lists newest first. Shared by the quarantine and the late side output.
 */
export class RecentRing<T> {
  readonly capacity: number;
  readonly #items: Array<T | undefined>;
  /** Next write position. */
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    this.capacity = requireBound('RecentRing capacity', capacity);
    this.#items = new Array<T | undefined>(this.capacity).fill(undefined);
  }

  /** Adds an item; returns true when it overwrote the oldest one. */
  push(item: T): boolean {
    const evicted = this.#size === this.capacity;
    if (!evicted) this.#size++;
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.capacity;
    return evicted;
  }

  /** Items, newest first, at most `limit`. */
  list(limit = this.capacity): T[] {
    const out: T[] = [];
    for (let i = 1; i <= this.#size && out.length < limit; i++) {
      const item = this.#items[(this.#next - i + this.capacity) % this.capacity];
      if (item !== undefined) out.push(item);
    }
    return out;
  }

  get size(): number {
    return this.#size;
  }
}
