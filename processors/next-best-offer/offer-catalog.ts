import { requireBound } from '../../src/errors';

/**
 * A site's offer catalog (DESIGN.md §5 next-best-offer): what may be offered, to whom, when and how
 * often. Built from site config (`site.processors['next-best-offer'].offers`), every problem reported
 * at once, and changed at run time through the admin API (`put`, `remove`, `replaceAll`).
 *
 * Offers are immutable values; the catalog swaps its indexes on each change (changes are rare, look-ups
 * are per event), and `version` counts the changes so callers can see that the catalog moved.
 */

/** Customer-lifecycle stages of the usage processor's visitor profiles (DESIGN.md §5 usage). */
export const LIFECYCLE_STAGES = ['prospect', 'responder', 'active_customer', 'former_customer'] as const;
export type LifecycleStage = (typeof LIFECYCLE_STAGES)[number];

/** Pattern triggers that need no rule. */
export const OFFER_PATTERNS = ['form_abandonment', 'cart_abandonment'] as const;
export type OfferPattern = (typeof OFFER_PATTERNS)[number];

/** What an offer is about. In config: `{productId}`, `{category}`, `{consequent: true}` or `{pattern}`. */
export type OfferTarget =
  /** Fires when a rule's consequent contains this product. */
  | { readonly kind: 'product'; readonly productId: string }
  /** Fires when a rule's consequent is this category (category-level rules) or a product of it. */
  | { readonly kind: 'category'; readonly category: string }
  /** Catch-all: recommend whatever the best rule's consequent is. */
  | { readonly kind: 'consequent' }
  /** Fires on a behaviour pattern (abandoned form or cart) after the configured idle time. */
  | { readonly kind: 'pattern'; readonly pattern: OfferPattern };

export interface Offer {
  /** Stable id, unique in the site's catalog (1-64 characters of [A-Za-z0-9_.:-]). */
  readonly id: string;
  readonly target: OfferTarget;
  /** Text shown to the visitor; `{consequent}`, `{antecedent}`, `{item}` and `{discount}` are filled in. */
  readonly text: string;
  /** Discount in percent, 0-100. */
  readonly discount: number;
  /** Tie-breaker between offers of equal expected value: higher wins. */
  readonly priority: number;
  /** Lifecycle stages that may receive this offer (default: all). */
  readonly eligibleStages: readonly LifecycleStage[];
  /** Named segments (usage segments) whose members may receive it; empty: everyone. */
  readonly eligibleSegments: readonly string[];
  /** Most triggers this offer may ever fire (holdout records excluded); undefined = unlimited. */
  readonly budget: number | undefined;
  /** Start of validity, epoch ms of event time (inclusive); undefined = always. */
  readonly validFrom: number | undefined;
  /** End of validity, epoch ms of event time (exclusive); undefined = forever. */
  readonly validTo: number | undefined;
  /** Expected value of one conversion, in the site's currency units. */
  readonly value: number;
}

export type OfferParseResult =
  | { readonly kind: 'ok'; readonly offer: Offer }
  | { readonly kind: 'invalid'; readonly problems: readonly string[] };

export type CatalogChange =
  | { readonly kind: 'ok'; readonly catalog: OfferCatalog }
  | { readonly kind: 'invalid'; readonly problems: readonly string[] };

/** Defaults for offer fields left out of config. */
export const DEFAULT_OFFER_VALUE = 1;
export const DEFAULT_MAX_OFFERS = 1_000;

/**
 * The `demo` site ships these when its config names no offers, so a new user sees offers fire at once:
 * a catch-all "recommend the consequent" and the two pattern rescues.
 */
export const DEMO_OFFERS: readonly Record<string, unknown>[] = Object.freeze([
  {
    id: 'demo-recommend',
    target: { consequent: true },
    text: 'Shoppers who looked at {antecedent} also chose {consequent}: {discount} % off today',
    discount: 10,
    priority: 0,
    value: 20,
  },
  {
    id: 'demo-cart-rescue',
    target: { pattern: 'cart_abandonment' },
    text: 'Still deciding? {discount} % off what is in your cart',
    discount: 5,
    priority: 0,
    value: 30,
  },
  {
    id: 'demo-form-help',
    target: { pattern: 'form_abandonment' },
    text: 'Need a hand finishing? Chat with us, and take {discount} % off',
    discount: 5,
    priority: 0,
    value: 5,
  },
]);

