import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { UsageProcessor, UsageView } from '../../../../processors/usage/usage-processor';
import { defaultViews } from '../../../../processors/site-processors';
import type { AppContext } from '../../../../src/app-context';
import { ManualClock } from '../../../../src/clock';
import { loadConfig } from '../../../../src/config';
import type { EnrichedEvent } from '../../../../src/events/enriched-event';
import { registerUsageRoutes } from '../../../../src/http/routes/usage-routes';
import { createLogger } from '../../../../src/logger';
import { createCoreMetrics } from '../../../../src/metrics/core-metrics';
import { Pipeline } from '../../../../src/pipeline/pipeline';
import { mulberry32 } from '../../../../src/replay/mulberry32';
import { form, pageView } from '../../../helpers/enriched-events';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
const NOW = T0 + 60 * DAY;

/** 300 visitors with known purchase histories and category views over 60 days; the last event at NOW. */
function shoppers() {
  const rnd = mulberry32(9);
  const events: EnrichedEvent[] = [];
  const truth = new Map<string, { purchases: number; revenue: number; lastSeen: number; books: number; games: number }>();
  for (let v = 0; v < 300; v++) {
    const id = `seg${v}`;
    const t: { purchases: number; revenue: number; lastSeen: number; books: number; games: number } = { purchases: 0, revenue: 0, lastSeen: 0, books: 0, games: 0 };
    const visits = 1 + Math.floor(rnd() * 5);
    for (let k = 0; k < visits; k++) {
      const ts = T0 + Math.floor(rnd() * 59 * DAY);
      const cat = rnd() < 0.5 ? 'books' : 'games';
      events.push(pageView(id, ts, `/p/${cat}`, { product: { id: `${cat}-1`, category: cat } }));
      t[cat]++;
      t.lastSeen = Math.max(t.lastSeen, ts);
      if (rnd() < 0.35) {
        const price = 5 + Math.floor(rnd() * 95);
        events.push(form(id, ts + 1_000, 'checkout', 'submit', { items: [{ productId: `${cat}-1`, category: cat, quantity: 1, price }] }));
        t.purchases++;
        t.revenue += price;
        t[cat] += 5;
        t.lastSeen = Math.max(t.lastSeen, ts + 1_000);
      }
    }
    truth.set(id, t);
  }
  events.push(pageView('clock', NOW, '/'));
  truth.set('clock', { purchases: 0, revenue: 0, lastSeen: NOW, books: 0, games: 0 });
  return { events: events.sort((a, b) => a.ts - b.ts), truth };
}

async function setup(events: EnrichedEvent[]) {
  const config = loadConfig({}, { partitions: 4, time: { pane: 'PT1H', outOfOrderness: 0, retentionPanes: 2_000 } });
  const registry = new Registry();
  const clock = new ManualClock(T0);
  const logger = createLogger('silent');
  const pipeline = new Pipeline({ config, clock, metrics: createCoreMetrics(registry, { defaultMetrics: false }), logger, viewsFor: defaultViews, processorsFor: (site) => [new UsageProcessor({ site, time: config.time })] });
  pipeline.processNow(events);
  const ctx: AppContext = { config, clock, logger, registry, metrics: createCoreMetrics(new Registry(), { defaultMetrics: false }), site: (id) => config.sites.get(id), processor: (site, name) => pipeline.processor(site, name), watermark: () => pipeline.watermark(), lateEvents: () => [] };
  const app = Fastify();
  registerUsageRoutes(app, ctx);
  await app.ready();
  return { app, pipeline };
}

