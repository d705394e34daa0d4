import { MAX_SUBSCRIBER_TOKEN_MS, subscriberToken } from '../../delivery/offer-subscribers';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { NextBestOfferView } from '../../../processors/next-best-offer/next-best-offer-processor';
import type { AppContext } from '../../app-context';
import type { AdminRoute } from '../admin-routes';
import { routeSchema } from '../route-doc';
import { siteItems, siteOfferStats } from '../site-lists';

/**
 * Admin API of next-best-offer (DESIGN.md §3): recent triggers, decision counts with attribution
 * (holdout and uplift), the offer catalog (read, add/replace, replace all, remove) and the webhook
 * dead letters. Every answer names its site; errors are `{error:{code,message}}`.
 */

const siteQuery = {
  type: 'object',
  properties: { site: { type: 'string', description: 'Site id (default demo)' } },
} as const;

function siteOf(q: unknown): string {
  const s = (q as Record<string, unknown> | undefined)?.['site'];
  return typeof s === 'string' ? s : 'demo';
}

/** The site's processor, or an error answer sent (unknown site / no processor). */
function lookup(ctx: AppContext, site: string, reply: FastifyReply): NextBestOfferView | undefined {
  if (ctx.site(site) === undefined) {
    void reply.code(404).send({ error: { code: 'unknown_site', message: `no site ${JSON.stringify(site)}` } });
    return undefined;
  }
  const p = ctx.processor(site, 'next-best-offer');
  if (!(p instanceof NextBestOfferView)) {
    void reply.code(404).send({ error: { code: 'no_processor', message: `site ${site} runs no next-best-offer processor` } });
    return undefined;
  }
  return p;
}

/**
 * Scaled out, a changed catalog goes to every instance (each owner decides for its visitors) or to
 * none: when it cannot be shared, this instance's is put back and the answer is 503 (false, sent).
 */
async function shared(ctx: AppContext, site: string, p: NextBestOfferView, before: Record<string, unknown>[], reply: FastifyReply): Promise<boolean> {
  if (ctx.sharedCatalogs === undefined) return true;
  try {
    await ctx.sharedCatalogs.put(site, p.catalog.toJSON());
    return true;
  } catch (err) {
    p.catalog.replaceAll(before);
    void reply.code(503).header('retry-after', '1').send({ error: { code: 'catalog_unavailable', message: `the catalog could not be shared with the other instances: ${(err as Error).message}` } });
    return false;
  }
}

