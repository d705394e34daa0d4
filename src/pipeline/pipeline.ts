import type { Clock } from '../clock';
import { RecentRing } from '../ingest/recent-ring';
import type { Config, SiteConfig } from '../config';
import { ClickstreamError, requireBound } from '../errors';
import type { EnrichedEvent, LogRecord, SessionSignal, TickRecord } from '../events/enriched-event';
import type { Logger } from '../logger';
import type { CoreMetrics } from '../metrics/core-metrics';
import type { PartitionSets, Processor, SiteView } from '../../processors/processor';
import { UNSESSIONIZED } from '../events/event-enricher';
import { epochMillis, type EpochMillis } from '../types';
import { Sessionizer, type SessionizerSnapshot } from './sessionizer';
import { LateLog, type LateEntry, type LateReason } from './late-log';
import { WatermarkTracker, type PartitionClockSnapshot } from './watermark-tracker';
import { EventDeduplicator, type DedupeSnapshot } from '../ingest/event-deduplicator';
import { VisitorPartitioner, partitionShare } from './visitor-partitioner';

/** Events processed per setImmediate slice before the event loop gets a turn. */
export const DEFAULT_SLICE_EVENTS = 2_000;

export interface PipelineDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly metrics: CoreMetrics;
  readonly logger: Logger;
  /**
   * Builds the processor set of one partition of a site (called once per configured site and
   * partition, at construction): each partition keeps its own state, driven by its own watermark.
   */
  readonly processorsFor: (site: SiteConfig, partition: number) => Processor[];
  /**
   * Builds a site's views over its partition sets (queries, cross-sell mining, site-wide offer
   * state): `processor(site, name)` returns them. None: `processor` finds nothing.
   */
  readonly viewsFor?: (site: SiteConfig, parts: PartitionSets) => SiteView[];
  /** The partitions this process holds at start (default: all); `addPartition` / `dropPartition` change it. */
  readonly ownedPartitions?: readonly number[];
  /** Events per slice (default DEFAULT_SLICE_EVENTS): tests vary it to show it changes no number. */
  readonly sliceEvents?: number;
  /**
   * True when the input is a durable log read back (NATS mode): no local tick timer (the log writer
   * publishes tick records per partition), records arrive through `appendFromLog` with their stream
   * position, and events are deduplicated by id as they are processed (the log may hold one twice).
   */
  readonly fromLog?: boolean;
  /** Sees every event as it is processed, once sessionized (display lookups such as the offers' product catalog). */
  readonly onEvent?: (e: EnrichedEvent) => void;
}

/**
 * Whether the pipeline took a whole batch: the gateway acknowledges only `accepted`. `late` of the
 * batch's events were too old to count (older than their partition watermark − allowed lateness):
 * acknowledged, listed in the late side output, reported back in the ack.
 */
export type OfferResult = { readonly kind: 'accepted'; readonly late: number } | { readonly kind: 'overloaded' };

const ACCEPTED: OfferResult = Object.freeze({ kind: 'accepted', late: 0 });
const OVERLOADED: OfferResult = Object.freeze({ kind: 'overloaded' });

/**
 * One partition's processing state, over every site (JSON-serialisable): a unit that is snapshotted,
 * restored and — scaled out — owned on its own. With `queued`, also the partition's records
 * acknowledged but not yet processed (in the embedded mode the queue is the only copy of them; on
 * JetStream the stream is resumed from `position` + 1 instead).
 */
export interface PartitionUnit {
  readonly v: 3;
  readonly partition: number;
  readonly sites: Record<string, { readonly clock: PartitionClockSnapshot; readonly sessions: SessionizerSnapshot; readonly processors: Record<string, unknown> }>;
  /** The partition's queued records in log order (events without their session context). */
  readonly queued?: readonly LogRecord[];
  /** Read from a log: the stream sequence of the last message of this partition queued (0: none). */
  readonly position?: number;
  /** Read from a log: the ids of this partition's events processed (duplicate detection). */
  readonly logDedupe?: DedupeSnapshot;
}

/** What belongs to each site as a whole: the watermark its views last saw, and their state (mined rules, recent offer triggers). */
export interface SiteUnit {
  readonly v: 3;
  readonly sites: Record<string, { readonly watermark: number | null; readonly views: Record<string, unknown> }>;
}

/** The whole processing state of a process: the site unit and every partition's. */
export interface PipelineSnapshot {
  readonly v: 3;
  readonly site: SiteUnit;
  readonly partitions: readonly PartitionUnit[];
}

/** What `judge` found of a batch: the events to write to the log, and how many were late. */
export interface Judged {
  readonly onTime: EnrichedEvent[];
  readonly late: number;
}

/** A log reader waiting for room for `n` records. */
interface RoomWaiter {
  readonly n: number;
  readonly resolve: () => void;
}

/** One partition of a site: its own sessionizer and processors, fed its events and its watermark. */
interface PartitionRuntime {
  readonly processors: readonly Processor[];
  readonly sessionizer: Sessionizer;
  /** The partition watermark its processors last saw. */
  watermark: number;
}