describe('segments API', () => {
  it('membership - each segment holds exactly the visitors its conditions hold for, evaluated by hand; newest activity first, paged', async () => {
    const { events, truth } = shoppers();
    const { app } = await setup(events);
    const defs = [
      { id: 'big-spenders', name: 'Big spenders', match: 'all', conditions: [{ field: 'revenue', op: '>=', value: 150 }, { field: 'purchases', op: '>=', value: 2 }] },
      { id: 'book-lovers-or-recent', match: 'any', conditions: [{ field: 'interest', op: 'has', value: 'books', min: 6 }, { field: 'lastSeenDays', op: '<=', value: 3 }] },
      {
        id: 'lapsed-gamers',
        match: 'all',
        conditions: [{ field: 'stage', op: 'in', value: ['active_customer', 'former_customer'] }, { match: 'any', conditions: [{ field: 'lastPurchaseDays', op: '>', value: 30 }, { field: 'topInterest', op: 'in', value: ['games'] }] }],
      },
    ];
    for (const d of defs) {
      const res = await app.inject({ method: 'PUT', url: '/v1/segments?site=demo', payload: d });
      expect(res.statusCode, res.body).toBe(201);
    }
    // By hand, from what was generated (stage: a customer with any purchase is active within 90 days).
    const lastPurchase = new Map<string, number>();
    for (const e of events) if (e.event.type === 'form') lastPurchase.set(e.visitorId, Math.max(lastPurchase.get(e.visitorId) ?? 0, e.ts));
    const asOf = NOW;
    const byHand: Record<string, (id: string) => boolean> = {
      'big-spenders': (id) => truth.get(id)!.revenue >= 150 && truth.get(id)!.purchases >= 2,
      'book-lovers-or-recent': (id) => truth.get(id)!.books >= 6 || (asOf - truth.get(id)!.lastSeen) / DAY <= 3,
      'lapsed-gamers': (id) => {
        const t = truth.get(id)!;
        if (t.purchases === 0) return false;
        const top = t.games > t.books ? 'games' : t.books > t.games ? 'books' : 'books';
        return (asOf - lastPurchase.get(id)!) / DAY > 30 || top === 'games';
      },
    };
    const list = (await app.inject({ method: 'GET', url: '/v1/segments?site=demo' })).json() as { segments: Array<{ id: string; size: number; value: { historic: number; predicted: number; predictedQuantiles: { p50: number; max: number } } }> };
    for (const d of defs) {
      const expected = [...truth.keys()].filter(byHand[d.id]!).sort((a, b) => truth.get(b)!.lastSeen - truth.get(a)!.lastSeen || (a < b ? -1 : 1));
      expect(expected.length).toBeGreaterThan(5);
      const listed = list.segments.find((s) => s.id === d.id)!;
      expect(listed.size).toBe(expected.length);
      // What the members are worth: their revenue so far, summed by hand.
      expect(listed.value.historic).toBeCloseTo(expected.reduce((n, id) => n + truth.get(id)!.revenue, 0), 6);
      expect(listed.value.predictedQuantiles.p50).toBeLessThanOrEqual(listed.value.predictedQuantiles.max);
      const got: string[] = [];
      let cursor: string | undefined;
      do {
        const res = (await app.inject({ method: 'GET', url: `/v1/segments/${d.id}/visitors?site=demo&limit=25${cursor === undefined ? '' : `&cursor=${cursor}`}` })).json() as { total: number; visitors: Array<{ visitorId: string }>; nextCursor?: string };
        expect(res.total).toBe(expected.length);
        got.push(...res.visitors.map((v) => v.visitorId));
        cursor = res.nextCursor;
      } while (cursor !== undefined);
      expect(got).toEqual(expected);
    }
  });

  it('definitions - every problem is named; replace, remove; they survive a snapshot of the site', async () => {
    const { app, pipeline } = await setup(shoppers().events);
    const bad = await app.inject({ method: 'PUT', url: '/v1/segments?site=demo', payload: { id: 'Bad Id', match: 'most', conditions: [{ field: 'colour', op: 'in', value: ['red'] }, { field: 'revenue', op: 'in', value: 3 }] } });
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as { error: { problems: string[] } }).error.problems).toEqual([
      'id: 1 to 64 of a-z, 0-9, - and _',
      'segment.match: expected "all" or "any"',
      expect.stringContaining('segment.conditions[0].field: one of'),
      'segment.conditions[1]: revenue takes > >= < <= = != and a number',
    ]);
    const def = { id: 'vip', name: 'VIP', match: 'all', conditions: [{ field: 'revenue', op: '>', value: 100 }] };
    expect((await app.inject({ method: 'PUT', url: '/v1/segments?site=demo', payload: def })).statusCode).toBe(201);
    expect((await app.inject({ method: 'PUT', url: '/v1/segments?site=demo', payload: { ...def, name: 'Very important' } })).statusCode).toBe(200);
    const snap = pipeline.snapshotSite();
    const again = await setup([]);
    again.pipeline.restoreSite(snap);
    const restored = (again.pipeline.processor('demo', 'usage') as UsageView).segmentDefinitions();
    expect(restored).toEqual([{ id: 'vip', name: 'Very important', match: 'all', conditions: [{ field: 'revenue', op: '>', value: 100 }] }]);
    expect((await app.inject({ method: 'DELETE', url: '/v1/segments?site=demo&id=vip' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: '/v1/segments?site=demo&id=vip' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/v1/segments/vip/visitors?site=demo' })).statusCode).toBe(404);
  });
});
