import { customerValue, rfmSegment, type CustomerValue } from './customer-value';
import { BoundedLru } from '../../src/bounded-lru';
import type { UsageSettings } from './usage-settings';
import { smallInt } from '../../src/types';

const DAY_MS = 86_400_000;

/** Customer-lifecycle stages (DESIGN.md §5 usage), in the order a visitor moves through them. */
export const LIFECYCLE_STAGES = ['prospect', 'responder', 'active_customer', 'former_customer'] as const;
export type LifecycleStage = (typeof LIFECYCLE_STAGES)[number];

/** Recency-frequency-monetary scores, each 1–5 (0 = never purchased), thresholds in `UsageSettings.rfm`. */
export interface RfmScore {
  /** 5 = bought within rfm.recencyDays[0] days … 1 = longer ago than rfm.recencyDays[3]. */
  readonly recency: number;
  /** 1 = fewer than rfm.frequency[0] purchases … 5 = at least rfm.frequency[3]. */
  readonly frequency: number;
  /** 1 = revenue under rfm.monetary[0] … 5 = at least rfm.monetary[3]. */
  readonly monetary: number;
  /** The RFM cell, e.g. "543" ("000" for a visitor who never bought). */
  readonly score: string;
}

/** What the usage processor knows about one visitor (GET /v1/visitors/:id, next-best-offer). */
export interface VisitorProfile {
  readonly visitorId: string;
  readonly stage: LifecycleStage;
  readonly rfm: RfmScore;
  /** Sessions started (net of merges). */
  readonly sessions: number;
  /** Purchases (form submits with items). */
  readonly purchases: number;
  /** Revenue of those purchases (sum of price × quantity). */
  readonly revenue: number;
  /** Event time of the first event seen, epoch ms. */
  readonly firstSeen: number;
  /** Event time of the latest event seen, epoch ms. */
  readonly lastSeen: number;
  /** Event time of the latest purchase, epoch ms, or null. */
  readonly lastPurchase: number | null;
  /** Product ids bought, most recent last (bounded). */
  readonly bought: readonly string[];
  /** Category → interest weight (1 per product view, 3 per add to cart, 5 per purchase), bounded. */
  readonly categoryInterest: Readonly<Record<string, number>>;
  /** The named RFM segment (usage.rfmSegments; `prospect` before a purchase). */
  readonly segment: string;
  /** What the customer spent and is expected to spend (processors/usage/customer-value.ts). */
  readonly value: CustomerValue;
}

/** Interest weight of each signal about a category. */
export const INTEREST_WEIGHTS = { view: 1, cart: 3, purchase: 5 } as const;

/**
 * One visitor's profile. TRICKY: only `firstSeen` is stored as an epoch-ms double; `lastSeen` is a Smi
 * offset from it and `lastPurchase` is undefined until the first purchase, behind accessors — each
 * epoch-ms field is a 16 B box per profile (see smallInt).
 */
export class ProfileState {
  #first: number;
  #last = 0;
  #lastPurchase: number | undefined;
  sessions = 0;
  purchases = 0;
  revenue = 0;
  responded = false;
  // Allocated on first use: most visitors never buy, many never view a categorised product.
  bought: string[] | undefined;
  /** Category interest, interleaved [category₀, weight₀, category₁, …] (one array, not a Map or two arrays), bounded by maxInterests. */
  interest: Array<string | number> | undefined;
  /** Ids of the named segments the visitor was in at its last event (for entries and exits). */
  segments: string[] | undefined;
  constructor(ts: number) {
    this.#first = ts;
  }

  /** First event time, epoch ms. */
  get firstSeen(): number {
    return this.#first;
  }

  set firstSeen(ts: number) {
    this.#last = smallInt(this.#last + this.#first - ts);
    this.#first = ts;
  }

  /** Last event time, epoch ms. */
  get lastSeen(): number {
    return this.#first + this.#last;
  }

  set lastSeen(ts: number) {
    this.#last = smallInt(ts - this.#first);
  }

  /** Time of the latest purchase (−∞ before any), epoch ms. */
  get lastPurchase(): number {
    return this.#lastPurchase ?? Number.NEGATIVE_INFINITY;
  }

  set lastPurchase(ts: number) {
    this.#lastPurchase = ts;
  }

  /** Interest categories and their weights, in the order first seen. */
  *interests(): Generator<[string, number]> {
    const m = this.interest ?? [];
    for (let i = 0; i < m.length; i += 2) yield [m[i] as string, m[i + 1] as number];
  }
}

export interface ProfileJSON {
  readonly f: number;
  readonly l: number;
  readonly s: number;
  readonly p: number;
  readonly r: number;
  readonly lp: number | null;
  readonly re: boolean;
  readonly b: string[];
  readonly i: Array<[string, number]>;
  /** Segments the visitor is in (absent: none). */
  readonly sg?: string[];
}

/** Visitor profiles, bounded (LRU, evictions reported). Stage and RFM are derived on read, in event time. */
export class VisitorProfiles {
  readonly #settings: UsageSettings;
  readonly #cache: BoundedLru<string, ProfileState>;

