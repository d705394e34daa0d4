import { requireBound } from '../../src/errors';

/** A pending check: at event time `deadline`, look at `key` again if its state still has version `seq`. */
export interface Deadline {
  readonly deadline: number;
  readonly key: string;
  readonly kind: number;
  readonly seq: number;
}

/**
 * A bounded min-heap of deadlines, popped as the watermark passes them. Entries are never removed
 * early: a newer activity bumps the owner's `seq` and the stale entry is ignored when it comes due
 * (lazy deletion). When full, `push` refuses and the caller counts the eviction.
 */
export class DeadlineQueue {
  readonly capacity: number;
  readonly #heap: Deadline[] = [];

  constructor(capacity: number) {
    this.capacity = requireBound('DeadlineQueue capacity', capacity);
  }

  get size(): number {
    return this.#heap.length;
  }

  /** False when the queue is full (nothing was added). */
  push(d: Deadline): boolean {
    const h = this.#heap;
    if (h.length >= this.capacity) return false;
    h.push(d);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pi = h[p] as Deadline;
      if (pi.deadline <= d.deadline) break;
      h[i] = pi;
      i = p;
    }
    h[i] = d;
    return true;
  }

  /** The earliest entry with deadline ≤ `upTo`, removed; undefined when none is due. */
  popDue(upTo: number): Deadline | undefined {
    const h = this.#heap;
    const top = h[0];
    if (top === undefined || top.deadline > upTo) return undefined;
    const last = h.pop() as Deadline;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const li = h[l] as Deadline;
        const ri = h[r];
        const c = ri !== undefined && ri.deadline < li.deadline ? r : l;
        const ci = h[c] as Deadline;
        if (ci.deadline >= last.deadline) break;
        h[i] = ci;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  entries(): readonly Deadline[] {
    return this.#heap;
  }
}
