/**
 * The admin port (ADMIN_PORT): Prometheus /metrics, /healthz, /readyz, /v1/quarantine, the OpenAPI
 * document at /openapi.json, and whatever ADMIN_ROUTES register (stats, rules, offers, dashboard).
 * The OpenAPI document is built from the routes as they are registered (fastify's onRoute hook), so
 * a route added by another component is listed without editing this file.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifySchema } from 'fastify';
import type { AppContext } from '../app-context';
import { UNKNOWN_SITE } from '../ingest/quarantine';
import type { AdminAuth } from './admin-auth';
import { ADMIN_ROUTES, type AdminRoute } from './admin-routes';
import { installJsonErrors } from './json-errors';
import { routeSchema } from './route-doc';
import { siteItems } from './site-lists';
import { RECENT_EVENTS } from '../pipeline/pipeline';

export interface AdminServerDeps {
  readonly ctx: AppContext;
  /** True while the app takes traffic (false before start and once shutdown began). */
  readonly ready: () => boolean;
  /** Checks the token of every request but the probes and the dashboard's static files. */
  readonly auth: AdminAuth;
  /** Registrars to run (default: ADMIN_ROUTES). */
  readonly routes?: readonly AdminRoute[];
}

interface RouteDoc {
  readonly method: string;
  readonly url: string;
  readonly schema: FastifySchema | undefined;
}

/** The querystring of a per-site "most recent items" list (quarantine, late side output). */
const recentItemsQuery = (site: string) =>
  ({
    type: 'object',
    properties: {
      site: { type: 'string', description: site },
      limit: { type: 'integer', minimum: 1, maximum: 10_000, description: 'Most items returned (newest first).' },
    },
    required: ['site'],
  }) as const;
const QUARANTINE_QUERY = recentItemsQuery('Site id, or _unknown for input naming no configured site.');
const LATE_QUERY = recentItemsQuery('Site id.');

export async function createAdminServer(deps: AdminServerDeps): Promise<FastifyInstance> {
  const { ctx } = deps;
  const app = Fastify({ loggerInstance: ctx.logger.child({ component: 'admin-http' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  installJsonErrors(app);
  deps.auth.install(app);
  const docs: RouteDoc[] = [];
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    for (const m of methods) if (m !== 'HEAD') docs.push({ method: String(m).toLowerCase(), url: r.url, schema: r.schema });
  });

  app.get('/metrics', { schema: routeSchema('Prometheus metrics (text exposition format).') }, async (_req, reply) => {
    const body = await ctx.registry.metrics();
    return reply.header('content-type', ctx.registry.contentType).send(body);
  });
  app.get('/healthz', { schema: routeSchema('Liveness: the process answers.') }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: routeSchema('Readiness: 200 while taking traffic, 503 before start and during shutdown.') }, async (_req, reply) =>
    deps.ready() ? { status: 'ready' } : reply.code(503).send({ error: { code: 'not_ready', message: 'not taking traffic' } }),
  );
  app.get(
    '/v1/quarantine',
    { schema: routeSchema('The most recent refused input of a site, newest first, with reason codes; scaled out, from every live instance (each keeps what its gateway refused).', { querystring: QUARANTINE_QUERY }) },
    async (req, reply) => {
      const q = req.query as { site: string; limit?: number };
      if (q.site !== UNKNOWN_SITE && ctx.site(q.site) === undefined) {
        return reply.code(404).send({ error: { code: 'unknown_site', message: `no site ${JSON.stringify(q.site)}` } });
      }
      const { items, coverage } = await siteItems(ctx, q.site, 'quarantine', q.limit ?? ctx.config.ingest.quarantineCapacity);
      return { site: q.site, items, ...coverage };
    },
  );

  app.get(
    '/v1/late',
    { schema: routeSchema('The late side output of a site: acknowledged events left out of the statistics (older than their partition watermark minus the allowed lateness), newest first, with the reason; scaled out, from every live instance.', { querystring: LATE_QUERY }) },
    async (req, reply) => {
      const q = req.query as { site: string; limit?: number };
      if (ctx.site(q.site) === undefined) return reply.code(404).send({ error: { code: 'unknown_site', message: `no site ${JSON.stringify(q.site)}` } });
      const { items, coverage } = await siteItems(ctx, q.site, 'late', q.limit ?? ctx.config.ingest.quarantineCapacity);
      return { site: q.site, allowedLatenessMs: ctx.config.time.allowedLatenessMs, items, ...coverage };
    },
  );

  app.get(
    '/v1/events/recent',
    { schema: routeSchema('The live event log of a site: the last events processed, newest first; ids shortened, no custom properties, never a form value; scaled out, from every live instance.', { querystring: LATE_QUERY }) },
    async (req, reply) => {
      const q = req.query as { site: string; limit?: number };
      if (ctx.site(q.site) === undefined) return reply.code(404).send({ error: { code: 'unknown_site', message: `no site ${JSON.stringify(q.site)}` } });
      const { items, coverage } = await siteItems(ctx, q.site, 'events', q.limit ?? RECENT_EVENTS);
      return { site: q.site, items, ...coverage };
    },
  );

  for (const route of deps.routes ?? ADMIN_ROUTES) route(app, ctx);

  app.get('/openapi.json', { schema: routeSchema('This OpenAPI 3.0 document.') }, async () => openApi(docs));
  return app;
}

function openApi(routes: readonly RouteDoc[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const s = (r.schema ?? {}) as Record<string, unknown>;
    const parameters: unknown[] = [];
    for (const m of r.url.matchAll(/:([A-Za-z0-9_]+)/g)) parameters.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
    const qs = s['querystring'] as { properties?: Record<string, unknown>; required?: string[] } | undefined;
    for (const [name, schema] of Object.entries(qs?.properties ?? {})) {
      parameters.push({ name, in: 'query', required: qs?.required?.includes(name) ?? false, schema });
    }
    const op: Record<string, unknown> = { summary: typeof s['summary'] === 'string' ? s['summary'] : `${r.method.toUpperCase()} ${r.url}`, parameters };
    if (s['description'] !== undefined) op['description'] = s['description'];
    const responses: Record<string, unknown> = {};
    const resp = s['response'] as Record<string, unknown> | undefined;
    for (const [code, schema] of Object.entries(resp ?? { 200: undefined })) {
      responses[code] = schema === undefined ? { description: 'OK' } : { description: 'OK', content: { 'application/json': { schema } } };
    }
    op['responses'] = responses;
    paths[path] = { ...(paths[path] ?? {}), [r.method]: op };
  }
  return { openapi: '3.0.3', info: { title: 'clickstream-miner admin API', version: '1' }, paths };
}