  constructor(settings: UsageSettings, onEvict: (n: number) => void) {
    this.#settings = settings;
    this.#cache = new BoundedLru<string, ProfileState>({
      max: settings.maxProfiles,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') onEvict(1);
      },
    });
  }

  get size(): number {
    return this.#cache.size;
  }

  /** The profile of a visitor, created at its first event. */
  touch(visitorId: string, ts: number): ProfileState {
    let p = this.#cache.get(visitorId);
    if (p === undefined) {
      p = new ProfileState(ts);
      this.#cache.set(visitorId, p);
    } else {
      if (ts > p.lastSeen) p.lastSeen = ts;
      if (ts < p.firstSeen) p.firstSeen = ts;
    }
    return p;
  }

  peek(visitorId: string): ProfileState | undefined {
    return this.#cache.peek(visitorId);
  }

  addInterest(p: ProfileState, category: string, weight: number): void {
    const m = p.interest;
    if (m === undefined) {
      p.interest = [category, weight];
      return;
    }
    const i = m.indexOf(category);
    if (i >= 0) (m[i + 1] as number) += weight;
    else if (m.length < 2 * this.#settings.maxInterests) m.push(category, weight);
    else {
      // Full: replace the weakest interest (the first of equals) when the new one would outweigh it.
      let min = 1;
      for (let j = 3; j < m.length; j += 2) if ((m[j] as number) < (m[min] as number)) min = j;
      if (weight > (m[min] as number)) {
        m.splice(min - 1, 2);
        m.push(category, weight);
      }
    }
  }

  addBought(p: ProfileState, productId: string): void {
    const bought = (p.bought ??= []);
    const i = bought.indexOf(productId);
    if (i >= 0) bought.splice(i, 1);
    bought.push(productId);
    if (bought.length > this.#settings.maxBought) bought.shift();
  }

  /** The lifecycle stage at event time `asOf`. */
  stage(p: ProfileState, asOf: number): LifecycleStage {
    if (p.purchases > 0) {
      return asOf - p.lastPurchase >= this.#settings.lifecycle.formerAfterDays * DAY_MS ? 'former_customer' : 'active_customer';
    }
    return p.responded ? 'responder' : 'prospect';
  }

  /** RFM scores at event time `asOf` (thresholds in the settings; 0s for a visitor who never bought). */
  rfm(p: ProfileState, asOf: number): RfmScore {
    if (p.purchases === 0) return { recency: 0, frequency: 0, monetary: 0, score: '000' };
    const r = this.#settings.rfm;
    const days = Math.max(0, asOf - p.lastPurchase) / DAY_MS;
    let recency = 1;
    for (let i = 0; i < 4; i++) {
      if (days <= r.recencyDays[i]!) {
        recency = 5 - i;
        break;
      }
    }
    const frequency = 1 + countAtOrAbove(r.frequency, p.purchases);
    const monetary = 1 + countAtOrAbove(r.monetary, p.revenue);
    return { recency, frequency, monetary, score: `${recency}${frequency}${monetary}` };
  }

  view(visitorId: string, asOf: number): VisitorProfile | undefined {
    const p = this.#cache.peek(visitorId);
    if (p === undefined) return undefined;
    const interest: Record<string, number> = Object.create(null) as Record<string, number>;
    for (const [k, w] of p.interests()) interest[k] = w;
    const rfm = this.rfm(p, asOf);
    return {
      visitorId,
      stage: this.stage(p, asOf),
      rfm,
      sessions: p.sessions,
      purchases: p.purchases,
      revenue: p.revenue,
      firstSeen: p.firstSeen,
      lastSeen: p.lastSeen,
      lastPurchase: p.purchases > 0 ? p.lastPurchase : null,
      bought: p.bought?.slice() ?? [],
      categoryInterest: interest,
      segment: rfmSegment(rfm, this.#settings.rfmSegments),
      value: customerValue({ purchases: p.purchases, revenue: p.revenue, firstSeen: p.firstSeen, lastPurchase: p.purchases > 0 ? p.lastPurchase : null }, asOf, this.#settings.valueHorizonDays),
    };
  }

  /** Every profile held (least recently touched first): id and state, for scans (segments, customer lists). */
  *states(): Generator<[string, ProfileState]> {
    yield* this.#cache.rentries();
  }

  /** Stage counts over all profiles held (for the stats route). */
  stageCounts(asOf: number): Record<LifecycleStage, number> {
    const out: Record<LifecycleStage, number> = { prospect: 0, responder: 0, active_customer: 0, former_customer: 0 };
    for (const p of this.#cache.values()) out[this.stage(p, asOf)]++;
    return out;
  }

  toJSON(): Array<[string, ProfileJSON]> {
    const out: Array<[string, ProfileJSON]> = [];
    // Oldest first, so a restore rebuilds the same LRU order.
    for (const id of this.#cache.rkeys()) {
      const p = this.#cache.peek(id);
      if (p === undefined) continue;
      out.push([id, { f: p.firstSeen, l: p.lastSeen, s: p.sessions, p: p.purchases, r: p.revenue, lp: p.purchases > 0 ? p.lastPurchase : null, re: p.responded, b: p.bought?.slice() ?? [], i: [...p.interests()], ...(p.segments !== undefined && p.segments.length > 0 ? { sg: p.segments.slice() } : {}) }]);
    }
    return out;
  }

  /** Loads profiles; an existing profile of the same visitor is combined (partials from another instance). */
  load(entries: ReadonlyArray<readonly [string, ProfileJSON]>): void {
    for (const [id, j] of entries) {
      const p = this.touch(id, j.f);
      if (j.l > p.lastSeen) p.lastSeen = j.l;
      p.sessions += j.s;
      p.purchases += j.p;
      p.revenue += j.r;
      if (j.lp !== null && j.lp > p.lastPurchase) p.lastPurchase = j.lp;
      p.responded ||= j.re;
      for (const b of j.b) this.addBought(p, b);
      for (const [c, w] of j.i) this.addInterest(p, c, w);
      if (j.sg !== undefined) p.segments = [...new Set([...(p.segments ?? []), ...j.sg])];
    }
  }

  clear(): void {
    this.#cache.clear();
  }
}

function countAtOrAbove(thresholds: readonly number[], v: number): number {
  let n = 0;
  for (const t of thresholds) if (v >= t) n++;
  return n;
}