interface SiteRuntime {
  readonly site: SiteConfig;
  /** By partition number; undefined where this process does not hold the partition. */
  readonly parts: Array<PartitionRuntime | undefined>;
  readonly views: ReadonlyMap<string, SiteView>;
  /** Append side: judges lateness and dates ticks, fed records as they enter the queue. */
  readonly appendClock: WatermarkTracker;
  /** Processing side: fed the same records as they leave the queue. */
  readonly clock: WatermarkTracker;
  /** The site watermark the processors last saw. */
  watermark: number;
  /** This site's events in the queue (a site may hold at most its share of it). */
  queued: number;
  /** The last events processed, for the live event log (a display buffer, overwritten). */
  readonly recent: RecentRing<EnrichedEvent>;
  /** Revisions by processor not yet added to `window_revisions_total` (added once per slice: prom-client hashes the labels at every inc). */
  readonly revisions: Map<string, number>;
}

/** Events the live event log keeps per site. */
export const RECENT_EVENTS = 200;

/**
 * The event-time engine of one process (DESIGN.md §1, §4): a bounded FIFO log between the gateway
 * and the processors, the sessionizer, watermarks and window firing. Time is a function of this log:
 *
 * - `offer` takes a whole batch or nothing (so an ack is honest). Each event is judged on the way in
 *   against its own partition watermark: older than it minus `time.allowedLateness` (by default the
 *   retained panes) is late — counted once (`clickstream_events_late_total{site}`), kept in the late
 *   side output (`lateEvents`, `GET /v1/late`), reported in the ack; everything else is queued.
 * - `tick` (every `time.tick` of wall clock once started) appends a tick record per site: quiet
 *   partitions advance through the log, not through a clock read while processing.
 * - Records are processed in log order in setImmediate slices. Each partition of a site has its own
 *   sessionizer and processor set (its state is snapshotted, restored and — scaled out — owned on its
 *   own). An event goes to its partition's set with the partition watermark; after each slice every
 *   partition whose watermark moved closes its sessions and fires its processors' windows, and the
 *   site's views (`processor(site, name)`: queries merge the partitions; cross-sell mines the merged
 *   counts) get the site watermark. A partition's statistics are a function of its own records, in
 *   order (offer decisions also read the site's rules and budgets): slices, batch sizes, processing
 *   speed and how partitions interleave change no statistic.
 */
/**
 * A queued record as partition `p`'s unit lists it: an event without its session context (the
 * processing side derives it again), a tick for every partition (the embedded mode's) as `p`'s own.
 */
function queuedAs(r: LogRecord, p: number): LogRecord {
  if (r.type !== 'tick') return { ...r, session: UNSESSIONIZED };
  return r.partition === undefined ? { ...r, partition: p } : r;
}

export class Pipeline {
  readonly #config: Config;
  readonly #clock: Clock;
  readonly #metrics: CoreMetrics;
  readonly #logger: Logger;
  readonly #sites = new Map<string, SiteRuntime>();
  readonly #lateLog: LateLog;
  readonly #latenessMs: number;
  readonly #sliceEvents: number;
  readonly #lateListeners: Array<(e: LateEntry) => void> = [];
  readonly #onEvent: ((e: EnrichedEvent) => void) | undefined;
  // Ring buffer of queued records.
  readonly #queue: Array<LogRecord | undefined>;
  readonly #capacity: number;
  /** Most events one site may have queued (ingest.siteQueueShare × capacity). */
  readonly #siteShare: number;
  #head = 0;
  #size = 0;
  #running = false;
  #scheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #drainWaiters: Array<() => void> = [];
  #roomWaiters: RoomWaiter[] = [];
  #errorsLogged = 0;
  /** The event being processed found late by some processor (one late entry per event). */
  #lateMarked: EnrichedEvent | undefined;
  readonly #fromLog: boolean;
  /** Read from a log: per partition, the stream sequence of the last message queued. */
  readonly #positions: Float64Array;
  /**
   * Read from a log: per partition, event ids already processed (the log may hold one twice: a resend
   * after a lost PubAck beyond the duplicate window). Each partition holds its share of the bound.
   */
  readonly #logDedupe: readonly EventDeduplicator[] | undefined;
  /** Records processed since boot (the snapshot policy counts them). */
  #processed = 0;
  readonly #partitioner: VisitorPartitioner;
  readonly #processorsFor: PipelineDeps['processorsFor'];

