import type { DeviceClass } from '../events/device';
import { BoundedLru } from '../bounded-lru';
import { ClickstreamError, requireBound } from '../errors';
import type { EnrichedEvent, SessionContext, SessionSignal, SessionSummary } from '../events/enriched-event';
import type { CoreMetrics } from '../metrics/core-metrics';
import { DEFAULT_MAX_SESSION_PAGES } from '../config';
import { epochMillis, smallInt, type SessionId, type SiteId, type VisitorId } from '../types';

/** Distinct product ids kept per session and list (viewed, carted, bought), count. */
export const DEFAULT_MAX_SESSION_ITEMS = 100;
/** Sessions kept per visitor (open + recently closed), count. */
export const DEFAULT_MAX_SESSIONS_PER_VISITOR = 16;

export interface SessionizerOptions {
  readonly site: SiteId;
  /** Inactivity gap that ends a server-derived session, ms. */
  readonly sessionGapMs: number;
  /** Longest span of a server-derived session; an event beyond it starts a new session, ms. */
  readonly sessionMaxMs: number;
  /** How long after closing a session a late event may still re-open it, ms. */
  readonly allowedLatenessMs: number;
  /** Visitors whose session state is kept (LRU), count. */
  readonly maxVisitors: number;
  /** Page views kept per session, count. */
  readonly maxPagesPerSession?: number;
  /** Distinct product ids kept per session list, count. */
  readonly maxItemsPerSession?: number;
  /** Sessions kept per visitor, count. */
  readonly maxSessionsPerVisitor?: number;
  readonly metrics: Pick<CoreMetrics, 'evictions' | 'activeSessions'>;
  /** Receives every lifecycle signal, synchronously, in order. */
  readonly onSignal: (signal: SessionSignal) => void;
}

type Phase = 'open' | 'closed';

/** One session in a sessionizer snapshot (JSON). */
/**
 * One session in a snapshot, compact: times as integer offsets from the session start, and every
 * field that holds its default left out (most sessions never view, cart or buy a product, and most
 * page views have sequence number 0) — about half the JSON, so a restart parses half as much.
 */
export interface SessionJSON {
  readonly id: string;
  /** Client session id; absent for a server session. */
  readonly ck?: string;
  readonly st: number;
  /** End − start, ms. */
  readonly en: number;
  readonly ev: number;
  readonly pv: number;
  /** Page view times − start, ms. */
  readonly pt: number[];
  /** Sequence numbers of the kept page views (absent: all 0). */
  readonly ps?: number[];
  readonly pk: string[];
  /** Viewed products with their first and last view times − start (absent: none). */
  readonly vw?: string[];
  readonly vf?: number[];
  readonly vl?: number[];
  readonly ca?: string[];
  readonly bo?: string[];
  /** Form ids interacted with (absent: none). */
  readonly fm?: string[];
  /** Landing page view: [time − start, seq, url, referrer or null] (absent: none). */
  readonly ld?: [number, number, string, string | null];
  /** Device of the earliest event: [time − start, seq, class] (absent: unknown). */
  readonly dv?: [number, number, DeviceClass];
  readonly cat?: Array<[string, string]>;
  /** Revenue (absent: 0). */
  readonly rev?: number;
  /** Returning visitor (absent: false). */
  readonly ret?: true;
  readonly ph: Phase;
}

/** The sessionizer's whole state (JSON-serialisable), visitors oldest (least recently used) first. */
export interface SessionizerSnapshot {
  /** 2: compact sessions (offsets from the start, defaults left out). */
  readonly v: 2;
  readonly watermark: number | null;
  readonly visitors: Array<[string, number | null, SessionJSON[]]>;
}

/** An offset field's "no time" (the landing and device times before the first page view / event). */
const NO_TIME = -1;

/**
 * One session. TRICKY: only `start` is stored as an epoch-ms double; `end`, `landTs`, `devTs` and
 * `due` are integer offsets from it (Smis, no boxed heap number each: ~80 B a session), behind
 * accessors; moving `start` moves the offsets so the absolute times stay.
 */