export const registerOfferRoutes: AdminRoute = (app: FastifyInstance, ctx: AppContext) => {
  app.get(
    '/v1/offers/recent',
    {
      schema: routeSchema('Recent offer triggers of a site, newest first, as channels got them (products with names and prices, coupon); holdout records flagged holdout: true; scaled out, from every live instance', {
        querystring: { type: 'object', properties: { site: { type: 'string' }, limit: { type: 'string', description: 'Most triggers (default 50)' } } },
      }),
    },
    async (req, reply) => {
      const site = siteOf(req.query);
      const p = lookup(ctx, site, reply);
      if (p === undefined) return reply;
      const raw = (req.query as Record<string, unknown>)['limit'];
      const limit = raw === undefined ? 50 : Number(raw);
      if (!Number.isInteger(limit) || limit < 0 || limit > 10_000) return reply.code(400).send({ error: { code: 'invalid_query', message: 'limit must be an integer 0..10000' } });
      const { items, coverage } = await siteItems(ctx, site, 'offers', limit);
      return { site, offers: items, ...coverage };
    },
  );

  app.get(
    '/v1/offers/stats',
    { schema: routeSchema('Offer decisions (fired, held out, suppressed by reason, budget spent) and attribution (triggered → delivered → shown → clicked → converted, holdout, uplift with its 95 % interval) per offer and per rule; scaled out, summed over every live instance', { querystring: siteQuery }) },
    async (req, reply) => {
      const site = siteOf(req.query);
      const p = lookup(ctx, site, reply);
      if (p === undefined) return reply;
      const { decisions, attribution, coverage } = await siteOfferStats(ctx, site);
      return { site, decisions, attribution, ...coverage };
    },
  );

  app.get('/v1/offers/catalog', { schema: routeSchema('The offer catalog of a site', { querystring: siteQuery }) }, async (req, reply) => {
    const site = siteOf(req.query);
    const p = lookup(ctx, site, reply);
    if (p === undefined) return reply;
    return { site, version: p.catalog.version, offers: p.catalog.toJSON() };
  });

  app.put(
    '/v1/offers/catalog',
    { schema: routeSchema('Adds or replaces one offer (body: an offer), or replaces the whole catalog (body: an array of offers); every problem is reported', { querystring: siteQuery }) },
    async (req, reply) => {
      const site = siteOf(req.query);
      const p = lookup(ctx, site, reply);
      if (p === undefined) return reply;
      const before = p.catalog.toJSON();
      if (Array.isArray(req.body)) {
        const r = p.catalog.replaceAll(req.body);
        if (r.kind === 'invalid') return reply.code(400).send({ error: { code: 'invalid_offer', message: r.problems.join('; '), problems: r.problems } });
        if (!(await shared(ctx, site, p, before, reply))) return reply;
        ctx.logger.info({ site, size: r.size }, 'offer catalog replaced');
        return { site, version: p.catalog.version, size: r.size };
      }
      const r = p.catalog.put(req.body);
      if (r.kind === 'invalid') return reply.code(400).send({ error: { code: 'invalid_offer', message: r.problems.join('; '), problems: r.problems } });
      if (!(await shared(ctx, site, p, before, reply))) return reply;
      ctx.logger.info({ site, offerId: r.offer.id, replaced: r.replaced }, 'offer catalog changed');
      return reply.code(r.replaced ? 200 : 201).send({ site, version: p.catalog.version, replaced: r.replaced, offer: p.catalog.toJSON().find((o) => o['id'] === r.offer.id) });
    },
  );

  app.delete(
    '/v1/offers/catalog',
    {
      schema: routeSchema('Removes one offer from the catalog', {
        querystring: { type: 'object', required: ['id'], properties: { site: { type: 'string' }, id: { type: 'string', description: 'Offer id' } } },
      }),
    },
    async (req, reply) => {
      const site = siteOf(req.query);
      const p = lookup(ctx, site, reply);
      if (p === undefined) return reply;
      const id = String((req.query as Record<string, unknown>)['id']);
      const before = p.catalog.toJSON();
      if (!p.catalog.remove(id)) return reply.code(404).send({ error: { code: 'unknown_offer', message: `site ${site} has no offer ${JSON.stringify(id)}` } });
      if (!(await shared(ctx, site, p, before, reply))) return reply;
      ctx.logger.info({ site, offerId: id }, 'offer removed from catalog');
      return { site, version: p.catalog.version, removed: id };
    },
  );

  app.get(
    '/v1/offers/dead-letters',
    { schema: routeSchema('Webhook deliveries given up (attempts exhausted, refused, queue full), newest first', { querystring: siteQuery }) },
    async (req, reply) => {
      const site = siteOf(req.query);
      if (ctx.site(site) === undefined) return reply.code(404).send({ error: { code: 'unknown_site', message: `no site ${JSON.stringify(site)}` } });
      return { site, deadLetters: ctx.offers?.webhooks.deadLetters(site) ?? [] };
    },
  );

  app.post(
    '/v1/offers/token',
    {
      schema: routeSchema('A short-lived subscriber token for a browser storefront (WS /v1/offers?site=&token=, when offers.allowQueryToken is on): never the site secret in a URL', {
        querystring: { type: 'object', properties: { site: { type: 'string' }, ttlSeconds: { type: 'string', description: `Lifetime, seconds (default 300, at most ${MAX_SUBSCRIBER_TOKEN_MS / 1000})` } } },
      }),
    },
    async (req, reply) => {
      const q = req.query as Record<string, unknown>;
      const site = ctx.site(siteOf(q));
      if (site === undefined) return reply.code(404).send({ error: { code: 'unknown_site', message: `no site ${JSON.stringify(siteOf(q))}` } });
      if (site.subscriberSecret === '') return reply.code(403).send({ error: { code: 'no_secret', message: `site ${site.id} has no subscriberSecret to sign tokens with` } });
      if (!ctx.config.offers.allowQueryToken) return reply.code(403).send({ error: { code: 'query_token_disabled', message: 'set offers.allowQueryToken to let browser subscribers use ?token=' } });
      const ttlMs = Math.min(MAX_SUBSCRIBER_TOKEN_MS, Math.max(1, Number(q['ttlSeconds'] ?? 300) || 300) * 1000);
      const expiresAt = ctx.clock.now() + ttlMs;
      return { site: site.id, token: subscriberToken(site, expiresAt), expiresAt: new Date(expiresAt).toISOString() };
    },
  );
};
