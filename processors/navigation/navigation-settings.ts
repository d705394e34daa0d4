import { ClickstreamError } from '../../src/errors';

/**
 * Per-site navigation settings (`site.processors.navigation` in the config file), all bounds per pane.
 * Worst-case memory is retention panes × the sum of these (a window query merges its panes into one
 * summary of the same capacities), so lower them for long retention with fine panes.
 */
export interface NavigationSettings {
  /** Distinct from→to transitions counted exactly per pane before Space-Saving takes over, count. */
  readonly maxTransitions: number;
  /** Distinct pages per pane (page views, entry and exit pages), count. */
  readonly maxPages: number;
  /** Distinct paths (up to 3 pages) per pane, count. */
  readonly maxPaths: number;
  /** Distinct ads and links per pane (impressions and clicks), count. */
  readonly maxTargets: number;
  /**
   * Distinct session slices (channel × device × visitor type × UTM) per pane; past it a session's UTM
   * values fold into `other` (counted as evictions of `slices`), count.
   */
  readonly maxSlicesPerPane: number;
  /** Distinct (slice, page) entry and exit pages per pane, count. */
  readonly maxSlicedPages: number;
  /** Distinct (slice, from→to) transitions per pane, count. */
  readonly maxSlicedTransitions: number;
}

export const DEFAULT_NAVIGATION_SETTINGS: NavigationSettings = Object.freeze({
  maxTransitions: 20_000,
  maxPages: 10_000,
  maxPaths: 10_000,
  maxTargets: 2_000,
  maxSlicesPerPane: 64,
  maxSlicedPages: 5_000,
  maxSlicedTransitions: 10_000,
});

const KEYS = Object.keys(DEFAULT_NAVIGATION_SETTINGS) as Array<keyof NavigationSettings>;

/** Validates the raw site settings; every bad key is reported at once (CM_ERR_CONFIG). */
export function parseNavigationSettings(raw: unknown, site: string): NavigationSettings {
  if (raw === undefined) return DEFAULT_NAVIGATION_SETTINGS;
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ClickstreamError('CM_ERR_CONFIG', `sites[${site}].processors.navigation: expected an object`);
  }
  const r = raw as Record<string, unknown>;
  const out: Record<string, number> = { ...DEFAULT_NAVIGATION_SETTINGS };
  for (const k of Object.keys(r)) {
    if (!(KEYS as string[]).includes(k)) {
      problems.push(`${k}: unknown key (expected one of ${KEYS.join(', ')})`);
      continue;
    }
    const v = r[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 10_000_000) problems.push(`${k}: expected an integer in [1, 10000000], got ${JSON.stringify(v)}`);
    else out[k] = v;
  }
  if (problems.length > 0) {
    throw new ClickstreamError('CM_ERR_CONFIG', `sites[${site}].processors.navigation:\n  ${problems.join('\n  ')}`);
  }
  return Object.freeze(out) as unknown as NavigationSettings;
}