class SessionState {
  id: SessionId;
  /** The client's session id, or undefined for a gap-based server session. */
  readonly clientKey: string | undefined;
  #start: number;
  #end = 0;
  #land = NO_TIME;
  #dev = NO_TIME;
  #due = 0;
  events = 0;
  pageViews = 0;
  /**
   * The most recent page views (at most #maxPages), sorted by (time, seq), as triples [time₀, seq₀,
   * key₀, time₁, …] with the times as offsets from `start` (one array, not a time and a key list).
   */
  pages: Array<number | string> = [];
  // Allocated on first use: most sessions never view, cart or buy a product.
  /**
   * Viewed products in first-view order with their first and last view times as offsets from `start`:
   * [id₀, first₀, last₀, id₁, …] (one array, not a list and a time list: ~56 B a session).
   */
  views: Array<string | number> | undefined;
  carted: string[] | undefined;
  bought: string[] | undefined;
  /** Distinct form ids the session interacted with (any form action). */
  forms: string[] | undefined;
  /** The landing page view: the earliest by (time, seq), whatever the arrival order (its URL and referrer give the channel); its time is `landTs`. */
  landSeq = 0;
  landUrl: string | undefined;
  landReferrer: string | undefined;
  /** The device of the session's earliest event by (time, seq); its time is `devTs`. */
  devSeq = 0;
  device: DeviceClass = 'unknown';
  /** Category of each product seen, as flat [productId, category, …] pairs (a Map per session cost ~200 B). */
  categories: string[] | undefined;
  revenue = 0;
  returning: boolean;
  phase: Phase = 'open';
  /** The timing-wheel bucket holding this session, or undefined when unscheduled. */
  bucket: WheelBucket | undefined;
  readonly visitor: VisitorState;

  constructor(visitor: VisitorState, id: SessionId, clientKey: string | undefined, ts: number, returning: boolean) {
    this.visitor = visitor;
    this.id = id;
    this.clientKey = clientKey;
    this.#start = ts;
    this.returning = returning;
  }

  /** Page views kept. */
  get pageCount(): number {
    return this.pages.length / 3;
  }

  /** Key of kept page view `i`. */
  pageKey(i: number): string | undefined {
    return this.pages[3 * i + 2] as string | undefined;
  }

  /** First event time, epoch ms. */
  get start(): number {
    return this.#start;
  }

