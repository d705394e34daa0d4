import { parseDurationMs } from '../../src/config';
import { MAX_PAIR_ITEMS, MAX_TRIPLE_ITEMS } from './itemset-counter';

/**
 * A site's cross-sell settings, from `site.processors['cross-sell']` (raw JSON, validated here with
 * every problem reported at once). Durations are ISO-8601 (`PT1H`) or milliseconds.
 */
export interface SessionBasketWeights {
  /** Score of a product the session viewed. */
  readonly viewed: number;
  /** Score of a product the session added to the cart. */
  readonly carted: number;
  /** Score of a product the session bought. */
  readonly bought: number;
  /** A product joins the session basket when the sum of its scores is ≥ this. */
  readonly threshold: number;
}

export interface CrossSellSettings {
  /** Sliding windows the rules are mined over, ISO-8601 (e.g. PT1H, P1D); the first is the primary one (offers, cm.rules). */
  readonly windows: readonly string[];
  /** The same windows in ms. */
  readonly windowsMs: readonly number[];
  /** Pane length, ms: windows slide by it; every window is a multiple of it. */
  readonly paneMs: number;
  /** Least event time between two recomputations of the rules, ms (throttle: never per event). */
  readonly recomputeEveryMs: number;
  /** Least support, a fraction of the window's baskets (absolute: ceil(minSupport × N)). */
  readonly minSupport: number;
  /** Least confidence, 0..1. */
  readonly minConfidence: number;
  /** Least lift. */
  readonly minLift: number;
  /** Distinct items counted per pane and per window (count); ≤ 2^21, ≤ 2^17 with triples. */
  readonly itemCapacity: number;
  /** Distinct pairs counted per pane and per window (count). */
  readonly pairCapacity: number;
  /** Distinct triples counted per pane and per window (count); 0 = no pair ⇒ item rules. */
  readonly tripleCapacity: number;
  /** Distinct items of one basket that are counted (count). */
  readonly maxBasketItems: number;
  /**
   * Basket entries a pane or window keeps before counting its pairs into the table (count; undefined
   * = 8 × pairCapacity, never more memory than the full table; 0 = count pairs as baskets come).
   */
  readonly basketBuffer: number | undefined;
  /** Count purchase baskets (a form submit with items). */
  readonly purchaseBaskets: boolean;
  /** Count session baskets (on session close). */
  readonly sessionBaskets: boolean;
  /** Mine category-level rules beside product-level ones. */
  readonly categoryLevel: boolean;
  readonly sessionWeights: SessionBasketWeights;
  /** Closed sessions remembered so a re-opened one can be retracted (count). */
  readonly maxTrackedSessions: number;
  /** Mine sequential rules across a visitor's sessions ("bought A, later bought B"). */
  readonly sequential: boolean;
  /** How far back a visitor's earlier purchases count as antecedents, ms. */
  readonly sequentialHorizonMs: number;
  /** Visitors whose purchase history is kept (LRU), count. */
  readonly maxVisitors: number;
  /** Earlier-purchase items per visitor used as antecedents (most recent first), count. */
  readonly maxHistoryItems: number;
  /** Most rules per rule set (count); the highest counts are kept. */
  readonly maxRules: number;
  /** Most rules in a cm.rules.<site> message (count). */
  readonly maxPublishedRules: number;
}

export const CROSS_SELL_DEFAULTS: CrossSellSettings = Object.freeze({
  windows: Object.freeze(['PT1H', 'P1D']),
  windowsMs: Object.freeze([3_600_000, 86_400_000]),
  paneMs: 5 * 60_000,
  recomputeEveryMs: 60_000,
  minSupport: 0.01,
  minConfidence: 0.1,
  minLift: 1,
  itemCapacity: 20_000,
  pairCapacity: 200_000,
  tripleCapacity: 0,
  basketBuffer: undefined,
  maxBasketItems: 100,
  purchaseBaskets: true,
  sessionBaskets: true,
  categoryLevel: true,
  sessionWeights: Object.freeze({ viewed: 1, carted: 2, bought: 3, threshold: 1 }),
  maxTrackedSessions: 100_000,
  sequential: true,
  sequentialHorizonMs: 30 * 86_400_000,
  maxVisitors: 100_000,
  maxHistoryItems: 50,
  maxRules: 10_000,
  maxPublishedRules: 1_000,
});

export type CrossSellSettingsResult =
  | { readonly kind: 'ok'; readonly settings: CrossSellSettings }
  | { readonly kind: 'invalid'; readonly problems: readonly string[] };

type Raw = Record<string, unknown>;

