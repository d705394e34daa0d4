import type { FastifyInstance } from 'fastify';
import { NavigationView, type NavigationWindow } from '../../../processors/navigation/navigation-processor';
import type { AppContext } from '../../app-context';
import type { AdminRoute } from '../admin-routes';
import { routeSchema } from '../route-doc';
import { parseSliceQuery } from '../slice-query';
import { parseStatsQuery } from '../stats-query';
import { refuseSlices, STATS_QUERYSTRING_PROPERTIES, windowStatsResponse, windowStatsRoute } from './window-stats';
import { coverage, siteViews } from '../site-views';

/**
 * GET /v1/stats/navigation?site=&window=&windows=&limit=&cursor=&by=&where= — navigation windows newest first,
 * the open one included (`closed: false`), DESIGN.md §3. Every list is sorted by count descending
 * and paginated with the same limit/cursor; `transitions` is the full tail (probabilities are over
 * all of it, not just the page shown). With `by`/`where` (the session dimensions of the usage route),
 * each window also holds `slices`: its ended sessions grouped, with bounce rate, entry and exit pages
 * and transitions per group.
 */
const registerNavigationWindows = windowStatsRoute<NavigationWindow>({
  path: '/v1/stats/navigation',
  processor: 'navigation',
  summary: 'Navigation statistics per window (transitions with P(next|page), entry/exit pages, bounce rate, paths, click-through), newest first; by/where group ended sessions by channel, device, visitor type or UTM',
  lists: ['transitions', 'entryPages', 'exitPages', 'topPages', 'paths', 'clickThrough'],
  is: (p): p is NavigationView => p instanceof NavigationView,
  slice: (q) => {
    const r = parseSliceQuery(q);
    return r.kind === 'error' ? r : { kind: 'ok', opts: r.query === undefined ? {} : { slices: r.query } };
  },
});

/** One page's flow in a window: where its visitors came from and went next, absolute counts. */
export interface PageFlow {
  readonly start: number;
  readonly end: number;
  readonly closed: boolean;
  readonly page: string;
  /** Views of the page in the window. */
  readonly views: number;
  /** Sessions that entered the site on it. */
  readonly entries: number;
  /** Sessions that ended on it. */
  readonly exits: number;
  /** Pages viewed just before it (transitions into it), by count descending: the full tail. */
  readonly previous: ReadonlyArray<{ readonly page: string; readonly count: number }>;
  /** Pages viewed just after it (transitions out of it), by count descending, with P(next | page). */
  readonly next: ReadonlyArray<{ readonly page: string; readonly count: number; readonly probability: number }>;
  /** False when a sketch of the window evicted: counts are then lower bounds (see the window's `capacity`). */
  readonly exact: boolean;
}

/** The flow through `page` in one navigation window, from its full transition list. */
export function pageFlow(w: NavigationWindow, page: string): PageFlow {
  const previous: Array<{ page: string; count: number }> = [];
  const next: Array<{ page: string; count: number; probability: number }> = [];
  for (const t of w.transitions) {
    if (t.to === page) previous.push({ page: t.from, count: t.count });
    if (t.from === page) next.push({ page: t.to, count: t.count, probability: t.probability });
  }
  const countOf = (list: NavigationWindow['entryPages']): number => list.find((p) => p.page === page)?.count ?? 0;
  return { start: w.start, end: w.end, closed: w.closed, page, views: countOf(w.topPages), entries: countOf(w.entryPages), exits: countOf(w.exitPages), previous, next, exact: w.exact };
}

/**
 * GET /v1/stats/navigation/flow?site=&page=&window=&windows=&limit=&cursor= — for one page, per window
 * newest first: the pages before it and after it with absolute counts, its views, entries and exits.
 * `previous` and `next` are paginated with one cursor (their full lengths in `previousTotal`/`nextTotal`).
 */
const registerFlow: AdminRoute = (app: FastifyInstance, ctx: AppContext) => {
  app.get(
    '/v1/stats/navigation/flow',
    {
      schema: routeSchema('Flow through one page per window: previous pages → page → next pages (absolute counts, the full tail paged), views, entries, exits', {
        querystring: { type: 'object', required: ['page'], properties: { ...STATS_QUERYSTRING_PROPERTIES, page: { type: 'string', description: 'The page key, as navigation lists it (e.g. /product/:id)' } } },
      }),
    },
    async (req, reply) => {
      const query = req.query as Record<string, unknown>;
      if (query['by'] !== undefined || query['where'] !== undefined) return refuseSlices(reply, '/v1/stats/navigation/flow');
      const parsed = parseStatsQuery(ctx, query);
      if (parsed.kind === 'error') return reply.code(parsed.status).send({ error: { code: parsed.code, message: parsed.message } });
      const page = query['page'];
      if (typeof page !== 'string' || page === '' || page.length > 2_048) return reply.code(400).send({ error: { code: 'invalid_page', message: 'page must be a page key of 1 to 2048 characters' } });
      const q = parsed.query;
      const views = await siteViews(ctx, q.site.id, ['navigation']);
      const nav = views.processor('navigation');
      if (!(nav instanceof NavigationView)) return reply.code(404).send({ error: { code: 'no_processor', message: `site ${q.site.id} runs no navigation processor` } });
      const flows = nav.windows(q.windowMs, q.windows, { watermark: views.watermark }).map((w) => pageFlow(w, page));
      return windowStatsResponse(ctx, q, flows, ['previous', 'next'], coverage(views));
    },
  );
};

export const registerNavigationRoutes: AdminRoute = (app, ctx) => {
  registerNavigationWindows(app, ctx);
  registerFlow(app, ctx);
};
