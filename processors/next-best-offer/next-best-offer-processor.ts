import { inSegment, type SegmentDefinition } from '../usage/segments';
import type { VisitorProfile } from '../usage/visitor-profiles';
import { createHash } from 'node:crypto';
import { BoundedLru } from '../../src/bounded-lru';
import type { Registry } from 'prom-client';
import type { Clock } from '../../src/clock';
import { ClickstreamError } from '../../src/errors';
import type { EnrichedEvent, SessionSignal } from '../../src/events/enriched-event';
import type { EpochMillis, SiteId, VisitorId } from '../../src/types';
import { OK, type EventOutcome, type Processor, type SiteView } from '../processor';
import { DeadlineQueue, type Deadline } from './deadline-queue';
import { LIFECYCLE_STAGES, type LifecycleStage, type Offer, type OfferCatalog, type OfferPattern } from './offer-catalog';
import { createOfferMetrics, SUPPRESS_REASONS, type OfferMetrics, type SuppressReason } from './offer-metrics';
import type { OfferListener, OfferOutcome, OfferTrigger, OfferedItems } from './offer-trigger';
import type { NextBestOfferSettings } from './next-best-offer-settings';
import { RollingCap } from './rolling-cap';

/**
 * Next-best-offer (DESIGN.md §5): on each event the visitor's live context (session products and
 * categories, category interest from the usage profile) meets the current cross-sell rules (looked up
 * by antecedent) and the site's offer catalog; the best eligible offer by expected value fires unless a
 * cooldown, a cap, the budget or an exclusion stops it. Pattern triggers (form / cart abandonment) fire
 * when the watermark passes the visitor's last activity plus the idle time: event time, never the wall
 * clock (the wall clock is read only to measure event → offer latency).
 *
 * Expected value of offer o for rule X ⇒ Y:
 *
 *     EV = confidence × (1 − 1/lift) × o.value
 *
 * confidence × (1 − 1/lift) = P(Y|X) − P(Y): the purchase probability the rule adds over the base rate
 * (the lift-adjusted confidence). It is ≤ 0 exactly when lift ≤ 1, which is why such rules never fire
 * (the lift floor; retail's 32 ⇒ 39 has confidence 0.557 but lift 0.97). Ties go to the higher
 * `priority`, then the smaller offer id (deterministic). Pattern offers have no rule: EV = o.value.
 *
 * Holdout: a visitor is in the holdout when a hash of the visitor id falls below `holdoutShare`
 * (deterministic, the same on every instance). A holdout visitor's would-be trigger passes every gate
 * and is recorded (`holdout: true`, listeners see it for attribution) but never delivered; it counts
 * against the visitor's own cooldown, cap and "already offered" list, so the holdout's experience mirrors
 * the treated group's, but not against the offer's budget or the offer/site caps.
 */

/** A cross-sell rule as the offer processor needs it (structurally a subset of cross-sell's Rule). */
export interface OfferRule {
  readonly antecedent: readonly string[];
  readonly consequent: readonly string[];
  readonly level: 'product' | 'category';
  /** `sequential`: X bought in an earlier session, Y later (matched against purchases, not the session). */
  readonly kind?: 'association' | 'sequential';
  readonly support: number;
  readonly confidence: number;
  readonly lift: number;
}

/** The current rules (structurally a subset of cross-sell's RuleSet). */
export interface OfferRuleSet {
  readonly version: number;
  readonly window: { readonly start: number | string; readonly end: number | string };
  byAntecedent(item: string): readonly OfferRule[];
}

export interface RuleSource {
  current(): OfferRuleSet | undefined;
}

/** What the usage processor knows about a visitor: its profile (stage, purchases, interests, RFM, value). */
export type OfferVisitorProfile = VisitorProfile;

export interface VisitorProfiles {
  visitor(id: VisitorId): OfferVisitorProfile | undefined;
}

export interface NextBestOfferOptions {
  readonly site: SiteId;
  readonly settings: NextBestOfferSettings;
  readonly catalog: OfferCatalog;
  readonly rules: RuleSource;
  /** The usage processor's visitor profiles (stage, purchases, interests); optional. */
  readonly profiles?: VisitorProfiles;
  /** The site's named segments (usage), for offers that target some and for per-segment uplift; optional. */
  readonly segments?: () => readonly SegmentDefinition[];
  /** Wall clock, only for the event → offer latency metric. */
  readonly clock: Clock;
  readonly registry: Registry;
  /** Counts evictions from bounded state, by processor and structure. */
  readonly onEvict: (processor: string, structure: string, n: number) => void;
  /** How category-level rules name a category item (default: the category itself). */
  readonly categoryPrefix?: string;
  /** The site's ledger, shared by the processors of its partitions (default: one of its own). */
  readonly ledger?: OfferLedger;
}

