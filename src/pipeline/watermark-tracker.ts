import { requireBound } from '../errors';
import { epochMillis, type EpochMillis } from '../types';

export interface WatermarkTrackerOptions {
  /** Number of partitions tracked. */
  readonly partitions: number;
  /** Bounded out-of-orderness subtracted from each partition's max event time, ms. */
  readonly outOfOrdernessMs: number;
  /** A partition whose latest event was received this long before a tick counts as idle at that tick, ms. */
  readonly idleTimeoutMs: number;
}

/** A tracker's state (JSON-serialisable; −Infinity as null). */
export interface WatermarkTrackerSnapshot {
  readonly v: 1;
  readonly maxTs: Array<number | null>;
  readonly lastAt: Array<number | null>;
  readonly tickWm: Array<number | null>;
  readonly site: number | null;
  readonly retention: number | null;
  readonly frontier: number | null;
  readonly frontierAt: number | null;
}

/**
 * Event-time watermarks of one site (DESIGN.md §4), a pure function of the records fed to it —
 * events and tick records, in log order — never of when they are processed:
 *
 * - per partition: max(max event time − outOfOrdernessMs, the floor set by ticks while idle);
 * - a tick record `(ts, at)` marks every partition whose latest event was *received* (`receivedAt`,
 *   part of the record) at or before `at − idleTimeoutMs` as idle, and lifts its watermark to
 *   `ts − outOfOrdernessMs`: quiet partitions and quiet streams still close their windows, and a replay
 *   of the same records, at any speed, reaches the same watermarks (Flink's idleness, made explicit);
 * - the site watermark: the minimum over partitions that have one, monotonic. It decides which windows
 *   are shown closed, when sessions close and when rules are recomputed; lateness is judged against the
 *   event's own partition watermark.
 *
 * Both the append side (lateness verdicts, tick times) and the processing side keep one per site; fed
 * the same records in the same order they agree exactly.
 */
export class WatermarkTracker {
  readonly partitions: number;
  readonly outOfOrdernessMs: number;
  readonly idleTimeoutMs: number;
  readonly #maxTs: Float64Array;
  readonly #lastAt: Float64Array;
  readonly #tickWm: Float64Array;
  #site = Number.NEGATIVE_INFINITY;
  #retention = Number.NEGATIVE_INFINITY;
  #frontier = Number.NEGATIVE_INFINITY;
  #frontierAt = Number.NEGATIVE_INFINITY;

  constructor(opts: WatermarkTrackerOptions) {
    this.partitions = requireBound('WatermarkTracker partitions', opts.partitions);
    if (!(opts.outOfOrdernessMs >= 0) || !(opts.idleTimeoutMs > 0)) {
      throw new RangeError('outOfOrdernessMs must be >= 0 and idleTimeoutMs > 0');
    }
    this.outOfOrdernessMs = opts.outOfOrdernessMs;
    this.idleTimeoutMs = opts.idleTimeoutMs;
    this.#maxTs = new Float64Array(this.partitions).fill(Number.NEGATIVE_INFINITY);
    this.#lastAt = new Float64Array(this.partitions).fill(Number.NEGATIVE_INFINITY);
    this.#tickWm = new Float64Array(this.partitions).fill(Number.NEGATIVE_INFINITY);
  }

