import { DEVICE_CLASSES, type DeviceClass } from '../../src/events/device';
import type { Config, SiteConfig } from '../../src/config';
import { ClickstreamError } from '../../src/errors';
import type { EnrichedEvent, SessionSignal, SessionSummary } from '../../src/events/enriched-event';
import type { PageViewEvent } from '../../src/events/event-types';
import { UrlNormaliser } from '../../src/events/url-normaliser';
import type { CoreMetrics } from '../../src/metrics/core-metrics';
import type { JsonPart } from '../../src/persistence/json-part';
import { PaneStore } from '../../src/pipeline/pane-store';
import type { EpochMillis } from '../../src/types';
import { LATE, OK, REVISION, type EventOutcome, type PartitionSets, type Processor, type ProcessorContext, type SiteView, lowestWatermark } from '../processor';
import { SpaceSaving, type SpaceSavingJSON } from '../sketches/space-saving';
import { parseContentSettings, type ContentSettings } from './content-settings';
import { boundedSliceKey, DEFAULT_CHANNEL_RULES, sessionDimensions, type ChannelRules, type Dimension, type SliceQuery, type SliceTable } from '../usage/session-dimensions';
import { SliceSketches, sketchedSliceTable, type SliceSketchesJSON, type SlicedCount } from '../usage/slice-sketches';

const SNAPSHOT_VERSION = 1;
/** Longest site-search term kept (characters); longer ones are cut. */
const MAX_QUERY_CHARS = 200;

// ── public output ───────────────────────────────────────────────────────────────────────────────

export interface ContentCount {
  /** Page key, product id or category. */
  readonly id: string;
  /** Page views in the window (absolute). */
  readonly count: number;
  /** Maximum over-count of `count` (0 while exact). */
  readonly error: number;
}

export interface ContentPageCount {
  /** Page key (normalised URL). */
  readonly page: string;
  /** Page views in the window (absolute). */
  readonly count: number;
  /** Maximum over-count of `count` (0 while exact). */
  readonly error: number;
}

export interface SearchTermCount {
  /** The search term, trimmed, lower-cased, inner white space collapsed. */
  readonly query: string;
  /** Searches for it in the window. */
  readonly count: number;
  /** Of those, searches that reported 0 results. */
  readonly zeroResults: number;
}

export type TrendingKind = 'page' | 'product' | 'category' | 'search';

export interface TrendingItem {
  /** What is trending: a page, product, category or search term. */
  readonly kind: TrendingKind;
  /** The page key, product id, category or search term. */
  readonly id: string;
  /** Occurrences in the window. */
  readonly count: number;
  /** Expected occurrences from the EWMA of earlier windows, scaled to the elapsed part of an open window. */
  readonly baseline: number;
  /** (count − baseline) / sqrt(baseline + 1): growth in Poisson standard deviations, not volume. */
  readonly score: number;
  /**
   * True when the key occurred in none of the earlier windows: there is no baseline to grow from, so
   * `score` is only its count — show it as "new", not as a number of standard deviations.
   */
  readonly isNew: boolean;
}

export interface ContentWindow {
  /** Window start (inclusive), epoch ms (ISO-8601 in the API). */
  readonly start: EpochMillis;
  /** Window end (exclusive), epoch ms (ISO-8601 in the API). */
  readonly end: EpochMillis;
  /** True once the watermark has passed the window end. */
  readonly closed: boolean;
  /** Page views in the window. */
  readonly pageViews: number;
  /** Site searches in the window. */
  readonly searchCount: number;
  /** Page views per page. */
  readonly topPages: readonly ContentPageCount[];
  /** Product page views (`page_view.product.id`). */
  readonly topProducts: readonly ContentCount[];
  /** Product page views by `page_view.product.category`. */
  readonly topCategories: readonly ContentCount[];
  /** Site-search terms by count. */
  readonly searches: readonly SearchTermCount[];
  /** Terms whose searches returned nothing, by count of such searches. */
  readonly zeroResultSearches: ReadonlyArray<{ readonly query: string; readonly count: number }>;
  /** Keys growing against their baseline, by score descending (positive scores only). */
  readonly trending: readonly TrendingItem[];
  /** True when no bounded structure of this window ever evicted: all counts are exact. */
  readonly exact: boolean;
  /** By device class, when asked for (`by=device`, `where=device:…`): page views and top pages of each. */
  readonly devices?: ReadonlyArray<{ readonly device: DeviceClass; readonly pageViews: number; readonly topPages: readonly ContentPageCount[] }>;
  /** Ended sessions grouped by their dimensions, when asked for (`by`, `where`). */
  readonly slices?: ContentSliceTable;
}

