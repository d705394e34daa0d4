import type { FastifyInstance } from 'fastify';
import { NavigationProcessor, type NavigationWindow } from '../../../processors/navigation/navigation-processor';
import type { AppContext } from '../../app-context';
import type { AdminRoute } from '../admin-routes';
import { routeSchema } from '../route-doc';
import { encodeCursor, paginate, parseStatsQuery } from '../stats-query';

const iso = (t: number): string | null => (Number.isFinite(t) ? new Date(t).toISOString() : null);

/** The lists of a navigation window that are paginated (each with `<name>Total` beside it). */
const LISTS = ['transitions', 'entryPages', 'exitPages', 'topPages', 'paths', 'clickThrough'] as const;

function renderWindow(w: NavigationWindow, offset: number, limit: number): { body: Record<string, unknown>; more: boolean } {
  const body: Record<string, unknown> = { ...w, start: iso(w.start), end: iso(w.end) };
  let more = false;
  for (const name of LISTS) {
    const page = paginate<unknown>(w[name], offset, limit);
    body[name] = page.items;
    body[`${name}Total`] = page.total;
    more ||= page.nextCursor !== undefined;
  }
  return { body, more };
}

/**
 * GET /v1/stats/navigation?site=&window=&windows=&limit=&cursor= — navigation windows newest first,
 * the open one included (`closed: false`), DESIGN.md §3. Every list is sorted by count descending
 * and paginated with the same limit/cursor; `transitions` is the full tail (probabilities are over
 * all of it, not just the page shown).
 */
export const registerNavigationRoutes: AdminRoute = (app: FastifyInstance, ctx: AppContext) => {
  app.get(
    '/v1/stats/navigation',
    {
      schema: routeSchema('Navigation statistics per window (transitions with P(next|page), entry/exit pages, bounce rate, paths, click-through), newest first', {
        querystring: {
          type: 'object',
          properties: {
            site: { type: 'string' },
            window: { type: 'string', description: 'ISO-8601 duration, a multiple of the pane, e.g. PT5M' },
            windows: { type: 'string', description: 'How many windows (default 10)' },
            limit: { type: 'string', description: 'List entries per window' },
            cursor: { type: 'string', description: 'nextCursor of a previous response' },
          },
        },
      }),
    },
    async (req, reply) => {
      const parsed = parseStatsQuery(ctx, req.query as Record<string, unknown>);
      if (parsed.kind === 'error') return reply.code(parsed.status).send({ error: { code: parsed.code, message: parsed.message } });
      const q = parsed.query;
      const p = ctx.processor(q.site.id, 'navigation');
      if (!(p instanceof NavigationProcessor)) return reply.code(404).send({ error: { code: 'no_processor', message: `site ${q.site.id} runs no navigation processor` } });
      let more = false;
      const windows = p.windows(q.windowMs, q.windows, { watermark: ctx.watermark() }).map((w) => {
        const r = renderWindow(w, q.offset, q.limit);
        more ||= r.more;
        return r.body;
      });
      return {
        site: q.site.id,
        windowMs: q.windowMs,
        watermark: iso(ctx.watermark()),
        windows,
        nextCursor: more ? encodeCursor(q.offset + q.limit) : undefined,
      };
    },
  );
};
