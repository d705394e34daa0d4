import { requireBound } from '../../src/errors';

/**
 * "At most `max` triggers in any rolling window of `windowMs`", exact, in O(1) per check and O(max)
 * memory: a ring of the last `max` trigger times. A new trigger is allowed when fewer than `max`
 * happened, or the oldest of the last `max` is at least `windowMs` before now.
 *
 * Why not PaneStore: a cap must be exact at event granularity (a pane-rounded window would let a
 * burst through at a pane edge), and only the last `max` times matter.
 */
export class RollingCap {
  readonly max: number;
  readonly windowMs: number;
  readonly #times: Float64Array;
  #head = 0;
  #count = 0;

  constructor(max: number, windowMs: number) {
    this.max = requireBound('RollingCap max', max);
    this.windowMs = requireBound('RollingCap windowMs', windowMs);
    this.#times = new Float64Array(max);
  }

  /** True when one more trigger at `ts` stays within the cap. */
  allows(ts: number): boolean {
    if (this.#count < this.max) return true;
    // #head points at the oldest of the last `max` times once the ring is full.
    return (this.#times[this.#head] ?? 0) <= ts - this.windowMs;
  }

  record(ts: number): void {
    this.#times[this.#head] = ts;
    this.#head = (this.#head + 1) % this.max;
    if (this.#count < this.max) this.#count++;
  }

  /** Trigger times, oldest first (for snapshots). */
  times(): number[] {
    const out: number[] = [];
    const start = this.#count < this.max ? 0 : this.#head;
    for (let i = 0; i < this.#count; i++) out.push(this.#times[(start + i) % this.max] ?? 0);
    return out;
  }

  /** Takes trigger times out again (a partition given up), one occurrence each. */
  unload(times: readonly number[]): void {
    const drop = new Map<number, number>();
    for (const t of times) drop.set(t, (drop.get(t) ?? 0) + 1);
    const kept = this.times().filter((t) => {
      const n = drop.get(t) ?? 0;
      if (n === 0) return true;
      drop.set(t, n - 1);
      return false;
    });
    this.#head = 0;
    this.#count = 0;
    for (const t of kept) this.record(t);
  }

  /** Folds in trigger times (restore, merge); keeps the newest `max`. */
  load(times: readonly number[]): void {
    const all = [...this.times(), ...times].sort((a, b) => a - b).slice(-this.max);
    this.#head = 0;
    this.#count = 0;
    for (const t of all) this.record(t);
  }
}
