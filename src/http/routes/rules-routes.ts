import type { SiteConfig } from '../../config';
import type { FastifyInstance } from 'fastify';
import { CrossSellRules } from '../../../processors/cross-sell/cross-sell-processor';
import { RuleSet, type RuleFilter, type RuleKind, type RuleLevel, type BasketSource } from '../../../processors/cross-sell/rule-set';
import type { AppContext } from '../../app-context';
import type { AdminRoute } from '../admin-routes';
import { routeSchema } from '../route-doc';
import { DEFAULT_STATS_LIMIT, MAX_STATS_LIMIT, decodeCursor, paginate } from '../stats-query';
import { epochMillis } from '../../types';
import { UsageView } from '../../../processors/usage/usage-processor';
import type { GlobalViews } from '../../cluster/partition-query';
import { coverage, siteViews } from '../site-views';

type Parsed =
  | { readonly kind: 'ok'; readonly window: string | undefined; readonly filter: RuleFilter; readonly limit: number; readonly offset: number }
  | { readonly kind: 'error'; readonly message: string };

const LEVELS: readonly RuleLevel[] = ['product', 'category'];
const KINDS: readonly RuleKind[] = ['association', 'sequential'];
const SOURCES: readonly BasketSource[] = ['purchase', 'session'];

/** Validates the rule filters; every problem is reported at once. */
function parseRuleQuery(q: Record<string, unknown>): Parsed {
  const problems: string[] = [];
  const fraction = (key: string, max: number): number | undefined => {
    const v = q[key];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || n > max) {
      problems.push(`${key} must be a number in [0, ${max}]`);
      return undefined;
    }
    return n;
  };
  const oneOf = <T extends string>(key: string, values: readonly T[]): T | undefined => {
    const v = q[key];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      problems.push(`${key} must be one of ${values.join(', ')}`);
      return undefined;
    }
    return v as T;
  };
  const minSupport = fraction('minSupport', 1);
  const minConfidence = fraction('minConfidence', 1);
  const minLift = fraction('minLift', 1e9);
  const level = oneOf('level', LEVELS);
  const kind = oneOf('kind', KINDS);
  const source = oneOf('source', SOURCES);
  let limit = DEFAULT_STATS_LIMIT;
  if (q['limit'] !== undefined) {
    const n = Number(q['limit']);
    if (Number.isInteger(n) && n >= 0 && n <= MAX_STATS_LIMIT) limit = n;
    else problems.push(`limit must be an integer in [0, ${MAX_STATS_LIMIT}]`);
  }
  const offset = decodeCursor(q['cursor']);
  if (offset === undefined) problems.push('cursor must come from a previous response');
  const window = typeof q['window'] === 'string' && q['window'] !== '' ? q['window'] : undefined;
  if (problems.length > 0 || offset === undefined) return { kind: 'error', message: problems.join('; ') };
  const filter: RuleFilter = {
    ...(minSupport !== undefined ? { minSupport } : {}),
    ...(minConfidence !== undefined ? { minConfidence } : {}),
    ...(minLift !== undefined ? { minLift } : {}),
    ...(level !== undefined ? { level } : {}),
    ...(kind !== undefined ? { kind } : {}),
    ...(source !== undefined ? { source } : {}),
  };
  return { kind: 'ok', window, filter, limit, offset };
}

/**
 * `segment=<named segment id>` or `rfmSegment=<name>` — or the slice syntax of the stats routes,
 * `where=segment:<id>` / `where=rfmSegment:<name>`: the members whose rules are asked for (all of
 * them, from the usage view); none: the site's windowed rules. Baskets carry no session dimensions,
 * so `by` and any other `where` are refused, not ignored.
 */
