import type { Config, SiteConfig } from '../../src/config';
import { ClickstreamError } from '../../src/errors';
import type { EnrichedEvent, SessionSignal, SessionSummary } from '../../src/events/enriched-event';
import type { ClickTarget, PageViewEvent } from '../../src/events/event-types';
import type { CoreMetrics } from '../../src/metrics/core-metrics';
import type { JsonPart } from '../../src/persistence/json-part';
import { PaneStore } from '../../src/pipeline/pane-store';
import type { EpochMillis } from '../../src/types';
import { LATE, OK, REVISION, type EventOutcome, type PartitionSets, type Processor, type ProcessorContext, type SiteView, lowestWatermark } from '../processor';
import { SpaceSaving, type SpaceSavingJSON } from '../sketches/space-saving';
import { parseNavigationSettings, type NavigationSettings } from './navigation-settings';
import { boundedSliceKey, DEFAULT_CHANNEL_RULES, sessionDimensions, type ChannelRules, type Dimension, type SliceQuery, type SliceTable } from '../usage/session-dimensions';
import { SliceSketches, sketchedSliceTable, type SliceSketchesJSON, type SlicedCount } from '../usage/slice-sketches';

/** Separates the parts of composite keys (from→to, paths, page+link); page keys never contain it. */
const SEP = '\u001f';
const SNAPSHOT_VERSION = 1;

// ── public output ───────────────────────────────────────────────────────────────────────────────

export interface NavigationTransition {
  /** Page key viewed first. */
  readonly from: string;
  /** Page key viewed next in the same session. */
  readonly to: string;
  /** Page views of `to` directly after `from` in a session (absolute). */
  readonly count: number;
  /** P(next = to | page = from): count / all counted transitions leaving `from` in the window (0..1). */
  readonly probability: number;
  /** Maximum over-count of `count` (0 while exact). */
  readonly error: number;
  /**
   * False when the window's transition counts are approximate (the summary evicted keys): `count`
   * may be over by `error`, and `probability` divides by a total that lacks the evicted transitions.
   */
  readonly exact: boolean;
}

/** How one bounded list of a window fared against its capacity. */
export interface ListCapacity {
  /** True when nothing was evicted: every count of the list is exact and the list is complete. */
  readonly exact: boolean;
  /** Keys the bounded summaries dropped to make room (summed over the window's panes), count. */
  readonly evictedKeys: number;
  /** Upper bound on the count of any key missing from the list, and on every `error`. */
  readonly maxError: number;
}

export interface NavigationPageCount {
  /** Page key (normalised URL). */
  readonly page: string;
  /** Sessions (entry/exit pages) or page views, absolute. */
  readonly count: number;
  /** Maximum over-count of `count` (0 while exact). */
  readonly error: number;
}

export interface NavigationPath {
  /** 1 to 3 consecutive page keys of a session. */
  readonly pages: readonly string[];
  /** Occurrences in sessions that ended in the window. */
  readonly count: number;
  /** Maximum over-count of `count` (0 while exact). */
  readonly error: number;
}

/** Per bounded list of a navigation window: exact or not, and how much it dropped. */
export interface NavigationCapacity {
  readonly transitions: ListCapacity;
  readonly entryPages: ListCapacity;
  readonly exitPages: ListCapacity;
  readonly topPages: ListCapacity;
  readonly paths: ListCapacity;
  readonly clickThrough: ListCapacity;
}

export interface ClickThrough {
  /** Ad id, or the link's id (else its href). */
  readonly id: string;
  /** What was clicked: an ad (`data-cm-ad`) or a link. */
  readonly kind: 'ad' | 'link';
  /** For links: the page the link was clicked on (its impressions are that page's views). */
  readonly page: string | undefined;
  /** Ad impressions (`page_view.ads`) or, for links, page views of the hosting page. */
  readonly impressions: number;
  /** Clicks on the ad or link. */
  readonly clicks: number;
  /** clicks / impressions (0..1, or null without impressions). */
  readonly rate: number | null;
  /** False when `clicks` or `impressions` come from summaries that evicted keys (then `rate` is approximate). */
  readonly exact: boolean;
}