const ID_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const MAX_TEXT = 500;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseInstant(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  // TRICKY: Date.parse accepts many non-ISO forms; require the ISO-8601 shape before trusting it.
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)) return undefined;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms : undefined;
}

function parseTarget(v: unknown, where: string, problems: string[]): OfferTarget | undefined {
  if (!isRecord(v)) {
    problems.push(`${where}.target: expected {productId} | {category} | {consequent: true} | {pattern}`);
    return undefined;
  }
  const keys = Object.keys(v);
  if (keys.length !== 1) {
    problems.push(`${where}.target: expected exactly one of productId, category, consequent, pattern; got ${JSON.stringify(keys)}`);
    return undefined;
  }
  const p = v['productId'];
  const c = v['category'];
  if (typeof p === 'string' && p !== '' && p.length <= 128) return { kind: 'product', productId: p };
  if (typeof c === 'string' && c !== '' && c.length <= 128) return { kind: 'category', category: c };
  if (v['consequent'] === true) return { kind: 'consequent' };
  const pat = v['pattern'];
  if (typeof pat === 'string' && (OFFER_PATTERNS as readonly string[]).includes(pat)) return { kind: 'pattern', pattern: pat as OfferPattern };
  problems.push(`${where}.target: ${JSON.stringify(v)} is not {productId: string} | {category: string} | {consequent: true} | {pattern: ${OFFER_PATTERNS.join('|')}}`);
  return undefined;
}

