import { parseDurationMs } from '../../src/config';
import { DEFAULT_MAX_OFFERS, OfferCatalog } from './offer-catalog';

/**
 * A site's next-best-offer settings, from `site.processors['next-best-offer']` (raw JSON, validated
 * here with every problem reported at once). Durations are ISO-8601 (`PT5M`) or milliseconds.
 */
export interface RollingCapSettings {
  /** Most triggers within the rolling window (count). */
  readonly max: number;
  /** Rolling window length, ms of event time. */
  readonly windowMs: number;
}

export interface NextBestOfferSettings {
  /** Share of eligible visitors held out (0-1): recorded, never offered, for uplift. Deterministic per visitor. */
  readonly holdoutShare: number;
  /** Lift floor: a rule fires only when its lift is strictly above this (≥ 1: lift ≤ 1 never fires). */
  readonly minLift: number;
  /** Rules below this confidence (0-1) never fire. */
  readonly minConfidence: number;
  /** Quiet time after a trigger before the same visitor gets another, ms of event time. */
  readonly cooldownMs: number;
  /** Triggers per visitor in a rolling window. */
  readonly visitorCap: RollingCapSettings;
  /** Triggers per offer in a rolling window. */
  readonly offerCap: RollingCapSettings;
  /** Triggers per site in a rolling window. */
  readonly siteCap: RollingCapSettings;
  /** A started form untouched this long (by the watermark) counts as abandoned, ms. */
  readonly formIdleMs: number;
  /** A cart with no purchase and no activity this long (by the watermark) counts as abandoned, ms. */
  readonly cartIdleMs: number;
  /** Visitors whose live context is kept (LRU), count. */
  readonly maxVisitors: number;
  /** Product ids (and categories) kept per visitor's session context, count. */
  readonly maxSessionItems: number;
  /** Offer/item pairs remembered per visitor for the "already offered" exclusion, count. */
  readonly maxOfferedPerVisitor: number;
  /** Products whose category is remembered (for category-targeted offers), count. */
  readonly maxProducts: number;
  /** Pending abandonment checks (form or cart), count. */
  readonly maxPending: number;
  /** Recent triggers kept for GET /v1/offers/recent, count. */
  readonly recentCapacity: number;
  /** Most offers in the catalog, count. */
  readonly maxOffers: number;
  /** Webhook URLs that receive every trigger of the site (signed with the site secret). */
  readonly webhooks: readonly string[];
}

export const NBO_DEFAULTS: NextBestOfferSettings = Object.freeze({
  holdoutShare: 0,
  minLift: 1,
  minConfidence: 0,
  cooldownMs: 2 * 60_000,
  visitorCap: Object.freeze({ max: 5, windowMs: 3_600_000 }),
  offerCap: Object.freeze({ max: 10_000, windowMs: 3_600_000 }),
  siteCap: Object.freeze({ max: 100_000, windowMs: 3_600_000 }),
  formIdleMs: 5 * 60_000,
  cartIdleMs: 30 * 60_000,
  maxVisitors: 100_000,
  maxSessionItems: 20,
  maxOfferedPerVisitor: 32,
  maxProducts: 100_000,
  maxPending: 100_000,
  recentCapacity: 200,
  maxOffers: DEFAULT_MAX_OFFERS,
  webhooks: Object.freeze([]),
});

export type SettingsResult =
  | { readonly kind: 'ok'; readonly settings: NextBestOfferSettings; readonly catalog: OfferCatalog }
  | { readonly kind: 'invalid'; readonly problems: readonly string[] };