async function membersOf(ctx: AppContext, site: string, q: Record<string, unknown>): Promise<{ kind: 'site' } | { kind: 'members'; segment: string; visitors: string[]; views: GlobalViews } | { kind: 'error'; status: 400 | 404; error: { code: string; message: string } }> {
  let named = typeof q['segment'] === 'string' && q['segment'] !== '' ? q['segment'] : undefined;
  let rfm = typeof q['rfmSegment'] === 'string' && q['rfmSegment'] !== '' ? q['rfmSegment'] : undefined;
  if (q['by'] !== undefined) return { kind: 'error', status: 400, error: { code: 'slice_unsupported', message: 'rules are not grouped by a dimension; ask for one group with where=segment:<id> or where=rfmSegment:<name>' } };
  const where = q['where'];
  if (where !== undefined) {
    const m = typeof where === 'string' ? /^(segment|rfmSegment):(.+)$/.exec(where) : null;
    if (m === null || named !== undefined || rfm !== undefined) return { kind: 'error', status: 400, error: { code: 'invalid_slice', message: 'where on /v1/rules is one segment:<id> or rfmSegment:<name> (baskets carry no channel, device or UTM), not beside segment= or rfmSegment=' } };
    if (m[1] === 'segment') named = m[2];
    else rfm = m[2];
  }
  if (named === undefined && rfm === undefined) return { kind: 'site' };
  if (named !== undefined && rfm !== undefined) return { kind: 'error', status: 400, error: { code: 'invalid_query', message: 'segment and rfmSegment: one or the other' } };
  // Scaled out, the members and their purchase histories of every partition (the instances holding them answer).
  const views = await siteViews(ctx, site, ['usage', 'cross-sell']);
  const usage = views.processor('usage');
  if (!(usage instanceof UsageView)) return { kind: 'error', status: 404, error: { code: 'no_processor', message: `site ${site} runs no usage processor` } };
  if (named !== undefined) {
    const m = usage.members(named, { offset: 0, limit: Number.MAX_SAFE_INTEGER });
    if (m === undefined) return { kind: 'error', status: 404, error: { code: 'unknown_segment', message: `site ${site} has no segment ${JSON.stringify(named)}` } };
    return { kind: 'members', segment: named, visitors: m.visitors.map((v) => v.visitorId), views };
  }
  const c = usage.customers({ segment: rfm as string, offset: 0, limit: Number.MAX_SAFE_INTEGER });
  return { kind: 'members', segment: rfm as string, visitors: c.customers.map((v) => v.visitorId), views };
}

/** The site of the query (default demo) and its cross-sell rules, or the 404 error. */
function crossSellOf(ctx: AppContext, q: Record<string, unknown>): { kind: 'ok'; site: SiteConfig; rules: CrossSellRules } | { kind: 'error'; error: { code: string; message: string } } {
  const siteId = typeof q['site'] === 'string' ? q['site'] : 'demo';
  const site = ctx.site(siteId);
  if (site === undefined) return { kind: 'error', error: { code: 'unknown_site', message: `no site ${JSON.stringify(siteId)}` } };
  const p = ctx.processor(site.id, 'cross-sell');
  if (!(p instanceof CrossSellRules)) return { kind: 'error', error: { code: 'no_processor', message: `site ${site.id} runs no cross-sell processor` } };
  return { kind: 'ok', site, rules: p };
}

/**
 * GET /v1/rules?site=&window=&minSupport=&minConfidence=&minLift=&level=&kind=&source=&limit=&cursor=
 * — the site's current cross-sell rule set for one sliding window (default: the primary one), filtered
 * further than the site config's thresholds, sorted by count (descending), paginated.
 */