interface VisitorState {
  sessionId: string;
  /** Session product ids, distinct, newest last. */
  items: string[];
  /** Session categories as rule items, distinct, newest last. */
  cats: string[];
  /** Products and category items this visitor bought (seen here), newest last. */
  bought: string[];
  /** `offerId\u0000item` keys already offered, newest last. */
  offered: string[];
  /**
   * Event times, undefined until they happen. TRICKY: undefined, not a "never" number — a field that
   * only ever holds numbers gets V8's double representation, a 16 B box per visitor even while it
   * holds the sentinel; one that may hold undefined stores nothing until it is set (32–48 B a visitor).
   */
  lastTrigger: number | undefined;
  /** Times of the last visitorCap.max triggers, oldest first. */
  triggers: number[];
  cart: string[];
  cartLast: number | undefined;
  cartEventId: string;
  cartSeq: number;
  formId: string | undefined;
  formField: string | undefined;
  formLast: number | undefined;
  formEventId: string;
  formSeq: number;
}

interface Choice {
  offer: Offer | undefined;
  ev: number;
  rule: OfferRule | undefined;
  offered: OfferedItems | undefined;
  offeredKey: string;
  blocked: SuppressReason | undefined;
  blockedEv: number;
  liftFloor: boolean;
  profile: OfferVisitorProfile | undefined;
  profileLoaded: boolean;
}

const KIND_CART = 1;
const KIND_FORM = 2;
const NEVER = -Number.MAX_SAFE_INTEGER;
const PROCESSOR = 'next-best-offer';

/** One partition's visitor state, pending checks and what its triggers spent. */
export interface NextBestOfferSnapshot {
  readonly v: 5;
  readonly visitors: Array<[string, VisitorJSON]>;
  readonly pending: Deadline[];
  readonly spend: SpendJSON;
  /** Product → category as learned from views and purchases (offers for a rule's product look its category up), least recently used first. */
  readonly categories: Array<[string, string]>;
}

const SNAPSHOT_VERSION = 5;

/** A visitor's state in a snapshot: the fields that differ from a new visitor's (most visitors never cart, fill a form or get an offer). */
type VisitorJSON = Partial<VisitorState> & { readonly sessionId: string };

/**
 * The empty list every new visitor starts with. TRICKY: shared, so it must never grow — every add
 * goes through pushDistinct or a one-slot literal, which replace an empty list instead of pushing onto
 * it (six own empty arrays were 192 B a visitor); `length = 0` on it is a no-op.
 */
const NONE: string[] = [];
const NO_TIMES: number[] = [];

function newVisitorState(sessionId: string): VisitorState {
  return {
    sessionId,
    items: NONE,
    cats: NONE,
    bought: NONE,
    offered: NONE,
    lastTrigger: undefined,
    triggers: NO_TIMES,
    cart: NONE,
    cartLast: undefined,
    cartEventId: '',
    cartSeq: 0,
    formId: undefined,
    formField: undefined,
    formLast: undefined,
    formEventId: '',
    formSeq: 0,
  };
}

function visitorToJSON(v: VisitorState): VisitorJSON {
  const d = newVisitorState(v.sessionId) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { sessionId: v.sessionId };
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined || k === 'sessionId') continue;
    if (Array.isArray(x) ? x.length > 0 : x !== d[k]) out[k] = Array.isArray(x) ? x.slice() : x;
  }
  return out as VisitorJSON;
}

/** A visitor's state back from a snapshot (`owned`: the parsed snapshot is this processor's to keep, its arrays are taken as they are). */
function visitorFromJSON(j: VisitorJSON, owned: boolean): VisitorState {
  const v = newVisitorState(j.sessionId) as unknown as Record<string, unknown>;
  for (const [k, x] of Object.entries(j)) v[k] = !owned && Array.isArray(x) ? x.slice() : x;
  return v as unknown as VisitorState;
}

