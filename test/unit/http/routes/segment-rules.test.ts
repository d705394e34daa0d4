import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CrossSellProcessor } from '../../../../processors/cross-sell/cross-sell-processor';
import { UsageProcessor, UsageView } from '../../../../processors/usage/usage-processor';
import { defaultViews } from '../../../../processors/site-processors';
import type { AppContext } from '../../../../src/app-context';
import { ManualClock } from '../../../../src/clock';
import { loadConfig } from '../../../../src/config';
import type { EnrichedEvent } from '../../../../src/events/enriched-event';
import { registerRulesRoutes } from '../../../../src/http/routes/rules-routes';
import { createLogger } from '../../../../src/logger';
import { createCoreMetrics } from '../../../../src/metrics/core-metrics';
import { Pipeline } from '../../../../src/pipeline/pipeline';
import { mulberry32 } from '../../../../src/replay/mulberry32';
import { form } from '../../../helpers/enriched-events';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

describe('rules within a segment', () => {
  it('GET /v1/rules?segment= - association rules over the members\' purchase sessions equal a brute-force count; non-members\' baskets stay out', async () => {
    const rnd = mulberry32(4);
    const items = ['a', 'b', 'c', 'd', 'e'];
    const events: EnrichedEvent[] = [];
    const baskets = new Map<string, string[][]>();
    const revenue = new Map<string, number>();
    for (let v = 0; v < 120; v++) {
      const id = `r${v}`;
      const sessions = 1 + Math.floor(rnd() * 3);
      for (let k = 0; k < sessions; k++) {
        const basket = items.filter(() => rnd() < 0.4);
        if (basket.length === 0) basket.push('a');
        const ts = T0 + v * 60_000 + k * 3 * HOUR;
        const price = 10 * basket.length;
        events.push(form(id, ts, 'checkout', 'submit', { items: basket.map((productId) => ({ productId, quantity: 1, price: 10 })) }));
        baskets.set(id, [...(baskets.get(id) ?? []), basket]);
        revenue.set(id, (revenue.get(id) ?? 0) + price);
      }
    }
    events.sort((a, b) => a.ts - b.ts);
    const config = loadConfig({}, { partitions: 4, time: { pane: 'PT1H', outOfOrderness: 0, retentionPanes: 2_000 }, sites: [{ id: 'demo', processors: { 'cross-sell': { minSupport: 0, minConfidence: 0, minLift: 0 } } }] });
    const registry = new Registry();
    const clock = new ManualClock(T0);
    const logger = createLogger('silent');
    const metrics = createCoreMetrics(registry, { defaultMetrics: false });
    const pipeline = new Pipeline({ config, clock, metrics, logger, viewsFor: defaultViews, processorsFor: (site) => [new UsageProcessor({ site, time: config.time }), CrossSellProcessor.forSite(site, { config })] });
    pipeline.processNow(events);
    const ctx: AppContext = { config, clock, logger, registry, metrics, site: (id) => config.sites.get(id), processor: (site, name) => pipeline.processor(site, name), watermark: () => pipeline.watermark(), lateEvents: () => [] };
    const app = Fastify();
    registerRulesRoutes(app, ctx);
    await app.ready();
    const usage = pipeline.processor('demo', 'usage') as UsageView;
    usage.putSegment({ id: 'big', name: 'Big', match: 'all', conditions: [{ field: 'revenue', op: '>=', value: 50 }] });

    // Brute force over the members' baskets.
    const members = [...revenue].filter(([, r]) => r >= 50).map(([id]) => id);
    const memberBaskets = members.flatMap((id) => baskets.get(id) ?? []).map((b) => new Set(b));
    const n = memberBaskets.length;
    const count = (...xs: string[]) => memberBaskets.filter((b) => xs.every((x) => b.has(x))).length;
    const expected: Array<{ rule: string; count: number; support: number; confidence: number; lift: number }> = [];
    for (const x of items) for (const y of items) {
      if (x === y || count(x, y) === 0) continue;
      const conf = count(x, y) / count(x);
      expected.push({ rule: `${x}=>${y}`, count: count(x, y), support: count(x, y) / n, confidence: conf, lift: conf / (count(y) / n) });
    }
    expect(members.length).toBeGreaterThan(10);
    expect(members.length).toBeLessThan(120);

    const res = await app.inject({ method: 'GET', url: '/v1/rules?site=demo&segment=big&limit=1000' });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as { members: number; baskets: { purchase: number }; rules: Array<{ antecedent: string[]; consequent: string[]; count: number; support: number; confidence: number; lift: number }> };
    expect(body.members).toBe(members.length);
    expect(body.baskets.purchase).toBe(n);
    const got = new Map(body.rules.map((r) => [`${r.antecedent.join(',')}=>${r.consequent.join(',')}`, r]));
    expect([...got.keys()].sort()).toEqual(expected.map((e) => e.rule).sort());
    for (const e of expected) {
      const r = got.get(e.rule)!;
      expect(r.count).toBe(e.count);
      expect(r.support).toBeCloseTo(e.support, 12);
      expect(r.confidence).toBeCloseTo(e.confidence, 12);
      expect(r.lift).toBeCloseTo(e.lift, 12);
    }
    expect((await app.inject({ method: 'GET', url: '/v1/rules?site=demo&segment=nope' })).statusCode).toBe(404);
    // The stats routes' slice syntax asks the same; other dimensions and grouping are refused, not ignored.
    const viaWhere = (await app.inject({ method: 'GET', url: '/v1/rules?site=demo&where=segment:big&limit=1000' })).json() as { members: number; total: number };
    expect([viaWhere.members, viaWhere.total]).toEqual([members.length, expected.length]);
    const refused = async (url: string) => { const r = await app.inject({ method: 'GET', url }); return [r.statusCode, (r.json() as { error: { code: string } }).error.code]; };
    expect(await refused('/v1/rules?site=demo&where=channel:search')).toEqual([400, 'invalid_slice']);
    expect(await refused('/v1/rules?site=demo&by=device')).toEqual([400, 'slice_unsupported']);
  });
});