  set start(ts: number) {
    const d = this.#start - ts;
    this.#start = ts;
    this.#end = smallInt(this.#end + d);
    this.#due = smallInt(this.#due + d);
    if (this.#land !== NO_TIME) this.#land = smallInt(this.#land + d);
    if (this.#dev !== NO_TIME) this.#dev = smallInt(this.#dev + d);
    const p = this.pages;
    for (let i = 0; i < p.length; i += 3) p[i] = smallInt((p[i] as number) + d);
    const v = this.views;
    if (v !== undefined) for (let i = 1; i < v.length; i += 3) {
      v[i] = smallInt((v[i] as number) + d);
      v[i + 1] = smallInt((v[i + 1] as number) + d);
    }
  }

  /** Last event time, epoch ms. */
  get end(): number {
    return this.#start + this.#end;
  }

  set end(ts: number) {
    this.#end = smallInt(ts - this.#start);
  }

  /** Time of the landing page view (+∞ before any page view). */
  get landTs(): number {
    return this.#land === NO_TIME ? Number.POSITIVE_INFINITY : this.#start + this.#land;
  }

  set landTs(ts: number) {
    this.#land = smallInt(ts - this.#start);
  }

  /** Time of the earliest event whose device is kept (+∞ before any). */
  get devTs(): number {
    return this.#dev === NO_TIME ? Number.POSITIVE_INFINITY : this.#start + this.#dev;
  }

  set devTs(ts: number) {
    this.#dev = smallInt(ts - this.#start);
  }

  /** Takes (ts, seq) as the landing page view when it is earlier than the one kept. */
  offerLanding(ts: number, seq: number, url: string, referrer: string | undefined): void {
    if (!before(ts, seq, this.landTs, this.landSeq)) return;
    this.landTs = ts;
    this.landSeq = seq;
    this.landUrl = url;
    this.landReferrer = referrer;
  }

  /** Takes `device` as the session's when (ts, seq) is earlier than the event it was kept from. */
  offerDevice(ts: number, seq: number, device: DeviceClass): void {
    if (!before(ts, seq, this.devTs, this.devSeq)) return;
    this.devTs = ts;
    this.devSeq = seq;
    this.device = device;
  }

  /** Event time at which the next lifecycle step is due (close, then purge). */
  get due(): number {
    return this.#start + this.#due;
  }

  set due(ts: number) {
    this.#due = smallInt(ts - this.#start);
  }
}

/** The sessions due in one slice of event time, and its index in the wheel. */
class WheelBucket extends Set<SessionState> {
  constructor(readonly idx: number) {
    super();
  }
}

class VisitorState {
  readonly id: VisitorId;
  sessions: SessionState[] = [];
  /** Start of the visitor's earliest known session (for returning-visitor detection). */
  firstStart = Number.POSITIVE_INFINITY;
  constructor(id: VisitorId) {
    this.id = id;
  }
}

/**
 * Session windows per visitor (DESIGN.md §4), for one site.
 *
 * - A client `sessionId` is trusted: all events carrying it form one session.
 * - Otherwise sessions are gap-based: an event joins a session when it lies within `sessionGapMs` of
 *   the session's span (strictly: a gap of exactly the configured length splits), unless the session
 *   would then span more than `sessionMaxMs`.
 * - An event (usually late) that lies within the gap of two sessions bridges them: the later one is
 *   absorbed (`merged`, so processors retract its `started`).
 * - A session closes when the watermark reaches end + gap (`closed`); it is kept for the allowed
 *   lateness after that, and a late event landing in it re-opens it (`reopened`; a new `closed` follows).
 * - Page order (prevPage/nextPage/pageIndex) is event-time order even when events arrive out of order.
 *
 * State is bounded: visitors in an LRU (`maxVisitors`, evictions counted; an evicted visitor's open
 * sessions are closed first), pages/items per session and sessions per visitor capped.
 */
export class Sessionizer {
  readonly site: SiteId;
  readonly #gap: number;
  readonly #max: number;
  readonly #lateness: number;
  readonly #maxPages: number;
  readonly #maxItems: number;
  readonly #maxSessions: number;
  readonly #metrics: SessionizerOptions['metrics'];
  readonly #onSignal: (signal: SessionSignal) => void;
  readonly #visitors: BoundedLru<string, VisitorState>;
  /** Timing wheel: bucket index (due / bucketMs) → sessions due in it. */
  readonly #wheel = new Map<number, WheelBucket>();
  readonly #bucketMs: number;
  /** The bucket of the last watermark: rescanned on each advance (it may be only partly passed). */
  #scanFrom = Number.NEGATIVE_INFINITY;
  #open = 0;
  // Metric updates are batched and flushed on advance (labelled inc/dec per event is measurable).
  #openReported = 0;
  #evictedVisitors = 0;
  #evictedSessions = 0;
  #watermark = Number.NEGATIVE_INFINITY;

  constructor(opts: SessionizerOptions) {
    this.site = opts.site;
    this.#gap = requireBound('Sessionizer sessionGapMs', opts.sessionGapMs);
    this.#max = requireBound('Sessionizer sessionMaxMs', opts.sessionMaxMs);
    if (!(opts.allowedLatenessMs >= 0)) throw new RangeError('allowedLatenessMs must be >= 0');
    this.#lateness = opts.allowedLatenessMs;
    this.#maxPages = requireBound('Sessionizer maxPagesPerSession', opts.maxPagesPerSession ?? DEFAULT_MAX_SESSION_PAGES);
    this.#maxItems = requireBound('Sessionizer maxItemsPerSession', opts.maxItemsPerSession ?? DEFAULT_MAX_SESSION_ITEMS);
    this.#maxSessions = requireBound('Sessionizer maxSessionsPerVisitor', opts.maxSessionsPerVisitor ?? DEFAULT_MAX_SESSIONS_PER_VISITOR);
    this.#metrics = opts.metrics;
    this.#onSignal = opts.onSignal;
    this.#bucketMs = Math.max(1_000, Math.floor(this.#gap / 30));
    this.#visitors = new BoundedLru<string, VisitorState>({
      max: requireBound('Sessionizer maxVisitors', opts.maxVisitors),
      dispose: (v, _k, reason) => {
        if (reason === 'evict') this.#evictVisitor(v);
      },
    });
  }

  /** Open sessions (not yet closed by the watermark). */
  get activeSessions(): number {
    return this.#open;
  }

  /** Visitors held. */
  get visitors(): number {
    return this.#visitors.size;
  }

  /** Assigns `e` to its session, sets `e.session`, and emits started/merged/reopened signals first. */
  assign(e: EnrichedEvent): SessionContext {
    const ts = e.ts as number;
    let v = this.#visitors.get(e.visitorId);
    if (v === undefined) {
      v = new VisitorState(e.visitorId);
      this.#visitors.set(e.visitorId, v);
    }
    const clientKey = e.event.sessionId;
    let s = clientKey !== undefined ? this.#findClient(v, clientKey) : this.#findByGap(v, ts);
    let isNew = false;
    if (s === undefined) {
      s = this.#newSession(v, clientKey, ts);
      isNew = true;
    } else if (s.phase === 'closed') {
      this.#reopen(s);
    }
    const ctx = this.#add(s, e, ts, isNew);
    e.session = ctx;
    if (isNew) this.#onSignal({ kind: 'started', session: this.#summary(s) });
    return ctx;
  }

  /** Closes sessions whose end + gap the watermark reached, and forgets closed ones past the lateness. */
  advance(watermark: number): void {
    this.#advance(watermark);
    this.flushMetrics();
  }

