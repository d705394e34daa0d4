import type { Clock } from '../clock';
import type { Config, SiteConfig } from '../config';
import { ClickstreamError, requireBound } from '../errors';
import type { EnrichedEvent, SessionSignal } from '../events/enriched-event';
import type { Logger } from '../logger';
import type { CoreMetrics } from '../metrics/core-metrics';
import type { Processor } from '../../processors/processor';
import type { EpochMillis } from '../types';
import { Sessionizer, type SessionizerSnapshot } from './sessionizer';
import { WatermarkTracker } from './watermark-tracker';

/** Events processed per setImmediate slice before the event loop gets a turn. */
export const DEFAULT_SLICE_EVENTS = 2_000;

export interface PipelineDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly metrics: CoreMetrics;
  readonly logger: Logger;
  /** Builds the processors of one site (called once per configured site, at construction). */
  readonly processorsFor: (site: SiteConfig) => Processor[];
}

/** Whether the pipeline took a whole batch: the gateway acknowledges only `accepted`. */
export type OfferResult = { readonly kind: 'accepted' } | { readonly kind: 'overloaded' };

const ACCEPTED: OfferResult = Object.freeze({ kind: 'accepted' });
const OVERLOADED: OfferResult = Object.freeze({ kind: 'overloaded' });

/** An event a processor refused as later than its allowed lateness (the late side output). */
export interface LateEvent {
  readonly event: EnrichedEvent;
  /** Name of the processor that found it late. */
  readonly processor: string;
  /** The global watermark when it was processed, epoch ms. */
  readonly watermark: EpochMillis;
}

/**
 * The pipeline's processing state (JSON-serialisable): the watermark, each site's sessions and each
 * processor's snapshot. Queued events are not part of it: after a crash the stream is resumed from
 * the sequence the snapshot was taken at (JetStream), so they are delivered again.
 */
export interface PipelineSnapshot {
  readonly v: 1;
  readonly watermark: number | null;
  readonly sites: Record<string, { readonly sessions: SessionizerSnapshot; readonly processors: Record<string, unknown> }>;
}

interface SiteRuntime {
  readonly site: SiteConfig;
  readonly processors: readonly Processor[];
  readonly byName: ReadonlyMap<string, Processor>;
  readonly sessionizer: Sessionizer;
  /** Bounded late side output, oldest first. */
  readonly late: LateEvent[];
}

/**
 * The event-time engine of one process (DESIGN.md §1, §4): a bounded FIFO queue between the
 * gateway and the processors, the sessionizer, watermarks and window firing.
 *
 * - `offer` takes a whole batch or nothing (so an ack is honest) into a queue of
 *   `config.ingest.queueCapacity` events; `start` drains it in setImmediate slices, in arrival
 *   order (hence in order per partition), and ticks the watermark every `config.time.tickMs`.
 * - For each event: watermark bookkeeping, the sessionizer (sets `e.session`, emits signals to every
 *   processor's `onSession`), then each processor's `onEvent`; `late` outcomes go to the late side
 *   output (`lateEvents(site)`, `onLate` listeners, `clickstream_events_late_total`), `revision`
 *   outcomes are counted in `clickstream_window_revisions_total`.
 * - After each slice and on each tick: the global watermark is recomputed, sessions close, and every
 *   processor's `onWatermark` fires its windows.
 */
export class Pipeline {
  readonly #config: Config;
  readonly #clock: Clock;
  readonly #metrics: CoreMetrics;
  readonly #logger: Logger;
  readonly #sites = new Map<string, SiteRuntime>();
  readonly #watermarks: WatermarkTracker;
  readonly #lateCapacity: number;
  readonly #lateListeners: Array<(e: EnrichedEvent, processor: string) => void> = [];
  // Ring buffer of queued events.
  readonly #queue: Array<EnrichedEvent | undefined>;
  readonly #capacity: number;
  #head = 0;
  #size = 0;
  #watermark = Number.NEGATIVE_INFINITY;
  #running = false;
  #scheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #drainWaiters: Array<() => void> = [];
  #errorsLogged = 0;

