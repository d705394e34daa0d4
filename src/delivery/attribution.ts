import { LRUCache } from 'lru-cache';
import { requireBound } from '../errors';
import type { OfferListener, OfferOutcome, OfferTrigger } from '../../processors/next-best-offer/offer-trigger';

/**
 * Offer attribution (DESIGN.md §6): shown → clicked → purchased, for the treated visitors and, on the
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

interface Tally {
  shown: number;
  clicked: number;
  converted: number;
  convertedAfterClick: number;
  revenue: number;
  holdout: number;
  holdoutConverted: number;
  holdoutRevenue: number;
}

interface OpenTrigger {
  readonly triggerId: string;
  readonly offerId: string;
  readonly ruleKey: string;
  readonly holdout: boolean;
  readonly ts: number;
  readonly level: 'product' | 'category' | 'form';
  readonly items: readonly string[];
  clicked: boolean;
  converted: boolean;
}

/** One row of GET /v1/offers/stats. Rates are fractions (0-1); null when there is nothing to divide by. */
export interface AttributionRow {
  /** Triggers delivered (count). */
  readonly shown: number;
  /** Delivered triggers clicked (count). */
  readonly clicked: number;
  /** Delivered triggers followed by a purchase of the offered item within the horizon (count). */
  readonly converted: number;
  /** Of those, after a click on the offer (count). */
  readonly convertedAfterClick: number;
  /** Revenue of the converting purchases' offered items, site currency. */
  readonly revenue: number;
  readonly clickRate: number | null;
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
}

export interface AttributionStats {
  readonly site: string;
  /** Attribution horizon, ms. */
  readonly horizonMs: number;
  readonly totals: AttributionRow;
  readonly offers: ReadonlyArray<AttributionRow & { readonly offerId: string }>;
  /** Per rule (`A, B ⇒ C` at its level) or pattern (`pattern:cart_abandonment`). */
  readonly rules: ReadonlyArray<AttributionRow & { readonly rule: string }>;
}

const newTally = (): Tally => ({ shown: 0, clicked: 0, converted: 0, convertedAfterClick: 0, revenue: 0, holdout: 0, holdoutConverted: 0, holdoutRevenue: 0 });

function row(t: Tally): AttributionRow {
  const conversionRate = t.shown > 0 ? t.converted / t.shown : null;
  const hRate = t.holdout > 0 ? t.holdoutConverted / t.holdout : null;
  return {
    shown: t.shown,
    clicked: t.clicked,
    converted: t.converted,
    convertedAfterClick: t.convertedAfterClick,
    revenue: t.revenue,
    clickRate: t.shown > 0 ? t.clicked / t.shown : null,
    conversionRate,
    holdout: { recorded: t.holdout, converted: t.holdoutConverted, revenue: t.holdoutRevenue, conversionRate: hRate },
    uplift: conversionRate !== null && hRate !== null ? conversionRate - hRate : null,
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

interface SiteTallies {
  readonly total: Tally;
  readonly offers: LRUCache<string, Tally>;
  readonly rules: LRUCache<string, Tally>;
}

export class OfferAttribution implements OfferListener {
  readonly #o: OfferAttributionOptions;
  readonly #open: LRUCache<string, OpenTrigger[]>;
  readonly #sites = new Map<string, SiteTallies>();

  constructor(opts: OfferAttributionOptions) {
    requireBound('OfferAttribution horizonMs', opts.horizonMs);
    requireBound('OfferAttribution maxOpenPerVisitor', opts.maxOpenPerVisitor);
    requireBound('OfferAttribution maxKeysPerSite', opts.maxKeysPerSite);
    this.#o = opts;
    this.#open = new LRUCache<string, OpenTrigger[]>({
      max: requireBound('OfferAttribution maxVisitors', opts.maxVisitors),
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') opts.onEvict('attribution_visitors', 1);
      },
    });
  }

  #site(site: string): SiteTallies {
    let s = this.#sites.get(site);
    if (s === undefined) {
      const mk = (structure: string): LRUCache<string, Tally> =>
        new LRUCache<string, Tally>({
          max: this.#o.maxKeysPerSite,
          dispose: (_v, _k, reason) => {
            if (reason === 'evict') this.#o.onEvict(structure, 1);
          },
        });
      s = { total: newTally(), offers: mk('attribution_offers'), rules: mk('attribution_rules') };
      this.#sites.set(site, s);
    }
    return s;
  }

  #tallies(site: string, offerId: string, ruleKey: string): [Tally, Tally, Tally] {
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
    return [s.total, o, r];
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
    list.push({ triggerId: t.triggerId, offerId: t.offerId, ruleKey, holdout: t.holdout, ts: t.ts, level: t.offered.level, items: t.offered.items, clicked: false, converted: false });
    if (list.length > this.#o.maxOpenPerVisitor) {
      list.shift();
      this.#o.onEvict('attribution_open_triggers', 1);
    }
    for (const tally of this.#tallies(t.site, t.offerId, ruleKey)) {
      if (t.holdout) tally.holdout++;
      else tally.shown++;
    }
  }

  onOutcome(o: OfferOutcome): void {
    const list = this.#open.get(`${o.site}\u0000${o.visitorId}`);
    if (list === undefined) return;
    switch (o.kind) {
      case 'clicked': {
        // The newest matching trigger: by triggerId when the page sent it, else by offerId.
        for (let i = list.length - 1; i >= 0; i--) {
          const t = list[i] as OpenTrigger;
          if (t.holdout || t.clicked) continue;
          if (o.triggerId !== undefined ? t.triggerId === o.triggerId : t.offerId === o.offerId) {
            t.clicked = true;
            for (const tally of this.#tallies(o.site, t.offerId, t.ruleKey)) tally.clicked++;
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
    for (const tally of this.#tallies(site, t.offerId, t.ruleKey)) {
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
    const s = this.#site(site);
    const byShown = (a: AttributionRow, b: AttributionRow): number => b.shown + b.holdout.recorded - (a.shown + a.holdout.recorded);
    return {
      site,
      horizonMs: this.#o.horizonMs,
      totals: row(s.total),
      offers: [...s.offers.entries()].map(([offerId, t]) => ({ offerId, ...row(t) })).sort(byShown),
      rules: [...s.rules.entries()].map(([rule, t]) => ({ rule, ...row(t) })).sort(byShown),
    };
  }
}
