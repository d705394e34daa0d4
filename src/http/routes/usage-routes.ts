import type { FastifyInstance, FastifyReply } from 'fastify';
import { UsageView, type VisitorProfile } from '../../../processors/usage/usage-processor';
import { parseSegment } from '../../../processors/usage/segments';
import type { AppContext } from '../../app-context';
import type { AdminRoute } from '../admin-routes';
import { routeSchema } from '../route-doc';
import { parseDurationMs } from '../../config';
import { DEFAULT_STATS_LIMIT, MAX_STATS_LIMIT, decodeCursor, encodeCursor, parseStatsQuery } from '../stats-query';
import { parseSliceQuery, SLICE_QUERYSTRING_PROPERTIES } from '../slice-query';
import { STATS_QUERYSTRING_PROPERTIES, iso, windowStatsResponse } from './window-stats';
import { ZonedDays } from '../../pipeline/window-spec';
import { coverage, siteViews } from '../site-views';

/** The site's usage view over every partition (scaled out: gathered), with where its numbers come from. */
async function usageOf(ctx: AppContext, site: string): Promise<{ usage: UsageView | undefined; coverage: Record<string, unknown> }> {
  const views = await siteViews(ctx, site, ['usage']);
  const p = views.processor('usage');
  return { usage: p instanceof UsageView ? p : undefined, coverage: coverage(views) };
}

/** The lists of a usage window that are paginated (each with `<name>Total` beside it). */
const LISTS = ['forms', 'goldenCustomers'] as const;

/** `limit` (default DEFAULT_STATS_LIMIT, at most MAX_STATS_LIMIT) and the offset of `cursor`, or undefined when either is bad. */
function pagingOf(q: Record<string, unknown>): { limit: number; offset: number } | undefined {
  const limit = q['limit'] === undefined ? DEFAULT_STATS_LIMIT : Number(q['limit']);
  const offset = decodeCursor(q['cursor']);
  return Number.isInteger(limit) && limit >= 0 && limit <= MAX_STATS_LIMIT && offset !== undefined ? { limit, offset } : undefined;
}

function renderProfile(p: VisitorProfile): Record<string, unknown> {
  return { ...p, firstSeen: iso(p.firstSeen), lastSeen: iso(p.lastSeen), lastPurchase: p.lastPurchase === null ? null : iso(p.lastPurchase) };
}

/**
 * GET /v1/stats/usage?site=&window=&windows=&slide=&rolling=&limit=&cursor= — usage windows newest first, the
 * open one included (DESIGN.md §3): tumbling, hopping with `slide`, zoned calendar days for `P1D`, or
 * with `rolling=true` the one window ending with the newest event's pane;
 * per-window lists (forms, golden customers) paginated by limit/cursor.
 * GET /v1/visitors/:id?site= — the visitor's profile: lifecycle stage, RFM, interests.
 */