  /** Pushes batched metric updates (active sessions, evictions) to the registry. */
  flushMetrics(): void {
    if (this.#open !== this.#openReported) {
      this.#metrics.activeSessions.inc(this.#open - this.#openReported);
      this.#openReported = this.#open;
    }
    if (this.#evictedVisitors > 0) {
      this.#metrics.evictions.inc({ component: 'sessionizer', structure: 'visitors' }, this.#evictedVisitors);
      this.#evictedVisitors = 0;
    }
    if (this.#evictedSessions > 0) {
      this.#metrics.evictions.inc({ component: 'sessionizer', structure: 'visitor_sessions' }, this.#evictedSessions);
      this.#evictedSessions = 0;
    }
  }

  #advance(watermark: number): void {
    if (!(watermark > this.#watermark)) return;
    this.#watermark = watermark;
    const last = Math.floor(watermark / this.#bucketMs);
    if (this.#wheel.size === 0) {
      this.#scanFrom = last;
      return;
    }
    // TRICKY: closing reschedules a session for its purge (end + gap + lateness); when a big step
    // passes both, the second pass handles it.
    for (let pass = 0; pass < 2; pass++) {
      let indices: number[];
      if (!Number.isFinite(this.#scanFrom) || last - this.#scanFrom > this.#wheel.size) {
        indices = [...this.#wheel.keys()].filter((k) => k <= last).sort((a, b) => a - b);
      } else {
        indices = [];
        for (let i = this.#scanFrom; i <= last; i++) if (this.#wheel.has(i)) indices.push(i);
      }
      let again = false;
      for (const idx of indices) {
        const bucket = this.#wheel.get(idx);
        if (bucket === undefined) continue;
        for (const s of bucket) {
          if (s.due > watermark) continue;
          if (s.phase === 'open') {
            this.#close(s);
            if (s.due <= watermark) again = true;
          } else this.#purge(s);
        }
      }
      if (!again) break;
    }
    this.#scanFrom = last;
  }

  /** The whole state, for a snapshot (restored with `restore`, on this or another instance). */
  snapshot(): SessionizerSnapshot {
    const visitors: SessionizerSnapshot['visitors'] = [];
    for (const id of this.#visitors.rkeys()) {
      const v = this.#visitors.peek(id);
      if (v === undefined) continue;
      visitors.push([
        id,
        Number.isFinite(v.firstStart) ? v.firstStart : null,
        v.sessions.map((x) => sessionJSON(x)),
      ]);
    }
    return { v: 2, watermark: Number.isFinite(this.#watermark) ? this.#watermark : null, visitors };
  }

  /** Replaces the state with a snapshot's (no signals are emitted: processors restore their own state). */
  restore(snap: SessionizerSnapshot): void {
    if (snap.v !== 2) throw new ClickstreamError('CM_ERR_SNAPSHOT', `sessionizer snapshot version ${String(snap.v)}, expected 2`);
    this.#visitors.clear(); // reason 'delete': no eviction side effects
    this.#wheel.clear();
    this.#open = 0;
    this.#watermark = snap.watermark ?? Number.NEGATIVE_INFINITY;
    this.#scanFrom = Number.isFinite(this.#watermark) ? Math.floor(this.#watermark / this.#bucketMs) : Number.NEGATIVE_INFINITY;
    for (const [id, firstStart, sessions] of snap.visitors) {
      const v = new VisitorState(id as VisitorId);
      v.firstStart = firstStart ?? Number.POSITIVE_INFINITY;
      for (const j of sessions) {
        // The parsed lists are this sessionizer's to keep, never copied; page and view triples are built afresh.
        const st = j.st;
        const x = new SessionState(v, j.id as SessionId, j.ck, st, j.ret === true);
        x.end = st + j.en;
        x.events = j.ev;
        x.pageViews = j.pv;
        const pages = new Array<number | string>(3 * j.pk.length);
        for (let i = 0; i < j.pk.length; i++) {
          pages[3 * i] = smallInt(j.pt[i] ?? 0);
          pages[3 * i + 1] = j.ps?.[i] ?? 0;
          pages[3 * i + 2] = j.pk[i]!;
        }
        x.pages = pages;
        if (j.vw !== undefined && j.vw.length > 0) {
          const views = new Array<string | number>(3 * j.vw.length);
          for (let i = 0; i < j.vw.length; i++) {
            views[3 * i] = j.vw[i]!;
            views[3 * i + 1] = smallInt(j.vf?.[i] ?? 0);
            views[3 * i + 2] = smallInt(j.vl?.[i] ?? 0);
          }
          x.views = views;
        }
        if (j.ca !== undefined) x.carted = j.ca;
        if (j.bo !== undefined) x.bought = j.bo;
        if (j.fm !== undefined) x.forms = j.fm;
        if (j.ld !== undefined) {
          x.landTs = st + j.ld[0];
          x.landSeq = j.ld[1];
          x.landUrl = j.ld[2];
          x.landReferrer = j.ld[3] ?? undefined;
        }
        if (j.dv !== undefined) {
          x.devTs = st + j.dv[0];
          x.devSeq = j.dv[1];
          x.device = j.dv[2];
        }
        if (j.cat !== undefined) x.categories = j.cat.flat();
        x.revenue = j.rev ?? 0;
        x.phase = j.ph;
        v.sessions.push(x);
        if (x.phase === 'open') {
          this.#open++;
          this.#schedule(x, x.end + this.#gap);
        } else this.#schedule(x, x.end + this.#gap + this.#lateness);
      }
      this.#visitors.set(id, v);
    }
    this.flushMetrics();
  }

  /** The sessions currently held for a visitor (open and recently closed), as summaries. */
  sessionsOf(visitorId: string): SessionSummary[] {
    const v = this.#visitors.peek(visitorId);
    return v === undefined ? [] : v.sessions.map((s) => this.#summary(s));
  }

  // ── assignment ────────────────────────────────────────────────────────────────────────────────

  #findClient(v: VisitorState, key: string): SessionState | undefined {
    const list = v.sessions;
    for (let i = 0; i < list.length; i++) if (list[i]!.clientKey === key) return list[i];
    return undefined;
  }

  #findByGap(v: VisitorState, ts: number): SessionState | undefined {
    let first: SessionState | undefined;
    let second: SessionState | undefined;
    // Indexed, not for-of: this runs per event, and for-of allocated an iterator result per session here.
    const list = v.sessions;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (s.clientKey !== undefined) continue;
      if (ts > s.start - this.#gap && ts < s.end + this.#gap) {
        if (first === undefined) first = s;
        else if (second === undefined) second = s;
        else {
          // Three or more within reach: only possible around max-length splits; keep the nearest two.
          if (distance(s, ts) < distance(first, ts)) first = s;
          else if (distance(s, ts) < distance(second, ts)) second = s;
        }
      }
    }
    if (first === undefined) return undefined;
    if (second === undefined) return this.#fits(first, ts) ? first : undefined;
    const a = first.start <= second.start ? first : second;
    const b = a === first ? second : first;
    const span = Math.max(a.end, b.end, ts) - Math.min(a.start, ts);
    if (span <= this.#max) {
      this.#merge(a, b);
      return a;
    }
    // Merging would exceed the maximum length: join the nearer session that still fits.
    const [near, far] = distance(a, ts) <= distance(b, ts) ? [a, b] : [b, a];
    if (this.#fits(near, ts)) return near;
    return this.#fits(far, ts) ? far : undefined;
  }

  #fits(s: SessionState, ts: number): boolean {
    return Math.max(s.end, ts) - Math.min(s.start, ts) <= this.#max;
  }

  #newSession(v: VisitorState, clientKey: string | undefined, ts: number): SessionState {
    if (v.sessions.length >= this.#maxSessions) {
      // Drop the session that ended first (closing it if still open): bounded per-visitor state.
      let oldest = v.sessions[0]!;
      for (const s of v.sessions) if (s.end < oldest.end) oldest = s;
      if (oldest.phase === 'open') this.#close(oldest);
      this.#purge(oldest);
      this.#evictedSessions++;
    }
    const returning = v.firstStart < ts;
    if (ts < v.firstStart) {
      v.firstStart = ts;
      // The visitor's first session arrived after later ones: those are returning after all.
      for (const o of v.sessions) {
        if (o.returning || o.start <= ts) continue;
        o.returning = true;
        this.#onSignal({ kind: 'revised', session: this.#summary(o), previousStart: epochMillis(o.start), previousReturning: false });
      }
    }
    const id = (clientKey ?? `${v.id}/${ts.toString(36)}`) as SessionId;
    const s = new SessionState(v, id, clientKey, ts, returning);
    // One-slot array for a visitor's first session (a push onto `[]` reserves 17 slots).
    if (v.sessions.length === 0) v.sessions = [s];
    else v.sessions.push(s);
    this.#open++;
    this.#schedule(s, ts + this.#gap);
    return s;
  }

  #reopen(s: SessionState): void {
    this.#onSignal({ kind: 'reopened', session: this.#summary(s) });
    s.phase = 'open';
    this.#open++;
    this.#schedule(s, s.end + this.#gap);
  }

  /** Folds `b` into `a` (a starts first); emits `merged` so processors retract b's start. */
  #merge(a: SessionState, b: SessionState): void {
    if (a.phase === 'closed') this.#reopen(a);
    if (b.phase === 'closed') this.#reopen(b);
    const absorbed = this.#summary(b);
    a.start = Math.min(a.start, b.start);
    a.end = Math.max(a.end, b.end);
    a.events += b.events;
    a.pageViews += b.pageViews;
    const bp = b.pages;
    for (let i = 0; i < bp.length; i += 3) this.#insertPage(a, b.start + (bp[i] as number), bp[i + 1] as number, bp[i + 2] as string);
    const bv = b.views ?? EMPTY;
    for (let i = 0; i < bv.length; i += 3) {
      this.#view(a, bv[i] as string, b.start + (bv[i + 1] as number));
      this.#view(a, bv[i] as string, b.start + (bv[i + 2] as number));
    }
    for (const p of b.carted ?? EMPTY) a.carted = this.#addItem(a.carted, p);
    for (const p of b.bought ?? EMPTY) a.bought = this.#addItem(a.bought, p);
    for (const f of b.forms ?? EMPTY) a.forms = this.#addItem(a.forms, f);
    if (b.landUrl !== undefined) a.offerLanding(b.landTs, b.landSeq, b.landUrl, b.landReferrer);
    a.offerDevice(b.devTs, b.devSeq, b.device);
    const bc = b.categories;
    if (bc !== undefined) for (let i = 0; i < bc.length; i += 2) if (categoryIndex(a.categories, bc[i]!) < 0) this.#addCategory(a, bc[i]!, bc[i + 1]!);
    a.revenue += b.revenue;
    this.#unschedule(b);
    const v = b.visitor;
    v.sessions.splice(v.sessions.indexOf(b), 1);
    this.#open--;
    this.#schedule(a, a.end + this.#gap);
    this.#onSignal({ kind: 'merged', absorbed, into: this.#summary(a) });
  }

  #add(s: SessionState, e: EnrichedEvent, ts: number, isNew: boolean): SessionContext {
    if (ts < s.start) {
      const previousStart = s.start;
      s.start = ts;
      if (!isNew) this.#onSignal({ kind: 'revised', session: this.#summary(s), previousStart: epochMillis(previousStart), previousReturning: s.returning });
      if (ts < s.visitor.firstStart) s.visitor.firstStart = ts;
    }
    if (ts > s.end) {
      s.end = ts;
      this.#schedule(s, ts + this.#gap);
    }
    s.events++;
    s.offerDevice(ts, e.seq, e.device ?? 'unknown');
    let pageIndex: number;
    let prevPage: string | undefined;
    let nextPage: string | undefined;
    let nextPageTs = Number.NaN;
    const ev = e.event;
    switch (ev.type) {
      case 'page_view': {
        s.pageViews++;
        s.offerLanding(ts, e.seq, ev.url, ev.referrer);
        const idx = this.#insertPage(s, ts, e.seq, e.page);
        // Page views before the kept ones (the list keeps the most recent #maxPages).
        const dropped = s.pageViews - s.pageCount;
        if (idx < 0) {
          // Older than every kept page of a full list: its neighbours are no longer known.
          pageIndex = Math.max(0, dropped - 1);
          prevPage = undefined;
          nextPage = undefined;
        } else {
          pageIndex = dropped + idx;
          prevPage = idx > 0 ? s.pageKey(idx - 1) : undefined;
          nextPage = s.pageKey(idx + 1);
          if (nextPage !== undefined) nextPageTs = s.start + (s.pages[3 * idx + 3] as number);
        }
        const product = ev.product;
        if (product !== undefined) {
          this.#view(s, product.id, ts);
          if (product.category !== undefined) this.#addCategory(s, product.id, product.category);
        }
        break;
      }
      case 'click': {
        // Not a page view: the page it happened on is the page view at or before it.
        const idx = upperBound(s.pages, ts - s.start, e.seq) - 1;
        pageIndex = idx >= 0 ? s.pageViews - s.pageCount + idx : idx;
        prevPage = idx >= 0 ? s.pageKey(idx) : undefined;
        nextPage = undefined;
        if (ev.target.kind === 'button' && ev.target.productId !== undefined) s.carted = this.#addItem(s.carted, ev.target.productId);
        break;
      }
      case 'form': {
        const idx = upperBound(s.pages, ts - s.start, e.seq) - 1;
        pageIndex = idx >= 0 ? s.pageViews - s.pageCount + idx : idx;
        prevPage = idx >= 0 ? s.pageKey(idx) : undefined;
        nextPage = undefined;
        s.forms = this.#addItem(s.forms, ev.formId);
        if (ev.action === 'submit' && ev.items !== undefined) {
          for (const item of ev.items) {
            s.bought = this.#addItem(s.bought, item.productId);
            if (item.category !== undefined) this.#addCategory(s, item.productId, item.category);
            if (item.price !== undefined) s.revenue += item.price * item.quantity;
          }
        }
        break;
      }
      default: {
        const _exhaustive: never = ev;
        return _exhaustive;
      }
    }
    return {
      id: s.id,
      start: epochMillis(s.start),
      isNew,
      prevPage,
      nextPage,
      nextPageTs: epochMillis(nextPageTs),
      pageIndex,
      returningVisitor: s.returning,
    };
  }

  /**
   * Inserts a page view in (time, seq) order — the device's own order, whatever the arrival order —
   * keeping the most recent #maxPages (a full list drops its oldest, so a long session's previous page
   * stays exact for in-order events); returns its index in the kept list, or −1 when it is older than
   * every kept page of a full list.
   */
  #insertPage(s: SessionState, ts: number, seq: number, page: string): number {
    // Never before the start: a page view is inserted after the start moved to it.
    const off = smallInt(ts - s.start);
    const pages = s.pages;
    if (s.pageCount >= this.#maxPages) {
      if (before(off, seq, pages[0] as number, pages[1] as number)) return -1;
      pages.splice(0, 3);
    }
    // TRICKY: the first page view makes a three-slot literal: a push onto `[]` reserves 17 slots, ~140 B
    // per session, and most sessions have one page view.
    if (pages.length === 0) {
      s.pages = [off, seq, page];
      return 0;
    }
    const idx = upperBound(pages, off, seq);
    if (idx === s.pageCount) pages.push(off, seq, page);
    else pages.splice(3 * idx, 0, off, seq, page);
    return idx;
  }

