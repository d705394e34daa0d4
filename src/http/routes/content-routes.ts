import type { FastifyInstance } from 'fastify';
import { ContentProcessor } from '../../../processors/content/content-processor';
import type { AppContext } from '../../app-context';
import type { AdminRoute } from '../admin-routes';
import { routeSchema } from '../route-doc';
import { parseStatsQuery } from '../stats-query';
import { STATS_QUERYSTRING_PROPERTIES, windowStatsResponse } from './window-stats';

/** The lists of a content window that are paginated (each with `<name>Total` beside it). */
const LISTS = ['topPages', 'topProducts', 'topCategories', 'searches', 'zeroResultSearches', 'trending'] as const;

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
          properties: STATS_QUERYSTRING_PROPERTIES,
        },
      }),
    },
    async (req, reply) => {
      const parsed = parseStatsQuery(ctx, req.query as Record<string, unknown>);
      if (parsed.kind === 'error') return reply.code(parsed.status).send({ error: { code: parsed.code, message: parsed.message } });
      const q = parsed.query;
      const p = ctx.processor(q.site.id, 'content');
      if (!(p instanceof ContentProcessor)) return reply.code(404).send({ error: { code: 'no_processor', message: `site ${q.site.id} runs no content processor` } });
      return windowStatsResponse(ctx, q, p.windows(q.windowMs, q.windows, { watermark: ctx.watermark() }), LISTS);
    },
  );
};
