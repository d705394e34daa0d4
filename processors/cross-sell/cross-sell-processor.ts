import { BoundedLru } from '../../src/bounded-lru';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { EnrichedEvent, SessionSignal, SessionSummary } from '../../src/events/enriched-event';
import { ClickstreamError } from '../../src/errors';
import { PaneStore } from '../../src/pipeline/pane-store';
import { partitionShare } from '../../src/pipeline/visitor-partitioner';
import { epochMillis, type EpochMillis, type SiteId } from '../../src/types';
import { LATE, OK, REVISION, type EventOutcome, type Processor, type SiteView } from '../processor';
import type { Config, SiteConfig } from '../../src/config';
import { parseCrossSellSettings, type CrossSellSettings } from './cross-sell-settings';
import { ItemsetCounter, type CountErrorBound, type ItemsetCounterOptions, type ItemsetCounterSnapshot } from './itemset-counter';
import { SEQ_AFTER, SEQ_BEFORE, frequentItemsets, minCountFor, mineRules, type FrequentItemset } from './rule-miner';
import { RuleSet, compareRules, topRules, type BasketSource, type Rule, type RuleKind, type RuleLevel, type RuleSetBaskets } from './rule-set';

/** Where rule changes go (the app wires NATS `cm.rules.<site>` when configured). */
export interface RulePublisher {
  publish(subject: string, data: Uint8Array): void;
}

export interface CrossSellOptions {
  readonly site: SiteId;
  readonly settings: CrossSellSettings;
  /** How long after a pane fired a late purchase still revises it, ms (config.time.allowedLatenessMs). */
  readonly allowedLatenessMs: number;
  /** Counts evictions from bounded state (processor and structure names: closed label sets). */
  readonly onEvict?: (processor: string, structure: string, n: number) => void;
  /** Registry for the cross-sell metrics; none = no metrics. */
  readonly registry?: Registry;
}

/** A sequence as counted (prefixed items and the ordered pairs `[<x, >y]`), so it can be retracted exactly. */
interface CountedSequence {
  readonly items: readonly string[];
  readonly pairs: ReadonlyArray<readonly [string, string]>;
}

/** A closed session's basket and view sequences as counted, so a re-opened session retracts exactly that. */
interface TrackedBasket {
  /** Event time of the pane it was counted in, epoch ms. */
  readonly ts: number;
  readonly products: readonly string[];
  readonly categories: readonly string[];
  /** "Viewed A, then B later in the same visit", product and category level (absent: none counted). */
  readonly viewProducts?: CountedSequence;
  readonly viewCategories?: CountedSequence;
}

/** A visitor's purchase sequence as last counted (one sequence per visitor, in the pane of its latest purchase). */
interface TrackedVisitorSequence {
  readonly ts: number;
  readonly products: CountedSequence;
  readonly categories: CountedSequence;
}

/** One purchase in a visitor's history (sequential rules). */
interface HistoryEntry {
  /** Session id. */
  readonly s: string;
  /** Event time of the (last) purchase in that session, epoch ms. */
  t: number;
  /** Products bought. */
  p: string[];
  /** Their categories. */
  c: string[];
}

/** One partition's counts and the visitor state behind them. */
export interface CrossSellSnapshot {
  readonly v: 3;
  readonly streams: ReadonlyArray<{ readonly id: string; readonly panes: ReadonlyArray<readonly [number, ItemsetCounterSnapshot]> }>;
  readonly sessions: ReadonlyArray<readonly [string, TrackedBasket]>;
  readonly history: ReadonlyArray<readonly [string, readonly HistoryEntry[]]>;
  /** Visitor purchase sequences as counted. */
  readonly sequences?: ReadonlyArray<readonly [string, TrackedVisitorSequence]>;
  /** Counts changed since the site's rules last looked. */
  readonly dirty?: boolean;
}

/**
 * A site's mined rules (`CrossSellRules`): the rule sets as last mined, and when (a restored process
 * serves the same rules until its next recompute, which falls where the uninterrupted one's would).
 */
export interface CrossSellRulesSnapshot {
  readonly v: 1;
  readonly ruleSets: ReadonlyArray<readonly [string, { readonly version: number; readonly window: { readonly start: number; readonly end: number }; readonly baskets: RuleSet['baskets']; readonly errorBound: number; readonly rules: readonly Rule[] }]>;
  readonly recompute: { readonly watermark: number; readonly last: number | null; readonly lastPane: number | null; readonly dirty: boolean };
}

/** A window's leading panes merged once and kept, while none of them changes (see #window). */
interface WindowPrefix {
  /** The panes merged into `acc`, oldest first. */
  readonly panes: readonly ItemsetCounter[];
  /** Their versions when merged. */
  readonly versions: readonly number[];
  /** Their merge, never modified (cloned before more panes are merged in); undefined when `panes` is empty. */
  readonly acc: ItemsetCounter | undefined;
  /** Every pane of the window at its last computation with its version then: which panes stay unchanged. */
  readonly seen: ReadonlyMap<ItemsetCounter, number>;
}

interface StreamSpec {
  readonly id: string;
  readonly source: BasketSource;
  readonly level: RuleLevel;
  readonly kind: RuleKind;
}

interface Stream extends StreamSpec {
  /** Its place in STREAMS. */
  readonly index: number;
  readonly store: PaneStore<ItemsetCounter>;
}

/**
 * Where a partition's pane changes also go: the site's rules keep one set of panes for the whole
 * site, changed by the same operations (mining then merges no partitions), rebuilt from the
 * partitions' panes when they are restored.
 */
export interface BasketSink {
  add(stream: number, ts: number, basket: readonly string[]): void;
  remove(stream: number, ts: number, basket: readonly string[]): void;
  addSequence(stream: number, ts: number, items: readonly string[], pairs: ReadonlyArray<readonly [string, string]>, sign: 1 | -1): void;
  /** A restored or merged pane of a partition, folded in. */
  mergePane(stream: number, start: number, pane: ItemsetCounter): void;
}

const spec = (source: BasketSource, level: RuleLevel, kind: RuleKind): StreamSpec => Object.freeze({ id: streamId(source, level, kind), source, level, kind });

/** The basket streams every partition counts, in this order (`panes(i)`). */
const STREAMS: readonly StreamSpec[] = Object.freeze([
  spec('purchase', 'product', 'association'),
  spec('purchase', 'category', 'association'),
  spec('session', 'product', 'association'),
  spec('session', 'category', 'association'),
  spec('purchase', 'product', 'sequential'),
  spec('purchase', 'category', 'sequential'),
  spec('session', 'product', 'sequential'),
  spec('session', 'category', 'sequential'),
]);