  constructor(deps: PipelineDeps) {
    const { config } = deps;
    this.#config = config;
    this.#clock = deps.clock;
    this.#metrics = deps.metrics;
    this.#logger = deps.logger.child({ component: 'pipeline' });
    this.#capacity = requireBound('Pipeline ingest.queueCapacity', config.ingest.queueCapacity);
    this.#sliceEvents = requireBound('Pipeline sliceEvents', deps.sliceEvents ?? DEFAULT_SLICE_EVENTS);
    this.#queue = new Array<LogRecord | undefined>(this.#capacity);
    const share = config.ingest.siteQueueShare ?? (config.sites.size > 1 ? 0.5 : 1);
    this.#siteShare = Math.max(1, Math.floor(this.#capacity * share));
    this.#latenessMs = config.time.allowedLatenessMs;
    this.#fromLog = deps.fromLog === true;
    this.#onEvent = deps.onEvent;
    this.#positions = new Float64Array(config.partitions);
    this.#logDedupe = this.#fromLog
      ? Array.from(
          { length: config.partitions },
          () => new EventDeduplicator({ capacity: partitionShare(config.ingest.dedupeCapacity, config.partitions), ttlMs: config.ingest.dedupeTtlMs, onEvict: () => this.#metrics.evictions.inc({ component: 'pipeline', structure: 'log_dedupe' }) }),
        )
      : undefined;
    // The late side output is inspected like the quarantine, so it shares its per-site bound.
    this.#lateLog = new LateLog({
      capacityPerSite: requireBound('Pipeline late side output (ingest.quarantineCapacity)', config.ingest.quarantineCapacity),
      sites: config.sites.keys(),
      onEvict: () => this.#metrics.evictions.inc({ component: 'pipeline', structure: 'late_events' }),
    });
    this.#partitioner = new VisitorPartitioner(config.partitions);
    this.#processorsFor = deps.processorsFor;
    const owned = deps.ownedPartitions ?? Array.from({ length: config.partitions }, (_, p) => p);
    for (const p of owned) if (!(Number.isInteger(p) && p >= 0 && p < config.partitions)) throw new ClickstreamError('CM_ERR_CONFIG', `owned partition ${p} is not in [0, ${config.partitions})`);
    for (const site of config.sites.values()) this.#sites.set(site.id, this.#buildSite(site, deps, new Set(owned)));
  }