/** Parses the raw site settings (undefined = all defaults; the demo site then gets its demo offers). */
export function parseNextBestOfferSettings(siteId: string, raw: unknown): SettingsResult {
  const problems: string[] = [];
  const where = `sites[${siteId}].processors.next-best-offer`;
  const r: Record<string, unknown> = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  if (raw !== undefined && r !== raw) problems.push(`${where}: expected an object`);
  const known = new Set(['offers', 'holdoutShare', 'minLift', 'minConfidence', 'cooldown', 'caps', 'formIdle', 'cartIdle', 'maxVisitors', 'maxSessionItems', 'maxOfferedPerVisitor', 'maxProducts', 'maxPending', 'recentCapacity', 'maxOffers', 'webhooks']);
  for (const k of Object.keys(r)) if (!known.has(k)) problems.push(`${where}.${k}: unknown setting`);
  const num = (o: Record<string, unknown>, key: string, dflt: number, min: number, max: number, integer: boolean, at = where): number => {
    const v = o[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      problems.push(`${at}.${key}: expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`);
      return dflt;
    }
    return v;
  };
  const dur = (o: Record<string, unknown>, key: string, dflt: number, at = where): number => {
    const v = o[key];
    if (v === undefined) return dflt;
    const ms = parseDurationMs(v);
    if (ms === undefined) {
      problems.push(`${at}.${key}: expected an ISO-8601 duration (e.g. PT5M) or milliseconds, got ${JSON.stringify(v)}`);
      return dflt;
    }
    return ms;
  };
  const capsRaw = r['caps'];
  const caps: Record<string, unknown> = typeof capsRaw === 'object' && capsRaw !== null && !Array.isArray(capsRaw) ? (capsRaw as Record<string, unknown>) : {};
  if (capsRaw !== undefined && caps !== capsRaw) problems.push(`${where}.caps: expected {visitor, offer, site}`);
  const cap = (key: 'visitor' | 'offer' | 'site', dflt: RollingCapSettings): RollingCapSettings => {
    const c = caps[key];
    if (c === undefined) return dflt;
    if (typeof c !== 'object' || c === null || Array.isArray(c)) {
      problems.push(`${where}.caps.${key}: expected {max, window}`);
      return dflt;
    }
    const cc = c as Record<string, unknown>;
    const at = `${where}.caps.${key}`;
    const windowMs = dur(cc, 'window', dflt.windowMs, at);
    if (windowMs <= 0) problems.push(`${at}.window: must be positive`);
    return Object.freeze({ max: num(cc, 'max', dflt.max, 1, 10_000_000, true, at), windowMs });
  };
  let webhooks: readonly string[] = NBO_DEFAULTS.webhooks;
  const wh = r['webhooks'];
  if (wh !== undefined) {
    if (!Array.isArray(wh) || wh.length > 16) problems.push(`${where}.webhooks: expected an array of at most 16 http(s) URLs`);
    else {
      const ok: string[] = [];
      wh.forEach((u: unknown, i) => {
        let valid = false;
        if (typeof u === 'string') {
          try {
            const p = new URL(u).protocol;
            valid = p === 'http:' || p === 'https:';
          } catch {
            valid = false;
          }
        }
        if (valid) ok.push(u as string);
        else problems.push(`${where}.webhooks[${i}]: expected an http(s) URL, got ${JSON.stringify(u)}`);
      });
      webhooks = Object.freeze(ok);
    }
  }
  const d = NBO_DEFAULTS;
  const settings: NextBestOfferSettings = Object.freeze({
    holdoutShare: num(r, 'holdoutShare', d.holdoutShare, 0, 1, false),
    minLift: num(r, 'minLift', d.minLift, 1, 1e9, false),
    minConfidence: num(r, 'minConfidence', d.minConfidence, 0, 1, false),
    cooldownMs: dur(r, 'cooldown', d.cooldownMs),
    visitorCap: cap('visitor', d.visitorCap),
    offerCap: cap('offer', d.offerCap),
    siteCap: cap('site', d.siteCap),
    formIdleMs: dur(r, 'formIdle', d.formIdleMs),
    cartIdleMs: dur(r, 'cartIdle', d.cartIdleMs),
    maxVisitors: num(r, 'maxVisitors', d.maxVisitors, 1, 100_000_000, true),
    maxSessionItems: num(r, 'maxSessionItems', d.maxSessionItems, 1, 1_000, true),
    maxOfferedPerVisitor: num(r, 'maxOfferedPerVisitor', d.maxOfferedPerVisitor, 1, 10_000, true),
    maxProducts: num(r, 'maxProducts', d.maxProducts, 1, 100_000_000, true),
    maxPending: num(r, 'maxPending', d.maxPending, 1, 100_000_000, true),
    recentCapacity: num(r, 'recentCapacity', d.recentCapacity, 1, 1_000_000, true),
    maxOffers: num(r, 'maxOffers', d.maxOffers, 1, 1_000_000, true),
    webhooks,
  });
  if (settings.formIdleMs <= 0) problems.push(`${where}.formIdle: must be positive`);
  if (settings.cartIdleMs <= 0) problems.push(`${where}.cartIdle: must be positive`);
  const cat = OfferCatalog.fromConfig(siteId, r['offers'], settings.maxOffers);
  if (cat.kind === 'invalid') problems.push(...cat.problems.map((p) => `${where}.${p}`));
  if (problems.length > 0 || cat.kind === 'invalid') return { kind: 'invalid', problems };
  return { kind: 'ok', settings, catalog: cat.catalog };
}