  constructor(deps: PipelineDeps) {
    const { config } = deps;
    this.#config = config;
    this.#clock = deps.clock;
    this.#metrics = deps.metrics;
    this.#logger = deps.logger.child({ component: 'pipeline' });
    this.#capacity = requireBound('Pipeline ingest.queueCapacity', config.ingest.queueCapacity);
    this.#queue = new Array<EnrichedEvent | undefined>(this.#capacity);
    // The late side output is inspected like the quarantine, so it shares its per-site bound.
    this.#lateCapacity = requireBound('Pipeline late side output (ingest.quarantineCapacity)', config.ingest.quarantineCapacity);
    this.#watermarks = new WatermarkTracker({
      partitions: config.partitions,
      outOfOrdernessMs: config.time.outOfOrdernessMs,
      idleTimeoutMs: config.time.idleTimeoutMs,
    });
    for (const site of config.sites.values()) this.#sites.set(site.id, this.#buildSite(site, deps.processorsFor));
  }

  /** Enqueues a whole batch, or nothing when it does not fit (the gateway then answers 503 / retry). */
  offer(events: readonly EnrichedEvent[]): OfferResult {
    if (this.#size + events.length > this.#capacity) return OVERLOADED;
    for (const e of events) {
      this.#queue[(this.#head + this.#size) % this.#capacity] = e;
      this.#size++;
    }
    this.#metrics.ingestQueueDepth.set(this.#size);
    if (this.#running) this.#schedule();
    return ACCEPTED;
  }

  /** Events waiting in the queue. */
  get queueDepth(): number {
    return this.#size;
  }

  /** Starts draining the queue and the watermark ticker. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#timer = setInterval(() => this.tick(), this.#config.time.tickMs);
    this.#timer.unref();
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

  /** Stops the ticker and further slices; queued events stay queued. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The global event-time watermark (−Infinity before the first advance). */
  watermark(): EpochMillis {
    return this.#watermark as EpochMillis;
  }

  processor(site: string, name: string): Processor | undefined {
    return this.#sites.get(site)?.byName.get(name);
  }

  processors(site: string): readonly Processor[] {
    return this.#sites.get(site)?.processors ?? [];
  }

  /** Registers a listener for events sent to the late side output. */
  onLate(fn: (e: EnrichedEvent, processor: string) => void): void {
    this.#lateListeners.push(fn);
  }

  /** The site's late side output, oldest first (bounded). */
  lateEvents(site: string): readonly LateEvent[] {
    return this.#sites.get(site)?.late ?? [];
  }

  /** The site's sessionizer (for inspection: open sessions, a visitor's sessions). */
  sessionizer(site: string): Sessionizer | undefined {
    return this.#sites.get(site)?.sessionizer;
  }

  /** Snapshot of the processing state; take it between slices (e.g. after `drain`) so it is consistent. */
  snapshot(): PipelineSnapshot {
    const sites: Record<string, PipelineSnapshot['sites'][string]> = {};
    for (const [id, rt] of this.#sites) {
      const processors: Record<string, unknown> = {};
      for (const p of rt.processors) processors[p.name] = p.snapshot();
      sites[id] = { sessions: rt.sessionizer.snapshot(), processors };
    }
    return { v: 1, watermark: Number.isFinite(this.#watermark) ? this.#watermark : null, sites };
  }

  /** Restores a snapshot: watermark, sessions, processors (sites or processors missing from it keep their state). */
  restore(snap: PipelineSnapshot): void {
    if (snap.v !== 1) throw new ClickstreamError('CM_ERR_SNAPSHOT', `pipeline snapshot version ${String(snap.v)}, expected 1`);
    if (snap.watermark !== null) {
      this.#watermarks.restore(snap.watermark);
      if (snap.watermark > this.#watermark) this.#watermark = snap.watermark;
    }
    for (const [id, s] of Object.entries(snap.sites)) {
      const rt = this.#sites.get(id);
      if (rt === undefined) continue;
      rt.sessionizer.restore(s.sessions);
      for (const p of rt.processors) {
        const ps = s.processors[p.name];
        if (ps !== undefined) p.restore(ps);
      }
    }
  }

  /** Processes events synchronously, bypassing the queue, then advances the watermark (tests, benchmarks, replay). */
  processNow(events: readonly EnrichedEvent[]): void {
    const now = this.#clock.now();
    for (const e of events) this.#process(e, now);
    this.#advance(now);
  }

  /** Advances the watermark by the wall clock and fires windows (called by the timer every tickMs). */
  tick(): void {
    this.#advance(this.#clock.now());
  }

  #buildSite(site: SiteConfig, processorsFor: (site: SiteConfig) => Processor[]): SiteRuntime {
    const processors = Object.freeze(processorsFor(site).slice());
    const byName = new Map<string, Processor>();
    for (const p of processors) byName.set(p.name, p);
    const t = this.#config.time;
    const sessionizer = new Sessionizer({
      site: site.id,
      sessionGapMs: t.sessionGapMs,
      sessionMaxMs: t.sessionMaxMs,
      allowedLatenessMs: t.allowedLatenessMs,
      maxVisitors: t.maxVisitors,
      metrics: this.#metrics,
      onSignal: (signal: SessionSignal) => {
        const wm = this.#watermark as EpochMillis;
        for (const p of processors) {
          try {
            p.onSession(signal, wm);
          } catch (err) {
            this.#logError(err, p.name, 'onSession');
          }
        }
      },
    });
    return { site, processors, byName, sessionizer, late: [] };
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#slice());
  }

  #slice(): void {
    this.#scheduled = false;
    const now = this.#clock.now();
    const n = Math.min(this.#size, DEFAULT_SLICE_EVENTS);
    for (let i = 0; i < n; i++) {
      const e = this.#queue[this.#head]!;
      this.#queue[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#capacity;
      this.#size--;
      this.#process(e, now);
    }
    this.#metrics.ingestQueueDepth.set(this.#size);
    this.#advance(now);
    if (this.#size > 0) {
      if (this.#running || this.#drainWaiters.length > 0) this.#schedule();
      return;
    }
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }

  #process(e: EnrichedEvent, now: number): void {
    const rt = this.#sites.get(e.site);
    if (rt === undefined) {
      // The gateway rejects unknown sites; anything else reaching here is a bug upstream, not a crash.
      this.#logError(new Error(`event for unknown site ${e.site}`), 'pipeline', 'process');
      return;
    }
    this.#watermarks.observe(e.partition, e.ts, now);
    const wm = this.#watermark as EpochMillis;
    try {
      rt.sessionizer.assign(e);
    } catch (err) {
      this.#logError(err, 'sessionizer', 'assign');
      return;
    }
    for (const p of rt.processors) {
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
          this.#metrics.windowRevisions.inc({ site: rt.site.id, processor: p.name });
          break;
        case 'late':
          this.#late(rt, e, p.name, wm);
          break;
        default: {
          const _exhaustive: never = outcome;
          return _exhaustive;
        }
      }
    }
  }

  #late(rt: SiteRuntime, e: EnrichedEvent, processor: string, wm: EpochMillis): void {
    this.#metrics.eventsLate.inc({ site: rt.site.id, processor });
    if (rt.late.length >= this.#lateCapacity) {
      rt.late.shift();
      this.#metrics.evictions.inc({ component: 'pipeline', structure: 'late_events' });
    }
    rt.late.push({ event: e, processor, watermark: wm });
    for (const fn of this.#lateListeners) fn(e, processor);
  }

  #advance(now: number): void {
    const wm = this.#watermarks.advance(now);
    if (wm > this.#watermark) {
      this.#watermark = wm;
      for (const rt of this.#sites.values()) {
        try {
          rt.sessionizer.advance(wm);
        } catch (err) {
          this.#logError(err, 'sessionizer', 'advance');
        }
        for (const p of rt.processors) {
          try {
            p.onWatermark(wm);
          } catch (err) {
            this.#logError(err, p.name, 'onWatermark');
          }
        }
      }
    } else {
      for (const rt of this.#sites.values()) rt.sessionizer.flushMetrics();
    }
    if (Number.isFinite(this.#watermark)) this.#metrics.watermarkLag.set(Math.max(0, now - this.#watermark) / 1000);
  }

  #logError(err: unknown, processor: string, where: string): void {
    // A faulty processor must not take the pipeline down, nor flood the log.
    if (this.#errorsLogged >= 100) return;
    this.#errorsLogged++;
    this.#logger.error({ err, processor, where }, 'processor failed on an event; skipped');
  }
}