export interface NavigationWindow {
  /** Window start (inclusive), epoch ms (ISO-8601 in the API). */
  readonly start: EpochMillis;
  /** Window end (exclusive), epoch ms (ISO-8601 in the API). */
  readonly end: EpochMillis;
  /** True once the watermark has passed the window end. */
  readonly closed: boolean;
  /** Page views in the window. */
  readonly pageViews: number;
  /** Sessions whose first page view falls in the window (= sum of entryPages). */
  readonly sessions: number;
  /** Sessions with page views that ended (last event) in the window, counted once the session closed. */
  readonly sessionsEnded: number;
  /** Of sessionsEnded, those with exactly one page view. */
  readonly bounces: number;
  /** bounces / sessionsEnded (0..1), null when no session ended. */
  readonly bounceRate: number | null;
  /** Every counted transition (the full tail), by count descending. */
  readonly transitions: readonly NavigationTransition[];
  /** First pages of sessions that started in the window. */
  readonly entryPages: readonly NavigationPageCount[];
  /** Last pages of sessions that ended in the window. */
  readonly exitPages: readonly NavigationPageCount[];
  /** Page views per page. */
  readonly topPages: readonly NavigationPageCount[];
  /** Paths of up to 3 consecutive pages in sessions that ended in the window. */
  readonly paths: readonly NavigationPath[];
  /**
   * Ended sessions longer than the kept page list (time.maxPagesPerSession): their paths, exit page
   * and in-order transitions are from the kept (most recent) pages only; `paths` is then incomplete.
   */
  readonly truncatedSessions: number;
  /** Each list against its capacity: exact, keys evicted, the bound on what is missing. */
  readonly capacity: NavigationCapacity;
  /** Ads and links, by clicks descending. */
  readonly clickThrough: readonly ClickThrough[];
  /** True when no bounded structure of this window ever evicted and no session was truncated: every figure is exact. */
  readonly exact: boolean;
  /** Ended sessions grouped by their dimensions, when asked for (`by`, `where`). */
  readonly slices?: NavigationSliceTable;
}

/** Entry pages, exit pages and transitions listed per slice row, at most. */
export const SLICE_LIST_TOP = 20;

/** One group of ended sessions (the window's sessions that ended in it, by their landing dimensions). */
export interface NavigationSliceRow {
  readonly key: Readonly<Partial<Record<Dimension, string>>>;
  /** Ended sessions with page views (exact). */
  readonly sessions: number;
  readonly bounces: number;
  /** bounces / sessions (null without sessions). */
  readonly bounceRate: number | null;
  /** Page views of those sessions (exact). */
  readonly pageViews: number;
  /** First pages of those sessions (sessions whose page list was cut have none), most first, top SLICE_LIST_TOP. */
  readonly entryPages: readonly NavigationPageCount[];
  /** Last pages of those sessions, most first, top SLICE_LIST_TOP. */
  readonly exitPages: readonly NavigationPageCount[];
  /** Transitions within those sessions (from their kept pages), `probability` within the group, top SLICE_LIST_TOP. */
  readonly transitions: readonly NavigationTransition[];
  /** False when the sliced page or transition summaries evicted, or a session's page list was cut. */
  readonly exact: boolean;
}

/** Ended sessions by their dimensions: per group, sessions, bounces, entry and exit pages, transitions. */
export type NavigationSliceTable = SliceTable<NavigationSliceRow>;

export interface NavigationWindowOptions {
  readonly watermark?: number;
  readonly before?: number;
  /** Group ended sessions by their dimensions (`by`, `where` on the route). */
  readonly slices?: SliceQuery;
}

export interface NavigationSnapshot {
  readonly v: number;
  /** A pane not used since this processor was restored is still the text it was restored from. */
  readonly panes: ReadonlyArray<readonly [number, NavPaneJSON | JsonPart]>;
}

// ── panes ───────────────────────────────────────────────────────────────────────────────────────

