import { requireBound } from '../errors';
import { epochMillis, type EpochMillis } from '../types';

export interface WatermarkTrackerOptions {
  /** Number of partitions tracked. */
  readonly partitions: number;
  /** Bounded out-of-orderness subtracted from each partition's max event time, ms. */
  readonly outOfOrdernessMs: number;
  /** A partition with no event for this long (wall clock) stops holding the watermark back, ms. */
  readonly idleTimeoutMs: number;
}

/**
 * Event-time watermarks (DESIGN.md §4), Flink-style:
 * - per partition: the max event time seen − outOfOrdernessMs;
 * - global: the minimum over ACTIVE partitions (seen an event within idleTimeoutMs of wall clock),
 *   so an idle partition stops holding the others back (Flink `withIdleness`);
 * - with no active partition at all, it advances with the wall clock (now − outOfOrderness), so
 *   quiet streams still close their windows;
 * - monotonic: it never goes back.
 *
 * `observe` is the per-event hot path (two typed-array writes); the global value is recomputed only by
 * `advance` (after each slice and on each tick: periodic watermarks, like Flink's auto-watermark
 * interval), so an event is judged against the watermark of the events before its slice.
 */
export class WatermarkTracker {
  readonly partitions: number;
  readonly outOfOrdernessMs: number;
  readonly idleTimeoutMs: number;
  readonly #maxTs: Float64Array;
  readonly #lastSeen: Float64Array;
  #global = Number.NEGATIVE_INFINITY;

  constructor(opts: WatermarkTrackerOptions) {
    this.partitions = requireBound('WatermarkTracker partitions', opts.partitions);
    if (!(opts.outOfOrdernessMs >= 0) || !(opts.idleTimeoutMs > 0)) {
      throw new RangeError('outOfOrdernessMs must be >= 0 and idleTimeoutMs > 0');
    }
    this.outOfOrdernessMs = opts.outOfOrdernessMs;
    this.idleTimeoutMs = opts.idleTimeoutMs;
    this.#maxTs = new Float64Array(this.partitions).fill(Number.NEGATIVE_INFINITY);
    // TRICKY: a partition that never saw an event counts as idle, not as active at −∞: otherwise
    // one empty partition would hold every window open until the idle timeout after each boot.
    this.#lastSeen = new Float64Array(this.partitions).fill(Number.NEGATIVE_INFINITY);
  }

  /** Records an event of `partition` at event time `ts`, received at wall-clock `wallNow`. */
  observe(partition: number, ts: number, wallNow: number): void {
    if (ts > this.#maxTs[partition]!) this.#maxTs[partition] = ts;
    this.#lastSeen[partition] = wallNow;
  }

  /** Recomputes the global watermark at wall-clock `wallNow`; returns it (never lower than before). */
  advance(wallNow: number): EpochMillis {
    let min = Number.POSITIVE_INFINITY;
    const idleBefore = wallNow - this.idleTimeoutMs;
    for (let p = 0; p < this.partitions; p++) {
      if (this.#lastSeen[p]! <= idleBefore) continue; // idle (or never seen)
      const wm = this.#maxTs[p]! - this.outOfOrdernessMs;
      if (wm < min) min = wm;
    }
    const candidate = min === Number.POSITIVE_INFINITY ? wallNow - this.outOfOrdernessMs : min;
    if (candidate > this.#global) this.#global = candidate;
    return epochMillis(this.#global);
  }

  /** The global watermark as last computed by `advance` (−Infinity before any). */
  current(): EpochMillis {
    return epochMillis(this.#global);
  }

  /** The watermark of one partition (max event time − out-of-orderness; −Infinity before any event). */
  partitionWatermark(partition: number): EpochMillis {
    return epochMillis((this.#maxTs[partition] ?? Number.NEGATIVE_INFINITY) - this.outOfOrdernessMs);
  }

  /** True when `partition` saw an event within the idle timeout before `wallNow`. */
  isActive(partition: number, wallNow: number): boolean {
    return (this.#lastSeen[partition] ?? Number.NEGATIVE_INFINITY) > wallNow - this.idleTimeoutMs;
  }

  /** Restores a global watermark (from a snapshot); keeps monotonicity. */
  restore(watermark: number): void {
    if (watermark > this.#global) this.#global = watermark;
  }
}