export const registerUsageRoutes: AdminRoute = (app: FastifyInstance, ctx: AppContext) => {
  // One ZonedDays per site: day boundaries are computed once per day, not per request.
  const zoned = new Map<string, ZonedDays>();
  /** The site of a request (query `site`, default demo) and its usage view, or the reply already sent. */
  /** `local`: this instance's own view, where segment definitions live (changes go there, not to a gathered copy). */
  const usageFor = async (query: unknown, reply: FastifyReply, scope: 'global' | 'local' = 'global'): Promise<{ site: string; usage: UsageView; coverage: Record<string, unknown> } | undefined> => {
    const q = query as Record<string, unknown>;
    const site = ctx.site(typeof q['site'] === 'string' ? q['site'] : 'demo');
    if (site === undefined) {
      void reply.code(404).send({ error: { code: 'unknown_site', message: `no site ${JSON.stringify(q['site'])}` } });
      return undefined;
    }
    const local = ctx.processor(site.id, 'usage');
    const { usage, coverage: from } = scope === 'local' ? { usage: local instanceof UsageView ? local : undefined, coverage: {} } : await usageOf(ctx, site.id);
    if (usage === undefined) {
      void reply.code(404).send({ error: { code: 'no_processor', message: `site ${site.id} runs no usage processor` } });
      return undefined;
    }
    return { site: site.id, usage, coverage: from };
  };
  const siteOnly = { querystring: { type: 'object', properties: { site: { type: 'string' } } } };
  app.get(
    '/v1/stats/usage',
    {
      schema: routeSchema('Usage statistics per window (sessions, visitors, forms, conversions, golden customers), newest first', {
        querystring: {
          type: 'object',
          properties: {
            ...STATS_QUERYSTRING_PROPERTIES,
            slide: { type: 'string', description: 'Hopping windows: ISO-8601 slide, a multiple of the pane no longer than the window' },
            rolling: { type: 'string', description: 'true: one window of the given length ending with the pane of the newest event ("the last 5 minutes")' },
            ...SLICE_QUERYSTRING_PROPERTIES,
          },
        },
      }),
    },
    async (req, reply) => {
      const parsed = parseStatsQuery(ctx, req.query as Record<string, unknown>);
      if (parsed.kind === 'error') return reply.code(parsed.status).send({ error: { code: parsed.code, message: parsed.message } });
      const q = parsed.query;
      const slideRaw = (req.query as Record<string, unknown>)['slide'];
      let slideMs: number | undefined;
      if (slideRaw !== undefined) {
        slideMs = parseDurationMs(slideRaw);
        if (slideMs === undefined || slideMs <= 0 || slideMs % ctx.config.time.paneMs !== 0 || slideMs > q.windowMs) {
          return reply.code(400).send({ error: { code: 'invalid_slide', message: `slide must be an ISO-8601 duration, a positive multiple of the pane (${ctx.config.time.paneMs} ms) and no longer than the window` } });
        }
      }
      const slicing = parseSliceQuery(req.query as Record<string, unknown>);
      if (slicing.kind === 'error') return reply.code(400).send({ error: { code: 'invalid_slice', message: slicing.message } });
      const slices = slicing.query;
      const { usage, coverage: from } = await usageOf(ctx, q.site.id);
      if (usage === undefined) return reply.code(404).send({ error: { code: 'no_processor', message: `site ${q.site.id} runs no usage processor` } });
      // Calendar-day windows (`P1D`, `P7D`) follow the site's time zone; everything else is epoch-aligned.
      const dayMatch = typeof (req.query as Record<string, unknown>)['window'] === 'string' ? /^P(\d+)D$/.exec((req.query as Record<string, string>)['window'] ?? '') : null;
      let stats;
      if (dayMatch !== null && q.site.timeZone !== 'UTC') {
        const days = Number(dayMatch[1]);
        let zd = zoned.get(q.site.id);
        if (zd === undefined) zoned.set(q.site.id, (zd = new ZonedDays(q.site.timeZone)));
        const ranges: Array<[number, number]> = [];
        let t: number = usage.newestEventTime();
        for (let i = 0; i < q.windows && Number.isFinite(t); i++) {
          const w = zd.window(t, days);
          ranges.push([w.start, w.end]);
          t = w.start - 1;
        }
        stats = usage.windowsIn(ranges, slices);
      } else if ((req.query as Record<string, unknown>)['rolling'] === 'true') {
        const newest = usage.newestEventTime();
        const paneMs = ctx.config.time.paneMs;
        const end = Number.isFinite(newest) ? (Math.floor(newest / paneMs) + 1) * paneMs : Number.NaN;
        stats = Number.isFinite(end) ? usage.windowsIn([[end - q.windowMs, end]], slices) : [];
      } else stats = usage.windows(q.windowMs, q.windows, { ...(slideMs === undefined ? {} : { slideMs }), ...(slices === undefined ? {} : { slices }) });
      return windowStatsResponse(ctx, q, stats, LISTS, { stages: usage.stages(), ...from });
    },
  );

  app.get(
    '/v1/visitors/:id',
    {
      schema: routeSchema("A visitor's profile: lifecycle stage, RFM scores, sessions, purchases, category interest", {
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 128 } }, required: ['id'] },
        querystring: { type: 'object', properties: { site: { type: 'string' } } },
      }),
    },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      const siteId = (req.query as Record<string, unknown>)['site'];
      const site = ctx.site(typeof siteId === 'string' ? siteId : 'demo');
      if (site === undefined) return reply.code(404).send({ error: { code: 'unknown_site', message: `no site ${JSON.stringify(siteId)}` } });
      const { usage, coverage: from } = await usageOf(ctx, site.id);
      const profile = usage?.visitor(id);
      if (profile === undefined && from['partial'] === true) return reply.code(503).header('retry-after', '1').send({ error: { code: 'partition_unavailable', message: "the instance holding this visitor's partition did not answer in time; try again" } });
      if (profile === undefined) return reply.code(404).send({ error: { code: 'unknown_visitor', message: 'no profile for this visitor (never seen, or evicted from the bounded profile store)' } });
      return { site: site.id, ...renderProfile(profile) };
    },
  );

  app.get(
    '/v1/customers',
    {
      schema: routeSchema('Golden customers: visitors who bought, ranked by predicted value (the README\'s customer value model), with RFM segment, lifecycle stage and profile; paged', {
        querystring: {
          type: 'object',
          properties: {
            site: { type: 'string' },
            segment: { type: 'string', description: 'Only this RFM segment (e.g. champions, at_risk)' },
            limit: { type: 'string', description: `Customers per page (default ${DEFAULT_STATS_LIMIT}, at most ${MAX_STATS_LIMIT})` },
            cursor: { type: 'string', description: 'nextCursor of a previous response' },
          },
        },
      }),
    },
    async (req, reply) => {
      const query = req.query as Record<string, unknown>;
      const found = await usageFor(query, reply);
      if (found === undefined) return reply;
      const { usage } = found;
      const paging = pagingOf(query);
      if (paging === undefined) return reply.code(400).send({ error: { code: 'invalid_query', message: `limit must be 0..${MAX_STATS_LIMIT}, cursor from a previous response` } });
      const { limit, offset } = paging;
      const segment = typeof query['segment'] === 'string' && query['segment'] !== '' ? query['segment'] : undefined;
      const page = usage.customers({ ...(segment === undefined ? {} : { segment }), offset, limit });
      return {
        site: found.site,
        horizonDays: usage.settings?.valueHorizonDays,
        total: page.total,
        customers: page.customers.map(renderProfile),
        nextCursor: offset + limit < page.total ? encodeCursor(offset + limit) : undefined,
      };
    },
  );

  app.get(
    '/v1/customers/segments',
    { schema: routeSchema('Customers per RFM segment: count, revenue so far, predicted value and its distribution (p50, p90, max)', siteOnly) },
    async (req, reply) => {
      const found = await usageFor(req.query, reply);
      if (found === undefined) return reply;
      const { site, usage } = found;
      return { site, horizonDays: usage.settings?.valueHorizonDays, segments: usage.valueBySegment(), stages: usage.stages() };
    },
  );

  app.get('/v1/segments', { schema: routeSchema("The site's named segments with their definitions, current sizes and what their members are worth (revenue so far, predicted value and its p50/p90/max)", siteOnly) }, async (req, reply) => {
    const found = await usageFor(req.query, reply);
    if (found === undefined) return reply;
    const sizes = new Map(found.usage.segmentSizes().map((s) => [s.id, s]));
    return { site: found.site, segments: found.usage.segmentDefinitions().map((d) => ({ ...d, size: sizes.get(d.id)?.size ?? 0, value: sizes.get(d.id)?.value })), ...found.coverage };
  });

  app.put('/v1/segments', { schema: routeSchema('Adds or replaces a segment (body: {id, name, match, conditions}); every problem is reported', siteOnly) }, async (req, reply) => {
    const found = await usageFor(req.query, reply, 'local');
    if (found === undefined) return reply;
    const r = parseSegment(req.body);
    if (r.kind === 'invalid') return reply.code(400).send({ error: { code: 'invalid_segment', message: r.problems.join('; '), problems: r.problems } });
    const before = found.usage.segment(r.segment.id);
    let replaced: boolean;
    try {
      replaced = found.usage.putSegment(r.segment);
    } catch (err) {
      return reply.code(409).send({ error: { code: 'too_many_segments', message: (err as Error).message } });
    }
    if (ctx.sharedSegments !== undefined) {
      // Scaled out: every instance (each owner evaluates its visitors) gets it, or none does.
      try {
        await ctx.sharedSegments.put(found.site, r.segment);
      } catch (err) {
        if (before === undefined) found.usage.removeSegment(r.segment.id);
        else found.usage.putSegment(before);
        return reply.code(503).header('retry-after', '1').send({ error: { code: 'segments_unavailable', message: `the segment could not be shared with the other instances: ${(err as Error).message}` } });
      }
    }
    ctx.logger.info({ site: found.site, segment: r.segment.id, replaced }, 'segment defined');
    return reply.code(replaced ? 200 : 201).send({ site: found.site, replaced, segment: r.segment });
  });

  app.delete(
    '/v1/segments',
    { schema: routeSchema('Removes a segment', { querystring: { type: 'object', required: ['id'], properties: { site: { type: 'string' }, id: { type: 'string' } } } }) },
    async (req, reply) => {
      const found = await usageFor(req.query, reply, 'local');
      if (found === undefined) return reply;
      const id = String((req.query as Record<string, unknown>)['id']);
      const before = found.usage.segment(id);
      if (!found.usage.removeSegment(id)) return reply.code(404).send({ error: { code: 'unknown_segment', message: `site ${found.site} has no segment ${JSON.stringify(id)}` } });
      if (ctx.sharedSegments !== undefined) {
        try {
          await ctx.sharedSegments.remove(found.site, id);
        } catch (err) {
          if (before !== undefined) found.usage.putSegment(before);
          return reply.code(503).header('retry-after', '1').send({ error: { code: 'segments_unavailable', message: `the removal could not be shared with the other instances: ${(err as Error).message}` } });
        }
      }
      return { site: found.site, removed: id };
    },
  );

  app.get(
    '/v1/segments/changes',
    {
      schema: routeSchema('The latest segment entries and exits (newest first, the last 1,000 per site), as published on cm.segments.<site>', {
        querystring: { type: 'object', properties: { site: { type: 'string' }, segment: { type: 'string' }, limit: { type: 'string' } } },
      }),
    },
    async (req, reply) => {
      const found = await usageFor(req.query, reply);
      if (found === undefined) return reply;
      const query = req.query as Record<string, unknown>;
      const paging = pagingOf(query);
      if (paging === undefined) return reply.code(400).send({ error: { code: 'invalid_query', message: `limit must be 0..${MAX_STATS_LIMIT}` } });
      const segment = typeof query['segment'] === 'string' && query['segment'] !== '' ? query['segment'] : undefined;
      const changes = ctx.segmentChanges?.(found.site, { ...(segment === undefined ? {} : { segment }), limit: paging.limit }) ?? [];
      return { site: found.site, changes: changes.map((c) => ({ ...c, ts: new Date(c.ts).toISOString() })) };
    },
  );

  app.get(
    '/v1/segments/:id/visitors',
    {
      schema: routeSchema("A segment's members now, newest activity first, with their profiles; paged", {
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] },
        querystring: { type: 'object', properties: { site: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' } } },
      }),
    },
    async (req, reply) => {
      const found = await usageFor(req.query, reply);
      if (found === undefined) return reply;
      const query = req.query as Record<string, unknown>;
      const paging = pagingOf(query);
      if (paging === undefined) return reply.code(400).send({ error: { code: 'invalid_query', message: `limit must be 0..${MAX_STATS_LIMIT}, cursor from a previous response` } });
      const { limit, offset } = paging;
      const { id } = req.params as { id: string };
      const page = found.usage.members(id, { offset, limit });
      if (page === undefined) return reply.code(404).send({ error: { code: 'unknown_segment', message: `site ${found.site} has no segment ${JSON.stringify(id)}` } });
      return { site: found.site, segment: id, total: page.total, visitors: page.visitors.map(renderProfile), nextCursor: offset + limit < page.total ? encodeCursor(offset + limit) : undefined };
    },
  );
};