/** A stable hash in [0, 1) of a visitor id (FNV-1a then murmur3's fmix32 for avalanche). */
export function holdoutHash(visitorId: string): number {
  let h = 0x811c9dc5;
  const s = `holdout:${visitorId}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** Deterministic trigger id: the same site, visitor, offer and firing event always give the same id. */
/** True when the visitor is in the holdout group of these settings (deterministic). */
function isHoldout(settings: NextBestOfferSettings, visitorId: string): boolean {
  return holdoutHash(visitorId) < settings.holdoutShare;
}

export function triggerIdOf(site: string, visitorId: string, offerId: string, eventId: string): string {
  return createHash('sha256').update(`${site}\u0000${visitorId}\u0000${offerId}\u0000${eventId}`).digest('hex').slice(0, 32);
}

function toIso(t: number | string): string {
  return typeof t === 'number' ? new Date(t).toISOString() : t;
}

/**
 * Appends `item` (moved to the end if present), keeping at most `max`; returns the list to keep.
 * TRICKY: an empty list is replaced by a one-slot literal — a push onto `[]` reserves 17 slots, and
 * most visitors' lists never hold more than one item (~1 KB per visitor over the six lists).
 */
function pushDistinct(list: string[], item: string, max: number): string[] {
  if (list.length === 0) return [item];
  const i = list.indexOf(item);
  if (i >= 0) {
    if (i !== list.length - 1) {
      list.splice(i, 1);
      list.push(item);
    }
    return list;
  }
  list.push(item);
  if (list.length > max) list.shift();
  return list;
}

export class NextBestOfferProcessor implements Processor<NextBestOfferSnapshot> {
  readonly name = PROCESSOR;
  readonly site: SiteId;
  readonly settings: NextBestOfferSettings;
  readonly catalog: OfferCatalog;
  readonly #rules: RuleSource;
  readonly #profiles: VisitorProfiles | undefined;
  readonly #segments: (() => readonly SegmentDefinition[]) | undefined;
  readonly #clock: Clock;
  readonly #metrics: OfferMetrics;
  readonly #onEvict: (processor: string, structure: string, n: number) => void;
  readonly #catPrefix: string;
  readonly #visitors: BoundedLru<string, VisitorState>;
  readonly #productCategory: BoundedLru<string, string>;
  readonly #pending: DeadlineQueue;
  /** The site's budgets, caps, recent triggers and listeners: shared by its partitions' processors. */
  readonly ledger: OfferLedger;
  /** What this partition's triggers spent (its share of the ledger). */
  #spend: { spent: Record<string, number>; offerTimes: Record<string, number[]>; siteTimes: number[] } = { spent: {}, offerTimes: {}, siteTimes: [] };
  readonly #choice: Choice = { offer: undefined, ev: 0, rule: undefined, offered: undefined, offeredKey: '', blocked: undefined, blockedEv: 0, liftFloor: false, profile: undefined, profileLoaded: false };

  constructor(opts: NextBestOfferOptions) {
    this.site = opts.site;
    this.settings = opts.settings;
    this.catalog = opts.catalog;
    this.#rules = opts.rules;
    this.#profiles = opts.profiles;
    this.#segments = opts.segments;
    this.#clock = opts.clock;
    this.#metrics = createOfferMetrics(opts.registry);
    this.#onEvict = opts.onEvict;
    this.#catPrefix = opts.categoryPrefix ?? '';
    const s = opts.settings;
    this.#visitors = new BoundedLru<string, VisitorState>({
      max: s.maxVisitors,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') this.#onEvict(PROCESSOR, 'visitors', 1);
      },
    });
    this.#productCategory = new BoundedLru<string, string>({
      max: s.maxProducts,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') this.#onEvict(PROCESSOR, 'product_categories', 1);
      },
    });
    this.#pending = new DeadlineQueue(s.maxPending);
    this.ledger = opts.ledger ?? new OfferLedger(s);
    // Every series exists (at 0) from the start, so rates and alerts see it before the first event.
    this.#metrics.triggered.labels(this.site);
    this.#metrics.holdout.labels(this.site);
    for (const r of SUPPRESS_REASONS) this.#metrics.suppressed.labels(this.site, r);
  }

  onEvent(e: EnrichedEvent, _watermark: EpochMillis): EventOutcome {
    const vid = e.visitorId;
    let st = this.#visitors.get(vid);
    if (st === undefined) {
      st = newVisitorState(e.session.id);
      this.#visitors.set(vid, st);
    } else if (st.sessionId !== e.session.id) {
      st.sessionId = e.session.id;
      st.items.length = 0;
      st.cats.length = 0;
    }
    const ev = e.event;
    const max = this.settings.maxSessionItems;
    const ts = e.ts;
    switch (ev.type) {
      case 'page_view': {
        const p = ev.product;
        if (p !== undefined) {
          st.items = pushDistinct(st.items, p.id, max);
          if (p.category !== undefined) {
            this.#productCategory.set(p.id, p.category);
            st.cats = pushDistinct(st.cats, this.#catPrefix + p.category, max);
          }
        }
        break;
      }
      case 'click': {
        const t = ev.target;
        if (t.kind === 'offer') {
          const kind = t.action === 'impression' ? 'shown' : t.action === 'dismiss' ? 'dismissed' : 'clicked';
          this.#emitOutcome({ kind, site: this.site, visitorId: vid, triggerId: t.triggerId, offerId: t.offerId, ts });
        } else if (t.kind === 'button' && t.productId !== undefined) {
          // An add-to-cart (DESIGN.md: carted = a button click with productId): arm the cart-abandonment check.
          st.items = pushDistinct(st.items, t.productId, max);
          st.cart = pushDistinct(st.cart, t.productId, max);
          st.cartLast = ts;
          st.cartEventId = e.id;
          st.cartSeq++;
          this.#arm(vid, ts + this.settings.cartIdleMs, KIND_CART, st.cartSeq);
        }
        break;
      }
      case 'form': {
        switch (ev.action) {
          case 'start':
          case 'field':
          case 'error':
            st.formId = ev.formId;
            st.formField = ev.field ?? st.formField;
            st.formLast = ts;
            st.formEventId = e.id;
            st.formSeq++;
            this.#arm(vid, ts + this.settings.formIdleMs, KIND_FORM, st.formSeq);
            break;
          case 'abandon':
            // The page told us the form was left: due at once, still driven by the watermark.
            if (st.formId === ev.formId || st.formId === undefined) {
              st.formId = ev.formId;
              st.formField = ev.field ?? st.formField;
              st.formEventId = e.id;
              st.formLast = ts - this.settings.formIdleMs;
              st.formSeq++;
              this.#arm(vid, ts, KIND_FORM, st.formSeq);
            }
            break;
          case 'submit': {
            if (st.formId === ev.formId) {
              st.formId = undefined;
              st.formField = undefined;
              st.formSeq++;
            }
            this.#emitOutcome({ kind: 'form_submitted', site: this.site, visitorId: vid, formId: ev.formId, ts });
            const items = ev.items;
            if (items !== undefined && items.length > 0) {
              const bought: Array<{ productId: string; category: string | undefined; revenue: number }> = [];
              const bmax = this.settings.maxOfferedPerVisitor;
              for (const it of items) {
                st.bought = pushDistinct(st.bought, it.productId, bmax);
                if (it.category !== undefined) {
                  this.#productCategory.set(it.productId, it.category);
                  st.bought = pushDistinct(st.bought, this.#catPrefix + it.category, bmax);
                }
                bought.push({ productId: it.productId, category: it.category, revenue: (it.price ?? 0) * it.quantity });
              }
              st.cart.length = 0;
              st.cartSeq++;
              this.#emitOutcome({ kind: 'purchased', site: this.site, visitorId: vid, items: bought, ts });
            }
            break;
          }
          case 'view':
            break;
          default: {
            const _: never = ev.action;
            return _;
          }
        }
        break;
      }
      default: {
        const _: never = ev;
        return _;
      }
    }
    // Bots are profiled but never offered anything.
    if (!e.bot && (st.items.length > 0 || st.cats.length > 0)) this.#decide(st, e);
    return OK;
  }

  onSession(_signal: SessionSignal, _watermark: EpochMillis): void {
    // The session id on each event is enough to reset the live context.
  }

  onWatermark(watermark: EpochMillis): void {
    for (;;) {
      const d = this.#pending.popDue(watermark);
      if (d === undefined) return;
      const st = this.#visitors.peek(d.key);
      if (st === undefined) continue;
      if (d.kind === KIND_CART && st.cartSeq === d.seq && st.cart.length > 0) {
        this.#firePattern(d.key, st, 'cart_abandonment', d.deadline);
      } else if (d.kind === KIND_FORM && st.formSeq === d.seq && st.formId !== undefined) {
        this.#firePattern(d.key, st, 'form_abandonment', d.deadline);
        st.formId = undefined;
        st.formSeq++;
      }
    }
  }

  #arm(key: string, deadline: number, kind: number, seq: number): void {
    if (!this.#pending.push(deadline, key, kind, seq)) this.#onEvict(PROCESSOR, 'pending_abandonment', 1);
  }

  #emitOutcome(o: OfferOutcome): void {
    for (const l of this.ledger.listeners) l.onOutcome(o);
  }

  #suppress(reason: SuppressReason): void {
    this.#metrics.suppressed.labels(this.site, reason).inc();
    this.ledger.suppressed.set(reason, (this.ledger.suppressed.get(reason) ?? 0) + 1);
  }

  #profile(c: Choice, vid: VisitorId): OfferVisitorProfile | undefined {
    if (!c.profileLoaded) {
      c.profileLoaded = true;
      c.profile = this.#profiles?.visitor(vid);
    }
    return c.profile;
  }

  #decide(st: VisitorState, e: EnrichedEvent): void {
    const rs = this.#rules.current();
    if (rs === undefined || this.catalog.size === 0) return;
    const c = this.#choice;
    c.offer = undefined;
    c.ev = Number.NEGATIVE_INFINITY;
    c.rule = undefined;
    c.offered = undefined;
    c.offeredKey = '';
    c.blocked = undefined;
    c.blockedEv = Number.NEGATIVE_INFINITY;
    c.liftFloor = false;
    c.profile = undefined;
    c.profileLoaded = false;
    for (let i = st.items.length - 1; i >= 0; i--) this.#considerRules(rs.byAntecedent(st.items[i] as string), 'product', false, st, e, c);
    for (let i = st.cats.length - 1; i >= 0; i--) this.#considerRules(rs.byAntecedent(st.cats[i] as string), 'category', false, st, e, c);
    // Sequential rules ("bought X, later bought Y") start from what the visitor bought before.
    for (let i = st.bought.length - 1; i >= 0; i--) {
      const b = st.bought[i] as string;
      this.#considerRules(rs.byAntecedent(b), 'product', true, st, e, c);
      this.#considerRules(rs.byAntecedent(b), 'category', true, st, e, c);
    }
    const profile = this.#profile(c, e.visitorId);
    if (profile !== undefined) {
      // The profile's strongest category interests widen the context beyond this session.
      let best1 = '';
      let w1 = 0;
      let best2 = '';
      let w2 = 0;
      for (const k in profile.categoryInterest) {
        const w = profile.categoryInterest[k] ?? 0;
        if (w > w1) {
          best2 = best1;
          w2 = w1;
          best1 = k;
          w1 = w;
        } else if (w > w2) {
          best2 = k;
          w2 = w;
        }
      }
      if (best1 !== '' && !st.cats.includes(this.#catPrefix + best1)) this.#considerRules(rs.byAntecedent(this.#catPrefix + best1), 'category', false, st, e, c);
      if (best2 !== '' && !st.cats.includes(this.#catPrefix + best2)) this.#considerRules(rs.byAntecedent(this.#catPrefix + best2), 'category', false, st, e, c);
    }
    // TRICKY: TS keeps the `c.offer = undefined` narrowing across the method calls above; widen it again.
    const offer = c.offer as Offer | undefined;
    if (offer === undefined) {
      if (c.blocked !== undefined) this.#suppress(c.blocked);
      else if (c.liftFloor) this.#suppress('lift_floor');
      return;
    }
    const ts = e.ts;
    const gate = this.#visitorGate(st, offer, ts);
    if (gate !== undefined) {
      this.#suppress(gate);
      return;
    }
    const rule = c.rule as OfferRule | undefined as OfferRule;
    const offered = c.offered as OfferedItems | undefined as OfferedItems;
    const text = this.#render(offer, rule.antecedent.join(', '), rule.consequent.join(', '), offered.items.join(', '));
    this.#fire(st, offer, c.offeredKey, ts, e.receivedAt, {
      triggerId: triggerIdOf(this.site, e.visitorId, offer.id, e.id),
      site: this.site,
      visitorId: e.visitorId,
      sessionId: e.session.id,
      offerId: offer.id,
      text,
      discount: offer.discount,
      because: {
        kind: 'rule',
        rule: { antecedent: rule.antecedent, consequent: rule.consequent, level: rule.level, support: rule.support, confidence: rule.confidence, lift: rule.lift },
        window: { start: toIso(rs.window.start), end: toIso(rs.window.end) },
        ruleSetVersion: rs.version,
        eventId: e.id,
      },
      ts,
      holdout: isHoldout(this.settings, e.visitorId),
      expectedValue: c.ev,
      offered,
    });
  }

  /**
   * Candidate rules found under one context item of `level`. Session context meets association rules;
   * past purchases (`sequential`) meet sequential rules.
   */
  #considerRules(rules: readonly OfferRule[], level: 'product' | 'category', sequential: boolean, st: VisitorState, e: EnrichedEvent, c: Choice): void {
    const s = this.settings;
    for (let r = 0; r < rules.length; r++) {
      const rule = rules[r] as OfferRule;
      // TRICKY: product ids and category names share one antecedent index; keep to the level looked up.
      if (rule.level !== level || (rule.kind === 'sequential') !== sequential) continue;
      if (!(rule.lift > s.minLift)) {
        c.liftFloor = true;
        continue;
      }
      if (rule.confidence < s.minConfidence) continue;
      const ctx = sequential ? st.bought : rule.level === 'product' ? st.items : st.cats;
      if (rule.antecedent.length > 1) {
        let all = true;
        for (const a of rule.antecedent) if (!ctx.includes(a)) all = false;
        if (!all) continue;
      }
      // A consequent the visitor is already looking at is no recommendation.
      const seen = rule.level === 'product' ? st.items : st.cats;
      let fresh = false;
      for (const y of rule.consequent) if (!seen.includes(y)) fresh = true;
      if (!fresh) continue;
      const uplift = rule.confidence * (1 - 1 / rule.lift);
      const all = this.catalog.catchAll();
      for (let i = 0; i < all.length; i++) this.#considerOffer(all[i] as Offer, rule, rule.consequent, rule.level, uplift, st, e, c);
      for (const y of rule.consequent) {
        if (rule.level === 'product') {
          const po = this.catalog.forProduct(y);
          for (let i = 0; i < po.length; i++) this.#considerOffer(po[i] as Offer, rule, [y], 'product', uplift, st, e, c);
          const cat = this.#productCategory.peek(y);
          if (cat !== undefined) {
            const co = this.catalog.forCategory(cat);
            for (let i = 0; i < co.length; i++) this.#considerOffer(co[i] as Offer, rule, [this.#catPrefix + cat], 'category', uplift, st, e, c);
          }
        } else if (y.startsWith(this.#catPrefix)) {
          const co = this.catalog.forCategory(y.slice(this.#catPrefix.length));
          for (let i = 0; i < co.length; i++) this.#considerOffer(co[i] as Offer, rule, [y], 'category', uplift, st, e, c);
        }
      }
    }
  }

  #considerOffer(offer: Offer, rule: OfferRule, items: readonly string[], level: 'product' | 'category', uplift: number, st: VisitorState, e: EnrichedEvent, c: Choice): void {
    const ev = uplift * offer.value;
    const key = `${offer.id}\u0000${items.join('\u0001')}`;
    const blocked = this.#offerGate(offer, items, key, st, e, c);
    if (blocked !== undefined) {
      if (ev > c.blockedEv) {
        c.blocked = blocked;
        c.blockedEv = ev;
      }
      return;
    }
    const cur = c.offer;
    if (cur === undefined || ev > c.ev || (ev === c.ev && (offer.priority > cur.priority || (offer.priority === cur.priority && offer.id < cur.id)))) {
      c.offer = offer;
      c.ev = ev;
      c.rule = rule;
      c.offered = { level, items };
      c.offeredKey = key;
    }
  }

  /** Per-offer gates, in a fixed order: validity, stage, already bought, already offered, budget, offer cap. */
  #offerGate(offer: Offer, items: readonly string[], key: string, st: VisitorState, e: EnrichedEvent, c: Choice): SuppressReason | undefined {
    const ts = e.ts;
    if ((offer.validFrom !== undefined && ts < offer.validFrom) || (offer.validTo !== undefined && ts >= offer.validTo)) return 'not_valid';
    if (offer.eligibleStages.length < LIFECYCLE_STAGES.length) {
      const stage = this.#profile(c, e.visitorId)?.stage ?? 'prospect';
      if (!offer.eligibleStages.includes(stage)) return 'stage';
    }
    if (offer.eligibleSegments.length > 0 && !this.#eligibleBySegment(offer, this.#profile(c, e.visitorId), ts)) return 'segment';
    const profileBought = this.#profile(c, e.visitorId)?.bought;
    for (const y of items) {
      if (st.bought.includes(y) || (profileBought !== undefined && profileBought.includes(y))) return 'already_bought';
    }
    if (st.offered.includes(key)) return 'already_offered';
    return this.#budgetGate(offer, e.ts);
  }

  #budgetGate(offer: Offer, ts: number): SuppressReason | undefined {
    if (offer.budget !== undefined && (this.ledger.spent.get(offer.id) ?? 0) >= offer.budget) return 'budget';
    const cap = this.ledger.offerCaps.get(offer.id);
    if (cap !== undefined && !cap.allows(ts)) return 'offer_cap';
    return undefined;
  }

  /** Gates on the visitor and the site, after the best offer is chosen: cooldown, visitor cap, site cap. */
  #visitorGate(st: VisitorState, _offer: Offer, ts: number): SuppressReason | undefined {
    const s = this.settings;
    if (st.lastTrigger !== undefined && ts - st.lastTrigger < s.cooldownMs) return 'cooldown';
    const vc = s.visitorCap;
    if (st.triggers.length >= vc.max && (st.triggers[0] ?? NEVER) > ts - vc.windowMs) return 'visitor_cap';
    if (!this.ledger.siteCap.allows(ts)) return 'site_cap';
    return undefined;
  }

  #render(offer: Offer, antecedent: string, consequent: string, item: string): string {
    return offer.text.replace(/\{(consequent|antecedent|item|discount)\}/g, (_m, k: string) =>
      k === 'consequent' ? consequent : k === 'antecedent' ? antecedent : k === 'item' ? item : String(offer.discount),
    );
  }

  #firePattern(vid: string, st: VisitorState, pattern: OfferPattern, ts: number): void {
    const offers = this.catalog.forPattern(pattern);
    if (offers.length === 0) return;
    const isCart = pattern === 'cart_abandonment';
    const items: readonly string[] = isCart ? [...st.cart] : [st.formId ?? ''];
    const offeredItems: OfferedItems = isCart ? { level: 'product', items } : { level: 'form', items };
    const eventId = isCart ? st.cartEventId : st.formEventId;
    // Armed by the activity, so it has happened.
    const lastActivity = (isCart ? st.cartLast : st.formLast) ?? ts;
    let best: Offer | undefined;
    let blocked: SuppressReason | undefined;
    let key = '';
    const profile = this.#profiles?.visitor(vid as VisitorId);
    for (const o of offers) {
      const k = `${o.id}\u0000${pattern}:${eventId}`;
      let why: SuppressReason | undefined;
      if ((o.validFrom !== undefined && ts < o.validFrom) || (o.validTo !== undefined && ts >= o.validTo)) why = 'not_valid';
      else if (o.eligibleStages.length < LIFECYCLE_STAGES.length && !o.eligibleStages.includes(profile?.stage ?? 'prospect')) why = 'stage';
      else if (o.eligibleSegments.length > 0 && !this.#eligibleBySegment(o, profile, ts)) why = 'segment';
      else if (st.offered.includes(k)) why = 'already_offered';
      else why = this.#budgetGate(o, ts);
      if (why !== undefined) {
        blocked ??= why;
        continue;
      }
      if (best === undefined || o.value > best.value || (o.value === best.value && (o.priority > best.priority || (o.priority === best.priority && o.id < best.id)))) {
        best = o;
        key = k;
      }
    }
    if (best === undefined) {
      if (blocked !== undefined) this.#suppress(blocked);
      return;
    }
    const gate = this.#visitorGate(st, best, ts);
    if (gate !== undefined) {
      this.#suppress(gate);
      return;
    }
    const joined = items.join(', ');
    this.#fire(st, best, key, ts, undefined, {
      triggerId: triggerIdOf(this.site, vid, best.id, eventId),
      site: this.site,
      visitorId: vid,
      sessionId: st.sessionId,
      offerId: best.id,
      text: this.#render(best, joined, joined, joined),
      discount: best.discount,
      because: isCart
        ? { kind: 'pattern', pattern, idleMs: this.settings.cartIdleMs, lastActivity, eventId, items }
        : { kind: 'pattern', pattern, idleMs: this.settings.formIdleMs, lastActivity, eventId, formId: st.formId ?? '', ...(st.formField !== undefined ? { lastField: st.formField } : {}) },
      ts,
      holdout: isHoldout(this.settings, vid),
      expectedValue: best.value,
      offered: offeredItems,
    });
  }

  /** Whether the visitor (at event time `ts`) is in one of the offer's segments; an unknown visitor or segment is in none. */
  #eligibleBySegment(offer: Offer, profile: OfferVisitorProfile | undefined, ts: number): boolean {
    if (profile === undefined) return false;
    const defs = this.#segments?.() ?? [];
    return offer.eligibleSegments.some((id) => {
      const d = defs.find((x) => x.id === id);
      return d !== undefined && inSegment(profile, d, ts);
    });
  }

  /** The named segments the visitor is in at `ts` (undefined when the site defines none). */
  #segmentsOf(vid: string, ts: number): readonly string[] | undefined {
    const defs = this.#segments?.() ?? [];
    if (defs.length === 0) return undefined;
    const profile = this.#profiles?.visitor(vid as VisitorId);
    return profile === undefined ? [] : defs.filter((d) => inSegment(profile, d, ts)).map((d) => d.id);
  }

  #fire(st: VisitorState, offer: Offer, offeredKey: string, ts: number, receivedAt: number | undefined, decided: OfferTrigger): void {
    const s = this.settings;
    const segments = this.#segmentsOf(decided.visitorId, ts);
    const t: OfferTrigger = segments === undefined ? decided : { ...decided, segments };
    st.lastTrigger = ts;
    if (st.triggers.length === 0) st.triggers = [ts];
    else st.triggers.push(ts);
    if (st.triggers.length > s.visitorCap.max) st.triggers.shift();
    st.offered = pushDistinct(st.offered, offeredKey, s.maxOfferedPerVisitor);
    if (t.holdout) {
      this.ledger.holdouts++;
      this.#metrics.holdout.labels(this.site).inc();
    } else {
      const one: SpendJSON = { spent: { [offer.id]: 1 }, offerTimes: { [offer.id]: [ts] }, siteTimes: [ts] };
      this.ledger.add(one);
      addSpend(this.#spend, one, s);
      this.ledger.triggered++;
      this.#metrics.triggered.labels(this.site).inc();
    }
    this.ledger.remember(t);
    for (const l of this.ledger.listeners) l.onTrigger(t);
    if (!t.holdout && receivedAt !== undefined) this.#metrics.latency.labels(this.site).observe(Math.max(0, this.#clock.now() - receivedAt) / 1000);
  }

  snapshot(): NextBestOfferSnapshot {
    const visitors: Array<[string, VisitorJSON]> = [];
    for (const [k, v] of this.#visitors.entries()) visitors.push([k, visitorToJSON(v)]);
    visitors.reverse(); // oldest first, so restore rebuilds the same LRU order
    return { v: SNAPSHOT_VERSION, visitors, pending: this.#pending.entries(), spend: structuredClone(this.#spend), categories: [...this.#productCategory.rentries()] };
  }

  restore(snapshot: NextBestOfferSnapshot): void {
    this.#visitors.clear();
    this.#productCategory.clear();
    this.dispose();
    // A snapshot handed to restore is this processor's to keep (freshly parsed): no copies.
    this.#load(snapshot, true);
  }

  /** Folds in a partial from another partition: visitors are disjoint, pending checks unite, spending adds up. */
  merge(partial: NextBestOfferSnapshot): void {
    this.#load(partial, false);
  }

  /** The partition is given up: its spending leaves the site's ledger with it. */
  dispose(): void {
    this.ledger.subtract(this.#spend);
    this.#spend = { spent: {}, offerTimes: {}, siteTimes: [] };
  }

  #load(partial: NextBestOfferSnapshot, owned: boolean): void {
    if (partial.v !== SNAPSHOT_VERSION) throw new ClickstreamError('CM_ERR_SNAPSHOT', `next-best-offer snapshot version ${String(partial.v)} is not ${SNAPSHOT_VERSION}`);
    for (const [k, v] of partial.visitors) if (!this.#visitors.has(k)) this.#visitors.set(k, visitorFromJSON(v, owned));
    for (const d of partial.pending) this.#arm(d.key, d.deadline, d.kind, d.seq);
    for (const [product, category] of partial.categories) if (!this.#productCategory.has(product)) this.#productCategory.set(product, category);
    this.ledger.add(partial.spend);
    addSpend(this.#spend, partial.spend, this.settings);
  }
}

/**
 * What a partition's triggers spent: per offer the budget units, and the trigger times the offer and
 * site caps count (the newest `max` of each). The site's ledger is the sum over the partitions held,
 * so each partition's snapshot carries its own share: restored from any cut, the sum stays exact.
 */
export interface SpendJSON {
  readonly spent: Record<string, number>;
  readonly offerTimes: Record<string, number[]>;
  readonly siteTimes: number[];
}

function addSpend(into: { spent: Record<string, number>; offerTimes: Record<string, number[]>; siteTimes: number[] }, from: SpendJSON, s: NextBestOfferSettings): void {
  for (const [id, n] of Object.entries(from.spent)) into.spent[id] = (into.spent[id] ?? 0) + n;
  for (const [id, times] of Object.entries(from.offerTimes)) {
    const list = (into.offerTimes[id] ??= []);
    for (const t of times) list.push(t);
    into.offerTimes[id] = newest(list, s.offerCap.max);
  }
  for (const t of from.siteTimes) into.siteTimes.push(t);
  into.siteTimes = newest(into.siteTimes, s.siteCap.max);
}

/** The newest `max` times, oldest first (amortised: trimmed only once twice as many piled up). */
function newest(times: number[], max: number): number[] {
  if (times.length <= 2 * max) return times;
  return times.sort((a, b) => a - b).slice(-max);
}

export type OfferCounts = { triggered: number; holdout: number; suppressed: Partial<Record<SuppressReason, number>>; budgetSpent: Record<string, number> };

/** A site's offer ledger in a snapshot: the recent triggers (budgets and caps are the partitions', see SpendJSON). */
export interface OfferLedgerSnapshot {
  readonly v: 2;
  readonly recent: OfferTrigger[];
}

/**
 * What a site's offers share across its partitions: offer budgets, the offer and site caps (a coupon
 * budget is the site's, whichever partition spends it) as the sum of what the partitions held spent,
 * the recent triggers, decision counts and the listeners (delivery, attribution).
 */
export class OfferLedger {
  readonly spent = new Map<string, number>();
  readonly offerCaps = new Map<string, RollingCap>();
  readonly siteCap: RollingCap;
  readonly listeners: OfferListener[] = [];
  readonly suppressed = new Map<SuppressReason, number>();
  triggered = 0;
  holdouts = 0;
  readonly #settings: NextBestOfferSettings;
  readonly #recent: OfferTrigger[] = [];

  constructor(settings: NextBestOfferSettings) {
    this.#settings = settings;
    this.siteCap = new RollingCap(settings.siteCap.max, settings.siteCap.windowMs);
  }

  subscribe(listener: OfferListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** A partition's spending counts (a trigger fired, a partition restored). */
  add(s: SpendJSON): void {
    for (const [id, n] of Object.entries(s.spent)) this.spent.set(id, (this.spent.get(id) ?? 0) + n);
    for (const [id, times] of Object.entries(s.offerTimes)) {
      const one = times.length === 1 ? times[0] : undefined;
      const cap = this.#offerCap(id);
      if (one !== undefined) cap.record(one);
      else cap.load(times);
    }
    if (s.siteTimes.length === 1) this.siteCap.record(s.siteTimes[0]!);
    else if (s.siteTimes.length > 0) this.siteCap.load(s.siteTimes);
  }

  /** A partition's spending leaves (the partition was given up). */
  subtract(s: SpendJSON): void {
    for (const [id, n] of Object.entries(s.spent)) this.spent.set(id, Math.max(0, (this.spent.get(id) ?? 0) - n));
    for (const [id, times] of Object.entries(s.offerTimes)) this.offerCaps.get(id)?.unload(times);
    if (s.siteTimes.length > 0) this.siteCap.unload(s.siteTimes);
  }

  #offerCap(id: string): RollingCap {
    let cap = this.offerCaps.get(id);
    if (cap === undefined) {
      cap = new RollingCap(this.#settings.offerCap.max, this.#settings.offerCap.windowMs);
      this.offerCaps.set(id, cap);
    }
    return cap;
  }

  remember(t: OfferTrigger): void {
    this.#recent.push(t);
    if (this.#recent.length > this.#settings.recentCapacity) this.#recent.shift();
  }

  /** The newest triggers first (holdout records included, flagged). */
  recentTriggers(limit: number = this.#settings.recentCapacity): readonly OfferTrigger[] {
    const out: OfferTrigger[] = [];
    for (let i = this.#recent.length - 1; i >= 0 && out.length < limit; i--) out.push(this.#recent[i] as OfferTrigger);
    return out;
  }

  counts(): OfferCounts {
    return { triggered: this.triggered, holdout: this.holdouts, suppressed: Object.fromEntries(this.suppressed), budgetSpent: Object.fromEntries(this.spent) };
  }

  snapshot(): OfferLedgerSnapshot {
    return { v: 2, recent: [...this.#recent] };
  }

  restore(snap: OfferLedgerSnapshot): void {
    if (snap.v !== 2) throw new ClickstreamError('CM_ERR_SNAPSHOT', `offer ledger snapshot version ${String(snap.v)} is not 2`);
    this.#recent.length = 0;
    this.#recent.push(...snap.recent.slice(-this.#settings.recentCapacity));
  }
}

/**
 * A site's offers over all its partitions (`Pipeline.processor(site, 'next-best-offer')`): the
 * catalog, the ledger's recent triggers and counts, and the subscription delivery attaches to.
 */
export class NextBestOfferView implements SiteView {
  readonly name = PROCESSOR;
  readonly site: SiteId;
  readonly settings: NextBestOfferSettings;
  readonly catalog: OfferCatalog;
  readonly ledger: OfferLedger;

  constructor(o: { readonly site: SiteId; readonly settings: NextBestOfferSettings; readonly catalog: OfferCatalog; readonly ledger: OfferLedger }) {
    this.site = o.site;
    this.settings = o.settings;
    this.catalog = o.catalog;
    this.ledger = o.ledger;
  }

  /** Listeners get every trigger (holdout ones too, flagged) and the outcomes attribution follows. */
  subscribe(listener: OfferListener): () => void {
    return this.ledger.subscribe(listener);
  }

  /** The newest triggers first (holdout records included, flagged). */
  recent(limit: number = this.settings.recentCapacity): readonly OfferTrigger[] {
    return this.ledger.recentTriggers(limit);
  }

  /** Decision counts since start: fired, held out, suppressed by reason. */
  counts(): OfferCounts {
    return this.ledger.counts();
  }

  /** True when this visitor is in the holdout group (deterministic). */
  isHoldout(visitorId: string): boolean {
    return isHoldout(this.settings, visitorId);
  }

  snapshot(): OfferLedgerSnapshot {
    return this.ledger.snapshot();
  }

  restore(snapshot: unknown): void {
    this.ledger.restore(snapshot as OfferLedgerSnapshot);
  }
}
