import { ClickstreamError } from '../../src/errors';

/** Per-site content settings (`site.processors.content` in the config file); capacities are per pane. */
export interface ContentSettings {
  /** Distinct pages counted per pane before Space-Saving takes over, count. */
  readonly maxPages: number;
  /** Distinct products per pane, count. */
  readonly maxProducts: number;
  /** Distinct categories per pane, count. */
  readonly maxCategories: number;
  /** Distinct site-search terms per pane (also zero-result terms), count. */
  readonly maxSearches: number;
  /** Earlier windows the trending baseline (EWMA) looks back over, count of windows. */
  readonly trendingHistory: number;
  /** EWMA weight of the most recent earlier window in the baseline, 0 < α ≤ 1. */
  readonly trendingAlpha: number;
  /** Fewest occurrences in the window for a key to be called trending, count. */
  readonly trendingMinCount: number;
  /** Keys per kind (the most viewed in the window) scored for trending, count. */
  readonly trendingCandidates: number;
  /** Distinct session slices per pane (channel × device × visitor type × UTM); past it UTM values fold into `other`, count. */
  readonly maxSlicesPerPane: number;
  /** Distinct (slice, product) and (slice, category) keys per pane, each, count. */
  readonly maxSlicedItems: number;
}

export const DEFAULT_CONTENT_SETTINGS: ContentSettings = Object.freeze({
  maxPages: 10_000,
  maxProducts: 10_000,
  maxCategories: 2_000,
  maxSearches: 5_000,
  trendingHistory: 6,
  trendingAlpha: 0.3,
  trendingMinCount: 3,
  trendingCandidates: 500,
  maxSlicesPerPane: 64,
  maxSlicedItems: 5_000,
});

type Check = (v: unknown) => boolean;
const intIn = (lo: number, hi: number): Check => (v) => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
const CHECKS: Record<keyof ContentSettings, [Check, string]> = {
  maxPages: [intIn(1, 10_000_000), 'an integer in [1, 10000000]'],
  maxProducts: [intIn(1, 10_000_000), 'an integer in [1, 10000000]'],
  maxCategories: [intIn(1, 10_000_000), 'an integer in [1, 10000000]'],
  maxSearches: [intIn(1, 10_000_000), 'an integer in [1, 10000000]'],
  trendingHistory: [intIn(1, 100), 'an integer in [1, 100]'],
  trendingAlpha: [(v) => typeof v === 'number' && v > 0 && v <= 1, 'a number in (0, 1]'],
  trendingMinCount: [intIn(1, 1_000_000), 'an integer in [1, 1000000]'],
  trendingCandidates: [intIn(1, 100_000), 'an integer in [1, 100000]'],
  maxSlicesPerPane: [intIn(1, 100_000), 'an integer in [1, 100000]'],
  maxSlicedItems: [intIn(1, 10_000_000), 'an integer in [1, 10000000]'],
};

/** Validates the raw site settings; every bad key is reported at once (CM_ERR_CONFIG). */
export function parseContentSettings(raw: unknown, site: string): ContentSettings {
  if (raw === undefined) return DEFAULT_CONTENT_SETTINGS;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ClickstreamError('CM_ERR_CONFIG', `sites[${site}].processors.content: expected an object`);
  }
  const problems: string[] = [];
  const out: Record<string, number> = { ...DEFAULT_CONTENT_SETTINGS };
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const check = (CHECKS as Record<string, [Check, string] | undefined>)[k];
    if (check === undefined) problems.push(`${k}: unknown key (expected one of ${Object.keys(CHECKS).join(', ')})`);
    else if (!check[0](v)) problems.push(`${k}: expected ${check[1]}, got ${JSON.stringify(v)}`);
    else out[k] = v as number;
  }
  if (problems.length > 0) throw new ClickstreamError('CM_ERR_CONFIG', `sites[${site}].processors.content:\n  ${problems.join('\n  ')}`);
  return Object.freeze(out) as unknown as ContentSettings;
}