type SketchField = 'transitions' | 'entries' | 'exits' | 'paths' | 'pages' | 'adImpressions' | 'adClicks' | 'linkClicks';
const SKETCH_FIELDS: readonly SketchField[] = ['transitions', 'entries', 'exits', 'paths', 'pages', 'adImpressions', 'adClicks', 'linkClicks'];
/** Metric `structure` label of each field (closed set). */
const STRUCTURE: Record<SketchField, string> = {
  transitions: 'transitions',
  entries: 'entry_pages',
  exits: 'exit_pages',
  paths: 'paths',
  pages: 'pages',
  adImpressions: 'ad_impressions',
  adClicks: 'ad_clicks',
  linkClicks: 'link_clicks',
};

type NavPaneJSON = { pageViews: number; sessionsEnded: number; bounces: number; truncated?: number; sl?: SliceSketchesJSON } & Record<SketchField, SpaceSavingJSON<string>>;

/** What an ended session adds to its slice, by index. */
const SL = { sessions: 0, bounces: 1, pageViews: 2, truncated: 3 } as const;
const SL_WIDTH = 4;

/** Per pane: ended sessions by slice, with their (slice, entry page), (slice, exit page) and (slice, from→to) summaries. */
type NavSlices = SliceSketches<'entries' | 'exits' | 'transitions'>;
type SliceEvict = { readonly entries: () => void; readonly exits: () => void; readonly transitions: () => void };

class NavPane {
  pageViews = 0;
  sessionsEnded = 0;
  bounces = 0;
  /** Ended sessions whose page list was cut to the kept maximum. */
  truncated = 0;
  readonly transitions: SpaceSaving<string>;
  readonly entries: SpaceSaving<string>;
  readonly exits: SpaceSaving<string>;
  readonly paths: SpaceSaving<string>;
  readonly pages: SpaceSaving<string>;
  readonly adImpressions: SpaceSaving<string>;
  readonly adClicks: SpaceSaving<string>;
  readonly linkClicks: SpaceSaving<string>;
  /** Ended sessions by slice, created with the pane's first ended session. */
  sliced: NavSlices | undefined;

  readonly #settings: NavigationSettings;
  readonly #sliceEvict: SliceEvict | undefined;

  constructor(s: NavigationSettings, evict: Record<SketchField, () => void> | undefined, sliceEvict?: SliceEvict) {
    this.#settings = s;
    this.#sliceEvict = sliceEvict;
    this.transitions = new SpaceSaving(s.maxTransitions, evict?.transitions);
    this.entries = new SpaceSaving(s.maxPages, evict?.entries);
    this.exits = new SpaceSaving(s.maxPages, evict?.exits);
    this.paths = new SpaceSaving(s.maxPaths, evict?.paths);
    this.pages = new SpaceSaving(s.maxPages, evict?.pages);
    this.adImpressions = new SpaceSaving(s.maxTargets, evict?.adImpressions);
    this.adClicks = new SpaceSaving(s.maxTargets, evict?.adClicks);
    this.linkClicks = new SpaceSaving(s.maxTargets, evict?.linkClicks);
  }

  mergeFrom(o: NavPane): void {
    this.pageViews += o.pageViews;
    this.sessionsEnded += o.sessionsEnded;
    this.bounces += o.bounces;
    this.truncated += o.truncated;
    for (const f of SKETCH_FIELDS) this[f].merge(o[f]);
    if (o.sliced !== undefined) this.slicedOrNew().mergeFrom(o.sliced);
  }

