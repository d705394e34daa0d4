/**
 * Turns a validated event into an EnrichedEvent: event time corrected for the device's clock skew
 * (Snowplow's derived timestamp, DESIGN.md §4), far-future and ancient times refused, bots flagged
 * (never dropped), the page key normalised with the site's URL rules and the visitor partition set.
 * Per-batch work (measured skew, user agent) is done once in `batchContext`, not per event.
 *
 * Skew is corrected per device, not per batch, so a device's relative times are kept: a measured
 * receivedAt − sentAt within `ingest.clockTolerance` is transit, not skew (offset 0, nothing stored);
 * a larger one becomes the visitor's offset and is reused for every later batch that agrees with it
 * within the tolerance. Two batches that travel at different speeds therefore get the same offset
 * and their events keep the device's order. Only skewed devices take an entry (bounded LRU, counted).
 */
import { deviceClass, type DeviceClass } from './device';
import { BoundedLru } from '../bounded-lru';
import type { Config, SiteConfig } from '../config';
import type { RejectReason } from '../errors';
import { VisitorPartitioner } from '../pipeline/visitor-partitioner';
import { epochMillis, type EpochMillis, type SessionId, type SiteId, type VisitorId } from '../types';
import type { EnrichedEvent, SessionContext } from './enriched-event';
import type { CollectEvent } from './event-types';
import { UrlNormaliser } from './url-normaliser';

/**
 * The session an event carries until the pipeline's sessionizer sets the real one. Shared and frozen:
 * no allocation per event, and a processor that ever saw it would see an obviously empty session.
 */
export const UNSESSIONIZED: SessionContext = Object.freeze({
  id: '' as SessionId,
  start: epochMillis(0),
  isNew: false,
  prevPage: undefined,
  nextPage: undefined,
  nextPageTs: NaN as EpochMillis,
  pageIndex: 0,
  returningVisitor: false,
});

/** User agents of crawlers, monitors and scripted clients. Flagged only: processors decide what to skip. */
// Headless browsers are deliberately not matched: the project's own end-to-end test drives one.
export const BOT_USER_AGENT = /bot\b|bot\/|crawl|spider|slurp|curl\/|wget\/|python-requests|httpclient|go-http-client|java\/|phantomjs|lighthouse|facebookexternalhit|preview/i;

/** What one batch shares: computed once per batch by `batchContext`. */
export interface BatchContext {
  /** Server receive time, epoch ms. */
  readonly receivedAt: EpochMillis;
  /** receivedAt − sentAt as measured for this batch (clock skew + transit), ms. */
  readonly measuredSkewMs: number;
  readonly bot: boolean;
  /** The device class of the batch's User-Agent. */
  readonly device: DeviceClass;
}

export type EnrichOutcome =
  | { readonly kind: 'enriched'; readonly event: EnrichedEvent }
  | { readonly kind: 'rejected'; readonly code: Extract<RejectReason, 'future_timestamp' | 'ancient_timestamp'>; readonly message: string };

export class EventEnricher {
  readonly #maxFutureSkewMs: number;
  readonly #maxEventAgeMs: number;
  readonly #partitioner: VisitorPartitioner;
  readonly #toleranceMs: number;
  /** One normaliser per configured site (a closed set, so bounded by the config). */
  readonly #normalisers = new Map<string, UrlNormaliser>();
  /** Per site: visitor → the clock offset of a skewed device, ms. */
  readonly #offsets = new Map<string, BoundedLru<string, number>>();
  readonly #maxOffsets: number;
  readonly #onEvict: ((structure: string, n: number) => void) | undefined;

  /** `onEvict` counts evictions: `url_memo` (the normaliser's memo of page keys), `clock_offsets`. */
  constructor(config: Config, onEvict?: (structure: string, n: number) => void) {
    this.#maxFutureSkewMs = config.ingest.maxFutureSkewMs;
    this.#maxEventAgeMs = config.ingest.maxEventAgeMs;
    this.#toleranceMs = config.ingest.clockToleranceMs;
    this.#maxOffsets = config.ingest.maxClockOffsets;
    this.#onEvict = onEvict;
    this.#partitioner = new VisitorPartitioner(config.partitions);
    const opts = onEvict === undefined ? {} : { onEvict: (n: number) => onEvict('url_memo', n) };
    for (const site of config.sites.values()) this.#normalisers.set(site.id, new UrlNormaliser(site.urlRules, opts));
  }

  batchContext(receivedAt: EpochMillis, sentAt: number, userAgent: string | undefined): BatchContext {
    const bot = userAgent !== undefined && BOT_USER_AGENT.test(userAgent);
    return { receivedAt, measuredSkewMs: receivedAt - sentAt, bot, device: deviceClass(userAgent, bot) };
  }

  /** The clock offset applied to this visitor's batch: 0 within the tolerance, else the device's sticky offset. */
  #offset(site: string, visitorId: string, measured: number): number {
    const tol = this.#toleranceMs;
    let m = this.#offsets.get(site);
    const known = m === undefined || m.size === 0 ? undefined : m.get(visitorId);
    if (known !== undefined) {
      if (Math.abs(measured - known) <= tol) return known;
      if (Math.abs(measured) <= tol) {
        m?.delete(visitorId); // the device's clock was set right
        return 0;
      }
    } else if (Math.abs(measured) <= tol) return 0;
    if (m === undefined) {
      m = new BoundedLru<string, number>({ max: this.#maxOffsets, dispose: (_v, _k, reason) => reason === 'evict' && this.#onEvict?.('clock_offsets', 1) });
      this.#offsets.set(site, m);
    }
    m.set(visitorId, measured);
    return measured;
  }

  enrich(event: CollectEvent, site: SiteConfig, batch: BatchContext): EnrichOutcome {
    const ts = event.ts + this.#offset(site.id, event.visitorId, batch.measuredSkewMs);
    if (ts > batch.receivedAt + this.#maxFutureSkewMs) {
      return {
        kind: 'rejected',
        code: 'future_timestamp',
        message: `/ts: ${ts - batch.receivedAt} ms in the future after skew correction (limit ${this.#maxFutureSkewMs} ms)`,
      };
    }
    if (ts < batch.receivedAt - this.#maxEventAgeMs) {
      return {
        kind: 'rejected',
        code: 'ancient_timestamp',
        message: `/ts: ${batch.receivedAt - ts} ms old after skew correction (limit ${this.#maxEventAgeMs} ms)`,
      };
    }
    // A site missing from the config the enricher was built with only happens in tests; not cached.
    const normaliser = this.#normalisers.get(site.id) ?? new UrlNormaliser(site.urlRules);
    return {
      kind: 'enriched',
      event: {
        site: site.id as SiteId,
        id: event.id,
        type: event.type,
        visitorId: event.visitorId as VisitorId,
        ts: epochMillis(ts),
        receivedAt: batch.receivedAt,
        seq: event.seq ?? 0,
        partition: this.#partitioner.partitionOf(event.visitorId),
        page: normaliser.normalise(event.url),
        bot: batch.bot,
        device: batch.device,
        event,
        session: UNSESSIONIZED,
      },
    };
  }
}
