import type { EpochMillis } from '../../src/types';

/** Products, or the categories of the products. */
export type RuleLevel = 'product' | 'category';
/** `association`: X and Y in the same basket; `sequential`: X bought in an earlier session, Y bought later. */
export type RuleKind = 'association' | 'sequential';
/** Where the baskets came from: purchases (a form submit with items) or whole sessions (viewed, carted, bought). */
export type BasketSource = 'purchase' | 'session';

/** This window's value minus the previous window's (same length, just before it), for the same itemsets. */
export interface RuleChange {
  /** Δ support (fraction of baskets). */
  readonly support: number;
  /** Δ confidence. */
  readonly confidence: number;
  /** Δ lift (a rule absent before has a previous lift of 0). */
  readonly lift: number;
}

/** An association or sequential rule X ⇒ Y with its statistics over one window. */
export interface Rule {
  /** X: one item, or two when triples are mined. Items are product ids or category names. */
  readonly antecedent: readonly string[];
  /** Y: one item. */
  readonly consequent: readonly string[];
  readonly level: RuleLevel;
  readonly kind: RuleKind;
  /** Baskets holding X ∪ Y (for sequential rules: later purchases of Y by visitors who bought X before), count. */
  readonly count: number;
  /** count / baskets in the window (fraction). */
  readonly support: number;
  /** count(X ∪ Y) / count(X): P(Y | X). */
  readonly confidence: number;
  /** confidence / support(Y): > 1 means X raises the odds of Y. */
  readonly lift: number;
  /** (1 − support(Y)) / (1 − confidence); null when confidence = 1 (infinite conviction). */
  readonly conviction: number | null;
  /** Against the previous window; absent when that window had no baskets. */
  readonly change?: RuleChange;
  /** The baskets the rule was mined from (the statistics above are this source's). */
  readonly source?: BasketSource;
  /**
   * Every source whose baskets hold the rule, in listing: a rule mined from both purchases and
   * sessions is listed once, with the purchase statistics (the stronger evidence) and `bySource`.
   */
  readonly sources?: readonly BasketSource[];
  /** Per source, when more than one holds the rule: count, support, confidence, lift from that source's baskets. */
  readonly bySource?: Readonly<Partial<Record<BasketSource, { readonly count: number; readonly support: number; readonly confidence: number; readonly lift: number }>>>;
}

export interface RuleFilter {
  /** Least support (fraction). */
  readonly minSupport?: number;
  readonly minConfidence?: number;
  readonly minLift?: number;
  readonly level?: RuleLevel;
  readonly kind?: RuleKind;
  readonly source?: BasketSource;
  /** Most rules returned (count). */
  readonly limit?: number;
}

/** Baskets behind the rules, per source (count). */
export interface RuleSetBaskets {
  readonly purchase: number;
  readonly session: number;
  /** Purchase sequences: visitors whose latest purchase (within the horizon) is in the window. */
  readonly sequential: number;
  /** View sequences: sessions with product views that ended in the window. */
  readonly viewSequential: number;
}

export interface RuleSetInit {
  readonly site: string;
  readonly version: number;
  /** The sliding window's ISO-8601 length, e.g. PT1H. */
  readonly windowName: string;
  readonly window: { readonly start: EpochMillis; readonly end: EpochMillis };
  readonly baskets: RuleSetBaskets;
  /** Largest absolute count error of the counts behind the rules (0 = exact), baskets. */
  readonly errorBound: number;
  readonly rules: readonly Rule[];
}

/**
 * The rules of one site over one sliding window: immutable (frozen) and versioned. A new version is
 * built whenever a recomputation changes the rules; holders of an old one keep a consistent view.
 * Rules are sorted by count (descending), then confidence, lift, and the items for a stable order.
 */
export class RuleSet {
  readonly site: string;
  readonly version: number;
  readonly windowName: string;
  readonly window: { readonly start: EpochMillis; readonly end: EpochMillis };
  readonly baskets: RuleSetBaskets;
  readonly errorBound: number;
  /** One rule per (antecedent, consequent, level, kind), its sources named. */
  readonly rules: readonly Rule[];
  /** The rules as mined, one per source (what `filter({source})` lists). */
  readonly #perSource: readonly Rule[];
  readonly #byAntecedent = new Map<string, Rule[]>();