/** Products and categories listed per slice row, at most. */
export const CONTENT_SLICE_TOP = 20;

/** A product or category and the ended sessions of a group that viewed it. */
export interface SlicedItem {
  readonly id: string;
  /** Sessions that viewed it (each once, however often). */
  readonly sessions: number;
  /** Maximum over-count of `sessions` (0 while exact). */
  readonly error: number;
}

/** One group of the window's ended sessions (by their landing dimensions): what they looked at. */
export interface ContentSliceRow {
  readonly key: Readonly<Partial<Record<Dimension, string>>>;
  /** Ended sessions with page views (exact). */
  readonly sessions: number;
  /** Their page views (exact). */
  readonly pageViews: number;
  /** Products by sessions that viewed them, top CONTENT_SLICE_TOP. */
  readonly topProducts: readonly SlicedItem[];
  /** Categories by sessions that viewed a product of them, top CONTENT_SLICE_TOP. */
  readonly topCategories: readonly SlicedItem[];
  /** False when the sliced summaries evicted. */
  readonly exact: boolean;
}

/** Ended sessions by their dimensions: per group, sessions, page views, top products and categories. */
export type ContentSliceTable = SliceTable<ContentSliceRow>;

export interface ContentWindowOptions {
  readonly watermark?: number;
  readonly before?: number;
  /** Device classes to slice by (all of them for `by=device`; the listed ones for `where=device:…`). */
  readonly devices?: readonly DeviceClass[];
  /** Group ended sessions by their dimensions. */
  readonly slices?: SliceQuery;
}

/** What an ended session adds to its slice, by index. */
const SL = { sessions: 0, pageViews: 1 } as const;
const SL_WIDTH = 2;
type ContentSlices = SliceSketches<'products' | 'categories'>;

/** A window's ended sessions grouped by `q.by` over the slices `q.where` accepts. */
function contentSliceTable(sl: ContentSlices | undefined, q: SliceQuery): ContentSliceTable {
  const items = (list: readonly SlicedCount[]): SlicedItem[] => list.slice(0, CONTENT_SLICE_TOP).map((x) => ({ id: x.rest, sessions: x.count, error: x.error }));
  return sketchedSliceTable(sl, q, SL.sessions, ({ key, sums, lists }, exact): ContentSliceRow => ({ key, sessions: sums[SL.sessions]!, pageViews: sums[SL.pageViews]!, topProducts: items(lists.products), topCategories: items(lists.categories), exact }));
}

const DEVICE_INDEX: Readonly<Record<DeviceClass, number>> = Object.fromEntries(DEVICE_CLASSES.map((d, i) => [d, i])) as Record<DeviceClass, number>;

/** Each asked-for device's page views (exact) and top pages (a Space-Saving per device, `error` its bound), most views first. */
function deviceSlices(p: ContentPane, devices: readonly DeviceClass[]): NonNullable<ContentWindow['devices']> {
  return devices
    .map((device) => {
      const d = DEVICE_INDEX[device];
      return { device, pageViews: p.deviceViews[d]!, topPages: (p.devicePages[d]?.entries() ?? []).map((x) => ({ page: x.key, count: x.count, error: x.error })) };
    })
    .filter((d) => d.pageViews > 0)
    .sort((a, b) => b.pageViews - a.pageViews || (a.device < b.device ? -1 : 1));
}