/** Validates one raw offer, reporting every problem (not just the first). */
export function parseOffer(raw: unknown, where = 'offer'): OfferParseResult {
  const problems: string[] = [];
  if (!isRecord(raw)) return { kind: 'invalid', problems: [`${where}: expected an object`] };
  const known = new Set(['id', 'target', 'text', 'discount', 'priority', 'eligibleStages', 'eligibleSegments', 'budget', 'validFrom', 'validTo', 'value']);
  for (const k of Object.keys(raw)) if (!known.has(k)) problems.push(`${where}.${k}: unknown field`);
  const id = raw['id'];
  if (typeof id !== 'string' || !ID_RE.test(id)) problems.push(`${where}.id: expected 1-64 characters of [A-Za-z0-9_.:-]`);
  const target = parseTarget(raw['target'], where, problems);
  const text = raw['text'];
  if (typeof text !== 'string' || text === '' || text.length > MAX_TEXT) problems.push(`${where}.text: expected a non-empty string of at most ${MAX_TEXT} characters`);
  const num = (key: string, dflt: number, min: number, max: number): number => {
    const v = raw[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      problems.push(`${where}.${key}: expected a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
      return dflt;
    }
    return v;
  };
  const discount = num('discount', 0, 0, 100);
  const priority = num('priority', 0, -1_000_000, 1_000_000);
  const value = num('value', DEFAULT_OFFER_VALUE, 0, 1e12);
  let budget: number | undefined;
  if (raw['budget'] !== undefined) {
    const b = raw['budget'];
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 0) problems.push(`${where}.budget: expected a non-negative integer (max triggers), got ${JSON.stringify(b)}`);
    else budget = b;
  }
  let eligibleStages: readonly LifecycleStage[] = LIFECYCLE_STAGES;
  const st = raw['eligibleStages'];
  if (st !== undefined) {
    if (!Array.isArray(st) || st.length === 0 || !st.every((s) => (LIFECYCLE_STAGES as readonly unknown[]).includes(s))) {
      problems.push(`${where}.eligibleStages: expected a non-empty array of ${LIFECYCLE_STAGES.join('|')}`);
    } else eligibleStages = Object.freeze([...new Set(st as LifecycleStage[])]);
  }
  let eligibleSegments: readonly string[] = Object.freeze([]);
  const sg = raw['eligibleSegments'];
  if (sg !== undefined) {
    if (!Array.isArray(sg) || sg.length > 20 || !sg.every((x) => typeof x === 'string' && /^[a-z0-9][a-z0-9_-]{0,63}$/.test(x))) {
      problems.push(`${where}.eligibleSegments: expected up to 20 segment ids`);
    } else eligibleSegments = Object.freeze([...new Set(sg as string[])]);
  }
  const instant = (key: string): number | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    const ms = parseInstant(v);
    if (ms === undefined) problems.push(`${where}.${key}: expected an ISO-8601 instant (e.g. 2026-01-31T00:00:00Z), got ${JSON.stringify(v)}`);
    return ms;
  };
  const validFrom = instant('validFrom');
  const validTo = instant('validTo');
  if (validFrom !== undefined && validTo !== undefined && validTo <= validFrom) problems.push(`${where}.validTo: must be after validFrom`);
  if (problems.length > 0 || target === undefined || typeof id !== 'string' || typeof text !== 'string') {
    return { kind: 'invalid', problems };
  }
  return {
    kind: 'ok',
    offer: Object.freeze({ id, target, text, discount, priority, eligibleStages, eligibleSegments, budget, validFrom, validTo, value }),
  };
}

/** The config form of an offer (what the admin API returns and accepts). */
export function offerToJson(o: Offer): Record<string, unknown> {
  const t = o.target;
  let target: Record<string, unknown>;
  switch (t.kind) {
    case 'product':
      target = { productId: t.productId };
      break;
    case 'category':
      target = { category: t.category };
      break;
    case 'consequent':
      target = { consequent: true };
      break;
    case 'pattern':
      target = { pattern: t.pattern };
      break;
    default: {
      const _: never = t;
      throw new Error(`unreachable target ${String(_)}`);
    }
  }
  const out: Record<string, unknown> = {
    id: o.id,
    target,
    text: o.text,
    discount: o.discount,
    priority: o.priority,
    eligibleStages: o.eligibleStages,
    value: o.value,
  };
  if (o.eligibleSegments.length > 0) out['eligibleSegments'] = o.eligibleSegments;
  if (o.budget !== undefined) out['budget'] = o.budget;
  if (o.validFrom !== undefined) out['validFrom'] = new Date(o.validFrom).toISOString();
  if (o.validTo !== undefined) out['validTo'] = new Date(o.validTo).toISOString();
  return out;
}

interface Indexes {
  readonly all: readonly Offer[];
  readonly byId: ReadonlyMap<string, Offer>;
  readonly byProduct: ReadonlyMap<string, readonly Offer[]>;
  readonly byCategory: ReadonlyMap<string, readonly Offer[]>;
  readonly catchAll: readonly Offer[];
  readonly byPattern: ReadonlyMap<OfferPattern, readonly Offer[]>;
}

const EMPTY: readonly Offer[] = Object.freeze([]);

function index(offers: readonly Offer[]): Indexes {
  const byId = new Map<string, Offer>();
  const byProduct = new Map<string, Offer[]>();
  const byCategory = new Map<string, Offer[]>();
  const byPattern = new Map<OfferPattern, Offer[]>();
  const catchAll: Offer[] = [];
  const push = <K>(m: Map<K, Offer[]>, k: K, o: Offer): void => {
    const l = m.get(k);
    if (l === undefined) m.set(k, [o]);
    else l.push(o);
  };
  for (const o of offers) {
    byId.set(o.id, o);
    const t = o.target;
    switch (t.kind) {
      case 'product':
        push(byProduct, t.productId, o);
        break;
      case 'category':
        push(byCategory, t.category, o);
        break;
      case 'consequent':
        catchAll.push(o);
        break;
      case 'pattern':
        push(byPattern, t.pattern, o);
        break;
      default: {
        const _: never = t;
        throw new Error(`unreachable target ${String(_)}`);
      }
    }
  }
  return { all: Object.freeze([...byId.values()]), byId, byProduct, byCategory, catchAll: Object.freeze(catchAll), byPattern };
}

export class OfferCatalog {
  /** Most offers the catalog holds; `put` beyond it is refused. */
  readonly maxOffers: number;
  #ix: Indexes;
  #version = 0;

  private constructor(offers: readonly Offer[], maxOffers: number) {
    this.maxOffers = requireBound('OfferCatalog maxOffers', maxOffers);
    this.#ix = index(offers);
  }

  /** An empty catalog. */
  static empty(maxOffers: number = DEFAULT_MAX_OFFERS): OfferCatalog {
    return new OfferCatalog([], maxOffers);
  }

  /**
   * The catalog from a site's raw offer list. `undefined` means "not configured": the demo site then
   * gets DEMO_OFFERS, any other site an empty catalog. Every invalid offer and duplicate id is reported.
   */
  static fromConfig(siteId: string, raw: unknown, maxOffers: number = DEFAULT_MAX_OFFERS): CatalogChange {
    const list = raw === undefined ? (siteId === 'demo' ? DEMO_OFFERS : []) : raw;
    const parsed = parseOfferList(list, 'offers', maxOffers);
    if (parsed.kind === 'invalid') return parsed;
    return { kind: 'ok', catalog: new OfferCatalog(parsed.offers, maxOffers) };
  }

  /** Changes since construction (each put/remove/replaceAll adds one). */
  get version(): number {
    return this.#version;
  }
  get size(): number {
    return this.#ix.all.length;
  }
  list(): readonly Offer[] {
    return this.#ix.all;
  }
  get(id: string): Offer | undefined {
    return this.#ix.byId.get(id);
  }
  /** Offers whose target is this product id. */
  forProduct(productId: string): readonly Offer[] {
    return this.#ix.byProduct.get(productId) ?? EMPTY;
  }
  /** Offers whose target is this category. */
  forCategory(category: string): readonly Offer[] {
    return this.#ix.byCategory.get(category) ?? EMPTY;
  }
  /** Catch-all "recommend the consequent" offers. */
  catchAll(): readonly Offer[] {
    return this.#ix.catchAll;
  }
  forPattern(p: OfferPattern): readonly Offer[] {
    return this.#ix.byPattern.get(p) ?? EMPTY;
  }

  /** Adds an offer, or replaces the one with the same id. */
  put(raw: unknown): { kind: 'ok'; offer: Offer; replaced: boolean } | { kind: 'invalid'; problems: readonly string[] } {
    const r = parseOffer(raw);
    if (r.kind === 'invalid') return r;
    const replaced = this.#ix.byId.has(r.offer.id);
    if (!replaced && this.#ix.all.length >= this.maxOffers) {
      return { kind: 'invalid', problems: [`catalog full: at most ${this.maxOffers} offers (remove one first)`] };
    }
    const next = this.#ix.all.filter((o) => o.id !== r.offer.id);
    next.push(r.offer);
    this.#ix = index(next);
    this.#version++;
    return { kind: 'ok', offer: r.offer, replaced };
  }

  /** Replaces the whole catalog; on any problem nothing changes. */
  replaceAll(raw: unknown): { kind: 'ok'; size: number } | { kind: 'invalid'; problems: readonly string[] } {
    const parsed = parseOfferList(raw, 'offers', this.maxOffers);
    if (parsed.kind === 'invalid') return parsed;
    this.#ix = index(parsed.offers);
    this.#version++;
    return { kind: 'ok', size: parsed.offers.length };
  }

  /** Removes an offer; false when there was none with that id. */
  remove(id: string): boolean {
    if (!this.#ix.byId.has(id)) return false;
    this.#ix = index(this.#ix.all.filter((o) => o.id !== id));
    this.#version++;
    return true;
  }

  toJSON(): Record<string, unknown>[] {
    return this.#ix.all.map(offerToJson);
  }
}

function parseOfferList(raw: unknown, where: string, maxOffers: number): { kind: 'ok'; offers: Offer[] } | { kind: 'invalid'; problems: readonly string[] } {
  if (!Array.isArray(raw)) return { kind: 'invalid', problems: [`${where}: expected an array of offers`] };
  const problems: string[] = [];
  if (raw.length > maxOffers) problems.push(`${where}: ${raw.length} offers, at most ${maxOffers} allowed`);
  const offers: Offer[] = [];
  const seen = new Set<string>();
  raw.forEach((o: unknown, i) => {
    const r = parseOffer(o, `${where}[${i}]`);
    if (r.kind === 'invalid') {
      problems.push(...r.problems);
      return;
    }
    if (seen.has(r.offer.id)) problems.push(`${where}[${i}].id: duplicate id ${JSON.stringify(r.offer.id)}`);
    seen.add(r.offer.id);
    offers.push(r.offer);
  });
  return problems.length > 0 ? { kind: 'invalid', problems } : { kind: 'ok', offers };
}