/** Parses the raw site settings (undefined = all defaults). */
export function parseCrossSellSettings(siteId: string, raw: unknown): CrossSellSettingsResult {
  const problems: string[] = [];
  const where = `sites[${siteId}].processors.cross-sell`;
  const r: Raw = isObject(raw) ? raw : {};
  if (raw !== undefined && !isObject(raw)) problems.push(`${where}: expected an object`);
  const d = CROSS_SELL_DEFAULTS;
  const known = new Set([
    'windows', 'pane', 'recomputeEvery', 'minSupport', 'minConfidence', 'minLift', 'itemCapacity', 'pairCapacity',
    'tripleCapacity', 'basketBuffer', 'maxBasketItems', 'purchaseBaskets', 'sessionBaskets', 'categoryLevel', 'sessionWeights',
    'maxTrackedSessions', 'sequential', 'sequentialHorizon', 'maxVisitors', 'maxHistoryItems', 'maxRules', 'maxPublishedRules',
  ]);
  for (const k of Object.keys(r)) if (!known.has(k)) problems.push(`${where}.${k}: unknown setting`);
  const num = (o: Raw, key: string, dflt: number, min: number, max: number, integer: boolean, at = where): number => {
    const v = o[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      problems.push(`${at}.${key}: expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`);
      return dflt;
    }
    return v;
  };
  const bool = (key: string, dflt: boolean): boolean => {
    const v = r[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') {
      problems.push(`${where}.${key}: expected true or false`);
      return dflt;
    }
    return v;
  };
  const dur = (key: string, dflt: number): number => {
    const v = r[key];
    if (v === undefined) return dflt;
    const ms = parseDurationMs(v);
    if (ms === undefined || ms <= 0) {
      problems.push(`${where}.${key}: expected a positive ISO-8601 duration (e.g. PT5M) or milliseconds, got ${JSON.stringify(v)}`);
      return dflt;
    }
    return ms;
  };
  const paneMs = dur('pane', d.paneMs);
  let windows = d.windows;
  let windowsMs = d.windowsMs;
  const w = r['windows'];
  if (w !== undefined) {
    if (!Array.isArray(w) || w.length === 0 || w.length > 8 || !w.every((x) => typeof x === 'string')) {
      problems.push(`${where}.windows: expected 1 to 8 ISO-8601 durations, e.g. ["PT1H", "P1D"]`);
    } else {
      windows = Object.freeze([...(w as string[])]);
      windowsMs = Object.freeze(windows.map((x) => parseDurationMs(x) ?? -1));
    }
  }
  windows.forEach((name, i) => {
    const ms = windowsMs[i]!;
    if (ms <= 0 || ms % paneMs !== 0) problems.push(`${where}.windows[${i}]: ${JSON.stringify(name)} must be a positive ISO-8601 duration, a multiple of the pane (${paneMs} ms)`);
  });
  if (new Set(windows).size !== windows.length) problems.push(`${where}.windows: duplicate window`);
  const weightsRaw = r['sessionWeights'];
  const wr: Raw = isObject(weightsRaw) ? weightsRaw : {};
  if (weightsRaw !== undefined && !isObject(weightsRaw)) problems.push(`${where}.sessionWeights: expected {viewed, carted, bought, threshold}`);
  const wat = `${where}.sessionWeights`;
  const sessionWeights: SessionBasketWeights = Object.freeze({
    viewed: num(wr, 'viewed', d.sessionWeights.viewed, 0, 1e6, false, wat),
    carted: num(wr, 'carted', d.sessionWeights.carted, 0, 1e6, false, wat),
    bought: num(wr, 'bought', d.sessionWeights.bought, 0, 1e6, false, wat),
    threshold: num(wr, 'threshold', d.sessionWeights.threshold, Number.MIN_VALUE, 1e6, false, wat),
  });
  const tripleCapacity = num(r, 'tripleCapacity', d.tripleCapacity, 0, 100_000_000, true);
  const maxItems = tripleCapacity > 0 ? MAX_TRIPLE_ITEMS : MAX_PAIR_ITEMS;
  const maxBasketItems = num(r, 'maxBasketItems', d.maxBasketItems, 2, 10_000, true);
  const itemCapacity = num(r, 'itemCapacity', Math.min(d.itemCapacity, maxItems), 1, maxItems, true);
  if (itemCapacity <= maxBasketItems) problems.push(`${where}.itemCapacity: must exceed maxBasketItems (${maxBasketItems})`);
  const settings: CrossSellSettings = Object.freeze({
    windows,
    windowsMs,
    paneMs,
    recomputeEveryMs: dur('recomputeEvery', d.recomputeEveryMs),
    minSupport: num(r, 'minSupport', d.minSupport, 0, 1, false),
    minConfidence: num(r, 'minConfidence', d.minConfidence, 0, 1, false),
    minLift: num(r, 'minLift', d.minLift, 0, 1e9, false),
    itemCapacity,
    pairCapacity: num(r, 'pairCapacity', d.pairCapacity, 1, 100_000_000, true),
    tripleCapacity,
    basketBuffer: r['basketBuffer'] === undefined ? undefined : num(r, 'basketBuffer', 0, 0, 1_000_000_000, true),
    maxBasketItems,
    purchaseBaskets: bool('purchaseBaskets', d.purchaseBaskets),
    sessionBaskets: bool('sessionBaskets', d.sessionBaskets),
    categoryLevel: bool('categoryLevel', d.categoryLevel),
    sessionWeights,
    maxTrackedSessions: num(r, 'maxTrackedSessions', d.maxTrackedSessions, 1, 100_000_000, true),
    sequential: bool('sequential', d.sequential),
    sequentialHorizonMs: dur('sequentialHorizon', d.sequentialHorizonMs),
    maxVisitors: num(r, 'maxVisitors', d.maxVisitors, 1, 100_000_000, true),
    maxHistoryItems: num(r, 'maxHistoryItems', d.maxHistoryItems, 1, 1_000, true),
    maxRules: num(r, 'maxRules', d.maxRules, 1, 10_000_000, true),
    maxPublishedRules: num(r, 'maxPublishedRules', d.maxPublishedRules, 0, 1_000_000, true),
  });
  if (problems.length > 0) return { kind: 'invalid', problems };
  return { kind: 'ok', settings };
}

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