export interface ContentSnapshot {
  readonly v: number;
  readonly maxTs: number;
  /** A pane not used since this processor was restored is still the text it was restored from. */
  readonly panes: ReadonlyArray<readonly [number, ContentPaneJSON | JsonPart]>;
}

// ── panes ───────────────────────────────────────────────────────────────────────────────────────

type SketchField = 'pages' | 'products' | 'categories' | 'searches' | 'zeroResults';
const SKETCH_FIELDS: readonly SketchField[] = ['pages', 'products', 'categories', 'searches', 'zeroResults'];
const STRUCTURE: Record<SketchField, string> = {
  pages: 'pages',
  products: 'products',
  categories: 'categories',
  searches: 'search_terms',
  zeroResults: 'zero_result_terms',
};
const TRENDING_FIELDS: ReadonlyArray<readonly [SketchField, TrendingKind]> = [
  ['pages', 'page'],
  ['products', 'product'],
  ['categories', 'category'],
  ['searches', 'search'],
];

type ContentPaneJSON = { pageViews: number; deviceViews?: number[]; devicePages?: Array<SpaceSavingJSON<string> | null>; sl?: SliceSketchesJSON } & Record<SketchField, SpaceSavingJSON<string>>;

class ContentPane {
  pageViews = 0;
  readonly pages: SpaceSaving<string>;
  readonly products: SpaceSaving<string>;
  readonly categories: SpaceSaving<string>;
  readonly searches: SpaceSaving<string>;
  readonly zeroResults: SpaceSaving<string>;
  /** Page views per device class (DEVICE_CLASSES order): exact. */
  readonly deviceViews = new Float64Array(DEVICE_CLASSES.length);
  /** Page views by page per device class (created on the device's first view), for `by=device`; not part of `exact`. */
  readonly devicePages: Array<SpaceSaving<string> | undefined> = new Array<SpaceSaving<string> | undefined>(DEVICE_CLASSES.length).fill(undefined);
  /** Ended sessions by slice, created with the pane's first ended session. */
  sliced: ContentSlices | undefined;
  readonly #settings: ContentSettings;
  readonly #onDeviceEvict: () => void;
  readonly #sliceEvict: { readonly products: () => void; readonly categories: () => void } | undefined;

  constructor(s: ContentSettings, evict: Record<SketchField, () => void>, onDeviceEvict: () => void = () => undefined, sliceEvict?: { readonly products: () => void; readonly categories: () => void }) {
    this.pages = new SpaceSaving(s.maxPages, evict.pages);
    this.products = new SpaceSaving(s.maxProducts, evict.products);
    this.categories = new SpaceSaving(s.maxCategories, evict.categories);
    this.searches = new SpaceSaving(s.maxSearches, evict.searches);
    this.zeroResults = new SpaceSaving(s.maxSearches, evict.zeroResults);
    this.#settings = s;
    this.#onDeviceEvict = onDeviceEvict;
    this.#sliceEvict = sliceEvict;
  }

