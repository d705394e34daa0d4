import type { RfmScore } from './visitor-profiles';

/** A named RFM segment: the first rule (in order) whose score ranges hold a customer names it. */
export interface RfmSegmentRule {
  readonly name: string;
  /** Inclusive [min, max] of the recency score (1–5). */
  readonly r: readonly [number, number];
  /** Inclusive [min, max] of the frequency score (1–5). */
  readonly f: readonly [number, number];
}

/**
 * The usual RFM segment map over recency × frequency (monetary left to the value estimate), first
 * match wins; `processors.usage.rfmSegments` replaces it. A visitor who never bought is `prospect`.
 */
export const DEFAULT_RFM_SEGMENTS: readonly RfmSegmentRule[] = Object.freeze([
  { name: 'champions', r: [4, 5], f: [4, 5] },
  { name: 'loyal', r: [3, 3], f: [4, 5] },
  { name: 'potential_loyalists', r: [4, 5], f: [2, 3] },
  { name: 'new_customers', r: [5, 5], f: [1, 1] },
  { name: 'promising', r: [4, 4], f: [1, 1] },
  { name: 'need_attention', r: [3, 3], f: [2, 3] },
  { name: 'about_to_sleep', r: [3, 3], f: [1, 1] },
  { name: 'cannot_lose', r: [1, 1], f: [4, 5] },
  { name: 'at_risk', r: [2, 2], f: [3, 5] },
  { name: 'hibernating', r: [2, 2], f: [1, 2] },
  { name: 'lost', r: [1, 1], f: [1, 3] },
] as const satisfies readonly RfmSegmentRule[]);

export const PROSPECT_SEGMENT = 'prospect';
/** A customer no rule matched (a partial custom map). */
export const UNMAPPED_SEGMENT = 'other';

export function rfmSegment(rfm: RfmScore, rules: readonly RfmSegmentRule[]): string {
  if (rfm.frequency === 0) return PROSPECT_SEGMENT;
  for (const s of rules) if (rfm.recency >= s.r[0] && rfm.recency <= s.r[1] && rfm.frequency >= s.f[0] && rfm.frequency <= s.f[1]) return s.name;
  return UNMAPPED_SEGMENT;
}

/** What the shop has seen of a customer, for the value estimate (times in epoch ms). */
export interface PurchaseHistory {
  readonly purchases: number;
  readonly revenue: number;
  readonly firstSeen: number;
  readonly lastPurchase: number | null;
}

/** A customer's value: what they spent, and what the model expects over the horizon. */
export interface CustomerValue {
  /** Revenue seen so far. */
  readonly historic: number;
  /** Expected revenue over the next `horizonDays` (0 for a visitor who never bought). */
  readonly predicted: number;
  /** The model's probability that the customer still buys (0–1). */
  readonly pAlive: number;
  /** Average order value. */
  readonly averageOrder: number;
  /** Observed purchases per day. */
  readonly ratePerDay: number;
}

const DAY_MS = 86_400_000;
/** Shortest observation span the rate is computed over, days: a first purchase yesterday is not 365 purchases a year. */
export const MIN_TENURE_DAYS = 30;

/**
 * A deliberately simple value model, documented so it can be argued with (README "customer value"):
 *
 * - rate λ = purchases ÷ max(days since first seen, 30): the purchase frequency seen so far;
 * - p(alive) = exp(−λ · max(0, days since last purchase − 1/λ)): 1 while the customer is within one
 *   typical gap of their last purchase, then it falls by e for every further typical gap (a customer
 *   who bought monthly and has not for four months is at e⁻³ ≈ 5 %);
 * - predicted = average order × λ × horizon × p(alive).
 *
 * Assumptions: purchases come at a steady rate while a customer is alive (no seasonality), the
 * average order stays, and the visitor id is the customer (no cross-device merge). It ranks customers
 * well enough for targeting; it is not a BG/NBD fit.
 */
export function customerValue(h: PurchaseHistory, asOf: number, horizonDays: number): CustomerValue {
  if (h.purchases === 0 || h.lastPurchase === null) return { historic: 0, predicted: 0, pAlive: 0, averageOrder: 0, ratePerDay: 0 };
  const tenureDays = Math.max(MIN_TENURE_DAYS, (asOf - h.firstSeen) / DAY_MS);
  const rate = h.purchases / tenureDays;
  const recencyDays = Math.max(0, (asOf - h.lastPurchase) / DAY_MS);
  const pAlive = Math.exp(-rate * Math.max(0, recencyDays - 1 / rate));
  const averageOrder = h.revenue / h.purchases;
  return { historic: h.revenue, predicted: averageOrder * rate * horizonDays * pAlive, pAlive, averageOrder, ratePerDay: rate };
}