  /** Records a product view at `ts`: the first view of it keeps its place, first/last times widen. */
  #view(s: SessionState, id: string, ts: number): void {
    // Never before the start: a view is added after the start moved to it.
    const off = smallInt(ts - s.start);
    const v = s.views;
    if (v === undefined || v.length === 0) {
      // A three-slot literal for the first product (see #insertPage).
      s.views = [id, off, off];
      return;
    }
    // Ids are strings and times numbers: indexOf only ever finds an id slot.
    const i = v.indexOf(id);
    if (i >= 0) {
      if (off < (v[i + 1] as number)) v[i + 1] = off;
      if (off > (v[i + 2] as number)) v[i + 2] = off;
    } else if (v.length < 3 * this.#maxItems) v.push(id, off, off);
  }

  #addItem(list: string[] | undefined, id: string): string[] {
    if (list === undefined) return [id];
    if (list.length < this.#maxItems && !list.includes(id)) list.push(id);
    return list;
  }

  #addCategory(s: SessionState, productId: string, category: string): void {
    const m = s.categories;
    if (m === undefined) {
      s.categories = [productId, category];
      return;
    }
    const i = categoryIndex(m, productId);
    if (i >= 0) m[i + 1] = category;
    else if (m.length < this.#maxItems * 6) m.push(productId, category);
  }