  constructor(init: RuleSetInit) {
    this.site = init.site;
    this.version = init.version;
    this.windowName = init.windowName;
    this.window = Object.freeze({ start: init.window.start, end: init.window.end });
    this.baskets = Object.freeze({ ...init.baskets });
    this.errorBound = init.errorBound;
    this.#perSource = Object.freeze(init.rules.map(freezeRule).sort(compareRules));
    const rules = listOnce(this.#perSource);
    for (const r of rules) {
      for (const item of r.antecedent) {
        const list = this.#byAntecedent.get(item);
        if (list === undefined) this.#byAntecedent.set(item, [r]);
        else list.push(r);
      }
    }
    for (const list of this.#byAntecedent.values()) Object.freeze(list);
    this.rules = Object.freeze(rules);
    Object.freeze(this);
  }

  /** The rules as mined, one per source (restores and change detection compare these). */
  get mined(): readonly Rule[] {
    return this.#perSource;
  }

  static empty(site: string, windowName: string, window: { start: EpochMillis; end: EpochMillis }): RuleSet {
    return new RuleSet({ site, version: 0, windowName, window, baskets: { purchase: 0, session: 0, sequential: 0, viewSequential: 0 }, errorBound: 0, rules: [] });
  }

  /**
   * Rules whose antecedent contains `item` (a product id or category), in rule order. A rule with a
   * two-item antecedent is listed under both items: the caller checks that the other one holds too.
   */
  byAntecedent(item: string): readonly Rule[] {
    return this.#byAntecedent.get(item) ?? EMPTY;
  }

  /** Rules passing the filter, in rule order: listed once each, or with `source` that source's rules and statistics. */
  filter(f: RuleFilter = {}): readonly Rule[] {
    const out: Rule[] = [];
    const limit = f.limit ?? Number.POSITIVE_INFINITY;
    for (const r of f.source === undefined ? this.rules : this.#perSource) {
      if (out.length >= limit) break;
      if (f.minSupport !== undefined && r.support < f.minSupport) continue;
      if (f.minConfidence !== undefined && r.confidence < f.minConfidence) continue;
      if (f.minLift !== undefined && r.lift < f.minLift) continue;
      if (f.level !== undefined && r.level !== f.level) continue;
      if (f.kind !== undefined && r.kind !== f.kind) continue;
      if (f.source !== undefined && r.source !== f.source) continue;
      out.push(r);
    }
    return out;
  }

  /** The wire form (cm.rules.<site>, GET /v1/rules): instants as ISO-8601 strings. */
  toJSON(limit: number = Number.POSITIVE_INFINITY): RuleSetJson {
    return {
      site: this.site,
      version: this.version,
      windowName: this.windowName,
      window: { start: new Date(this.window.start).toISOString(), end: new Date(this.window.end).toISOString() },
      baskets: this.baskets,
      errorBound: this.errorBound,
      rules: this.rules.length > limit ? this.rules.slice(0, limit) : this.rules,
    };
  }
}

export interface RuleSetJson {
  readonly site: string;
  readonly version: number;
  readonly windowName: string;
  readonly window: { readonly start: string; readonly end: string };
  readonly baskets: RuleSetBaskets;
  readonly errorBound: number;
  readonly rules: readonly Rule[];
}

const EMPTY: readonly Rule[] = Object.freeze([]);
/** Which source's statistics a rule held by several sources is listed with. */
const SOURCE_PREFERENCE: readonly BasketSource[] = ['purchase', 'session'];

function ruleKey(r: Rule): string {
  return `${r.level}\u0001${r.kind}\u0001${r.antecedent.join('\u0000')}\u0001${r.consequent.join('\u0000')}`;
}

/** One rule per (antecedent, consequent, level, kind): the preferred source's statistics, every source named. */
function listOnce(perSource: readonly Rule[]): Rule[] {
  const groups = new Map<string, Rule[]>();
  for (const r of perSource) {
    const k = ruleKey(r);
    const g = groups.get(k);
    if (g === undefined) groups.set(k, [r]);
    else g.push(r);
  }
  const out: Rule[] = [];
  for (const g of groups.values()) {
    if (g.length === 1) {
      const r = g[0]!;
      out.push(r.source === undefined ? r : freezeRule({ ...r, sources: [r.source] }));
      continue;
    }
    const rank = (r: Rule) => (r.source === undefined ? SOURCE_PREFERENCE.length : SOURCE_PREFERENCE.indexOf(r.source));
    g.sort((a, b) => rank(a) - rank(b));
    const bySource: Partial<Record<BasketSource, { count: number; support: number; confidence: number; lift: number }>> = {};
    const sources: BasketSource[] = [];
    for (const r of g) {
      if (r.source === undefined) continue;
      sources.push(r.source);
      bySource[r.source] = { count: r.count, support: r.support, confidence: r.confidence, lift: r.lift };
    }
    out.push(freezeRule({ ...g[0]!, sources, bySource }));
  }
  return out.sort(compareRules);
}

function freezeRule(r: Rule): Rule {
  Object.freeze(r.antecedent);
  Object.freeze(r.consequent);
  if (r.change !== undefined) Object.freeze(r.change);
  return Object.freeze(r);
}

/** Rule order: count desc, confidence desc, lift desc, then antecedent and consequent text. */
export function compareRules(a: Rule, b: Rule): number {
  return compareFigures(a, b) || cmp(a.antecedent.join('\u0000'), b.antecedent.join('\u0000')) || cmp(a.consequent.join('\u0000'), b.consequent.join('\u0000'));
}

/** compareRules without the item texts: count desc, confidence desc, lift desc, level, kind. */
function compareFigures(a: Rule, b: Rule): number {
  return b.count - a.count || b.confidence - a.confidence || b.lift - a.lift || cmp(a.level, b.level) || cmp(a.kind, b.kind);
}

/**
 * The first `k` of `rules` in `compareRules` order (ties kept in input order, as a stable sort and a
 * truncation keep them), sorted, in place. A small window's rules at count 1 run to tens of thousands
 * (retail: ~50 k in the last hour when every pair of a basket clears the floor) and sorting all of them
 * at every recompute was 40 % of it: a selection finds the first `k` in linear time, only they are sorted.
 */
export function topRules<R extends Rule>(rules: R[], k: number): R[] {
  if (rules.length <= k) return rules.sort(compareRules);
  const keyed = rules.map((r, i) => ({ r, i, a: r.antecedent.join('\u0000'), c: r.consequent.join('\u0000') }));
  type K = (typeof keyed)[number];
  // compareRules with the item texts joined once per rule (a selection compares each rule many times).
  const order = (x: K, y: K): number => compareFigures(x.r, y.r) || cmp(x.a, y.a) || cmp(x.c, y.c) || x.i - y.i;
  // Hoare-style quickselect (median of three): afterwards keyed[0..k) hold the first k in `order`.
  let lo = 0;
  let hi = keyed.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    if (order(keyed[mid]!, keyed[lo]!) < 0) swap(keyed, mid, lo);
    if (order(keyed[hi]!, keyed[lo]!) < 0) swap(keyed, hi, lo);
    if (order(keyed[hi]!, keyed[mid]!) < 0) swap(keyed, hi, mid);
    const pivot = keyed[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (order(keyed[i]!, pivot) < 0) i++;
      while (order(keyed[j]!, pivot) > 0) j--;
      if (i <= j) swap(keyed, i++, j--);
    }
    if (k - 1 <= j) hi = j;
    else if (k - 1 >= i) lo = i;
    else break;
  }
  keyed.length = k;
  keyed.sort(order);
  rules.length = k;
  for (let i = 0; i < k; i++) rules[i] = keyed[i]!.r;
  return rules;
}

function swap<T>(xs: T[], i: number, j: number): void {
  const t = xs[i]!;
  xs[i] = xs[j]!;
  xs[j] = t;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