  /** The pane's slices, created on first use. */
  slicedOrNew(): NavSlices {
    const s = this.#settings;
    return (this.sliced ??= new SliceSketches(SL_WIDTH, { entries: s.maxSlicedPages, exits: s.maxSlicedPages, transitions: s.maxSlicedTransitions }, this.#sliceEvict));
  }

  get exact(): boolean {
    if (this.truncated > 0) return false;
    for (const f of SKETCH_FIELDS) if (!this[f].exact) return false;
    return true;
  }

  toJSON(): NavPaneJSON {
    return {
      pageViews: this.pageViews,
      sessionsEnded: this.sessionsEnded,
      bounces: this.bounces,
      truncated: this.truncated,
      transitions: this.transitions.toJSON(),
      entries: this.entries.toJSON(),
      exits: this.exits.toJSON(),
      paths: this.paths.toJSON(),
      pages: this.pages.toJSON(),
      adImpressions: this.adImpressions.toJSON(),
      adClicks: this.adClicks.toJSON(),
      linkClicks: this.linkClicks.toJSON(),
      ...(this.sliced === undefined ? {} : { sl: this.sliced.toJSON() }),
    };
  }
}

// ── processor ───────────────────────────────────────────────────────────────────────────────────

export interface NavigationProcessorOptions {
  readonly site: SiteConfig;
  /** Pane length, retention, lateness and out-of-orderness from `config.time`. */
  readonly time: Pick<Config['time'], 'paneMs' | 'retentionPanes' | 'allowedLatenessMs' | 'outOfOrdernessMs'>;
  readonly context: ProcessorContext;
  /** Overrides `site.processors.navigation` (tests, benchmarks). */
  readonly settings?: NavigationSettings;
  /** When given, the Space-Saving error bound (1 / capacity) of each structure is exported. */
  readonly metrics?: Pick<CoreMetrics, 'sketchErrorBound'>;
  /** How a landing page maps to a channel, for slices (the site's usage settings; default rules without). */
  readonly channels?: ChannelRules;
}

/**
 * How shoppers move (DESIGN.md §5): transitions with P(next | page), entry and exit pages, bounce
 * rate, paths of up to 3 pages, ad and link click-through — per pane, merged into windows on query.
 *
 * What is counted when:
 * - Page views, entry pages and transitions count live, at the event time of the page view that is
 *   the transition's destination (from `e.session.prevPage`). A page view that arrives out of order
 *   (`nextPage` set) replaces the edge prev→next (or next's entry) it now splits: that edge is
 *   retracted in the pane where it was counted and prev→page, page→next are counted instead.
 * - Exit pages, bounces and paths need the whole session: they count on the `closed` signal, in the
 *   pane of the session's last event, and are retracted on `reopened` (a new `closed` follows).
 * - `merged`: the absorbed session's entry is no longer an entry; it becomes a transition from the
 *   last page of the session it joined.
 *
 * Every per-pane map is a Space-Saving summary with a configured capacity: exact while under it,
 * bounded over it, evictions counted.
 */
export class NavigationProcessor implements Processor<NavigationSnapshot> {
  readonly name = 'navigation';
  readonly settings: NavigationSettings;
  readonly #store: PaneStore<NavPane>;
  readonly #paneMs: number;
  /** Panes searched forward for an edge to retract (out-of-order page views). */
  readonly #searchPanes: number;
  readonly #evict: Record<SketchField, () => void>;
  readonly #sliceEvict: SliceEvict & { readonly slices: () => void };
  readonly #channels: ChannelRules;
  #watermark = Number.NEGATIVE_INFINITY;

  constructor(opts: NavigationProcessorOptions) {
    const site = opts.site;
    this.settings = opts.settings ?? parseNavigationSettings(site.processors['navigation'], site.id);
    const ctx = opts.context;
    const evict = {} as Record<SketchField, () => void>;
    for (const f of SKETCH_FIELDS) {
      const structure = STRUCTURE[f];
      evict[f] = () => ctx.onEvict('navigation', structure, 1);
    }
    this.#evict = evict;
    const slicedPages = () => ctx.onEvict('navigation', 'sliced_pages', 1);
    this.#sliceEvict = {
      entries: slicedPages,
      exits: slicedPages,
      transitions: () => ctx.onEvict('navigation', 'sliced_transitions', 1),
      slices: () => ctx.onEvict('navigation', 'slices', 1),
    };
    this.#channels = opts.channels ?? DEFAULT_CHANNEL_RULES;
    this.#paneMs = opts.time.paneMs;
    // An out-of-order page view is at most lateness + out-of-orderness older than the page after it.
    this.#searchPanes = 2 + Math.ceil((opts.time.allowedLatenessMs + opts.time.outOfOrdernessMs) / opts.time.paneMs);
    this.#store = new PaneStore<NavPane>({
      paneMs: opts.time.paneMs,
      // Retention follows the watermark (expire); the cap only binds when partitions drift far apart.
      maxPanes: 2 * opts.time.retentionPanes,
      allowedLatenessMs: opts.time.allowedLatenessMs,
      retainMs: opts.time.paneMs * opts.time.retentionPanes,
      ops: {
        create: () => new NavPane(this.settings, this.#evict, this.#sliceEvict),
        mergeInto: (into, from) => into.mergeFrom(from),
        toJSON: (p) => p.toJSON(),
        fromJSON: (j) => this.#paneFromJSON(j as NavPaneJSON),
      },
      onEvict: (n) => ctx.onEvict('navigation', 'panes', n),
    });
    if (opts.metrics !== undefined) {
      const g = opts.metrics.sketchErrorBound;
      g.set({ sketch: 'navigation_transitions' }, 1 / this.settings.maxTransitions);
      g.set({ sketch: 'navigation_pages' }, 1 / this.settings.maxPages);
      g.set({ sketch: 'navigation_paths' }, 1 / this.settings.maxPaths);
      g.set({ sketch: 'navigation_targets' }, 1 / this.settings.maxTargets);
    }
  }

