import type { FastifyReply } from 'fastify';
import type { AppContext } from '../../app-context';
import type { AdminRoute } from '../admin-routes';
import { routeSchema } from '../route-doc';
import { SLICE_QUERYSTRING_PROPERTIES } from '../slice-query';
import { encodeCursor, paginate, parseStatsQuery, type StatsQuery } from '../stats-query';
import { coverage, siteViews } from '../site-views';

/** An ISO-8601 instant, or null for a non-finite time (no data yet). */
export const iso = (t: number): string | null => (Number.isFinite(t) ? new Date(t).toISOString() : null);

/** The querystring every `/v1/stats/*` route takes (documented in the OpenAPI document). */
export const STATS_QUERYSTRING_PROPERTIES = {
  site: { type: 'string' },
  window: { type: 'string', description: 'ISO-8601 duration, a multiple of the pane, e.g. PT5M' },
  windows: { type: 'string', description: 'How many windows (default 10)' },
  limit: { type: 'string', description: 'List entries per window' },
  cursor: { type: 'string', description: 'nextCursor of a previous response' },
} as const;

/**
 * A window as the API shows it: ISO instants, and each named list paginated with the query's
 * limit/cursor (its full length in `<name>Total` beside it). `more` is set while any list has more.
 */
export function renderWindow<W extends { readonly start: number; readonly end: number }>(
  w: W,
  lists: readonly (keyof W & string)[],
  offset: number,
  limit: number,
): { body: Record<string, unknown>; more: boolean } {
  const body: Record<string, unknown> = { ...w, start: iso(w.start), end: iso(w.end) };
  let more = false;
  for (const name of lists) {
    const page = paginate(w[name] as readonly unknown[], offset, limit);
    body[name] = page.items;
    body[`${name}Total`] = page.total;
    more ||= page.nextCursor !== undefined;
  }
  return { body, more };
}

/**
 * The body of every stats response (DESIGN.md §3): windows newest first, the open one included, lists
 * paginated with one shared cursor; `extra` fields (e.g. usage's lifecycle stages) sit beside them.
 */
export function windowStatsResponse<W extends { readonly start: number; readonly end: number }>(
  ctx: AppContext,
  q: StatsQuery,
  windows: readonly W[],
  lists: readonly (keyof W & string)[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  let more = false;
  const rendered = windows.map((w) => {
    const r = renderWindow(w, lists, q.offset, q.limit);
    more ||= r.more;
    return r.body;
  });
  return {
    site: q.site.id,
    windowMs: q.windowMs,
    watermark: iso(ctx.watermark(q.site.id)),
    ...extra,
    windows: rendered,
    nextCursor: more ? encodeCursor(q.offset + q.limit) : undefined,
  };
}

/** The answer to `by`/`where` on a route that does not slice: said, not ignored (a silently unsliced answer would read as the slice). */
export function refuseSlices(reply: FastifyReply, path: string): FastifyReply {
  return reply.code(400).send({ error: { code: 'slice_unsupported', message: `${path} is not sliced; by/where work on /v1/stats/usage, /v1/stats/navigation and /v1/stats/content (sessions by channel, device, visitor type, UTM), and where=segment:<id> on /v1/rules` } });
}

/** A processor whose windows the stats API lists (navigation, content). */
export interface WindowedProcessor<W> {
  windows(sizeMs: number, limit: number, opts: { watermark?: number } & Record<string, unknown>): W[];
}

/** What a route's `by`/`where` mean for its processor: options for `windows`, or why the query is refused. */
export type SliceParser = (q: Record<string, unknown>) => { readonly kind: 'ok'; readonly opts: Record<string, unknown> } | { readonly kind: 'error'; readonly message: string };

/**
 * The admin route of a windowed processor: `GET <path>?site=&window=&windows=&limit=&cursor=`,
 * windows newest first with the open one included (`closed: false`), each named list paginated.
 */
export function windowStatsRoute<W extends { readonly start: number; readonly end: number }>(opts: {
  readonly path: string;
  readonly processor: string;
  readonly summary: string;
  readonly lists: readonly (keyof W & string)[];
  /** Narrows the site's processor to the expected class (an `instanceof` check). */
  readonly is: (p: unknown) => p is WindowedProcessor<W>;
  /** How the route slices (`by`, `where`); without it they are refused, not ignored. */
  readonly slice?: SliceParser;
}): AdminRoute {
  return (app, ctx) => {
    const properties = opts.slice === undefined ? STATS_QUERYSTRING_PROPERTIES : { ...STATS_QUERYSTRING_PROPERTIES, ...SLICE_QUERYSTRING_PROPERTIES };
    app.get(opts.path, { schema: routeSchema(opts.summary, { querystring: { type: 'object', properties } }) }, async (req, reply) => {
      const raw = req.query as Record<string, unknown>;
      let sliceOpts: Record<string, unknown> = {};
      if (raw['by'] !== undefined || raw['where'] !== undefined) {
        if (opts.slice === undefined) return refuseSlices(reply, opts.path);
        const sliced = opts.slice(raw);
        if (sliced.kind === 'error') return reply.code(400).send({ error: { code: 'invalid_slice', message: sliced.message } });
        sliceOpts = sliced.opts;
      }
      const parsed = parseStatsQuery(ctx, raw);
      if (parsed.kind === 'error') return reply.code(parsed.status).send({ error: { code: parsed.code, message: parsed.message } });
      const q = parsed.query;
      const views = await siteViews(ctx, q.site.id, [opts.processor]);
      const p = views.processor(opts.processor);
      if (!opts.is(p)) return reply.code(404).send({ error: { code: 'no_processor', message: `site ${q.site.id} runs no ${opts.processor} processor` } });
      return windowStatsResponse(ctx, q, p.windows(q.windowMs, q.windows, { ...sliceOpts, watermark: views.watermark }), opts.lists, coverage(views));
    });
  };
}