  // ── lifecycle ─────────────────────────────────────────────────────────────────────────────────

  #close(s: SessionState): void {
    s.phase = 'closed';
    this.#open--;
    this.#schedule(s, s.end + this.#gap + this.#lateness);
    this.#onSignal({ kind: 'closed', session: this.#summary(s) });
  }

  #purge(s: SessionState): void {
    this.#unschedule(s);
    const list = s.visitor.sessions;
    const i = list.indexOf(s);
    if (i >= 0) list.splice(i, 1);
  }

  #evictVisitor(v: VisitorState): void {
    this.#evictedVisitors++;
    for (const s of v.sessions) {
      this.#unschedule(s);
      if (s.phase === 'open') {
        s.phase = 'closed';
        this.#open--;
            this.#onSignal({ kind: 'closed', session: this.#summary(s) });
      }
    }
    v.sessions.length = 0;
  }

  #schedule(s: SessionState, due: number): void {
    s.due = due;
    // TRICKY: a bucket at or behind the last scanned one would never be scanned again; the last
    // scanned bucket is rescanned on every advance, so clamp to it.
    const idx = Math.max(Math.floor(due / this.#bucketMs), this.#scanFrom);
    if (idx === s.bucket?.idx) return;
    this.#unschedule(s);
    let bucket = this.#wheel.get(idx);
    if (bucket === undefined) {
      bucket = new WheelBucket(idx);
      this.#wheel.set(idx, bucket);
    }
    bucket.add(s);
    s.bucket = bucket;
  }

  #unschedule(s: SessionState): void {
    const bucket = s.bucket;
    if (bucket === undefined) return;
    bucket.delete(s);
    if (bucket.size === 0 && this.#wheel.get(bucket.idx) === bucket) this.#wheel.delete(bucket.idx);
    s.bucket = undefined;
  }

  #summary(s: SessionState): SessionSummary {
    let categories = EMPTY_CATEGORIES;
    if (s.categories !== undefined) {
      const c: Record<string, string> = Object.create(null) as Record<string, string>;
      for (let i = 0; i < s.categories.length; i += 2) c[s.categories[i]!] = s.categories[i + 1]!;
      categories = c;
    }
    return {
      site: this.site,
      id: s.id,
      visitorId: s.visitor.id,
      start: epochMillis(s.start),
      end: epochMillis(s.end),
      events: s.events,
      pageViews: s.pageViews,
      pages: s.pages.length === 0 ? EMPTY : (column(s.pages, 2) as string[]),
      viewed: s.views === undefined ? EMPTY : (column(s.views, 0) as string[]),
      viewedFirst: s.views === undefined ? EMPTY_TIMES : (column(s.views, 1, s.start) as number[]),
      viewedLast: s.views === undefined ? EMPTY_TIMES : (column(s.views, 2, s.start) as number[]),
      carted: s.carted === undefined ? EMPTY : s.carted.slice(),
      bought: s.bought === undefined ? EMPTY : s.bought.slice(),
      forms: s.forms === undefined ? EMPTY : s.forms.slice(),
      landing: s.landUrl === undefined ? undefined : { url: s.landUrl, referrer: s.landReferrer },
      device: s.device,
      categories,
      revenue: s.revenue,
      returningVisitor: s.returning,
    };
  }
}

