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

/** One partition's part of a tracker (JSON-serialisable; −Infinity as null). */
export interface PartitionClockSnapshot {
  readonly v: 2;
  /** Newest event time. */
  readonly maxTs: number | null;
  /** When the event that set `maxTs` was received. */
  readonly maxTsAt: number | null;
  /** Newest receive time. */
  readonly lastAt: number | null;
  /** Floor set by ticks while idle. */
  readonly tickWm: number | null;
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
 * - a partition's watermark closes its sessions, fires and expires its panes, and judges lateness;
 * - the site watermark: the minimum over partitions that have one, monotonic. It decides which windows
 *   are shown closed and when the site's rules are recomputed.
 *
 * Each partition's part is snapshotted and restored on its own (`snapshotPartition`).
 *
 * Both the append side (lateness verdicts, tick times) and the processing side keep one per site; fed
 * the same records in the same order they agree exactly.
 */
export class WatermarkTracker {
  readonly partitions: number;
  readonly outOfOrdernessMs: number;
  readonly idleTimeoutMs: number;
  readonly #maxTs: Float64Array;
  readonly #maxTsAt: Float64Array;
  readonly #lastAt: Float64Array;
  readonly #tickWm: Float64Array;
  /** Scaled out: the latest tick time another instance reported, and when (local wall clock). */
  #peerTs = Number.NEGATIVE_INFINITY;
  #peerAt = 0;
  #site = Number.NEGATIVE_INFINITY;

  constructor(opts: WatermarkTrackerOptions) {
    this.partitions = requireBound('WatermarkTracker partitions', opts.partitions);
    if (!(opts.outOfOrdernessMs >= 0) || !(opts.idleTimeoutMs > 0)) {
      throw new RangeError('outOfOrdernessMs must be >= 0 and idleTimeoutMs > 0');
    }
    this.outOfOrdernessMs = opts.outOfOrdernessMs;
    this.idleTimeoutMs = opts.idleTimeoutMs;
    this.#maxTs = new Float64Array(this.partitions).fill(Number.NEGATIVE_INFINITY);
    this.#maxTsAt = new Float64Array(this.partitions).fill(Number.NEGATIVE_INFINITY);
    this.#lastAt = new Float64Array(this.partitions).fill(Number.NEGATIVE_INFINITY);
    this.#tickWm = new Float64Array(this.partitions).fill(Number.NEGATIVE_INFINITY);
  }

  /** Feeds an event of `partition` at event time `ts`, received at `receivedAt` (both from the record). */
  observe(partition: number, ts: number, receivedAt: number): void {
    if (ts > this.#maxTs[partition]!) {
      this.#maxTs[partition] = ts;
      this.#maxTsAt[partition] = receivedAt;
    }
    if (receivedAt > this.#lastAt[partition]!) this.#lastAt[partition] = receivedAt;
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
    // The newest event of the site: the partition with the newest one (the lowest such partition).
    let p = -1;
    for (let i = 0; i < this.partitions; i++) if (this.#maxTs[i]! > (p < 0 ? Number.NEGATIVE_INFINITY : this.#maxTs[p]!)) p = i;
    const peer = this.#peerTs + Math.max(0, now - this.#peerAt);
    if (p < 0) return Number.isFinite(peer) ? peer : undefined;
    const own = this.#maxTs[p]! + Math.max(0, now - this.#maxTsAt[p]!);
    return peer > own ? peer : own;
  }

  /**
   * Scaled out: another instance's tick time for this site, as it reported it at `now` (its newest
   * event time plus the wall time since). Ticks are dated by the later of it and this instance's own,
   * so partitions held here move on with events that only other instances' gateways and partitions saw.
   */
  observePeer(tickTime: number, now: number): void {
    if (tickTime > this.#peerTs + Math.max(0, now - this.#peerAt)) {
      this.#peerTs = tickTime;
      this.#peerAt = now;
    }
  }

  /** The watermark of one partition (−Infinity before any event or tick reached it). */
  partitionWatermark(partition: number): EpochMillis {
    const a = this.#maxTs[partition]! - this.outOfOrdernessMs;
    const b = this.#tickWm[partition]!;
    return epochMillis(a > b ? a : b);
  }

  /** Recomputes the site watermark (minimum over partitions that have one, monotonic) and returns it. */
  advance(): EpochMillis {
    let min = Number.POSITIVE_INFINITY;
    const ooo = this.outOfOrdernessMs;
    for (let p = 0; p < this.partitions; p++) {
      const a = this.#maxTs[p]! - ooo;
      const b = this.#tickWm[p]!;
      const wm = a > b ? a : b;
      if (wm !== Number.NEGATIVE_INFINITY && wm < min) min = wm;
    }
    if (min !== Number.POSITIVE_INFINITY && min > this.#site) this.#site = min;
    return epochMillis(this.#site);
  }

  /** The site watermark as last computed by `advance` (−Infinity before any). */
  current(): EpochMillis {
    return epochMillis(this.#site);
  }

  /** Sets the site watermark a restored process had shown (monotonic from there). */
  restoreSite(watermark: number | null): void {
    this.#site = watermark ?? Number.NEGATIVE_INFINITY;
  }

  snapshotPartition(p: number): PartitionClockSnapshot {
    return { v: 2, maxTs: finiteOrNull(this.#maxTs[p]!), maxTsAt: finiteOrNull(this.#maxTsAt[p]!), lastAt: finiteOrNull(this.#lastAt[p]!), tickWm: finiteOrNull(this.#tickWm[p]!) };
  }

  restorePartition(p: number, s: PartitionClockSnapshot): void {
    if (s.v !== 2 || !(p >= 0 && p < this.partitions)) throw new RangeError(`partition clock snapshot v${String(s.v)} for partition ${p} of ${this.partitions}`);
    this.#maxTs[p] = s.maxTs ?? Number.NEGATIVE_INFINITY;
    this.#maxTsAt[p] = s.maxTsAt ?? Number.NEGATIVE_INFINITY;
    this.#lastAt[p] = s.lastAt ?? Number.NEGATIVE_INFINITY;
    this.#tickWm[p] = s.tickWm ?? Number.NEGATIVE_INFINITY;
  }
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}
