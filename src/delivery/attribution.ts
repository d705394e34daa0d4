import { BoundedLru } from '../bounded-lru';
import { requireBound } from '../errors';
import type { OfferListener, OfferOutcome, OfferTrigger } from '../../processors/next-best-offer/offer-trigger';

/**
 * Offer attribution (DESIGN.md §6): triggered → delivered → shown → clicked → purchased, for the treated visitors and, on the
 * same terms, for the holdout (their would-be offers were recorded but never shown), per offer and per
 * rule. A purchase converts an open trigger when it buys one of the offered products (or a product of
 * the offered category; for a form-abandonment offer: submits that form) within `horizonMs` of event
 * time after the trigger. Uplift = conversion rate (treated) − conversion rate (holdout).
 *
 * Everything is bounded: open triggers per visitor, visitors (LRU) and stat rows per site (LRU), with
 * evictions reported.
 */

export interface OfferAttributionOptions {
  /** A purchase this long (event time) after a trigger still counts for it, ms. */
  readonly horizonMs: number;
  /** Visitors whose open triggers are kept (LRU), count. */
  readonly maxVisitors: number;
  /** Open triggers kept per visitor, oldest dropped first, count. */
  readonly maxOpenPerVisitor: number;
  /** Offer and rule rows kept per site (LRU), count. */
  readonly maxKeysPerSite: number;
  readonly onEvict: (structure: string, n: number) => void;
}

/** The counts behind one attribution row (summable across instances). */
export interface Tally {
  triggered: number;
  delivered: number;
  shown: number;
  dismissed: number;
  clicked: number;
  converted: number;
  convertedAfterClick: number;
  revenue: number;
  holdout: number;
  holdoutConverted: number;
  holdoutRevenue: number;
}

interface OpenTrigger {
  readonly site: string;
  readonly triggerId: string;
  readonly offerId: string;
  readonly ruleKey: string;
  readonly holdout: boolean;
  readonly ts: number;
  readonly level: 'product' | 'category' | 'form';
  readonly items: readonly string[];
  /** The named segments the visitor was in at the decision. */
  readonly segments: readonly string[];
  delivered: boolean;
  shown: boolean;
  dismissed: boolean;
  clicked: boolean;
  converted: boolean;
}

/**
 * One row of GET /v1/offers/stats: the offer funnel triggered → delivered → shown → clicked →
 * converted, beside the holdout. Rates are fractions (0-1); null when there is nothing to divide by.
 */
export interface AttributionRow {
  /** Triggers decided for treated visitors (count). */
  readonly triggered: number;
  /** Of those, confirmed by a channel: sent on the visitor's socket, a webhook answered 2xx, or JetStream stored it (count). */
  readonly delivered: number;
  /** Of those, reported displayed by the page (a `click` of kind offer with action `impression`) (count). */
  readonly shown: number;
  /** Reported closed by the visitor (action `dismiss`) (count). */
  readonly dismissed: number;
  /** Clicked (kind offer, action `click`) (count). */
  readonly clicked: number;
  /** Triggers followed by a purchase of the offered item within the horizon (count). */
  readonly converted: number;
  /** Of those, after a click on the offer (count). */
  readonly convertedAfterClick: number;
  /** Revenue of the converting purchases' offered items, site currency. */
  readonly revenue: number;
  /** clicked / shown (null without impressions). */
  readonly clickRate: number | null;
  /** converted / triggered: intent to treat, the rate the holdout's is compared with (null without triggers). */
  readonly conversionRate: number | null;
  readonly holdout: {
    /** Would-be triggers recorded for holdout visitors (count). */
    readonly recorded: number;
    /** Of those, followed by a purchase of the would-be offered item within the horizon (count). */
    readonly converted: number;
    readonly revenue: number;
    readonly conversionRate: number | null;
  };
  /** conversionRate − holdout.conversionRate (absolute); null without both. */
  readonly uplift: number | null;
  /** 95 % confidence interval of `uplift` (Newcombe's hybrid score interval, method 10); null without both. */
  readonly upliftInterval: readonly [number, number] | null;
}