const NAME = 'cross-sell';
const SNAPSHOT_VERSION = 3;

/** How many basket streams a partition counts (`CrossSellProcessor.panes(i)`, i below this). */
export const CROSS_SELL_STREAM_COUNT = STREAMS.length;

function checkVersion(v: number): void {
  if (v !== SNAPSHOT_VERSION) throw new ClickstreamError('CM_ERR_SNAPSHOT', `cross-sell snapshot version ${String(v)} is not ${SNAPSHOT_VERSION}`);
}
const EMPTY: readonly string[] = Object.freeze([]);

/**
 * Cross-sell rules (DESIGN.md §5): association rules from purchase baskets (a form submit with
 * items, counted at the event) and session baskets (products viewed / carted / bought, weighted,
 * counted when the sessionizer closes the session and retracted if it re-opens), at product and
 * category level; sequential rules "bought X in an earlier session, later bought Y" within a horizon.
 *
 * Counts live in panes (PaneStore of ItemsetCounter: exact within capacity, bounded beyond); each
 * sliding window (e.g. the last hour, the last day) is the merge of its panes, computed when the rules
 * are recomputed — on the watermark, at most once per `recomputeEveryMs` of event time — together
 * with the window just before it, for each rule's change. A changed rule set gets a new version and
 * goes to the listeners and the publisher (primary window only, the first configured).
 */
export class CrossSellProcessor implements Processor<CrossSellSnapshot> {
  readonly name = NAME;
  readonly site: SiteId;
  readonly settings: CrossSellSettings;
  readonly #streams: readonly Stream[];
  readonly #purchaseProduct: Stream;
  readonly #purchaseCategory: Stream;
  readonly #sessionProduct: Stream;
  readonly #sessionCategory: Stream;
  readonly #seqProduct: Stream;
  readonly #seqCategory: Stream;
  readonly #viewSeqProduct: Stream;
  readonly #viewSeqCategory: Stream;
  /** Visitor → its purchase sequence as counted (bounded like the history). */
  readonly #sequences: BoundedLru<string, TrackedVisitorSequence>;
  readonly #sessions: BoundedLru<string, TrackedBasket>;
  readonly #history: BoundedLru<string, HistoryEntry[]>;
  readonly #counterOptions: ItemsetCounterOptions;
  readonly #onEvict: (structure: string, n: number) => void;
  readonly #metrics: CrossSellMetrics | undefined;
  /** Counts changed since the site's rules last looked (`takeDirty`). */
  #dirty = false;
  #sink: BasketSink | undefined;
  readonly allowedLatenessMs: number;