  /**
   * Judges and enqueues a whole batch, or nothing when it does not fit (the gateway then answers
   * 503 / retry). Late events are not queued; `late` says how many.
   */
  offer(events: readonly EnrichedEvent[]): OfferResult {
    if (this.#size + events.length > this.#capacity) return OVERLOADED;
    // A batch is one site's: that site may fill at most its share of the queue, so one site's flood
    // never turns another site's batches into retries.
    const first = events[0] === undefined ? undefined : this.#sites.get(events[0].site);
    if (first !== undefined && first.queued + events.length > this.#siteShare) return OVERLOADED;
    let late = 0;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const rt = this.#sites.get(e.site);
      if (rt === undefined) {
        // The gateway rejects unknown sites; anything else reaching here is a bug upstream, not a crash.
        this.#logError(new Error(`event for unknown site ${e.site}`), 'pipeline', 'offer');
        continue;
      }
      if (this.#judge(rt, e)) this.#push(e, rt);
      else late++;
    }
    this.#metrics.ingestQueueDepth.set(this.#size);
    if (this.#running) this.#schedule();
    return late === 0 ? ACCEPTED : { kind: 'accepted', late };
  }

  /**
   * The gateway side of a log (NATS mode): judges a batch on the append side, as `offer` does, but
   * queues nothing — the on-time events are written to the log and come back through `appendFromLog`.
   * Late ones go to the late side output now.
   */
  judge(events: readonly EnrichedEvent[]): Judged {
    const onTime: EnrichedEvent[] = [];
    let late = 0;
    for (const e of events) {
      const rt = this.#sites.get(e.site);
      if (rt === undefined) continue;
      if (this.#judge(rt, e)) onTime.push(e);
      else late++;
    }
    return { onTime, late };
  }

  /**
   * Queues the records of one log message read back from partition `partition` at stream sequence
   * `seq` (NATS mode), or returns false when they do not fit (the reader waits for `drained` and
   * tries again). They feed the append clock too, so the gateway judges against what the log holds.
   */
  appendFromLog(partition: number, seq: number, records: readonly LogRecord[]): boolean {
    if (this.#size + records.length > this.#capacity) return false;
    for (const r of records) {
      const rt = this.#sites.get(r.site);
      if (rt === undefined) continue; // a site removed from the config since it was written
      this.#requeue(rt, r);
    }
    this.#positions[partition] = seq;
    this.#metrics.ingestQueueDepth.set(this.#size);
    if (this.#running) this.#schedule();
    return true;
  }

  /** Read from a log: true when an event of `partition` with this id was processed from it (and is remembered). */
  seenInLog(site: string, id: string, partition: number): boolean {
    return this.#logDedupe?.[partition]?.has(site, id, Number.NEGATIVE_INFINITY) === true;
  }

  /** Per partition, the stream sequence of the last log message queued (0: none yet). */
  positions(): readonly number[] {
    return Array.from(this.#positions);
  }

  /** Records processed since boot. */
  get processedRecords(): number {
    return this.#processed;
  }

  /** Resolves once the queue has room for `n` more records (at once when it has). */
  room(n: number): Promise<void> {
    if (this.#size + n <= this.#capacity) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push({ n: Math.min(n, this.#capacity), resolve }));
  }

  /**
   * Tick records for a log (NATS mode), per site and partition: only for partitions the append clock
   * finds idle at `now` (a tick does nothing to a partition that has received events since).
   */
  logTicks(now: number): TickRecord[] {
    const out: TickRecord[] = [];
    for (const rt of this.#sites.values()) {
      const ts = rt.appendClock.tickTime(now);
      if (ts === undefined) continue;
      for (let p = 0; p < this.#config.partitions; p++) {
        // Only held partitions: their append clock follows their log (scaled out, others' do not).
        if (rt.parts[p] !== undefined && rt.appendClock.isIdle(p, now)) out.push({ type: 'tick', site: rt.site.id, ts: epochMillis(ts), at: epochMillis(now), partition: p });
      }
    }
    return out;
  }

  /** Scaled out: each site's tick time now (its newest event time plus the wall time since), for the other instances. */
  tickTimes(now: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, rt] of this.#sites) {
      const t = rt.appendClock.tickTime(now);
      if (t !== undefined) out[id] = t;
    }
    return out;
  }

  /** Scaled out: another instance's tick times (`tickTimes`), as read now: the partitions held here are ticked past them. */
  observePeerTickTimes(times: Readonly<Record<string, number>>, now: number): void {
    for (const [id, t] of Object.entries(times)) if (typeof t === 'number' && Number.isFinite(t)) this.#sites.get(id)?.appendClock.observePeer(t, now);
  }

  /** Records waiting in the queue. */
  get queueDepth(): number {
    return this.#size;
  }

  /** Starts draining the queue and the tick timer. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    if (!this.#fromLog) {
      this.#timer = setInterval(() => this.tick(), this.#config.time.tickMs);
      this.#timer.unref();
    }
    if (this.#size > 0) this.#schedule();
  }

  /** Resolves once the queue is empty (SIGTERM: nothing acknowledged is lost). */
  drain(): Promise<void> {
    if (this.#size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drainWaiters.push(resolve);
      this.#schedule();
    });
  }

  /** Stops the tick timer and further slices; queued records stay queued. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A site's event-time watermark (−Infinity before any); without a site, the lowest of all sites'. */
  watermark(site?: string): EpochMillis {
    if (site !== undefined) return epochMillis(this.#sites.get(site)?.watermark ?? Number.NEGATIVE_INFINITY);
    let min = Number.POSITIVE_INFINITY;
    for (const rt of this.#sites.values()) if (Number.isFinite(rt.watermark) && rt.watermark < min) min = rt.watermark;
    return epochMillis(min === Number.POSITIVE_INFINITY ? Number.NEGATIVE_INFINITY : min);
  }

  /** The watermark of one partition of a site (−Infinity before any, or when not held). */
  partitionWatermark(site: string, partition: number): EpochMillis {
    const rt = this.#sites.get(site);
    return epochMillis(rt?.parts[partition] === undefined ? Number.NEGATIVE_INFINITY : rt.parts[partition].watermark);
  }

  /** A site's view `name` (the query side of a processor kept per partition). */
  processor(site: string, name: string): SiteView | undefined {
    return this.#sites.get(site)?.views.get(name);
  }

  /** The processors of one partition of a site (inspection, partials for a merge). */
  partitionProcessors(site: string, partition: number): readonly Processor[] {
    return this.#sites.get(site)?.parts[partition]?.processors ?? [];
  }

  /** The partitions this process holds, ascending. */
  ownedPartitions(): number[] {
    const first = this.#sites.values().next().value as SiteRuntime | undefined;
    const out: number[] = [];
    if (first === undefined) return Array.from({ length: this.#config.partitions }, (_, p) => p);
    first.parts.forEach((part, p) => {
      if (part !== undefined) out.push(p);
    });
    return out;
  }

  /**
   * Takes partition `p` on (scale-out: its lease was acquired): a fresh sessionizer and processor set
   * per site, to be filled by `restorePartition` with the unit its previous holder committed.
   */
  addPartition(p: number): void {
    this.#checkPartition(p);
    for (const rt of this.#sites.values()) {
      if (rt.parts[p] !== undefined) continue;
      rt.parts[p] = this.#buildPartition(rt.site, p, this.#processorsFor);
      for (const v of rt.views.values()) v.partitionAdded?.(p);
    }
  }

  /**
   * Gives partition `p` up (scale-out: handed over or its lease lost), between slices: returns its
   * unit as it stands (the final snapshot of a hand-over; its queued records included), then forgets
   * it — processors, sessions, watermarks, log position, processed ids and queued records. The site
   * views answer for the partitions still held.
   */
  dropPartition(p: number): PartitionUnit | undefined {
    this.#checkPartition(p);
    const first = this.#sites.values().next().value as SiteRuntime | undefined;
    if (first?.parts[p] === undefined) return undefined;
    const unit = this.#snapshotPartition(p, this.#queuedByPartition()[p]);
    // The queue without p's records, in order.
    const kept: LogRecord[] = [];
    for (let i = 0; i < this.#size; i++) {
      const r = this.#queue[(this.#head + i) % this.#capacity]!;
      if (r.partition !== p) {
        kept.push(r); // a tick for every partition (embedded mode) still applies to the others
        continue;
      }
      if (r.type !== 'tick') this.#sites.get(r.site)!.queued--;
    }
    this.#queue.fill(undefined);
    this.#head = 0;
    this.#size = 0;
    for (const r of kept) this.#enqueue(r);
    const empty = { v: 2, maxTs: null, maxTsAt: null, lastAt: null, tickWm: null } as const;
    for (const rt of this.#sites.values()) {
      for (const proc of rt.parts[p]?.processors ?? []) proc.dispose?.();
      rt.parts[p] = undefined;
      rt.clock.restorePartition(p, empty);
      rt.appendClock.restorePartition(p, empty);
      for (const v of rt.views.values()) v.partitionRemoved?.(p);
    }
    this.#positions[p] = 0;
    this.#logDedupe?.[p]?.restore({ v: 2, sites: {} });
    this.#metrics.ingestQueueDepth.set(this.#size);
    return unit;
  }

  #checkPartition(p: number): void {
    if (!(Number.isInteger(p) && p >= 0 && p < this.#config.partitions)) throw new RangeError(`partition ${p} is not in [0, ${this.#config.partitions})`);
  }

  /** Registers a listener for events sent to the late side output. */
  onLate(fn: (e: LateEntry) => void): void {
    this.#lateListeners.push(fn);
  }

  /** The site's late side output, newest first (bounded). */
  lateEvents(site: string, limit?: number): readonly LateEntry[] {
    return this.#lateLog.list(site, limit) ?? [];
  }

  /** The site's most recently processed events, newest first (at most RECENT_EVENTS). */
  recentEvents(site: string, limit?: number): readonly EnrichedEvent[] {
    return this.#sites.get(site)?.recent.list(limit) ?? [];
  }

  /** The sessionizer of a site's partition (for inspection: open sessions, a visitor's sessions). */
  sessionizer(site: string, partition: number): Sessionizer | undefined {
    return this.#sites.get(site)?.parts[partition]?.sessionizer;
  }

  /**
   * Snapshot of the processing state: the site unit and every partition's. Synchronous, so it is
   * always taken between slices; with `withQueue` it also holds the queued records, so processing
   * state + queue = everything acknowledged.
   */
  snapshot(opts: { withQueue?: boolean } = {}): PipelineSnapshot {
    const queued = opts.withQueue === true ? this.#queuedByPartition() : undefined;
    const partitions: PartitionUnit[] = [];
    for (const p of this.ownedPartitions()) partitions.push(this.#snapshotPartition(p, queued?.[p]));
    return { v: 3, site: this.snapshotSite(), partitions };
  }

  /**
   * One partition's unit on its own (with `withQueue`, its queued records too). The log's snapshots
   * cut partition by partition — each unit is restored from its own position — so no single turn of
   * the event loop cuts and encodes every partition.
   */
  snapshotPartition(p: number, opts: { withQueue?: boolean } = {}): PartitionUnit {
    return this.#snapshotPartition(p, opts.withQueue === true ? this.#queuedOf(p) : undefined);
  }

  /** The site unit: each site's watermark and its views' state. */
  snapshotSite(): SiteUnit {
    const sites: Record<string, SiteUnit['sites'][string]> = {};
    for (const [id, rt] of this.#sites) {
      const views: Record<string, unknown> = {};
      for (const v of rt.views.values()) if (v.snapshot !== undefined) views[v.name] = v.snapshot();
      sites[id] = { watermark: Number.isFinite(rt.watermark) ? rt.watermark : null, views };
    }
    return { v: 3, sites };
  }

  #snapshotPartition(p: number, queued: LogRecord[] | undefined): PartitionUnit {
    const sites: Record<string, PartitionUnit['sites'][string]> = {};
    for (const [id, rt] of this.#sites) {
      const part = rt.parts[p];
      if (part === undefined) continue;
      const processors: Record<string, unknown> = {};
      for (const proc of part.processors) processors[proc.name] = proc.snapshot();
      sites[id] = { clock: rt.clock.snapshotPartition(p), sessions: part.sessionizer.snapshot(), processors };
    }
    const dedupe = this.#logDedupe?.[p];
    return {
      v: 3,
      partition: p,
      sites,
      ...(queued === undefined ? {} : { queued }),
      ...(dedupe === undefined ? {} : { position: this.#positions[p]!, logDedupe: dedupe.snapshot() }),
    };
  }

  /**
   * The queued records per partition, each in log order (events without their session context). A
   * tick record for every partition (the embedded mode's) is listed in each, as that partition's.
   */
  #queuedByPartition(): LogRecord[][] {
    const out: LogRecord[][] = Array.from({ length: this.#config.partitions }, () => []);
    for (let i = 0; i < this.#size; i++) {
      const r = this.#queue[(this.#head + i) % this.#capacity]!;
      if (r.partition !== undefined) out[r.partition]!.push(queuedAs(r, r.partition));
      else out.forEach((list, p) => list.push(queuedAs(r, p)));
    }
    return out;
  }

  /** `#queuedByPartition()[p]`, reading the queue once for one partition. */
  #queuedOf(p: number): LogRecord[] {
    const out: LogRecord[] = [];
    for (let i = 0; i < this.#size; i++) {
      const r = this.#queue[(this.#head + i) % this.#capacity]!;
      if (r.partition === undefined || r.partition === p) out.push(queuedAs(r, p));
    }
    return out;
  }

  /**
   * Restores a snapshot: the site unit, then every partition. Sites, partitions or processors missing
   * from it keep their state. Call on an empty, unstarted pipeline.
   */
  restore(snap: PipelineSnapshot): void {
    if (snap.v !== 3) throw new ClickstreamError('CM_ERR_SNAPSHOT', `pipeline snapshot version ${String(snap.v)}, expected 3`);
    const queued = snap.partitions.reduce((n, u) => n + (u.queued?.length ?? 0), 0);
    if (queued > this.#capacity - this.#size) throw new ClickstreamError('CM_ERR_SNAPSHOT', `the snapshot holds ${queued} queued records, more than ingest.queueCapacity`);
    this.restoreSite(snap.site);
    for (const u of snap.partitions) this.restorePartition(u);
  }

  /** Restores the site unit: watermarks shown and the views' state (rules, offer ledgers). */
  restoreSite(unit: SiteUnit): void {
    if (unit.v !== 3) throw new ClickstreamError('CM_ERR_SNAPSHOT', `site snapshot version ${String(unit.v)}, expected 3`);
    for (const [id, s] of Object.entries(unit.sites)) {
      const rt = this.#sites.get(id);
      if (rt === undefined) continue; // a site removed from the config since
      rt.clock.restoreSite(s.watermark);
      rt.appendClock.restoreSite(s.watermark);
      rt.watermark = rt.clock.current();
      for (const v of rt.views.values()) {
        const state = s.views[v.name];
        if (state !== undefined) v.restore?.(state);
      }
    }
  }

  /**
   * Restores one partition: its watermarks, sessions and processors in every site, its log position
   * and processed ids; its queued records go back into the queue in order, feeding the append clock
   * (they were all judged on time when first queued, against the same records before them).
   */
  restorePartition(unit: PartitionUnit): void {
    const p = unit.partition;
    if (unit.v !== 3 || !(p >= 0 && p < this.#config.partitions)) throw new ClickstreamError('CM_ERR_SNAPSHOT', `partition snapshot v${String(unit.v)} of partition ${p}; this process has ${this.#config.partitions} partitions`);
    if ((unit.queued?.length ?? 0) > this.#capacity - this.#size) throw new ClickstreamError('CM_ERR_SNAPSHOT', `partition ${p} holds ${unit.queued?.length} queued records, more than the queue has room for`);
    for (const [id, s] of Object.entries(unit.sites)) {
      const rt = this.#sites.get(id);
      if (rt === undefined) continue;
      const part = rt.parts[p];
      if (part === undefined) throw new ClickstreamError('CM_ERR_SNAPSHOT', `partition ${p} is not held here (addPartition first)`);
      rt.clock.restorePartition(p, s.clock);
      rt.appendClock.restorePartition(p, s.clock);
      part.watermark = rt.clock.partitionWatermark(p);
      part.sessionizer.restore(s.sessions);
      for (const proc of part.processors) {
        const state = s.processors[proc.name];
        if (state !== undefined) proc.restore(state);
      }
    }
    for (const r of unit.queued ?? []) {
      const rt = this.#sites.get(r.site);
      if (rt !== undefined) this.#requeue(rt, r);
    }
    if (unit.position !== undefined) this.#positions[p] = unit.position;
    if (unit.logDedupe !== undefined) this.#logDedupe?.[p]?.restore(unit.logDedupe);
    this.#metrics.ingestQueueDepth.set(this.#size);
  }

  /**
   * Judges and processes events synchronously, bypassing the queue (which must be empty), then advances
   * the watermarks (tests, benchmarks, the in-process replay). Returns how many were late.
   */
  processNow(events: readonly EnrichedEvent[]): number {
    let late = 0;
    for (const e of events) {
      const rt = this.#sites.get(e.site);
      if (rt === undefined) continue;
      if (this.#judge(rt, e)) this.#process(e, rt);
      else late++;
    }
    this.#countRevisions();
    this.#advance();
    return late;
  }

  /**
   * Appends a tick record per site (dated by the site's newest event time plus the wall time since).
   * Once started this runs every `time.tick`; an unstarted pipeline (tests, the in-process replay)
   * processes what is queued and the ticks at once.
   */
  tick(): void {
    const now = this.#clock.now();
    for (const rt of this.#sites.values()) {
      const ts = rt.appendClock.tickTime(now);
      if (ts === undefined || this.#size >= this.#capacity) continue; // full: the next tick comes soon
      this.#appendTick(rt, { type: 'tick', site: rt.site.id, ts: epochMillis(ts), at: now });
    }
    if (this.#running) this.#schedule();
    else this.#slice(Number.POSITIVE_INFINITY);
  }

  #buildSite(site: SiteConfig, deps: PipelineDeps, owned: ReadonlySet<number>): SiteRuntime {
    const t = this.#config.time;
    const partitions = this.#config.partitions;
    const clockOpts = { partitions, outOfOrdernessMs: t.outOfOrdernessMs, idleTimeoutMs: t.idleTimeoutMs };
    const parts: Array<PartitionRuntime | undefined> = [];
    for (let i = 0; i < partitions; i++) parts.push(owned.has(i) ? this.#buildPartition(site, i, deps.processorsFor) : undefined);
    const sets: PartitionSets = {
      of: <T extends Processor>(name: string) => {
        const out: T[] = [];
        for (const part of parts) if (part !== undefined) for (const p of part.processors) if (p.name === name) out.push(p as T);
        return out;
      },
      forVisitor: <T extends Processor>(name: string, visitorId: string) => parts[this.#partitioner.partitionOf(visitorId)]?.processors.find((p) => p.name === name) as T | undefined,
    };
    const views = new Map<string, SiteView>();
    for (const v of deps.viewsFor?.(site, sets) ?? []) views.set(v.name, v);
    return { site, parts, views, appendClock: new WatermarkTracker(clockOpts), clock: new WatermarkTracker(clockOpts), watermark: Number.NEGATIVE_INFINITY, queued: 0, recent: new RecentRing(RECENT_EVENTS), revisions: new Map() };
  }

  #buildPartition(site: SiteConfig, partition: number, processorsFor: PipelineDeps['processorsFor']): PartitionRuntime {
    const processors = Object.freeze(processorsFor(site, partition).slice());
    const t = this.#config.time;
    // TRICKY: `part` is read by the signal callback, which only runs once the runtime is built.
    let part: PartitionRuntime | undefined;
    const sessionizer = new Sessionizer({
      site: site.id,
      sessionGapMs: t.sessionGapMs,
      sessionMaxMs: t.sessionMaxMs,
      allowedLatenessMs: t.allowedLatenessMs,
      // The visitor bound is the site's: each partition holds its share (visitors hash evenly).
      maxVisitors: partitionShare(t.maxVisitors, this.#config.partitions),
      maxPagesPerSession: t.maxPagesPerSession,
      metrics: this.#metrics,
      onSignal: (signal: SessionSignal) => {
        const wm = epochMillis(part?.watermark ?? Number.NEGATIVE_INFINITY);
        for (const p of processors) {
          try {
            p.onSession(signal, wm);
          } catch (err) {
            this.#logError(err, p.name, 'onSession');
          }
        }
      },
    });
    part = { processors, sessionizer, watermark: Number.NEGATIVE_INFINITY };
    return part;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#slice(this.#sliceEvents));
  }

  /** True when `e` is on time (then fed to the append clock); a late event goes to the side output. */
  #judge(rt: SiteRuntime, e: EnrichedEvent): boolean {
    const wm = rt.appendClock.partitionWatermark(e.partition);
    if (e.ts < wm - this.#latenessMs) {
      this.#late(rt, e, wm, 'older_than_retention', null);
      return false;
    }
    rt.appendClock.observe(e.partition, e.ts, e.receivedAt);
    return true;
  }

  /** Queues an event of `rt`'s site (counted against its share). */
  #push(e: EnrichedEvent, rt: SiteRuntime): void {
    this.#enqueue(e);
    rt.queued++;
  }

  /** Feeds a tick record to the append clock and queues it. */
  #appendTick(rt: SiteRuntime, tick: TickRecord): void {
    rt.appendClock.tick(tick.ts, tick.at, tick.partition);
    this.#enqueue(tick);
  }

  /** Queues a record already judged (restored, or read back from the log), feeding the append clock. */
  #requeue(rt: SiteRuntime, r: LogRecord): void {
    if (r.type === 'tick') this.#appendTick(rt, r);
    else {
      rt.appendClock.observe(r.partition, r.ts, r.receivedAt);
      this.#push(r, rt);
    }
  }

  #enqueue(r: LogRecord): void {
    this.#queue[(this.#head + this.#size) % this.#capacity] = r;
    this.#size++;
  }

  #slice(max: number): void {
    this.#scheduled = false;
    const n = Math.min(this.#size, max);
    for (let i = 0; i < n; i++) {
      const r = this.#queue[this.#head]!;
      this.#queue[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#capacity;
      this.#size--;
      // Only records of configured sites are ever queued (offer, tick and restore check).
      const rt = this.#sites.get(r.site)!;
      if (r.type === 'tick') rt.clock.tick(r.ts, r.at, r.partition);
      else {
        rt.queued--;
        this.#process(r, rt);
      }
    }
    this.#processed += n;
    this.#countRevisions();
    this.#metrics.ingestQueueDepth.set(this.#size);
    this.#wakeRoomWaiters();
    this.#advance();
    if (this.#size > 0) {
      if (this.#running || this.#drainWaiters.length > 0) this.#schedule();
      return;
    }
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }

  #wakeRoomWaiters(): void {
    if (this.#roomWaiters.length === 0) return;
    const still: RoomWaiter[] = [];
    for (const w of this.#roomWaiters) {
      if (this.#size + w.n <= this.#capacity) w.resolve();
      else still.push(w);
    }
    this.#roomWaiters = still;
  }

  #process(e: EnrichedEvent, rt: SiteRuntime): void {
    // Judged against the watermark of the records before it (Flink: an element is late against the
    // watermark that precedes it), then fed to the processing clock.
    const wm = rt.clock.partitionWatermark(e.partition);
    const dedupe = this.#logDedupe?.[e.partition];
    if (dedupe !== undefined) {
      // Read from a log: the log decides, not the gateway that wrote it (it may not have seen records
      // the log holds before this one). On one gateway the two verdicts are the same.
      if (dedupe.has(rt.site.id, e.id, e.receivedAt)) {
        this.#metrics.eventsDuplicate.inc({ site: rt.site.id });
        return;
      }
      dedupe.remember(rt.site.id, e.id, e.receivedAt);
      if (e.ts < wm - this.#latenessMs) {
        this.#late(rt, e, wm, 'late_in_log', null);
        return;
      }
    }
    const part = rt.parts[e.partition];
    if (part === undefined) {
      // Only held partitions are read (the log) or offered (one process holds them all): a bug upstream.
      this.#logError(new Error(`event of partition ${e.partition}, not held here`), 'pipeline', 'process');
      return;
    }
    rt.clock.observe(e.partition, e.ts, e.receivedAt);
    try {
      part.sessionizer.assign(e);
    } catch (err) {
      this.#logError(err, 'sessionizer', 'assign');
      return;
    }
    rt.recent.push(e);
    this.#onEvent?.(e);
    // Indexed, not for-of: for-of over the processors allocated an iterator result per event and processor.
    const processors = part.processors;
    for (let i = 0; i < processors.length; i++) {
      const p = processors[i]!;
      let outcome;
      try {
        outcome = p.onEvent(e, wm);
      } catch (err) {
        this.#logError(err, p.name, 'onEvent');
        continue;
      }
      switch (outcome.kind) {
        case 'ok':
          break;
        case 'revision':
          rt.revisions.set(p.name, (rt.revisions.get(p.name) ?? 0) + 1);
          break;
        case 'late':
          // Only past a processor's pane capacity (on-time events always find their pane otherwise).
          this.#metrics.processorLate.inc({ site: rt.site.id, processor: p.name });
          if (this.#lateMarked !== e) {
            this.#lateMarked = e;
            this.#late(rt, e, wm, 'pane_evicted', p.name);
          }
          break;
        default: {
          const _exhaustive: never = outcome;
          return _exhaustive;
        }
      }
    }
  }

  #countRevisions(): void {
    for (const rt of this.#sites.values()) {
      if (rt.revisions.size === 0) continue;
      for (const [processor, n] of rt.revisions) this.#metrics.windowRevisions.inc({ site: rt.site.id, processor }, n);
      rt.revisions.clear();
    }
  }

  #late(rt: SiteRuntime, e: EnrichedEvent, wm: number, reason: LateReason, processor: string | null): void {
    this.#metrics.eventsLate.inc({ site: rt.site.id, reason });
    const entry: LateEntry = { id: e.id, type: e.type, page: e.page, ts: e.ts, receivedAt: e.receivedAt, partition: e.partition, watermark: epochMillis(wm), reason, processor };
    this.#lateLog.add(rt.site.id, entry);
    for (const fn of this.#lateListeners) fn(entry);
  }

  #advance(): void {
    const now = this.#clock.now(); // for the lag gauge only
    for (const rt of this.#sites.values()) {
      const wm = rt.clock.advance();
      for (let i = 0; i < rt.parts.length; i++) {
        const part = rt.parts[i];
        if (part === undefined) continue;
        const pwm = rt.clock.partitionWatermark(i);
        if (!(pwm > part.watermark)) {
          part.sessionizer.flushMetrics();
          continue;
        }
        part.watermark = pwm;
        try {
          part.sessionizer.advance(pwm);
        } catch (err) {
          this.#logError(err, 'sessionizer', 'advance');
        }
        for (const p of part.processors) {
          try {
            // Lateness is judged against the partition watermark, so panes expire behind it too.
            p.onWatermark(epochMillis(pwm), epochMillis(pwm));
          } catch (err) {
            this.#logError(err, p.name, 'onWatermark');
          }
        }
      }
      if (wm > rt.watermark) {
        rt.watermark = wm;
        for (const v of rt.views.values()) {
          try {
            v.onWatermark?.(wm);
          } catch (err) {
            this.#logError(err, v.name, 'onWatermark');
          }
        }
      }
      if (Number.isFinite(rt.watermark)) this.#metrics.watermarkLag.set({ site: rt.site.id }, Math.max(0, now - rt.watermark) / 1000);
    }
  }

  #logError(err: unknown, processor: string, where: string): void {
    // A faulty processor must not take the pipeline down, nor flood the log.
    if (this.#errorsLogged >= 100) return;
    this.#errorsLogged++;
    this.#logger.error({ err, processor, where }, 'processor failed on an event; skipped');
  }
}
