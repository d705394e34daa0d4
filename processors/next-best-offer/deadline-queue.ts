import { requireBound } from '../../src/errors';

/** A pending check: at event time `deadline`, look at `key` again if its state still has version `seq`. */
export interface Deadline {
  readonly deadline: number;
  readonly key: string;
  readonly kind: number;
  readonly seq: number;
}

/** Slots a queue starts with; it doubles up to its capacity. */
const INITIAL_SLOTS = 64;

/**
 * A bounded min-heap of deadlines, popped as the watermark passes them. Entries are never removed
 * early: a newer activity bumps the owner's `seq` and the stale entry is ignored when it comes due
 * (lazy deletion). When full, `push` refuses and the caller counts the eviction.
 *
 * Struct of arrays: deadline, seq and kind in typed arrays, keys in one array (an entry object with
 * its boxed deadline was ~80 B; this is ~25 B an entry, and a push allocates nothing).
 */
export class DeadlineQueue {
  readonly capacity: number;
  #n = 0;
  #deadlines: Float64Array;
  #seqs: Float64Array;
  #kinds: Uint8Array;
  readonly #keys: string[] = [];

  constructor(capacity: number) {
    this.capacity = requireBound('DeadlineQueue capacity', capacity);
    const slots = Math.min(capacity, INITIAL_SLOTS);
    this.#deadlines = new Float64Array(slots);
    this.#seqs = new Float64Array(slots);
    this.#kinds = new Uint8Array(slots);
  }

  get size(): number {
    return this.#n;
  }

  /** False when the queue is full (nothing was added). `kind` is a small tag (0–255). */
  push(deadline: number, key: string, kind: number, seq: number): boolean {
    if (this.#n >= this.capacity) return false;
    if (this.#n === this.#deadlines.length) this.#grow();
    const ds = this.#deadlines;
    let i = this.#n++;
    this.#keys.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (ds[p]! <= deadline) break;
      this.#move(p, i);
      i = p;
    }
    this.#put(i, deadline, key, kind, seq);
    return true;
  }

  /** The earliest entry with deadline ≤ `upTo`, removed; undefined when none is due. */
  popDue(upTo: number): Deadline | undefined {
    const ds = this.#deadlines;
    if (this.#n === 0 || ds[0]! > upTo) return undefined;
    const top = this.#at(0);
    const n = --this.#n;
    const lastDeadline = ds[n]!;
    const lastSeq = this.#seqs[n]!;
    const lastKind = this.#kinds[n]!;
    const lastKey = this.#keys.pop()!;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && ds[r]! < ds[l]! ? r : l;
        if (ds[c]! >= lastDeadline) break;
        this.#move(c, i);
        i = c;
      }
      this.#put(i, lastDeadline, lastKey, lastKind, lastSeq);
    }
    return top;
  }

  /** The entries in heap order (restoring them in this order rebuilds the same heap). */
  entries(): Deadline[] {
    const out: Deadline[] = [];
    for (let i = 0; i < this.#n; i++) out.push(this.#at(i));
    return out;
  }

  #at(i: number): Deadline {
    return { deadline: this.#deadlines[i]!, key: this.#keys[i]!, kind: this.#kinds[i]!, seq: this.#seqs[i]! };
  }

  #move(from: number, to: number): void {
    this.#deadlines[to] = this.#deadlines[from]!;
    this.#seqs[to] = this.#seqs[from]!;
    this.#kinds[to] = this.#kinds[from]!;
    this.#keys[to] = this.#keys[from]!;
  }

  #put(i: number, deadline: number, key: string, kind: number, seq: number): void {
    this.#deadlines[i] = deadline;
    this.#seqs[i] = seq;
    this.#kinds[i] = kind;
    this.#keys[i] = key;
  }

  #grow(): void {
    const slots = Math.min(this.capacity, this.#deadlines.length * 2);
    const grow = <T extends Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(slots);
      b.set(a);
      return b;
    };
    this.#deadlines = grow(this.#deadlines, (n) => new Float64Array(n));
    this.#seqs = grow(this.#seqs, (n) => new Float64Array(n));
    this.#kinds = grow(this.#kinds, (n) => new Uint8Array(n));
  }
}