export interface AttributionStats {
  readonly site: string;
  /** Attribution horizon, ms. */
  readonly horizonMs: number;
  readonly totals: AttributionRow;
  readonly offers: ReadonlyArray<AttributionRow & { readonly offerId: string }>;
  /** Per rule (`A, B ⇒ C` at its level) or pattern (`pattern:cart_abandonment`). */
  readonly rules: ReadonlyArray<AttributionRow & { readonly rule: string }>;
  /** Per named segment the visitors were in at the decision: uplift within each segment. */
  readonly segments: ReadonlyArray<AttributionRow & { readonly segment: string }>;
}

const newTally = (): Tally => ({ triggered: 0, delivered: 0, shown: 0, dismissed: 0, clicked: 0, converted: 0, convertedAfterClick: 0, revenue: 0, holdout: 0, holdoutConverted: 0, holdoutRevenue: 0 });

/** z for a two-sided 95 % interval. */
const Z95 = 1.959963984540054;

/** Wilson score interval of x successes in n trials (n > 0). */
export function wilson(x: number, n: number, z = Z95): [number, number] {
  const p = x / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/**
 * Newcombe's interval for p1 − p2 from two Wilson intervals (Newcombe 1998, method 10): better than
 * the Wald interval at the small counts and rates offers have, and never outside [−1, 1].
 */
export function newcombeInterval(x1: number, n1: number, x2: number, n2: number, z = Z95): [number, number] {
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const [l1, u1] = wilson(x1, n1, z);
  const [l2, u2] = wilson(x2, n2, z);
  const d = p1 - p2;
  return [d - Math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + Math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)];
}

function row(t: Tally): AttributionRow {
  const conversionRate = t.triggered > 0 ? t.converted / t.triggered : null;
  const hRate = t.holdout > 0 ? t.holdoutConverted / t.holdout : null;
  const both = conversionRate !== null && hRate !== null;
  return {
    triggered: t.triggered,
    delivered: t.delivered,
    shown: t.shown,
    dismissed: t.dismissed,
    clicked: t.clicked,
    converted: t.converted,
    convertedAfterClick: t.convertedAfterClick,
    revenue: t.revenue,
    clickRate: t.shown > 0 ? t.clicked / t.shown : null,
    conversionRate,
    holdout: { recorded: t.holdout, converted: t.holdoutConverted, revenue: t.holdoutRevenue, conversionRate: hRate },
    uplift: both ? conversionRate - hRate : null,
    upliftInterval: both ? newcombeInterval(t.converted, t.triggered, t.holdoutConverted, t.holdout) : null,
  };
}

function ruleKeyOf(t: OfferTrigger): string {
  const b = t.because;
  switch (b.kind) {
    case 'rule':
      return `${b.rule.level}:${b.rule.antecedent.join(', ')} ⇒ ${b.rule.consequent.join(', ')}`;
    case 'pattern':
      return `pattern:${b.pattern}`;
    default: {
      const _: never = b;
      return _;
    }
  }
}

const triggerKey = (site: string, triggerId: string): string => `${site}\u0000${triggerId}`;

interface SiteTallies {
  readonly total: Tally;
  readonly offers: BoundedLru<string, Tally>;
  readonly rules: BoundedLru<string, Tally>;
  readonly segments: BoundedLru<string, Tally>;
}

export class OfferAttribution implements OfferListener {
  readonly #o: OfferAttributionOptions;
  readonly #open: BoundedLru<string, OpenTrigger[]>;
  /** The open triggers by site + trigger id (delivery confirmations carry no visitor id). */
  readonly #byTrigger = new Map<string, OpenTrigger>();
  readonly #sites = new Map<string, SiteTallies>();

