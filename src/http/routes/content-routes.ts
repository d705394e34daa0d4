import type { FastifyInstance } from 'fastify';
import { ContentProcessor, type ContentWindow } from '../../../processors/content/content-processor';
import type { AppContext } from '../../app-context';
import type { AdminRoute } from '../admin-routes';
import { routeSchema } from '../route-doc';
import { encodeCursor, paginate, parseStatsQuery } from '../stats-query';

const iso = (t: number): string | null => (Number.isFinite(t) ? new Date(t).toISOString() : null);

/** The lists of a content window that are paginated (each with `<name>Total` beside it). */
const LISTS = ['topPages', 'topProducts', 'topCategories', 'searches', 'zeroResultSearches', 'trending'] as const;

function renderWindow(w: ContentWindow, offset: number, limit: number): { body: Record<string, unknown>; more: boolean } {
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
 * GET /v1/stats/content?site=&window=&windows=&limit=&cursor= — content windows newest first, the
 * open one included (`closed: false`), DESIGN.md §3. Lists are sorted by count descending, except
 * `trending`, sorted by score (growth against the baseline); all paginated with the same limit/cursor.
 */
export const registerContentRoutes: AdminRoute = (app: FastifyInstance, ctx: AppContext) => {
  app.get(
    '/v1/stats/content',
    {
      schema: routeSchema('Content statistics per window (top and trending pages, products, categories, search terms, zero-result searches), newest first', {
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
      const p = ctx.processor(q.site.id, 'content');
      if (!(p instanceof ContentProcessor)) return reply.code(404).send({ error: { code: 'no_processor', message: `site ${q.site.id} runs no content processor` } });
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