  constructor(o: CrossSellOptions) {
    this.site = o.site;
    this.settings = o.settings;
    this.allowedLatenessMs = o.allowedLatenessMs;
    const s = o.settings;
    const onEvict = o.onEvict;
    this.#onEvict = (structure, n) => onEvict?.(NAME, structure, n);
    this.#counterOptions = counterOptionsOf(s, this.#onEvict);
    this.#streams = STREAMS.map((sp, index) => ({ ...sp, index, store: counterPanes(s, o.allowedLatenessMs, this.#counterOptions, (n) => this.#onEvict('panes', n)) }));
    [this.#purchaseProduct, this.#purchaseCategory, this.#sessionProduct, this.#sessionCategory, this.#seqProduct, this.#seqCategory, this.#viewSeqProduct, this.#viewSeqCategory] = this.#streams as [Stream, Stream, Stream, Stream, Stream, Stream, Stream, Stream];
    this.#sequences = new BoundedLru<string, TrackedVisitorSequence>({
      max: s.maxVisitors,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') this.#onEvict('visitor_sequences', 1);
      },
    });
    this.#sessions = new BoundedLru<string, TrackedBasket>({
      max: s.maxTrackedSessions,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') this.#onEvict('sessions', 1);
      },
    });
    this.#history = new BoundedLru<string, HistoryEntry[]>({
      max: s.maxVisitors,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') this.#onEvict('visitors', 1);
      },
    });
    this.#metrics = o.registry === undefined ? undefined : crossSellMetrics(o.registry);
  }

  /**
   * A partition's processor for a configured site: settings from `site.processors['cross-sell']`,
   * lateness from the config's time section; the visitor bounds are the site's, shared evenly by
   * `config.partitions` (visitors hash evenly).
   */
  static forSite(site: SiteConfig, deps: { readonly config: Config; readonly registry?: Registry; readonly onEvict?: CrossSellOptions['onEvict'] }): CrossSellProcessor {
    const settings = crossSellSettingsOf(site);
    const share = (bound: number): number => partitionShare(bound, deps.config.partitions);
    return new CrossSellProcessor({
      site: site.id,
      settings: { ...settings, maxVisitors: share(settings.maxVisitors), maxTrackedSessions: share(settings.maxTrackedSessions) },
      allowedLatenessMs: deps.config.time.allowedLatenessMs,
      ...(deps.onEvict !== undefined ? { onEvict: deps.onEvict } : {}),
      ...(deps.registry !== undefined ? { registry: deps.registry } : {}),
    });
  }

  onEvent(e: EnrichedEvent, watermark: EpochMillis): EventOutcome {
    const ev = e.event;
    if (ev.type !== 'form' || ev.action !== 'submit' || ev.items === undefined || ev.items.length === 0 || e.bot) return OK;
    const s = this.settings;
    const products: string[] = [];
    const categories: string[] = [];
    for (const item of ev.items) {
      products.push(item.productId);
      if (item.category !== undefined && item.category !== '') categories.push(item.category);
    }
    // All streams share the pane layout, so one lateness verdict holds for all of them.
    const loc = this.#purchaseProduct.store.locate(e.ts, watermark);
    if (loc.kind === 'late') return LATE;
    if (s.purchaseBaskets) {
      this.#add(this.#purchaseProduct, loc.pane, e.ts, products);
      this.#metrics?.baskets.inc({ site: this.site, source: 'purchase' });
      if (s.categoryLevel && categories.length > 0) this.#add(this.#purchaseCategory, this.#paneAt(this.#purchaseCategory, e.ts), e.ts, categories);
    }
    if (s.sequential) this.#sequence(e.visitorId, e.session.id, e.ts, products, categories);
    this.#dirty = true;
    return loc.kind === 'revision' ? REVISION : OK;
  }

  /** A visitor's purchase sessions as counted for sequential rules (within the horizon), oldest first; undefined when not held. */
  historyOf(visitorId: string): ReadonlyArray<{ readonly t: number; readonly p: readonly string[] }> | undefined {
    return this.#history.peek(visitorId);
  }

  onSession(signal: SessionSignal, _watermark: EpochMillis): void {
    if (!this.settings.sessionBaskets && !this.settings.sequential) return;
    switch (signal.kind) {
      case 'started':
      case 'revised':
        return;
      case 'closed':
        this.#countSession(signal.session);
        return;
      case 'reopened':
        this.#retractSession(signal.session);
        return;
      case 'merged':
        this.#retractSession(signal.absorbed);
        return;
      default: {
        const _: never = signal;
        return _;
      }
    }
  }

  onWatermark(_watermark: EpochMillis, retention: EpochMillis = _watermark): void {
    for (const st of this.#streams) st.store.expire(retention);
  }

  /** The retained panes of stream `i` (STREAMS order), oldest first: read only, for the site's rules. */
  panes(i: number): ReadonlyArray<readonly [number, ItemsetCounter]> {
    return this.#streams[i]!.store.entries();
  }

  /** True when counts changed since the last call (the site's rules then recompute). */
  takeDirty(): boolean {
    const d = this.#dirty;
    this.#dirty = false;
    return d;
  }

  snapshot(): CrossSellSnapshot {
    return {
      v: SNAPSHOT_VERSION,
      streams: this.#streams.map((st) => ({ id: st.id, panes: st.store.entries().map(([t, c]) => [t, c.snapshot()] as const) })),
      // Least recently used first (v3; v2 wrote the newest first, so a restore reversed the eviction order).
      sessions: [...this.#sessions.rentries()],
      history: [...this.#history.rentries()],
      sequences: [...this.#sequences.rentries()],
      dirty: this.#dirty,
    };
  }

  restore(snapshot: CrossSellSnapshot): void {
    checkVersion(snapshot.v);
    for (const st of this.#streams) st.store.clear();
    this.#sessions.clear();
    this.#history.clear();
    this.#sequences.clear();
    this.merge(snapshot);
    this.#dirty = snapshot.dirty ?? true;
  }

  /** Folds in a partial from another partition: pane counts add up; sessions and visitors are disjoint. */
  merge(partial: CrossSellSnapshot): void {
    checkVersion(partial.v);
    for (const ps of partial.streams) {
      const st = this.#streams.find((x) => x.id === ps.id);
      if (st === undefined) continue;
      for (const [t, c] of ps.panes) {
        const pane = ItemsetCounter.fromSnapshot(c, this.#counterOptions);
        this.#sink?.mergePane(st.index, t, pane);
        st.store.mergePane(t, pane);
      }
    }
    for (const [k, v] of partial.sessions) if (!this.#sessions.has(k)) this.#sessions.set(k, v);
    for (const [k, entries] of partial.history) {
      const mine = this.#history.get(k) ?? [];
      const sessions = new Set(mine.map((h) => h.s));
      for (const h of entries) if (!sessions.has(h.s)) mine.push({ s: h.s, t: h.t, p: [...h.p], c: [...h.c] });
      mine.sort((a, b) => a.t - b.t);
      this.#history.set(k, mine);
    }
    for (const [k, v] of partial.sequences ?? []) if (!this.#sequences.has(k)) this.#sequences.set(k, v);
    this.#dirty = true;
  }

  /** Sends every change from now on to `sink` too, after folding in every pane held now. */
  attachSink(sink: BasketSink): void {
    this.#sink = sink;
    for (const st of this.#streams) for (const [t, pane] of st.store.entries()) sink.mergePane(st.index, t, pane);
  }

  #add(st: Stream, pane: ItemsetCounter | undefined, ts: number, basket: readonly string[]): void {
    if (pane === undefined) return; // beyond retention (counted by the pane store)
    pane.add(basket);
    this.#sink?.add(st.index, ts, basket);
  }

  #remove(st: Stream, ts: number, basket: readonly string[]): void {
    const pane = st.store.peek(ts);
    if (pane === undefined) return;
    pane.remove(basket);
    this.#sink?.remove(st.index, ts, basket);
  }

  #addSequence(st: Stream, pane: ItemsetCounter | undefined, ts: number, seq: CountedSequence, sign: 1 | -1): void {
    if (pane === undefined) return;
    pane.addSequence(seq.items, seq.pairs, sign);
    this.#sink?.addSequence(st.index, ts, seq.items, seq.pairs, sign);
  }

  /** A pane for a basket that is complete only now (a closed session): no lateness verdict applies. */
  #paneAt(st: Stream, ts: number): ItemsetCounter | undefined {
    // TRICKY: a session closes when the watermark passes its end + gap, long after its panes fired;
    // passing `ts` as the watermark places it without calling it late (retention still applies).
    // Undefined only beyond retention (the pane store counted that eviction).
    const loc = st.store.locate(ts, ts);
    return loc.kind === 'late' ? undefined : loc.pane;
  }

  #countSession(summary: SessionSummary): void {
    const w = this.settings.sessionWeights;
    const products: string[] = [];
    const categories: string[] = [];
    if (this.settings.sessionBaskets) {
      const score = new Map<string, number>();
      const addScore = (ids: readonly string[], weight: number): void => {
        for (const id of ids) score.set(id, (score.get(id) ?? 0) + weight);
      };
      addScore(summary.viewed, w.viewed);
      addScore(summary.carted, w.carted);
      addScore(summary.bought, w.bought);
      for (const [id, sc] of score) {
        if (sc < w.threshold) continue;
        products.push(id);
        const cat = summary.categories[id];
        if (cat !== undefined && cat !== '') categories.push(cat);
      }
    }
    const views = this.settings.sequential ? viewSequences(summary, this.settings.categoryLevel) : undefined;
    if (products.length === 0 && views === undefined) return;
    const key = sessionKey(summary);
    // A session closed twice without a re-open in between is counted once (the later summary wins).
    this.#retractSession(summary);
    const ts = summary.end;
    const cats = this.settings.categoryLevel && categories.length > 0 ? categories : EMPTY;
    if (products.length > 0) {
      this.#add(this.#sessionProduct, this.#paneAt(this.#sessionProduct, ts), ts, products);
      if (cats.length > 0) this.#add(this.#sessionCategory, this.#paneAt(this.#sessionCategory, ts), ts, cats);
      this.#metrics?.baskets.inc({ site: this.site, source: 'session' });
    }
    if (views !== undefined) {
      this.#addSequence(this.#viewSeqProduct, this.#paneAt(this.#viewSeqProduct, ts), ts, views.products, 1);
      if (views.categories !== undefined) this.#addSequence(this.#viewSeqCategory, this.#paneAt(this.#viewSeqCategory, ts), ts, views.categories, 1);
    }
    this.#sessions.set(key, {
      ts,
      products,
      categories: cats,
      ...(views === undefined ? {} : { viewProducts: views.products, ...(views.categories === undefined ? {} : { viewCategories: views.categories }) }),
    });
    this.#dirty = true;
  }

  #retractSession(summary: SessionSummary): void {
    const key = sessionKey(summary);
    const tracked = this.#sessions.get(key);
    if (tracked === undefined) return;
    this.#sessions.delete(key);
    if (tracked.products.length > 0) this.#remove(this.#sessionProduct, tracked.ts, tracked.products);
    if (tracked.categories.length > 0) this.#remove(this.#sessionCategory, tracked.ts, tracked.categories);
    if (tracked.viewProducts !== undefined) this.#addSequence(this.#viewSeqProduct, this.#viewSeqProduct.store.peek(tracked.ts), tracked.ts, tracked.viewProducts, -1);
    if (tracked.viewCategories !== undefined) this.#addSequence(this.#viewSeqCategory, this.#viewSeqCategory.store.peek(tracked.ts), tracked.ts, tracked.viewCategories, -1);
    this.#dirty = true;
  }

  /**
   * Sequential purchase rules with sequence support: a visitor's purchases in distinct sessions (within
   * the horizon, bounded) are one sequence; it holds "X then Y" when X was bought in a session before
   * one in which Y was bought. The whole sequence counts once, in the pane of its latest purchase: each
   * purchase retracts the visitor's previous count and counts the updated sequence, so a shopper who
   * buys the same thing again and again still counts once, and arrival order does not matter.
   */
  #sequence(visitor: string, session: string, ts: number, products: readonly string[], categories: readonly string[]): void {
    const s = this.settings;
    const history = this.#history.get(visitor) ?? [];
    let entry = history.find((h) => h.s === session);
    if (entry === undefined) {
      entry = { s: session, t: ts, p: [], c: [] };
      history.push(entry);
    } else if (ts > entry.t) entry.t = ts;
    for (const p of products) if (!entry.p.includes(p) && entry.p.length < s.maxHistoryItems) entry.p.push(p);
    for (const c of categories) if (!entry.c.includes(c) && entry.c.length < s.maxHistoryItems) entry.c.push(c);
    history.sort((a, b) => a.t - b.t || (a.s < b.s ? -1 : a.s > b.s ? 1 : 0));
    // Sessions older than the horizon before the latest purchase leave the sequence; at most maxHistoryItems sessions.
    const latest = history[history.length - 1]!.t;
    while (history.length > 0 && (history.length > s.maxHistoryItems || latest - history[0]!.t > s.sequentialHorizonMs)) history.shift();
    this.#history.set(visitor, history);

    const old = this.#sequences.get(visitor);
    if (old !== undefined) {
      this.#addSequence(this.#seqProduct, this.#seqProduct.store.peek(old.ts), old.ts, old.products, -1);
      if (old.categories.items.length > 0) this.#addSequence(this.#seqCategory, this.#seqCategory.store.peek(old.ts), old.ts, old.categories, -1);
    }
    const counted: TrackedVisitorSequence = {
      ts: latest,
      products: orderedSequence(history.map((h) => [h.t, h.p] as const)),
      categories: s.categoryLevel ? orderedSequence(history.map((h) => [h.t, h.c] as const)) : EMPTY_SEQUENCE,
    };
    this.#addSequence(this.#seqProduct, this.#paneAt(this.#seqProduct, latest), latest, counted.products, 1);
    if (counted.categories.items.length > 0) this.#addSequence(this.#seqCategory, this.#paneAt(this.#seqCategory, latest), latest, counted.categories, 1);
    this.#sequences.set(visitor, counted);
  }
}