  onEvent(e: EnrichedEvent, watermark: EpochMillis): EventOutcome {
    if (watermark > this.#watermark) this.#watermark = watermark;
    const ev = e.event;
    if (ev.type === 'form') return OK; // forms are the usage processor's
    const loc = this.#store.locate(e.ts, watermark);
    if (loc.kind === 'late') return LATE;
    switch (ev.type) {
      case 'page_view':
        this.#pageView(loc.pane, e, ev);
        break;
      case 'click':
        this.#click(loc.pane, e.page, ev.target);
        break;
      default: {
        const _exhaustive: never = ev;
        return _exhaustive;
      }
    }
    return loc.kind === 'ok' ? OK : REVISION;
  }

  onSession(signal: SessionSignal, watermark: EpochMillis): void {
    if (watermark > this.#watermark) this.#watermark = watermark;
    switch (signal.kind) {
      case 'started':
      case 'revised':
        return;
      case 'closed':
        this.#sessionEnded(signal.session, 1);
        return;
      case 'reopened':
        this.#sessionEnded(signal.session, -1);
        return;
      case 'merged':
        this.#merged(signal.absorbed, signal.into);
        return;
      default: {
        const _exhaustive: never = signal;
        return _exhaustive;
      }
    }
  }

  onWatermark(watermark: EpochMillis, retention: EpochMillis = watermark): void {
    if (watermark > this.#watermark) this.#watermark = watermark;
    this.#store.expire(retention);
  }

  /** The latest watermark seen (−∞ before any). */
  get watermark(): number {
    return this.#watermark;
  }

  /**
   * Windows of `sizeMs` (a multiple of the pane), newest first (the open one included), at most
   * `limit`, older than the window starting at `before` when given. Lists are complete and sorted.
   */
  windows(sizeMs: number, limit: number, opts: NavigationWindowOptions = {}): NavigationWindow[] {
    return NavigationProcessor.windowsOf([this], sizeMs, limit, opts);
  }

  /** `windows` over the processors of several partitions: each window merges all their panes. */
  static windowsOf(parts: readonly NavigationProcessor[], sizeMs: number, limit: number, opts: NavigationWindowOptions = {}): NavigationWindow[] {
    const wm = opts.watermark ?? lowestWatermark(parts.map((p) => p.#watermark));
    const views = PaneStore.windowsAcross(parts.map((p) => p.#store), sizeMs, wm, limit, opts.before === undefined ? {} : { before: opts.before });
    const q = opts.slices;
    return views.map((w) => {
      const rendered = render(w.start, w.end, w.closed, w.value);
      return q === undefined ? rendered : { ...rendered, slices: sliceTableOf(w.value.sliced, q) };
    });
  }

  snapshot(): NavigationSnapshot {
    return { v: SNAPSHOT_VERSION, panes: this.#store.snapshotParts() };
  }

  restore(snapshot: NavigationSnapshot): void {
    this.#checkSnapshot(snapshot);
    this.#store.clear();
    this.merge(snapshot);
  }

  merge(partial: NavigationSnapshot): void {
    this.#checkSnapshot(partial);
    for (const [start, j] of partial.panes) this.#store.mergeJSON(start, j);
  }

  // ── events ──────────────────────────────────────────────────────────────────────────────────

  #pageView(p: NavPane, e: EnrichedEvent, ev: PageViewEvent): void {
    const page = e.page;
    p.pageViews++;
    p.pages.add(page);
    const prev = e.session.prevPage;
    const next = e.session.nextPage;
    if (prev === undefined) p.entries.add(page);
    else p.transitions.add(prev + SEP + page);
    if (next !== undefined) {
      // Arrived out of order, before an already counted page view: the edge into `next` changes.
      // TRICKY: retracted in the pane of `next` itself (where this visitor's edge was counted), not in the
      // first pane holding the key: another visitor's equal edge there would move counts between panes.
      const at = prev === undefined ? this.#retract(e.session.nextPageTs, 'entries', next) : this.#retract(e.session.nextPageTs, 'transitions', prev + SEP + next);
      (at ?? p).transitions.add(page + SEP + next);
    }
    const ads = ev.ads;
    if (ads !== undefined) for (let i = 0; i < ads.length; i++) p.adImpressions.add(ads[i]!);
  }

  #click(p: NavPane, page: string, t: ClickTarget): void {
    switch (t.kind) {
      case 'ad': {
        const id = t.adId ?? t.id;
        if (id !== undefined) p.adClicks.add(id);
        return;
      }
      case 'link': {
        const id = t.id ?? t.href;
        if (id !== undefined) p.linkClicks.add(page + SEP + id);
        return;
      }
      case 'product':
      case 'button':
      case 'offer':
        return;
      default: {
        const _exhaustive: never = t.kind;
        return _exhaustive;
      }
    }
  }

  /** Retracts one count of `key` from the pane at `ts` (where it was counted); returns that pane, or undefined when it is gone. */
  #retract(ts: number, field: SketchField, key: string): NavPane | undefined {
    const pane = this.#store.peek(ts);
    if (pane !== undefined) {
      const c = pane[field].get(key);
      if (c !== undefined && c.count > 0) {
        pane[field].remove(key);
        return pane;
      }
    }
    return undefined;
  }

  // ── sessions ────────────────────────────────────────────────────────────────────────────────

  /** Counts (sign 1) or retracts (sign −1) what a session contributes when it ends. */
  #sessionEnded(s: SessionSummary, sign: 1 | -1): void {
    const pages = s.pages;
    if (s.pageViews === 0 || pages.length === 0) return;
    const p = sign === 1 ? this.#paneAt(s.end) : this.#store.peek(s.end);
    if (p === undefined) return; // evicted by retention since it was counted
    const bounce = s.pageViews === 1;
    const exit = pages[pages.length - 1]!;
    const truncated = s.pageViews > pages.length ? sign : 0;
    p.truncated += truncated;
    if (sign === 1) {
      p.sessionsEnded++;
      if (bounce) p.bounces++;
      p.exits.add(exit);
      forEachPath(pages, (key) => p.paths.add(key));
    } else {
      p.sessionsEnded--;
      if (bounce) p.bounces--;
      p.exits.remove(exit);
      forEachPath(pages, (key) => p.paths.remove(key));
    }
    this.#sliceEnded(p, s, sign);
  }

  /**
   * What an ended session adds to (or takes back from) its slice: counters, its entry and exit page,
   * the transitions between its kept pages. The slice key is a function of the summary and of the
   * pane's slices, so a retraction finds the key its count went to.
   */
  #sliceEnded(p: NavPane, s: SessionSummary, sign: 1 | -1): void {
    const sl = p.slicedOrNew();
    const key = boundedSliceKey(sessionDimensions(s, this.#channels), sl.counts, this.settings.maxSlicesPerPane, sign === 1 ? this.#sliceEvict.slices : undefined);
    const row = sl.row(key);
    const pages = s.pages;
    const cut = s.pageViews > pages.length;
    row[SL.sessions]! += sign;
    if (s.pageViews === 1) row[SL.bounces]! += sign;
    row[SL.pageViews]! += sign * s.pageViews;
    if (cut) row[SL.truncated]! += sign;
    if (!cut) sl.change('entries', key, pages[0]!, sign);
    sl.change('exits', key, pages[pages.length - 1]!, sign);
    for (let i = 1; i < pages.length; i++) sl.change('transitions', key, pages[i - 1]! + SEP + pages[i]!, sign);
  }

  #merged(absorbed: SessionSummary, into: SessionSummary): void {
    const first = absorbed.pages[0];
    if (first === undefined) return;
    // The absorbed pages follow the earlier session's pages; skip if truncation hides the junction.
    const junction = into.pages.length - absorbed.pages.length;
    const before = junction > 0 ? into.pages[junction - 1] : undefined;
    if (before === undefined || into.pages[junction] !== first) return;
    const span = Math.min(this.#searchPanes * 4, 1 + Math.ceil((absorbed.end - absorbed.start) / this.#paneMs));
    for (let k = 0; k < span; k++) {
      const pane = this.#store.peek(absorbed.start + k * this.#paneMs);
      const c = pane?.entries.get(first);
      if (pane !== undefined && c !== undefined && c.count > 0) {
        pane.entries.remove(first);
        pane.transitions.add(before + SEP + first);
        return;
      }
    }
  }

  /** The pane at `ts`, created if missing (session ends are written after their pane fired). */
  #paneAt(ts: number): NavPane | undefined {
    const existing = this.#store.peek(ts);
    if (existing !== undefined) return existing;
    this.#store.mergePane(Math.floor(ts / this.#paneMs) * this.#paneMs, new NavPane(this.settings, this.#evict, this.#sliceEvict));
    return this.#store.peek(ts);
  }

  #paneFromJSON(j: NavPaneJSON): NavPane {
    const p = new NavPane(this.settings, this.#evict, this.#sliceEvict);
    p.pageViews = j.pageViews;
    p.sessionsEnded = j.sessionsEnded;
    p.bounces = j.bounces;
    p.truncated = j.truncated ?? 0;
    for (const f of SKETCH_FIELDS) p[f].mergeJSON(j[f]);
    if (j.sl !== undefined) p.slicedOrNew().mergeJSON(j.sl);
    return p;
  }

  #checkSnapshot(s: NavigationSnapshot): void {
    if (s?.v !== SNAPSHOT_VERSION || !Array.isArray(s.panes)) {
      throw new ClickstreamError('CM_ERR_SNAPSHOT', `navigation snapshot version ${String(s?.v)} is not ${SNAPSHOT_VERSION}`);
    }
  }
}

/** Calls `fn` with each path key of a session: its consecutive runs of 3 pages, or the whole path if shorter. */
function forEachPath(pages: readonly string[], fn: (key: string) => void): void {
  if (pages.length <= 3) {
    fn(pages.join(SEP));
    return;
  }
  for (let i = 0; i + 3 <= pages.length; i++) fn(pages[i]! + SEP + pages[i + 1]! + SEP + pages[i + 2]!);
}

function capacityOf(...sketches: ReadonlyArray<SpaceSaving<string>>): ListCapacity {
  let exact = true;
  let evictedKeys = 0;
  let maxError = 0;
  for (const s of sketches) {
    exact &&= s.exact;
    evictedKeys += s.evictions;
    maxError = Math.max(maxError, s.maxError());
  }
  return { exact, evictedKeys, maxError };
}

/** A window's ended sessions grouped by `q.by` over the slices `q.where` accepts. */
function sliceTableOf(sl: NavSlices | undefined, q: SliceQuery): NavigationSliceTable {
  return sketchedSliceTable(sl, q, SL.sessions, ({ key, sums, lists }, sketchesExact): NavigationSliceRow => {
    const pageCounts = (list: readonly SlicedCount[]): NavigationPageCount[] => list.slice(0, SLICE_LIST_TOP).map((x) => ({ page: x.rest, count: x.count, error: x.error }));
    const outgoing = new Map<string, number>();
    const split = lists.transitions.map((t) => {
      const i = t.rest.indexOf(SEP);
      const from = t.rest.slice(0, i);
      outgoing.set(from, (outgoing.get(from) ?? 0) + t.count);
      return { from, to: t.rest.slice(i + 1), count: t.count, error: t.error };
    });
    const exact = sketchesExact && sums[SL.truncated]! === 0;
    const sessions = sums[SL.sessions]!;
    return {
      key,
      sessions,
      bounces: sums[SL.bounces]!,
      bounceRate: sessions > 0 ? sums[SL.bounces]! / sessions : null,
      pageViews: sums[SL.pageViews]!,
      entryPages: pageCounts(lists.entries),
      exitPages: pageCounts(lists.exits),
      transitions: split.slice(0, SLICE_LIST_TOP).map((t) => ({ ...t, probability: t.count / outgoing.get(t.from)!, exact })),
      exact,
    };
  });
}

function render(start: EpochMillis, end: EpochMillis, closed: boolean, p: NavPane): NavigationWindow {
  const trans = p.transitions.entries();
  const outgoing = new Map<string, number>();
  const split = trans.map((t) => {
    const i = t.key.indexOf(SEP);
    const from = t.key.slice(0, i);
    outgoing.set(from, (outgoing.get(from) ?? 0) + t.count);
    return { from, to: t.key.slice(i + 1), count: t.count, error: t.error };
  });
  const transExact = p.transitions.exact;
  const transitions = split.map((t) => ({ ...t, probability: t.count / (outgoing.get(t.from) ?? t.count), exact: transExact }));
  const ctExact = p.adClicks.exact && p.adImpressions.exact && p.linkClicks.exact && p.pages.exact;
  const pageCounts = (s: SpaceSaving<string>): NavigationPageCount[] => s.entries().map((x) => ({ page: x.key, count: x.count, error: x.error }));
  const clickThrough: ClickThrough[] = [];
  const adsSeen = new Set<string>();
  for (const c of p.adClicks.entries()) {
    adsSeen.add(c.key);
    const imp = p.adImpressions.get(c.key)?.count ?? 0;
    clickThrough.push({ id: c.key, kind: 'ad', page: undefined, impressions: imp, clicks: c.count, rate: imp > 0 ? c.count / imp : null, exact: ctExact });
  }
  for (const a of p.adImpressions.entries()) {
    if (!adsSeen.has(a.key)) clickThrough.push({ id: a.key, kind: 'ad', page: undefined, impressions: a.count, clicks: 0, rate: 0, exact: ctExact });
  }
  for (const l of p.linkClicks.entries()) {
    const i = l.key.indexOf(SEP);
    const page = l.key.slice(0, i);
    const imp = p.pages.get(page)?.count ?? 0;
    clickThrough.push({ id: l.key.slice(i + 1), kind: 'link', page, impressions: imp, clicks: l.count, rate: imp > 0 ? l.count / imp : null, exact: ctExact });
  }
  clickThrough.sort((a, b) => b.clicks - a.clicks || b.impressions - a.impressions || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    start,
    end,
    closed,
    pageViews: p.pageViews,
    sessions: p.entries.total,
    sessionsEnded: p.sessionsEnded,
    bounces: p.bounces,
    bounceRate: p.sessionsEnded > 0 ? p.bounces / p.sessionsEnded : null,
    transitions,
    entryPages: pageCounts(p.entries),
    exitPages: pageCounts(p.exits),
    topPages: pageCounts(p.pages),
    paths: p.paths.entries().map((x) => ({ pages: x.key.split(SEP), count: x.count, error: x.error })),
    truncatedSessions: p.truncated,
    clickThrough,
    capacity: {
      transitions: capacityOf(p.transitions),
      entryPages: capacityOf(p.entries),
      exitPages: capacityOf(p.exits),
      topPages: capacityOf(p.pages),
      paths: capacityOf(p.paths),
      clickThrough: capacityOf(p.adClicks, p.adImpressions, p.linkClicks),
    },
    exact: p.exact,
  };
}

/** A site's navigation over all its partitions (`Pipeline.processor(site, 'navigation')`). */
export class NavigationView implements SiteView {
  readonly name = 'navigation';
  readonly #parts: PartitionSets;

  constructor(parts: PartitionSets) {
    this.#parts = parts;
  }

  windows(sizeMs: number, limit: number, opts: NavigationWindowOptions = {}): NavigationWindow[] {
    return NavigationProcessor.windowsOf(this.#parts.of<NavigationProcessor>('navigation'), sizeMs, limit, opts);
  }
}