  constructor(opts: OfferAttributionOptions) {
    requireBound('OfferAttribution horizonMs', opts.horizonMs);
    requireBound('OfferAttribution maxOpenPerVisitor', opts.maxOpenPerVisitor);
    requireBound('OfferAttribution maxKeysPerSite', opts.maxKeysPerSite);
    this.#o = opts;
    this.#open = new BoundedLru<string, OpenTrigger[]>({
      max: requireBound('OfferAttribution maxVisitors', opts.maxVisitors),
      dispose: (list, _k, reason) => {
        for (const t of list) this.#byTrigger.delete(triggerKey(t.site, t.triggerId));
        if (reason === 'evict') opts.onEvict('attribution_visitors', 1);
      },
    });
  }

  #site(site: string): SiteTallies {
    let s = this.#sites.get(site);
    if (s === undefined) {
      const mk = (structure: string): BoundedLru<string, Tally> =>
        new BoundedLru<string, Tally>({
          max: this.#o.maxKeysPerSite,
          dispose: (_v, _k, reason) => {
            if (reason === 'evict') this.#o.onEvict(structure, 1);
          },
        });
      s = { total: newTally(), offers: mk('attribution_offers'), rules: mk('attribution_rules'), segments: mk('attribution_segments') };
      this.#sites.set(site, s);
    }
    return s;
  }

  #tallies(site: string, offerId: string, ruleKey: string, segments: readonly string[]): Tally[] {
    const s = this.#site(site);
    let o = s.offers.get(offerId);
    if (o === undefined) {
      o = newTally();
      s.offers.set(offerId, o);
    }
    let r = s.rules.get(ruleKey);
    if (r === undefined) {
      r = newTally();
      s.rules.set(ruleKey, r);
    }
    const out = [s.total, o, r];
    for (const seg of segments) {
      let t = s.segments.get(seg);
      if (t === undefined) {
        t = newTally();
        s.segments.set(seg, t);
      }
      out.push(t);
    }
    return out;
  }

  onTrigger(t: OfferTrigger): void {
    const key = `${t.site}\u0000${t.visitorId}`;
    let list = this.#open.get(key);
    if (list === undefined) {
      list = [];
      this.#open.set(key, list);
    }
    // At-least-once upstream: the same trigger twice is one trigger.
    for (const o of list) if (o.triggerId === t.triggerId) return;
    const ruleKey = ruleKeyOf(t);
    const open: OpenTrigger = { site: t.site, triggerId: t.triggerId, offerId: t.offerId, ruleKey, holdout: t.holdout, ts: t.ts, level: t.offered.level, items: t.offered.items, segments: t.segments ?? [], delivered: false, shown: false, dismissed: false, clicked: false, converted: false };
    list.push(open);
    this.#byTrigger.set(triggerKey(t.site, t.triggerId), open);
    if (list.length > this.#o.maxOpenPerVisitor) {
      const dropped = list.shift() as OpenTrigger;
      this.#byTrigger.delete(triggerKey(dropped.site, dropped.triggerId));
      this.#o.onEvict('attribution_open_triggers', 1);
    }
    for (const tally of this.#tallies(t.site, t.offerId, ruleKey, open.segments)) {
      if (t.holdout) tally.holdout++;
      else tally.triggered++;
    }
  }

  /** A channel confirmed a trigger (the first confirmation counts; holdout triggers are never sent). */
  onDelivered(site: string, triggerId: string): void {
    const t = this.#byTrigger.get(triggerKey(site, triggerId));
    if (t === undefined || t.holdout || t.delivered) return;
    t.delivered = true;
    for (const tally of this.#tallies(site, t.offerId, t.ruleKey, t.segments)) tally.delivered++;
  }

  onOutcome(o: OfferOutcome): void {
    const list = this.#open.get(`${o.site}\u0000${o.visitorId}`);
    if (list === undefined) return;
    switch (o.kind) {
      case 'clicked':
      case 'shown':
      case 'dismissed': {
        // The newest matching trigger not yet counted for this reaction: by triggerId when the page
        // sent it, else by offerId. Each reaction counts once per trigger.
        const flag = o.kind;
        for (let i = list.length - 1; i >= 0; i--) {
          const t = list[i] as OpenTrigger;
          if (t.holdout || t[flag]) continue;
          if (o.triggerId !== undefined ? t.triggerId === o.triggerId : t.offerId === o.offerId) {
            t[flag] = true;
            for (const tally of this.#tallies(o.site, t.offerId, t.ruleKey, t.segments)) tally[flag]++;
            return;
          }
        }
        return;
      }
      case 'purchased':
        for (const t of list) {
          if (t.converted || t.level === 'form' || o.ts < t.ts || o.ts > t.ts + this.#o.horizonMs) continue;
          let revenue = 0;
          let hit = false;
          for (const it of o.items) {
            const match = t.level === 'product' ? t.items.includes(it.productId) : it.category !== undefined && t.items.includes(it.category);
            if (match) {
              hit = true;
              revenue += it.revenue;
            }
          }
          if (hit) this.#convert(o.site, t, revenue);
        }
        return;
      case 'form_submitted':
        for (const t of list) {
          if (t.converted || t.level !== 'form' || o.ts < t.ts || o.ts > t.ts + this.#o.horizonMs) continue;
          if (t.items.includes(o.formId)) this.#convert(o.site, t, 0);
        }
        return;
      default: {
        const _: never = o;
        return _;
      }
    }
  }

  #convert(site: string, t: OpenTrigger, revenue: number): void {
    t.converted = true;
    for (const tally of this.#tallies(site, t.offerId, t.ruleKey, t.segments)) {
      if (t.holdout) {
        tally.holdoutConverted++;
        tally.holdoutRevenue += revenue;
      } else {
        tally.converted++;
        tally.revenue += revenue;
        if (t.clicked) tally.convertedAfterClick++;
      }
    }
  }

  /** The attribution of one site: totals, per offer and per rule (most shown first). */
  stats(site: string): AttributionStats {
    return this.statsOf(site, [this.tallies(site)]);
  }

  /** The statistics of the sum of `parts` (scaled out: every deciding instance's `tallies`), with this horizon. */
  statsOf(site: string, parts: readonly AttributionTallies[]): AttributionStats {
    return attributionStats(site, this.#o.horizonMs, parts);
  }

  /** The site's counts (JSON): scaled out, each deciding instance's, summed by `attributionStats`. */
  tallies(site: string): AttributionTallies {
    const s = this.#site(site);
    return { total: { ...s.total }, offers: [...s.offers.entries()], rules: [...s.rules.entries()], segments: [...s.segments.entries()] };
  }
}

/** One instance's attribution counts of a site, per row key. */
export interface AttributionTallies {
  readonly total: Tally;
  readonly offers: ReadonlyArray<readonly [string, Tally]>;
  readonly rules: ReadonlyArray<readonly [string, Tally]>;
  readonly segments: ReadonlyArray<readonly [string, Tally]>;
}

/** The statistics of the sum of `parts` (one instance's, or every deciding instance's). */
function attributionStats(site: string, horizonMs: number, parts: readonly AttributionTallies[]): AttributionStats {
  const add = (into: Tally, t: Tally): Tally => {
    for (const k of Object.keys(into) as Array<keyof Tally>) into[k] += t[k];
    return into;
  };
  const sum = (lists: ReadonlyArray<ReadonlyArray<readonly [string, Tally]>>): Map<string, Tally> => {
    const out = new Map<string, Tally>();
    for (const list of lists) for (const [k, t] of list) out.set(k, add(out.get(k) ?? newTally(), t));
    return out;
  };
  const total = newTally();
  for (const p of parts) add(total, p.total);
  const byShown = (a: AttributionRow, b: AttributionRow): number => b.triggered + b.holdout.recorded - (a.triggered + a.holdout.recorded);
  return {
    site,
    horizonMs,
    totals: row(total),
    offers: [...sum(parts.map((p) => p.offers))].map(([offerId, t]) => ({ offerId, ...row(t) })).sort(byShown),
    rules: [...sum(parts.map((p) => p.rules))].map(([rule, t]) => ({ rule, ...row(t) })).sort(byShown),
    segments: [...sum(parts.map((p) => p.segments))].map(([segment, t]) => ({ segment, ...row(t) })).sort(byShown),
  };
}