/** What the site's rules need besides the partitions (the app wires NATS `cm.rules.<site>` as the publisher). */
export interface CrossSellRulesOptions {
  readonly site: SiteId;
  readonly settings: CrossSellSettings;
  /** The site's cross-sell processors, one per partition held: each sends its pane changes here too. */
  readonly parts: () => readonly CrossSellProcessor[];
  /** How long after a pane fired a late purchase still revises it, ms (config.time.allowedLatenessMs). */
  readonly allowedLatenessMs: number;
  readonly onEvict?: (processor: string, structure: string, n: number) => void;
  readonly registry?: Registry;
  readonly publisher?: RulePublisher;
  /**
   * Scaled out: the rules are mined by the instance holding the site's rules role over every partition
   * and adopted here (`adopt`); this view then never mines the partitions it holds on its own.
   */
  readonly adoptsRules?: boolean;
}

/**
 * A site's cross-sell rules (`Pipeline.processor(site, 'cross-sell')`): every partition counts its own
 * baskets; each sliding window (e.g. the last hour, the last day) is the merge of every partition's
 * panes in it, mined when the rules are recomputed — on the site watermark, at most once per
 * `recomputeEveryMs` of event time — together with the window just before it, for each rule's change.
 * A changed rule set gets a new version and goes to the listeners and the publisher (primary window
 * only, the first configured). Exact counts give the rules of one counter over all baskets.
 */
/** Panes of rule history kept (the primary window's rules at each). */
export const RULE_HISTORY_POINTS = 60;
/** Rules kept per history point (the rule set's first, by its order). */
export const RULE_HISTORY_RULES = 500;

/** A rule's identity across recomputes: level, kind, antecedent and consequent. */
export function ruleKey(r: Pick<Rule, 'antecedent' | 'consequent' | 'level' | 'kind'>): string {
  return `${r.level}|${r.kind}|${r.antecedent.join('\u0001')}|${r.consequent.join('\u0001')}`;
}

export class CrossSellRules implements SiteView, BasketSink {
  readonly name = NAME;
  readonly site: SiteId;
  readonly settings: CrossSellSettings;
  readonly #parts: () => readonly CrossSellProcessor[];
  readonly #counterOptions: ItemsetCounterOptions;
  readonly #publisher: RulePublisher | undefined;
  readonly #listeners = new Set<(rs: RuleSet) => void>();
  readonly #ruleSets = new Map<string, RuleSet>();
  /** Each window's rule-set signature as last installed (a change check compares it with the new one's). */
  readonly #signatures = new Map<string, string>();
  readonly #metrics: CrossSellMetrics | undefined;
  /**
   * Per stream, window and side (current, previous): its unchanged leading panes merged once.
   * Bounded by the configuration: 8 streams × windows × 2 entries, each one counter within capacity.
   */
  readonly #prefixes = new Map<string, WindowPrefix>();
  /** The whole site's panes per stream (STREAMS order), changed with every partition's (BasketSink). */
  readonly #stores: readonly PaneStore<ItemsetCounter>[];
  /** The partitions' processors sending their changes here. */
  #attached = new WeakSet<CrossSellProcessor>();
  #lastRecompute = Number.NEGATIVE_INFINITY;
  #lastPane = Number.NaN;
  #watermark = 0;
  readonly #adopts: boolean;
  /**
   * The primary window's rules at each of the last RULE_HISTORY_POINTS panes (the last recompute in a
   * pane stands for it): a rule's lift over recent windows. Kept since start, not in snapshots.
   */
  readonly #history: Array<{ readonly end: number; readonly rules: ReadonlyMap<string, Rule> }> = [];

