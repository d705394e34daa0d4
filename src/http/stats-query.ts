import { parseDurationMs } from '../config';
import type { AppContext } from '../app-context';
import type { SiteConfig } from '../config';

/** Parsed common query parameters of the stats endpoints: `site`, `window`, `limit`, `cursor`. */
export interface StatsQuery {
  readonly site: SiteConfig;
  /** Window length in ms (a multiple of the pane length). */
  readonly windowMs: number;
  /** Most windows returned (newest first). */
  readonly windows: number;
  /** Most list entries per window (transitions, pages …). */
  readonly limit: number;
  /** Offset into each list, from a previous response's `nextCursor`. */
  readonly offset: number;
}

export type StatsQueryResult =
  | { readonly kind: 'ok'; readonly query: StatsQuery }
  | { readonly kind: 'error'; readonly status: 400 | 404; readonly code: string; readonly message: string };

export const DEFAULT_STATS_WINDOW_MS = 5 * 60_000;
export const DEFAULT_STATS_WINDOWS = 10;
export const DEFAULT_STATS_LIMIT = 50;
export const MAX_STATS_LIMIT = 10_000;

/** Validates the common stats parameters; every stats route calls this first. */
export function parseStatsQuery(ctx: AppContext, q: Record<string, unknown>): StatsQueryResult {
  const siteId = typeof q['site'] === 'string' ? q['site'] : 'demo';
  const site = ctx.site(siteId);
  if (site === undefined) return { kind: 'error', status: 404, code: 'unknown_site', message: `no site ${JSON.stringify(siteId)}` };
  const paneMs = ctx.config.time.paneMs;
  let windowMs = DEFAULT_STATS_WINDOW_MS;
  if (q['window'] !== undefined) {
    const w = parseDurationMs(q['window']);
    if (w === undefined || w <= 0 || w % paneMs !== 0) {
      return { kind: 'error', status: 400, code: 'invalid_window', message: `window must be an ISO-8601 duration that is a positive multiple of the pane (${paneMs} ms), e.g. PT5M` };
    }
    windowMs = w;
  } else if (windowMs % paneMs !== 0) windowMs = paneMs;
  const num = (key: string, dflt: number, max: number): number | undefined => {
    const v = q[key];
    if (v === undefined) return dflt;
    const n = Number(v);
    return Number.isInteger(n) && n >= 0 && n <= max ? n : undefined;
  };
  const limit = num('limit', DEFAULT_STATS_LIMIT, MAX_STATS_LIMIT);
  const windows = num('windows', DEFAULT_STATS_WINDOWS, 1_000);
  const offset = decodeCursor(q['cursor']);
  if (limit === undefined || windows === undefined || offset === undefined) {
    return { kind: 'error', status: 400, code: 'invalid_query', message: `limit must be 0..${MAX_STATS_LIMIT}, windows 0..1000, cursor from a previous response` };
  }
  return { kind: 'ok', query: { site, windowMs, windows, limit, offset } };
}

/** Cursors are opaque to clients: a base64url offset. */
export function encodeCursor(offset: number): string {
  return Buffer.from(`o:${offset}`).toString('base64url');
}

export function decodeCursor(v: unknown): number | undefined {
  if (v === undefined || v === '') return 0;
  if (typeof v !== 'string') return undefined;
  const m = /^o:(\d+)$/.exec(Buffer.from(v, 'base64url').toString());
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** One page of a list sorted by count descending; `nextCursor` is set while more remain. */
export function paginate<T>(list: readonly T[], offset: number, limit: number): { items: T[]; total: number; nextCursor: string | undefined } {
  const items = list.slice(offset, offset + limit);
  const next = offset + items.length;
  return { items, total: list.length, nextCursor: next < list.length ? encodeCursor(next) : undefined };
}