  /** The pages sketch of a device class, created on first use. */
  devicePagesOf(d: number): SpaceSaving<string> {
    let x = this.devicePages[d];
    if (x === undefined) this.devicePages[d] = x = new SpaceSaving(this.#settings.maxPages, this.#onDeviceEvict);
    return x;
  }

  /** The pane's slices, created on first use. */
  slicedOrNew(): ContentSlices {
    const n = this.#settings.maxSlicedItems;
    return (this.sliced ??= new SliceSketches(SL_WIDTH, { products: n, categories: n }, this.#sliceEvict));
  }

  mergeFrom(o: ContentPane): void {
    this.pageViews += o.pageViews;
    for (const f of SKETCH_FIELDS) this[f].merge(o[f]);
    for (let i = 0; i < DEVICE_CLASSES.length; i++) {
      this.deviceViews[i]! += o.deviceViews[i]!;
      const from = o.devicePages[i];
      if (from !== undefined) this.devicePagesOf(i).merge(from);
    }
    if (o.sliced !== undefined) this.slicedOrNew().mergeFrom(o.sliced);
  }

  get exact(): boolean {
    for (const f of SKETCH_FIELDS) if (!this[f].exact) return false;
    return true;
  }

  toJSON(): ContentPaneJSON {
    return {
      pageViews: this.pageViews,
      pages: this.pages.toJSON(),
      products: this.products.toJSON(),
      categories: this.categories.toJSON(),
      searches: this.searches.toJSON(),
      zeroResults: this.zeroResults.toJSON(),
      deviceViews: Array.from(this.deviceViews),
      devicePages: this.devicePages.map((x) => x?.toJSON() ?? null),
      ...(this.sliced === undefined ? {} : { sl: this.sliced.toJSON() }),
    };
  }
}

// ── processor ───────────────────────────────────────────────────────────────────────────────────

export interface ContentProcessorOptions {
  readonly site: SiteConfig;
  /** Pane length, retention and lateness from `config.time`. */
  readonly time: Pick<Config['time'], 'paneMs' | 'retentionPanes' | 'allowedLatenessMs'>;
  readonly context: ProcessorContext;
  /** Overrides `site.processors.content` (tests, benchmarks). */
  readonly settings?: ContentSettings;
  /** When given, the Space-Saving error bound (1 / capacity) of each structure is exported. */
  readonly metrics?: Pick<CoreMetrics, 'sketchErrorBound'>;
  /** How a landing page maps to a channel, for slices (the site's usage settings; default rules without). */
  readonly channels?: ChannelRules;
}

/**
 * What shoppers look at (DESIGN.md §5): top pages, products, categories and site-search terms,
 * zero-result searches, and what is *trending*.
 *
 * Trending is growth, not volume: for each key the baseline is an EWMA of its counts in the
 * `trendingHistory` earlier windows of the same size (oldest first, weight α on the newer one), scaled
 * by the elapsed share of the window when it is still open; the score is
 * (count − baseline) / sqrt(baseline + 1), i.e. the excess in Poisson standard deviations, so a page
 * going from 0 to 12 views outranks one steady at 10,000.
 *
 * Counts live per pane in Space-Saving summaries (exact while under their capacity), merged on query.
 */
export class ContentProcessor implements Processor<ContentSnapshot> {
  readonly name = 'content';
  readonly settings: ContentSettings;
  readonly #searchParam: string;
  readonly #store: PaneStore<ContentPane>;
  readonly #evict: Record<SketchField, () => void>;
  readonly #deviceEvict: () => void;
  readonly #sliceEvict: { readonly products: () => void; readonly categories: () => void };
  readonly #onFold: () => void;
  readonly #channels: ChannelRules;
  #watermark = Number.NEGATIVE_INFINITY;
  /** Latest event time counted: how far an open window has elapsed. */
  #maxTs = Number.NEGATIVE_INFINITY;

  constructor(opts: ContentProcessorOptions) {
    const site = opts.site;
    this.settings = opts.settings ?? parseContentSettings(site.processors['content'], site.id);
    this.#searchParam = site.urlRules.searchParam;
    const ctx = opts.context;
    const evict = {} as Record<SketchField, () => void>;
    for (const f of SKETCH_FIELDS) {
      const structure = STRUCTURE[f];
      evict[f] = () => ctx.onEvict('content', structure, 1);
    }
    this.#evict = evict;
    this.#deviceEvict = () => ctx.onEvict('content', 'device_pages', 1);
    this.#sliceEvict = { products: () => ctx.onEvict('content', 'sliced_products', 1), categories: () => ctx.onEvict('content', 'sliced_categories', 1) };
    this.#onFold = () => ctx.onEvict('content', 'slices', 1);
    this.#channels = opts.channels ?? DEFAULT_CHANNEL_RULES;
    this.#store = new PaneStore<ContentPane>({
      paneMs: opts.time.paneMs,
      // Retention follows the watermark (expire); the cap only binds when partitions drift far apart.
      maxPanes: 2 * opts.time.retentionPanes,
      allowedLatenessMs: opts.time.allowedLatenessMs,
      retainMs: opts.time.paneMs * opts.time.retentionPanes,
      ops: {
        create: () => new ContentPane(this.settings, this.#evict, this.#deviceEvict, this.#sliceEvict),
        mergeInto: (into, from) => into.mergeFrom(from),
        toJSON: (p) => p.toJSON(),
        fromJSON: (j) => this.#paneFromJSON(j as ContentPaneJSON),
      },
      onEvict: (n) => ctx.onEvict('content', 'panes', n),
    });
    if (opts.metrics !== undefined) {
      const g = opts.metrics.sketchErrorBound;
      g.set({ sketch: 'content_pages' }, 1 / this.settings.maxPages);
      g.set({ sketch: 'content_products' }, 1 / this.settings.maxProducts);
      g.set({ sketch: 'content_categories' }, 1 / this.settings.maxCategories);
      g.set({ sketch: 'content_searches' }, 1 / this.settings.maxSearches);
    }
  }

  onEvent(e: EnrichedEvent, watermark: EpochMillis): EventOutcome {
    if (watermark > this.#watermark) this.#watermark = watermark;
    const ev = e.event;
    if (ev.type !== 'page_view') return OK; // content is about what is viewed
    const loc = this.#store.locate(e.ts, watermark);
    if (loc.kind === 'late') return LATE;
    if (e.ts > this.#maxTs) this.#maxTs = e.ts;
    this.#pageView(loc.pane, e.page, ev);
    const d = DEVICE_INDEX[e.device ?? 'unknown'];
    loc.pane.deviceViews[d]! += 1;
    loc.pane.devicePagesOf(d).add(e.page);
    return loc.kind === 'ok' ? OK : REVISION;
  }

  onSession(signal: SessionSignal, watermark: EpochMillis): void {
    if (watermark > this.#watermark) this.#watermark = watermark;
    // Slices count a session when it ends, in the pane of its last event; a re-open takes it back.
    if (signal.kind === 'closed') this.#sliceEnded(signal.session, 1);
    else if (signal.kind === 'reopened') this.#sliceEnded(signal.session, -1);
  }

  /**
   * What an ended session adds to (or takes back from) its slice: the session and its page views, each
   * product it viewed and each category of those, once. The slice key is a function of the summary and
   * of the pane's slices, so a retraction finds the key its count went to.
   */
  #sliceEnded(s: SessionSummary, sign: 1 | -1): void {
    if (s.pageViews === 0) return;
    const p = sign === 1 ? this.#store.paneAt(s.end) : this.#store.peek(s.end);
    if (p === undefined) return; // beyond retention
    const sl = p.slicedOrNew();
    const key = boundedSliceKey(sessionDimensions(s, this.#channels), sl.counts, this.settings.maxSlicesPerPane, sign === 1 ? this.#onFold : undefined);
    const row = sl.row(key);
    row[SL.sessions]! += sign;
    row[SL.pageViews]! += sign * s.pageViews;
    let cats: string[] | undefined;
    for (const id of s.viewed) {
      sl.change('products', key, id, sign);
      const c = s.categories[id];
      if (c !== undefined && !(cats ??= []).includes(c)) cats.push(c);
    }
    for (const c of cats ?? []) sl.change('categories', key, c, sign);
  }

  onWatermark(watermark: EpochMillis, retention: EpochMillis = watermark): void {
    if (watermark > this.#watermark) this.#watermark = watermark;
    this.#store.expire(retention);
  }

  get watermark(): number {
    return this.#watermark;
  }

  /**
   * Windows of `sizeMs` (a multiple of the pane), newest first (the open one included), at most
   * `limit`, older than the window starting at `before` when given. Lists are complete and sorted.
   */
  windows(sizeMs: number, limit: number, opts: ContentWindowOptions = {}): ContentWindow[] {
    return ContentProcessor.windowsOf([this], sizeMs, limit, opts);
  }

  /** `windows` over the processors of several partitions (same settings): each window merges all their panes. */
  static windowsOf(parts: readonly ContentProcessor[], sizeMs: number, limit: number, opts: ContentWindowOptions = {}): ContentWindow[] {
    const first = parts[0];
    if (first === undefined) return [];
    const wm = opts.watermark ?? lowestWatermark(parts.map((p) => p.#watermark));
    const stores = parts.map((p) => p.#store);
    let maxTs = Number.NEGATIVE_INFINITY;
    for (const p of parts) if (p.#maxTs > maxTs) maxTs = p.#maxTs;
    const views = PaneStore.windowsAcross(stores, sizeMs, wm, limit, opts.before === undefined ? {} : { before: opts.before });
    const history = new Map<number, ContentPane | undefined>();
    const at = (start: number): ContentPane | undefined => {
      if (!history.has(start)) history.set(start, PaneStore.rangeAcross(stores, start, start + sizeMs));
      return history.get(start);
    };
    return views.map((w) => {
      const earlier: Array<ContentPane | undefined> = [];
      for (let k = first.settings.trendingHistory; k >= 1; k--) earlier.push(at(w.start - k * sizeMs));
      // Share of an open window that has elapsed (by the newest event time counted), at least 5 %.
      const elapsed = w.closed ? 1 : Math.min(1, Math.max(0.05, (Math.min(Math.max(maxTs, wm), w.end) - w.start) / sizeMs));
      const rendered = first.#render(w.start, w.end, w.closed, w.value, earlier, elapsed);
      return {
        ...rendered,
        ...(opts.devices === undefined ? {} : { devices: deviceSlices(w.value, opts.devices) }),
        ...(opts.slices === undefined ? {} : { slices: contentSliceTable(w.value.sliced, opts.slices) }),
      };
    });
  }

  snapshot(): ContentSnapshot {
    return { v: SNAPSHOT_VERSION, maxTs: this.#maxTs, panes: this.#store.snapshotParts() };
  }

  restore(snapshot: ContentSnapshot): void {
    this.#checkSnapshot(snapshot);
    this.#store.clear();
    this.#maxTs = Number.NEGATIVE_INFINITY;
    this.merge(snapshot);
  }

  merge(partial: ContentSnapshot): void {
    this.#checkSnapshot(partial);
    // TRICKY: JSON turns −Infinity into null.
    if (typeof partial.maxTs === 'number' && partial.maxTs > this.#maxTs) this.#maxTs = partial.maxTs;
    for (const [start, j] of partial.panes) this.#store.mergeJSON(start, j);
  }

  #paneFromJSON(j: ContentPaneJSON): ContentPane {
    const p = new ContentPane(this.settings, this.#evict, this.#deviceEvict, this.#sliceEvict);
    p.pageViews = j.pageViews;
    for (const f of SKETCH_FIELDS) p[f].mergeJSON(j[f]);
    j.deviceViews?.forEach((n, i) => (p.deviceViews[i] = n));
    j.devicePages?.forEach((x, i) => {
      if (x !== null) p.devicePagesOf(i).mergeJSON(x);
    });
    if (j.sl !== undefined) p.slicedOrNew().mergeJSON(j.sl);
    return p;
  }

  #pageView(p: ContentPane, page: string, ev: PageViewEvent): void {
    p.pageViews++;
    p.pages.add(page);
    const product = ev.product;
    if (product !== undefined) {
      p.products.add(product.id);
      if (product.category !== undefined) p.categories.add(product.category);
    }
    let query: string | undefined;
    let zero = false;
    if (ev.search !== undefined) {
      query = ev.search.query;
      zero = ev.search.results === 0;
    } else if (ev.url.includes('?')) {
      query = UrlNormaliser.param(ev.url, this.#searchParam);
    }
    if (query === undefined) return;
    const term = normaliseQuery(query);
    if (term === '') return;
    p.searches.add(term);
    if (zero) p.zeroResults.add(term);
  }

  #render(start: EpochMillis, end: EpochMillis, closed: boolean, p: ContentPane, earlier: ReadonlyArray<ContentPane | undefined>, elapsed: number): ContentWindow {
    const ids = (s: SpaceSaving<string>): ContentCount[] => s.entries().map((x) => ({ id: x.key, count: x.count, error: x.error }));
    const searchList = p.searches.entries();
    const s = this.settings;
    const trending: TrendingItem[] = [];
    for (const [field, kind] of TRENDING_FIELDS) {
      const list = field === 'searches' ? searchList : p[field].entries();
      const n = Math.min(list.length, s.trendingCandidates);
      for (let i = 0; i < n; i++) {
        const x = list[i]!;
        if (x.count < s.trendingMinCount) break; // sorted by count: the rest are below too
        let ewma: number | undefined;
        let seen = false;
        for (const pane of earlier) {
          const c = pane?.[field].get(x.key)?.count ?? 0;
          if (c > 0) seen = true;
          ewma = ewma === undefined ? c : s.trendingAlpha * c + (1 - s.trendingAlpha) * ewma;
        }
        const baseline = (ewma ?? 0) * elapsed;
        const score = (x.count - baseline) / Math.sqrt(baseline + 1);
        if (score > 0) trending.push({ kind, id: x.key, count: x.count, baseline, score, isNew: !seen });
      }
    }
    trending.sort((a, b) => b.score - a.score || b.count - a.count || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return {
      start,
      end,
      closed,
      pageViews: p.pageViews,
      searchCount: p.searches.total,
      topPages: p.pages.entries().map((x) => ({ page: x.key, count: x.count, error: x.error })),
      topProducts: ids(p.products),
      topCategories: ids(p.categories),
      searches: searchList.map((x) => ({ query: x.key, count: x.count, zeroResults: p.zeroResults.get(x.key)?.count ?? 0 })),
      zeroResultSearches: p.zeroResults.entries().map((x) => ({ query: x.key, count: x.count })),
      trending,
      exact: p.exact,
    };
  }

  #checkSnapshot(s: ContentSnapshot): void {
    if (s?.v !== SNAPSHOT_VERSION || !Array.isArray(s.panes)) {
      throw new ClickstreamError('CM_ERR_SNAPSHOT', `content snapshot version ${String(s?.v)} is not ${SNAPSHOT_VERSION}`);
    }
  }
}

/** Search terms compare case- and space-insensitively; bounded length. */
function normaliseQuery(q: string): string {
  const t = q.trim().toLowerCase().replace(/\s+/g, ' ');
  return t.length > MAX_QUERY_CHARS ? t.slice(0, MAX_QUERY_CHARS) : t;
}

/** A site's content statistics over all its partitions (`Pipeline.processor(site, 'content')`). */
export class ContentView implements SiteView {
  readonly name = 'content';
  readonly #parts: PartitionSets;

  constructor(parts: PartitionSets) {
    this.#parts = parts;
  }

  windows(sizeMs: number, limit: number, opts: ContentWindowOptions = {}): ContentWindow[] {
    return ContentProcessor.windowsOf(this.#parts.of<ContentProcessor>('content'), sizeMs, limit, opts);
  }
}