const EMPTY: readonly string[] = Object.freeze([]);
const EMPTY_TIMES: readonly number[] = Object.freeze([]);
const EMPTY_CATEGORIES: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>);

/** Index of `productId` in flat [productId, category, …] pairs, or −1. */
function categoryIndex(pairs: readonly string[] | undefined, productId: string): number {
  if (pairs === undefined) return -1;
  for (let i = 0; i < pairs.length; i += 2) if (pairs[i] === productId) return i;
  return -1;
}

/** (t, q) strictly before (t2, q2): the earlier of two events by time, then sequence number. */
function before(t: number, q: number, t2: number, q2: number): boolean {
  return t < t2 || (t === t2 && q < q2);
}

function distance(s: SessionState, ts: number): number {
  return ts < s.start ? s.start - ts : ts > s.end ? ts - s.end : 0;
}

/**
 * First page index whose (time offset, seq) in the page triples is greater than (t, q): the insertion
 * point after equal keys.
 * TRICKY: equal (time, seq) — two page loads of one visitor in the same millisecond — keep arrival order.
 */
function upperBound(pages: ReadonlyArray<number | string>, t: number, q: number): number {
  let lo = 0;
  let hi = pages.length / 3;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const mt = pages[3 * mid] as number;
    if (mt < t || (mt === t && (pages[3 * mid + 1] as number) <= q)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A session as a snapshot holds it (see SessionJSON): copies, so later changes do not reach it. */
function sessionJSON(x: SessionState): SessionJSON {
  const st = x.start;
  const j: { -readonly [K in keyof SessionJSON]: SessionJSON[K] } = { id: x.id, st, en: x.end - st, ev: x.events, pv: x.pageViews, pt: column(x.pages, 0) as number[], pk: column(x.pages, 2) as string[], ph: x.phase };
  if (x.clientKey !== undefined) j.ck = x.clientKey;
  const seqs = column(x.pages, 1) as number[];
  if (seqs.some((n) => n !== 0)) j.ps = seqs;
  if (x.views !== undefined && x.views.length > 0) {
    j.vw = column(x.views, 0) as string[];
    j.vf = column(x.views, 1) as number[];
    j.vl = column(x.views, 2) as number[];
  }
  if (x.carted !== undefined && x.carted.length > 0) j.ca = x.carted.slice();
  if (x.bought !== undefined && x.bought.length > 0) j.bo = x.bought.slice();
  if (x.forms !== undefined && x.forms.length > 0) j.fm = x.forms.slice();
  if (x.landUrl !== undefined) j.ld = [x.landTs - st, x.landSeq, x.landUrl, x.landReferrer ?? null];
  if (Number.isFinite(x.devTs)) j.dv = [x.devTs - st, x.devSeq, x.device];
  if (x.categories !== undefined && x.categories.length > 0) {
    const cat: Array<[string, string]> = [];
    for (let i = 0; i < x.categories.length; i += 2) cat.push([x.categories[i]!, x.categories[i + 1]!]);
    j.cat = cat;
  }
  if (x.revenue !== 0) j.rev = x.revenue;
  if (x.returning) j.ret = true;
  return j;
}

/** Column `c` of a list of triples (pages, views), each element plus `from` when given (times as absolute epoch ms). */
function column(triples: ReadonlyArray<string | number>, c: 0 | 1 | 2, from?: number): Array<string | number> {
  const out = new Array<string | number>(triples.length / 3);
  for (let i = 0; i < out.length; i++) out[i] = from === undefined ? triples[3 * i + c]! : from + (triples[3 * i + c] as number);
  return out;
}