  /** Feeds an event of `partition` at event time `ts`, received at `receivedAt` (both from the record). */
  observe(partition: number, ts: number, receivedAt: number): void {
    if (ts > this.#maxTs[partition]!) this.#maxTs[partition] = ts;
    if (receivedAt > this.#lastAt[partition]!) this.#lastAt[partition] = receivedAt;
    if (ts > this.#frontier) {
      this.#frontier = ts;
      this.#frontierAt = receivedAt;
    }
  }

  /**
   * Feeds a tick record: idle partitions (nothing received since `at − idleTimeoutMs`) move to
   * `ts − outOfOrderness`. With `partition`, only that one (a tick of one partition's log).
   */
  tick(ts: number, at: number, partition?: number): void {
    const idleBefore = at - this.idleTimeoutMs;
    const wm = ts - this.outOfOrdernessMs;
    const from = partition ?? 0;
    const to = partition === undefined ? this.partitions : partition + 1;
    for (let p = from; p < to; p++) {
      if (this.#lastAt[p]! <= idleBefore && wm > this.#tickWm[p]!) this.#tickWm[p] = wm;
    }
  }

  /** True when a tick at wall clock `at` would find `partition` idle (the log writes ticks only for those). */
  isIdle(partition: number, at: number): boolean {
    return this.#lastAt[partition]! <= at - this.idleTimeoutMs;
  }

  /**
   * The event time a tick written at wall-clock `now` carries: the site's newest event time plus the
   * wall time since it was received (event time flows on while the stream is quiet), or undefined
   * before any event. During a fast backfill this stays at the data's own time, not the wall clock's.
   */
  tickTime(now: number): number | undefined {
    if (!Number.isFinite(this.#frontier)) return undefined;
    return this.#frontier + Math.max(0, now - this.#frontierAt);
  }

  /** The watermark of one partition (−Infinity before any event or tick reached it). */
  partitionWatermark(partition: number): EpochMillis {
    const a = this.#maxTs[partition]! - this.outOfOrdernessMs;
    const b = this.#tickWm[partition]!;
    return epochMillis(a > b ? a : b);
  }

  /**
   * Recomputes the site watermark (minimum over partitions that have one) and the retention
   * watermark (minimum over all partitions: −Infinity while one has none); returns the site watermark.
   * Both are monotonic.
   */
  advance(): EpochMillis {
    let min = Number.POSITIVE_INFINITY;
    let all = Number.POSITIVE_INFINITY;
    const ooo = this.outOfOrdernessMs;
    for (let p = 0; p < this.partitions; p++) {
      const a = this.#maxTs[p]! - ooo;
      const b = this.#tickWm[p]!;
      const wm = a > b ? a : b;
      if (wm < all) all = wm;
      if (wm !== Number.NEGATIVE_INFINITY && wm < min) min = wm;
    }
    if (min !== Number.POSITIVE_INFINITY && min > this.#site) this.#site = min;
    if (all !== Number.POSITIVE_INFINITY && all > this.#retention) this.#retention = all;
    return epochMillis(this.#site);
  }

  /**
   * The watermark below which panes may be dropped: no partition can still accept an event there.
   * TRICKY: not the site watermark — a partition that has seen nothing yet would accept any event
   * (its watermark is −∞) until a tick record gives it one, so it holds retention back until then.
   */
  retentionWatermark(): EpochMillis {
    return epochMillis(this.#retention);
  }

  /** The site watermark as last computed by `advance` (−Infinity before any). */
  current(): EpochMillis {
    return epochMillis(this.#site);
  }

  snapshot(): WatermarkTrackerSnapshot {
    const arr = (a: Float64Array): Array<number | null> => Array.from(a, finiteOrNull);
    return { v: 1, maxTs: arr(this.#maxTs), lastAt: arr(this.#lastAt), tickWm: arr(this.#tickWm), site: finiteOrNull(this.#site), retention: finiteOrNull(this.#retention), frontier: finiteOrNull(this.#frontier), frontierAt: finiteOrNull(this.#frontierAt) };
  }

  /** Restores a snapshot taken with the same partition count. */
  restore(s: WatermarkTrackerSnapshot): void {
    if (s.v !== 1 || s.maxTs.length !== this.partitions) throw new RangeError(`watermark snapshot for ${s.maxTs.length} partitions, expected ${this.partitions}`);
    for (let p = 0; p < this.partitions; p++) {
      this.#maxTs[p] = s.maxTs[p] ?? Number.NEGATIVE_INFINITY;
      this.#lastAt[p] = s.lastAt[p] ?? Number.NEGATIVE_INFINITY;
      this.#tickWm[p] = s.tickWm[p] ?? Number.NEGATIVE_INFINITY;
    }
    this.#site = s.site ?? Number.NEGATIVE_INFINITY;
    this.#retention = s.retention ?? Number.NEGATIVE_INFINITY;
    this.#frontier = s.frontier ?? Number.NEGATIVE_INFINITY;
    this.#frontierAt = s.frontierAt ?? Number.NEGATIVE_INFINITY;
  }
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}
