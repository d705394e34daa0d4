import type { DeviceClass } from './device';
import type { CollectEvent } from './event-types';
import type { EpochMillis, EventType, SessionId, SiteId, VisitorId } from '../types';

/**
 * An event after validation and enrichment: what the pipeline and the processors see.
 * Built once per event at the boundary; processors only read it.
 */
export interface EnrichedEvent {
  readonly site: SiteId;
  readonly id: string;
  readonly type: EventType;
  readonly visitorId: VisitorId;
  /** Event time: device `ts` corrected by (receivedAt − sentAt), epoch ms. */
  readonly ts: EpochMillis;
  /** Server receive time, epoch ms (wall clock of the gateway). */
  readonly receivedAt: EpochMillis;
  /** The snippet's per-page-load sequence number (0 when absent): a visitor's equal times are ordered by it. */
  readonly seq: number;
  /** Visitor partition: hash(visitorId) mod the partition count. */
  readonly partition: number;
  /** Normalised page key of `url` (site's URL rules: query stripped, product/category patterns). */
  readonly page: string;
  /** True when the user agent or behaviour looks like a bot; flagged, never silently dropped. */
  readonly bot: boolean;
  /** The device class of the batch's User-Agent (absent in log messages written before it existed: `unknown`). */
  readonly device?: DeviceClass;
  /** The validated payload as sent. */
  readonly event: CollectEvent;
  /** Filled by the pipeline's sessionizer before any processor sees the event. */
  session: SessionContext;
}

/**
 * A tick record (DESIGN.md §4): written into the input by the append side every `time.tick` of wall
 * clock, so quiet partitions advance their watermarks through the log itself. `ts` is the event time
 * it carries (the site's newest event time plus the wall time since), `at` the wall clock it was
 * written at (partitions with nothing received since `at − idleTimeout` are idle).
 */
export interface TickRecord {
  readonly type: 'tick';
  readonly site: SiteId;
  readonly ts: EpochMillis;
  readonly at: EpochMillis;
  /**
   * The one partition it is for (the JetStream log has a subject per partition, each with its own
   * ticks); absent = every partition of the site (the embedded queue is one log for all of them).
   */
  readonly partition?: number;
}

/** What the pipeline's input (its queue now, the JetStream log later) holds, in order. */
export type LogRecord = EnrichedEvent | TickRecord;

/** Where an event landed in its visitor's session, as the sessionizer saw it on arrival. */
export interface SessionContext {
  /** The client's session id, or one derived by the server (gap-based). */
  readonly id: SessionId;
  /** The session's start (event time of its first event so far), epoch ms. */
  readonly start: EpochMillis;
  /** True when this event opened a new session. */
  readonly isNew: boolean;
  /** For page_view events: the page key of the page view before this one in the session (event-time order). */
  readonly prevPage: string | undefined;
  /** For page_view events arriving out of order: the page key of the page view after this one, else undefined. */
  readonly nextPage: string | undefined;
  /** Event time of `nextPage` (NaN without one): where the edge into it was counted, epoch ms. */
  readonly nextPageTs: EpochMillis;
  /** For page_view events: 0-based position among the session's page views (0 = entry page). */
  readonly pageIndex: number;
  /** True when this visitor had a session before this one (within the profile horizon). */
  readonly returningVisitor: boolean;
}

/** A session as a whole, reported when it starts, merges, closes or re-opens. */
export interface SessionSummary {
  readonly site: SiteId;
  readonly id: SessionId;
  readonly visitorId: VisitorId;
  /** First event time, epoch ms. */
  readonly start: EpochMillis;
  /** Last event time, epoch ms. */
  readonly end: EpochMillis;
  readonly events: number;
  readonly pageViews: number;
  /** Page keys of the session's most recent page views (at most the configured maximum), in event-time order. */
  readonly pages: readonly string[];
  /** Distinct product ids viewed (page_view.product), bounded. */
  readonly viewed: readonly string[];
  /** Event time of the first and of the last view of each `viewed` product (parallel to it), epoch ms. */
  readonly viewedFirst: readonly number[];
  readonly viewedLast: readonly number[];
  /** Distinct product ids added to cart (click kind=button with productId), bounded. */
  readonly carted: readonly string[];
  /** Distinct product ids bought (form submit with items), bounded. */
  readonly bought: readonly string[];
  /** Distinct form ids the session interacted with (any form action), bounded. */
  readonly forms: readonly string[];
  /** The landing page view (earliest by time, then seq): its URL and referrer; undefined without page views. */
  readonly landing: { readonly url: string; readonly referrer: string | undefined } | undefined;
  /** The device class of the session's earliest event. */
  readonly device: DeviceClass;
  /** Category of each product id seen in this session. */
  readonly categories: Readonly<Record<string, string>>;
  /** Revenue of purchases in the session (sum of price × quantity). */
  readonly revenue: number;
  readonly returningVisitor: boolean;
}

/**
 * Session lifecycle signals from the sessionizer (DESIGN.md §4 session windows: gap, merge on bridge,
 * maximum length). `closed` comes when the watermark passes end + gap; a late event within the allowed
 * lateness re-opens a closed session (`reopened`: retract what `closed` counted; a new `closed` follows).
 */
export type SessionSignal =
  | { readonly kind: 'started'; readonly session: SessionSummary }
  | { readonly kind: 'merged'; readonly absorbed: SessionSummary; readonly into: SessionSummary }
  | { readonly kind: 'closed'; readonly session: SessionSummary }
  | { readonly kind: 'reopened'; readonly session: SessionSummary }
  /**
   * A started session's start or returning flag changed because an earlier event arrived later: an
   * event before its start, or the visitor's first session arriving after a later one (which is then
   * returning). Retract what `started` counted with `previousStart`/`previousReturning`, count `session`.
   */
  | { readonly kind: 'revised'; readonly session: SessionSummary; readonly previousStart: EpochMillis; readonly previousReturning: boolean };