  constructor(o: CrossSellRulesOptions) {
    this.site = o.site;
    this.settings = o.settings;
    this.#parts = o.parts;
    this.#publisher = o.publisher;
    this.#adopts = o.adoptsRules === true;
    const s = o.settings;
    const onEvict = o.onEvict;
    this.#counterOptions = counterOptionsOf(s, (structure, n) => onEvict?.(NAME, structure, n));
    this.#metrics = o.registry === undefined ? undefined : crossSellMetrics(o.registry);
    for (const w of s.windows) this.#ruleSets.set(w, RuleSet.empty(this.site, w, { start: epochMillis(0), end: epochMillis(0) }));
    this.#stores = STREAMS.map(() => counterPanes(s, o.allowedLatenessMs, this.#counterOptions, (n) => onEvict?.(NAME, 'site_panes', n)));
    this.#attachAll();
  }

  /** A partition was taken on: its (empty, then restored) panes count from now on. */
  partitionAdded(): void {
    this.#attachAll();
  }

  /** A partition was given up: the site panes are rebuilt from the partitions still held (a bounded summary cannot subtract). */
  partitionRemoved(): void {
    for (const st of this.#stores) st.clear();
    this.#prefixes.clear();
    this.#attached = new WeakSet();
    this.#attachAll();
  }

  #attachAll(): void {
    for (const part of this.#parts()) {
      if (this.#attached.has(part)) continue;
      this.#attached.add(part);
      part.attachSink(this);
    }
  }

  /** The site watermark moved: expire the site panes; recompute when due (throttled by `recomputeEveryMs` of event time). */
  onWatermark(watermark: EpochMillis): void {
    this.#watermark = Math.max(this.#watermark, watermark);
    for (const st of this.#stores) st.expire(watermark);
    if (this.#adopts || watermark - this.#lastRecompute < this.settings.recomputeEveryMs) return;
    // Without new baskets the rules still change when the window slides past a pane boundary.
    let dirty = false;
    for (const part of this.#parts()) if (part.takeDirty()) dirty = true;
    if (!dirty && Math.floor(watermark / this.settings.paneMs) === this.#lastPane) return;
    this.refresh(watermark);
  }

  /** Recomputes every window's rules at `watermark` now (the watermark path throttles this). */
  refresh(watermark: number): void {
    const s = this.settings;
    this.#lastRecompute = watermark;
    this.#lastPane = Math.floor(watermark / s.paneMs);
    for (const part of this.#parts()) part.takeDirty();
    // Windows end with the open pane, so live baskets count before the watermark passes them.
    const end = (this.#lastPane + 1) * s.paneMs;
    // Windows over the same panes (PT1H and P1D while under an hour is retained) merge them once per recompute.
    const merged = new Map<string, ItemsetCounter>();
    s.windows.forEach((name, i) => {
      const size = s.windowsMs[i]!;
      const start = end - size;
      const rules: Rule[] = [];
      const baskets = { purchase: 0, session: 0, sequential: 0, viewSequential: 0 };
      let errorBound = 0;
      for (const st of STREAMS) {
        const cur = this.#window(st, start, end, merged, `${st.id}|${i}|cur`);
        if (cur === undefined) continue;
        if (st.level === 'product') {
          if (st.kind === 'sequential') baskets[st.source === 'purchase' ? 'sequential' : 'viewSequential'] = cur.baskets;
          else baskets[st.source] = cur.baskets;
        }
        const prev = this.#window(st, start - size, start, merged, `${st.id}|${i}|prev`);
        for (const r of mineRules({ current: cur, previous: prev, thresholds: s, level: st.level, kind: st.kind, source: st.source })) rules.push(r);
        // After mining: a buffered counter whose candidates overflowed its capacity counted its tables meanwhile.
        const bound = cur.errorBound();
        errorBound = Math.max(errorBound, bound.items, bound.pairs, bound.triples);
      }
      if (rules.length > s.maxRules) topRules(rules, s.maxRules);
      this.#install(name, i === 0, { start, end }, baskets, errorBound, rules);
    });
  }

  /** Makes a window's newly mined rules current: a new version when they changed, announced for the primary window. */
  #install(name: string, primary: boolean, window: { readonly start: number; readonly end: number }, baskets: RuleSet['baskets'], errorBound: number, rules: readonly Rule[]): void {
    const old = this.#ruleSets.get(name);
    const sig = signature(rules, baskets);
    const changed = old === undefined || (this.#signatures.get(name) ?? signature(old.mined, old.baskets)) !== sig;
    this.#signatures.set(name, sig);
    const version = old === undefined ? 1 : changed ? old.version + 1 : old.version;
    const rs = new RuleSet({ site: this.site, version, windowName: name, window: { start: epochMillis(window.start), end: epochMillis(window.end) }, baskets, errorBound, rules });
    this.#ruleSets.set(name, rs);
    this.#metrics?.rules.set({ site: this.site, window: name }, rs.rules.length);
    const n = Math.max(baskets.purchase, baskets.session, 1);
    this.#metrics?.errorBound.set({ site: this.site, window: name }, errorBound / n);
    if (primary) this.#remember(rs);
    if (changed && primary) this.#announce(rs);
  }

  /**
   * Scaled out: adopts the rules the role holder mined over every partition (its view's `snapshot`),
   * as if mined here: versions move on where they changed, listeners (next-best-offer) and the
   * publisher hear of the primary window's.
   */
  adopt(mined: CrossSellRulesSnapshot): void {
    for (const [w, r] of mined.ruleSets) {
      const i = this.settings.windows.indexOf(w);
      if (i < 0) continue; // a window this instance is not configured with
      this.#install(w, i === 0, r.window, r.baskets, r.errorBound, r.rules);
    }
  }

  #remember(rs: RuleSet): void {
    const point = { end: rs.window.end, rules: new Map(rs.rules.slice(0, RULE_HISTORY_RULES).map((r) => [ruleKey(r), r] as const)) };
    const last = this.#history[this.#history.length - 1];
    if (last !== undefined && last.end === point.end) this.#history[this.#history.length - 1] = point;
    else if (this.#history.push(point) > RULE_HISTORY_POINTS) this.#history.shift();
  }

  /**
   * One rule's statistics in the primary window at each of the last panes, oldest first: the window's
   * end and the rule (undefined where it was not above the thresholds, or not among the top
   * RULE_HISTORY_RULES, at that time).
   */
  history(rule: Pick<Rule, 'antecedent' | 'consequent' | 'level' | 'kind'>): Array<{ readonly end: number; readonly rule: Rule | undefined }> {
    const key = ruleKey(rule);
    return this.#history.map((p) => ({ end: p.end, rule: p.rules.get(key) }));
  }

  /**
   * Rules within a group of visitors (a segment's members): product association rules over their
   * purchase sessions as the partitions hold them (each visitor's last `maxHistoryItems` within
   * `sequentialHorizon`), mined on demand with the site's thresholds; exact, since the group's
   * baskets are counted afresh. Needs `sequential` (the history) on.
   */
  rulesWithin(visitors: Iterable<string>): { baskets: number; visitors: number; rules: Rule[] } {
    const counter = new ItemsetCounter(this.#counterOptions);
    const parts = this.#parts();
    let held = 0;
    for (const v of visitors) {
      for (const part of parts) {
        const h = part.historyOf(v);
        if (h === undefined) continue;
        held++;
        for (const entry of h) counter.add(entry.p);
        break;
      }
    }
    const rules = mineRules({ current: counter, previous: undefined, thresholds: this.settings, level: 'product', kind: 'association', source: 'purchase' }).sort(compareRules);
    return { baskets: counter.baskets, visitors: held, rules: rules.slice(0, this.settings.maxRules) };
  }

  /** The current rules of a window (default: the primary one, the first configured). */
  current(window?: string): RuleSet {
    const name = window ?? this.settings.windows[0]!;
    const rs = this.#ruleSets.get(name);
    if (rs === undefined) throw new ClickstreamError('CM_ERR_CONFIG', `cross-sell has no window ${JSON.stringify(name)} (configured: ${this.settings.windows.join(', ')})`);
    return rs;
  }

  /**
   * The frequent itemsets behind a window's current rules (the window of its last recompute), for one
   * basket stream: items, pairs and (when counted) triples at ceil(minSupport × N). For audits and tests.
   */
  frequentItemsets(q: { window?: string; source?: BasketSource; level?: RuleLevel; kind?: RuleKind; minSupport?: number } = {}): { baskets: number; minCount: number; errorBound: CountErrorBound; itemsets: FrequentItemset[] } {
    const rs = this.current(q.window);
    const kind = q.kind ?? 'association';
    const id = streamId(q.source ?? 'purchase', q.level ?? 'product', kind);
    const st = STREAMS.find((x) => x.id === id);
    const counter = st === undefined ? undefined : this.#window(st, rs.window.start, rs.window.end);
    if (counter === undefined) return { baskets: 0, minCount: 1, errorBound: { items: 0, pairs: 0, triples: 0 }, itemsets: [] };
    const minCount = minCountFor(q.minSupport ?? this.settings.minSupport, counter.baskets);
    const itemsets = frequentItemsets(counter, minCount);
    return { baskets: counter.baskets, minCount, errorBound: counter.errorBound(), itemsets };
  }

  /** Calls `fn` with each new version of the primary window's rules; returns an unsubscribe function. */
  onRuleSetChange(fn: (rs: RuleSet) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  snapshot(): CrossSellRulesSnapshot {
    return {
      v: 1,
      ruleSets: [...this.#ruleSets.entries()].map(([w, rs]) => [w, { version: rs.version, window: { start: rs.window.start, end: rs.window.end }, baskets: rs.baskets, errorBound: rs.errorBound, rules: rs.mined }] as const),
      recompute: {
        watermark: this.#watermark,
        last: Number.isFinite(this.#lastRecompute) ? this.#lastRecompute : null,
        lastPane: Number.isNaN(this.#lastPane) ? null : this.#lastPane,
        dirty: false,
      },
    };
  }

  restore(raw: unknown): void {
    const snapshot = raw as CrossSellRulesSnapshot;
    if (snapshot.v !== 1) throw new ClickstreamError('CM_ERR_SNAPSHOT', `cross-sell rules snapshot version ${String(snapshot.v)} is not 1`);
    this.#prefixes.clear();
    for (const [w, r] of snapshot.ruleSets) {
      if (!this.#ruleSets.has(w)) continue; // a window no longer configured
      this.#signatures.delete(w);
      this.#ruleSets.set(w, new RuleSet({ site: this.site, version: r.version, windowName: w, window: { start: epochMillis(r.window.start), end: epochMillis(r.window.end) }, baskets: r.baskets, errorBound: r.errorBound, rules: r.rules }));
    }
    const c = snapshot.recompute;
    this.#watermark = c.watermark;
    this.#lastRecompute = c.last ?? Number.NEGATIVE_INFINITY;
    this.#lastPane = c.lastPane ?? Number.NaN;
    // Next-best-offer decides with the restored rules from the next event on, as the uninterrupted
    // run did; it would otherwise keep the empty set it started with until the next recompute.
    const primary = this.#ruleSets.get(this.settings.windows[0]!);
    if (primary !== undefined) for (const fn of this.#listeners) fn(primary);
  }

  #announce(rs: RuleSet): void {
    for (const fn of this.#listeners) fn(rs);
    if (this.#publisher !== undefined) {
      const data = new TextEncoder().encode(JSON.stringify(rs.toJSON(this.settings.maxPublishedRules)));
      this.#publisher.publish(`cm.rules.${this.site}`, data);
    }
  }

  /**
   * The merged counts of [start, end) for a stream; the pane itself when only one is in range (read
   * only). `memo` (one recompute: panes do not change meanwhile) returns the same merge for the same
   * panes instead of merging them again — merging is deterministic, so the result is the same.
   */
  #window(st: StreamSpec, start: number, end: number, memo?: Map<string, ItemsetCounter>, prefixKey?: string): ItemsetCounter | undefined {
    const panes = this.#panes(st, start, end);
    if (panes.length === 0) return undefined;
    if (panes.length === 1) return panes[0]![1];
    const key = memo === undefined ? '' : `${st.id}@${panes.map(([t]) => t).join(',')}`;
    const hit = memo?.get(key);
    if (hit !== undefined) return hit;
    const acc = prefixKey === undefined ? this.#mergeAll(panes) : this.#mergeWithPrefix(panes, prefixKey);
    memo?.set(key, acc);
    return acc;
  }

  /** The site's panes of a stream in [start, end), oldest first. */
  #panes(st: StreamSpec, start: number, end: number): Array<readonly [number, ItemsetCounter]> {
    return this.#stores[STREAMS.indexOf(st)]!.entries().filter(([t]) => t >= start && t < end);
  }

  add(stream: number, ts: number, basket: readonly string[]): void {
    this.#paneAt(stream, ts)?.add(basket);
  }

  remove(stream: number, ts: number, basket: readonly string[]): void {
    this.#stores[stream]!.peek(ts)?.remove(basket);
  }

  addSequence(stream: number, ts: number, items: readonly string[], pairs: ReadonlyArray<readonly [string, string]>, sign: 1 | -1): void {
    if (sign === 1) this.#paneAt(stream, ts)?.addSequence(items, pairs, 1);
    else this.#stores[stream]!.peek(ts)?.addSequence(items, pairs, -1);
  }

  /**
   * Scaled out, the rules role holder: the site pane of `stream` at `start` built again from the
   * partitions' panes there, in partition order (as attaching them builds it), or dropped when none.
   * The other site panes stay as they are, so their window prefixes are reused.
   */
  rebuildPane(stream: number, start: number, parts: readonly ItemsetCounter[]): void {
    this.#stores[stream]!.drop(start);
    for (const pane of parts) this.mergePane(stream, start, pane);
  }

  /** A counter read from a partial, with this site's counter options (as a partition restores it). */
  counterOf(s: ItemsetCounterSnapshot): ItemsetCounter {
    return ItemsetCounter.fromSnapshot(s, this.#counterOptions);
  }

  mergePane(stream: number, start: number, pane: ItemsetCounter): void {
    const copy = new ItemsetCounter(this.#counterOptions);
    copy.mergeFrom(pane);
    this.#stores[stream]!.mergePane(start, copy);
  }

  /** The site pane at `ts` (created when missing); a partition placed the basket, so no lateness verdict applies. */
  #paneAt(stream: number, ts: number): ItemsetCounter | undefined {
    const loc = this.#stores[stream]!.locate(ts, ts);
    return loc.kind === 'late' ? undefined : loc.pane;
  }

  #mergeAll(panes: ReadonlyArray<readonly [number, ItemsetCounter]>): ItemsetCounter {
    const acc = new ItemsetCounter(this.#counterOptions);
    for (const [, c] of panes) acc.mergeFrom(c);
    return acc;
  }

  /**
   * The same merge as #mergeAll, reusing the merge of the window's leading panes from an earlier
   * recompute while those panes are the same objects at the same versions: merging is deterministic
   * and `clone` copies the whole state, so continuing from the kept merge gives the identical counter.
   * The panes kept are the leading ones that did not change since the previous recompute (closed
   * panes, once no late event or closing session reaches them). Without this, every recompute merged
   * every pane of every window again — a P1D window of 5-minute panes is 288 merges, plus 288 for the
   * day before, each minute: replays of retail.dat at 1 s per purchase fell from 2.4k to 1.4k ev/s
   * as the timeline grew from 1.7 h to 6.7 h.
   */
  #mergeWithPrefix(panes: ReadonlyArray<readonly [number, ItemsetCounter]>, prefixKey: string): ItemsetCounter {
    const kept = this.#prefixes.get(prefixKey);
    let from = 0;
    if (kept !== undefined && kept.acc !== undefined && kept.panes.length <= panes.length) {
      let same = true;
      for (let i = 0; i < kept.panes.length && same; i++) {
        const c = panes[i]![1];
        same = c === kept.panes[i] && c.version === kept.versions[i];
      }
      if (same) from = kept.panes.length;
    }
    // Leading panes unchanged since this window's previous computation: the prefix worth keeping now.
    let stable = 0;
    if (kept !== undefined) {
      while (stable < panes.length && kept.seen.get(panes[stable]![1]) === panes[stable]![1].version) stable++;
    }
    const base = from > 0 ? kept?.acc : undefined;
    let acc: ItemsetCounter;
    if (base !== undefined && from === panes.length) acc = base;
    else acc = base !== undefined ? base.clone() : new ItemsetCounter(this.#counterOptions);
    let prefix: ItemsetCounter | undefined = from > 0 && stable <= from ? base : undefined;
    let prefixLen = prefix === undefined ? 0 : from;
    for (let j = from; j < panes.length; j++) {
      acc.mergeFrom(panes[j]![1]);
      if (j + 1 === stable) {
        // The returned counter is only read; keep it as is when it is the whole prefix.
        prefix = stable === panes.length ? acc : acc.clone();
        prefixLen = stable;
      }
    }
    const seen = new Map<ItemsetCounter, number>();
    for (const [, c] of panes) seen.set(c, c.version);
    const prefixPanes: ItemsetCounter[] = [];
    const versions: number[] = [];
    for (let i = 0; i < prefixLen; i++) {
      const c = panes[i]![1];
      prefixPanes.push(c);
      versions.push(c.version);
    }
    this.#prefixes.set(prefixKey, { panes: prefixPanes, versions, acc: prefix, seen });
    return acc;
  }
}

/** A site's cross-sell settings (`site.processors['cross-sell']`; every problem reported at once as CM_ERR_CONFIG). */
export function crossSellSettingsOf(site: SiteConfig): CrossSellSettings {
  const parsed = parseCrossSellSettings(site.id, site.processors[NAME]);
  if (parsed.kind === 'invalid') throw new ClickstreamError('CM_ERR_CONFIG', `invalid cross-sell settings:\n  ${parsed.problems.join('\n  ')}`);
  return parsed.settings;
}

function counterOptionsOf(s: CrossSellSettings, onEvict: (structure: string, n: number) => void): ItemsetCounterOptions {
  return { itemCapacity: s.itemCapacity, pairCapacity: s.pairCapacity, tripleCapacity: s.tripleCapacity, maxBasketItems: s.maxBasketItems, ...(s.basketBuffer === undefined ? {} : { maxBufferedItems: s.basketBuffer }), onEvict };
}

/**
 * One stream's panes of counters (a partition's or the site's): kept for the longest window and the
 * one before it (for the change) plus the allowed lateness, capped at twice that.
 */
function counterPanes(s: CrossSellSettings, allowedLatenessMs: number, options: ItemsetCounterOptions, onEvict: (n: number) => void): PaneStore<ItemsetCounter> {
  const retainMs = 2 * Math.max(...s.windowsMs) + allowedLatenessMs;
  return new PaneStore<ItemsetCounter>({
    paneMs: s.paneMs,
    maxPanes: 2 * (Math.ceil(retainMs / s.paneMs) + 1),
    allowedLatenessMs,
    retainMs,
    ops: { create: () => new ItemsetCounter(options), mergeInto: (into, from) => into.mergeFrom(from) },
    onEvict,
  });
}

function streamId(source: BasketSource, level: RuleLevel, kind: RuleKind): string {
  return `${kind === 'sequential' ? (source === 'session' ? 'view-sequential' : 'sequential') : source}:${level}`;
}

const EMPTY_PAIRS: ReadonlyArray<readonly [string, string]> = Object.freeze([]);
const EMPTY_SEQUENCE: CountedSequence = Object.freeze({ items: Object.freeze([]), pairs: EMPTY_PAIRS });

/**
 * A sequence of itemsets in time order as counted: every item once as `>x` (its count is the number
 * of sequences holding x: the support of x on either side of a rule), every pair `[<x, >y]`, x ≠ y,
 * with x in an itemset strictly earlier than one holding y, and `<x` once for each x that starts a
 * pair (only a pair's end: the miner reads x's support from `>x`). Equal times are not "before".
 * TRICKY: counting `<x` for every item would double the items of every single-purchase sequence.
 */
function orderedSequence(steps: ReadonlyArray<readonly [number, readonly string[]]>): CountedSequence {
  // Most sequences are one purchase (items are already distinct per session): no pairs, no sets.
  if (steps.length === 1) return { items: steps[0]![1].map((x) => SEQ_AFTER + x), pairs: EMPTY_PAIRS };
  const all = new Set<string>();
  const pairs = new Map<string, readonly [string, string]>();
  const earlier = new Set<string>();
  let i = 0;
  while (i < steps.length) {
    // Itemsets at the same time are one step: none of them is before another.
    let j = i;
    while (j < steps.length && steps[j]![0] === steps[i]![0]) j++;
    for (let k = i; k < j; k++) {
      for (const y of steps[k]![1]) {
        all.add(y);
        for (const x of earlier) if (x !== y) pairs.set(`${x}\u0000${y}`, [SEQ_BEFORE + x, SEQ_AFTER + y]);
      }
    }
    for (let k = i; k < j; k++) for (const y of steps[k]![1]) earlier.add(y);
    i = j;
  }
  const items: string[] = [];
  for (const x of all) items.push(SEQ_AFTER + x);
  const starts = new Set<string>();
  for (const [bx] of pairs.values()) starts.add(bx);
  for (const bx of starts) items.push(bx);
  return { items, pairs: [...pairs.values()] };
}

/**
 * A session's view sequences: product x before y when x's first view is earlier than y's last view
 * (so some view of x precedes some view of y), and the same for their categories.
 */
function viewSequences(s: SessionSummary, categoryLevel: boolean): { products: CountedSequence; categories: CountedSequence | undefined } | undefined {
  const n = s.viewed.length;
  if (n === 0) return undefined;
  const products = seqFromSpans(s.viewed, s.viewedFirst, s.viewedLast);
  if (!categoryLevel) return { products, categories: undefined };
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const c = s.categories[s.viewed[i]!];
    if (c === undefined || c === '') continue;
    const f = s.viewedFirst[i] ?? s.start;
    const l = s.viewedLast[i] ?? s.end;
    const cf = first.get(c);
    if (cf === undefined || f < cf) first.set(c, f);
    const cl = last.get(c);
    if (cl === undefined || l > cl) last.set(c, l);
  }
  if (first.size === 0) return { products, categories: undefined };
  const cats = [...first.keys()];
  return { products, categories: seqFromSpans(cats, cats.map((c) => first.get(c)!), cats.map((c) => last.get(c)!)) };
}

function seqFromSpans(ids: readonly string[], first: readonly number[], last: readonly number[]): CountedSequence {
  const after = ids.map((id) => SEQ_AFTER + id);
  const items: string[] = after.slice();
  if (ids.length === 1) return { items, pairs: EMPTY_PAIRS };
  const pairs: Array<readonly [string, string]> = [];
  for (let i = 0; i < ids.length; i++) {
    const fi = first[i] ?? 0;
    let before: string | undefined;
    for (let j = 0; j < ids.length; j++) {
      if (i !== j && fi < (last[j] ?? 0)) {
        before ??= SEQ_BEFORE + ids[i]!;
        pairs.push([before, after[j]!]);
      }
    }
    if (before !== undefined) items.push(before);
  }
  return { items, pairs };
}

function sessionKey(s: SessionSummary): string {
  return `${s.visitorId}\u0000${s.id}`;
}

/** What makes two rule sets the same version: the rules' items and counts, and the basket totals. */
function signature(rules: readonly Rule[], baskets: RuleSetBaskets): string {
  const parts: string[] = [`${baskets.purchase}/${baskets.session}/${baskets.sequential}/${baskets.viewSequential}`];
  for (const r of rules) parts.push(`${r.level}${r.kind}${r.source ?? ''}${r.antecedent.join(',')}>${r.consequent.join(',')}#${r.count}`);
  parts.sort();
  return parts.join('\n');
}

interface CrossSellMetrics {
  readonly rules: Gauge<'site' | 'window'>;
  readonly errorBound: Gauge<'site' | 'window'>;
  readonly baskets: Counter<'site' | 'source'>;
}

/** Metrics shared by every site's processor on one registry (created once, then looked up). */
function crossSellMetrics(registry: Registry): CrossSellMetrics {
  const registers = [registry];
  const existing = (name: string) => registry.getSingleMetric(name);
  return {
    rules:
      (existing('clickstream_cross_sell_rules') as Gauge<'site' | 'window'> | undefined) ??
      new Gauge({ name: 'clickstream_cross_sell_rules', help: 'Rules in the current rule set, by site and sliding window.', labelNames: ['site', 'window'] as const, registers }),
    errorBound:
      (existing('clickstream_cross_sell_error_bound_ratio') as Gauge<'site' | 'window'> | undefined) ??
      new Gauge({
        name: 'clickstream_cross_sell_error_bound_ratio',
        help: 'Largest absolute count error of the counts behind the rules, as a fraction of the window baskets (0 = exact).',
        labelNames: ['site', 'window'] as const,
        registers,
      }),
    baskets:
      (existing('clickstream_cross_sell_baskets_total') as Counter<'site' | 'source'> | undefined) ??
      new Counter({ name: 'clickstream_cross_sell_baskets_total', help: 'Baskets counted for cross-sell rules, by site and source (purchase, session).', labelNames: ['site', 'source'] as const, registers }),
  };
}
