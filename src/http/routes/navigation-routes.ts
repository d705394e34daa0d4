import type { FastifyInstance } from 'fastify';
import { NavigationProcessor } from '../../../processors/navigation/navigation-processor';
import type { AppContext } from '../../app-context';
import type { AdminRoute } from '../admin-routes';
import { routeSchema } from '../route-doc';
import { parseStatsQuery } from '../stats-query';
import { STATS_QUERYSTRING_PROPERTIES, windowStatsResponse } from './window-stats';

/** The lists of a navigation window that are paginated (each with `<name>Total` beside it). */
const LISTS = ['transitions', 'entryPages', 'exitPages', 'topPages', 'paths', 'clickThrough'] as const;

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
          properties: STATS_QUERYSTRING_PROPERTIES,
        },
      }),
    },
    async (req, reply) => {
      const parsed = parseStatsQuery(ctx, req.query as Record<string, unknown>);
      if (parsed.kind === 'error') return reply.code(parsed.status).send({ error: { code: parsed.code, message: parsed.message } });
      const q = parsed.query;
      const p = ctx.processor(q.site.id, 'navigation');
      if (!(p instanceof NavigationProcessor)) return reply.code(404).send({ error: { code: 'no_processor', message: `site ${q.site.id} runs no navigation processor` } });
      return windowStatsResponse(ctx, q, p.windows(q.windowMs, q.windows, { watermark: ctx.watermark() }), LISTS);
    },
  );
};