export const registerRulesRoutes: AdminRoute = (app: FastifyInstance, ctx: AppContext) => {
  app.get(
    '/v1/rules',
    {
      schema: routeSchema('Current cross-sell rules (X ⇒ Y with count, support, confidence, lift, conviction and the change against the previous window)', {
        querystring: {
          type: 'object',
          properties: {
            site: { type: 'string' },
            window: { type: 'string', description: "One of the site's configured sliding windows, e.g. PT1H (default: the first)" },
            minSupport: { type: 'string', description: 'Least support, fraction of baskets (0-1)' },
            minConfidence: { type: 'string', description: 'Least confidence (0-1)' },
            minLift: { type: 'string', description: 'Least lift' },
            level: { type: 'string', description: 'product or category' },
            kind: { type: 'string', description: 'association or sequential' },
            source: { type: 'string', description: 'purchase or session (the baskets)' },
            limit: { type: 'string', description: `Rules per page (default ${DEFAULT_STATS_LIMIT}, at most ${MAX_STATS_LIMIT})` },
            cursor: { type: 'string', description: 'nextCursor of a previous response' },
            segment: { type: 'string', description: "Rules within a named segment: mined now over its members' purchase sessions" },
            rfmSegment: { type: 'string', description: 'Rules within an RFM segment (e.g. at_risk)' },
            where: { type: 'string', description: 'The same in slice syntax: segment:<id> or rfmSegment:<name>' },
          },
        },
      }),
    },
    async (req, reply) => {
      const q = req.query as Record<string, unknown>;
      const found = crossSellOf(ctx, q);
      if (found.kind === 'error') return reply.code(404).send({ error: found.error });
      const { site, rules: p } = found;
      const parsed = parseRuleQuery(q);
      if (parsed.kind === 'error') return reply.code(400).send({ error: { code: 'invalid_query', message: parsed.message } });
      if (parsed.window !== undefined && !p.settings.windows.includes(parsed.window)) {
        return reply.code(400).send({ error: { code: 'invalid_window', message: `window must be one of ${p.settings.windows.join(', ')}` } });
      }
      const within = await membersOf(ctx, site.id, q);
      if (within.kind === 'error') return reply.code(within.status).send({ error: within.error });
      if (within.kind === 'members') {
        // Rules within a segment: mined now over its members' purchase sessions (exact, no window).
        const all = within.views.processor('cross-sell');
        const r = (all instanceof CrossSellRules ? all : p).rulesWithin(within.visitors);
        const rs = new RuleSet({ site: site.id, version: 0, windowName: 'members', window: { start: epochMillis(0), end: epochMillis(0) }, baskets: { purchase: r.baskets, session: 0, sequential: 0, viewSequential: 0 }, errorBound: 0, rules: r.rules });
        const page = paginate(rs.filter(parsed.filter), parsed.offset, parsed.limit);
        return { site: site.id, segment: within.segment, members: within.visitors.length, membersWithPurchases: r.visitors, baskets: rs.baskets, errorBound: 0, total: page.total, rules: page.items, nextCursor: page.nextCursor, ...coverage(within.views) };
      }
      const rs = p.current(parsed.window);
      const page = paginate(rs.filter(parsed.filter), parsed.offset, parsed.limit);
      const json = rs.toJSON(0);
      return {
        site: rs.site,
        version: rs.version,
        windowName: rs.windowName,
        window: json.window,
        baskets: rs.baskets,
        errorBound: rs.errorBound,
        total: page.total,
        rules: page.items,
        nextCursor: page.nextCursor,
      };
    },
  );

  app.get(
    '/v1/rules/history',
    {
      schema: routeSchema("One rule's support, confidence and lift in the primary window at each of the last panes, oldest first (null where it was not a rule)", {
        querystring: {
          type: 'object',
          required: ['antecedent', 'consequent'],
          properties: {
            site: { type: 'string' },
            antecedent: { type: 'string', description: 'Items, comma-separated, as /v1/rules lists them' },
            consequent: { type: 'string', description: 'Items, comma-separated' },
            level: { type: 'string', description: 'product (default) or category' },
            kind: { type: 'string', description: 'association (default) or sequential' },
          },
        },
      }),
    },
    async (req, reply) => {
      const q = req.query as Record<string, unknown>;
      const found = crossSellOf(ctx, q);
      if (found.kind === 'error') return reply.code(404).send({ error: found.error });
      const { site, rules: p } = found;
      const items = (key: string): string[] => (typeof q[key] === 'string' ? (q[key] as string).split(',').filter((x) => x !== '') : []);
      const level = q['level'] ?? 'product';
      const kind = q['kind'] ?? 'association';
      const antecedent = items('antecedent');
      const consequent = items('consequent');
      if (antecedent.length === 0 || consequent.length === 0 || !LEVELS.includes(level as RuleLevel) || !KINDS.includes(kind as RuleKind)) {
        return reply.code(400).send({ error: { code: 'invalid_query', message: `antecedent and consequent must list items; level one of ${LEVELS.join(', ')}; kind one of ${KINDS.join(', ')}` } });
      }
      const points = p.history({ antecedent, consequent, level: level as RuleLevel, kind: kind as RuleKind }).map(({ end, rule }) => ({
        windowEnd: new Date(end).toISOString(),
        count: rule?.count ?? null,
        support: rule?.support ?? null,
        confidence: rule?.confidence ?? null,
        lift: rule?.lift ?? null,
      }));
      return { site: site.id, windowName: p.settings.windows[0], rule: { antecedent, consequent, level, kind }, points };
    },
  );
};
