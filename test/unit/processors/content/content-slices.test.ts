import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ContentProcessor, ContentView } from '../../../../processors/content/content-processor';
import type { SliceQuery } from '../../../../processors/usage/session-dimensions';
import type { AppContext } from '../../../../src/app-context';
import { registerContentRoutes } from '../../../../src/http/routes/content-routes';
import { createLogger } from '../../../../src/logger';
import { createCoreMetrics } from '../../../../src/metrics/core-metrics';
import { mulberry32 } from '../../../../src/replay/mulberry32';
import { bruteGroups, shuffledInBlocks, slicedShoppers, slicePipeline, type SlicedTruth } from '../../../helpers/sliced-shoppers';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

function setup(time: Record<string, unknown> = {}) {
  const s = slicePipeline(T0, (site, config, onEvict) => new ContentProcessor({ site, time: config.time, context: { site: site.id, onEvict } }), { time });
  return { ...s, content: () => s.pipeline.processor('demo', 'content') as ContentView };
}

type Counts = Record<string, number>;
type Row = { key: Record<string, string>; sessions: number; pageViews: number; products: Counts; categories: Counts };

/** The group-by by hand: each session once per product and per category it viewed. */
function brute(truth: readonly SlicedTruth[], q: SliceQuery): Row[] {
  return bruteGroups(truth, q, (key): Row => ({ key, sessions: 0, pageViews: 0, products: {}, categories: {} }), (row, t) => {
    row.pageViews += t.pages.length;
    for (const p of t.products) row.products[p] = (row.products[p] ?? 0) + 1;
    for (const c of t.categories) row.categories[c] = (row.categories[c] ?? 0) + 1;
  });
}

describe('content slices', () => {
  it('by/where - sessions, page views and the products and categories they viewed per group equal a brute-force group-by, in two arrival orders', () => {
    const { events, truth } = slicedShoppers(41, 500, T0);
    const shuffled = shuffledInBlocks(events, mulberry32(42));
    const queries: SliceQuery[] = [
      { by: ['channel'], where: {} },
      { by: ['device', 'visitorType'], where: {} },
      { by: ['utmCampaign'], where: { channel: ['email', 'paid'] } },
      { by: [], where: { device: ['tablet'] } },
    ];
    const newest = events[events.length - 1]!.ts;
    for (const [order, time] of [[events, {}], [shuffled, { outOfOrderness: 'PT1H' }]] as const) {
      const { pipeline, content, finish } = setup(time);
      for (let i = 0; i < order.length; i += 70) pipeline.processNow(order.slice(i, i + 70));
      finish(newest);
      expect(pipeline.lateEvents('demo')).toEqual([]);
      for (const q of queries) {
        const w = content().windows(DAY, 1, { slices: q })[0]!;
        const got = w.slices!.rows.map((r) => {
          expect(r.exact).toBe(true);
          return { key: r.key, sessions: r.sessions, pageViews: r.pageViews, products: Object.fromEntries(r.topProducts.map((p) => [p.id, p.sessions])), categories: Object.fromEntries(r.topCategories.map((c) => [c.id, c.sessions])) };
        });
        expect({ q, rows: got }).toEqual({ q, rows: brute(truth, q) });
      }
      // A snapshot carries them: restored elsewhere, the same table.
      const again = setup(time);
      again.pipeline.restore(JSON.parse(JSON.stringify(pipeline.snapshot())));
      const q: SliceQuery = { by: ['channel', 'device'], where: {} };
      expect(again.content().windows(DAY, 1, { slices: q })[0]!.slices).toEqual(content().windows(DAY, 1, { slices: q })[0]!.slices);
    }
  });

  it('GET /v1/stats/content - by=channel gives slices; by=device gives slices and the per-view devices; a bad dimension is invalid_slice', async () => {
    const { events, truth } = slicedShoppers(43, 150, T0);
    const s = setup();
    s.pipeline.processNow(events);
    s.finish(events[events.length - 1]!.ts);
    const ctx: AppContext = { config: s.config, clock: s.clock, logger: createLogger('silent'), registry: s.registry, metrics: createCoreMetrics(new Registry(), { defaultMetrics: false }), site: (id) => s.config.sites.get(id), processor: (site, name) => s.pipeline.processor(site, name), watermark: () => s.pipeline.watermark(), lateEvents: () => [] };
    const app = Fastify();
    registerContentRoutes(app, ctx);
    await app.ready();
    type Body = { windows: Array<{ slices?: { rows: Array<{ key: Record<string, string>; sessions: number; topProducts: Array<{ id: string; sessions: number }> }> }; devices?: Array<{ device: string; pageViews: number }> }> };
    const byChannel = (await app.inject({ method: 'GET', url: '/v1/stats/content?site=demo&window=P1D&windows=1&by=channel' })).json() as Body;
    expect(byChannel.windows[0]!.slices!.rows.map((r) => [r.key, r.sessions])).toEqual(brute(truth, { by: ['channel'], where: {} }).map((r) => [r.key, r.sessions]));
    expect(byChannel.windows[0]!.devices).toBeUndefined();
    const byDevice = (await app.inject({ method: 'GET', url: '/v1/stats/content?site=demo&window=P1D&windows=1&by=device' })).json() as Body;
    expect(byDevice.windows[0]!.slices!.rows.map((r) => [r.key, r.sessions])).toEqual(brute(truth, { by: ['device'], where: {} }).map((r) => [r.key, r.sessions]));
    // Every generated session keeps one device, so the per-view device counts are its sessions' page views.
    const views = new Map<string, number>();
    for (const t of truth) views.set(t.device, (views.get(t.device) ?? 0) + t.pages.length);
    expect(Object.fromEntries(byDevice.windows[0]!.devices!.map((d) => [d.device, d.pageViews]))).toEqual(Object.fromEntries(views));
    const bad = await app.inject({ method: 'GET', url: '/v1/stats/content?site=demo&by=colour' });
    expect([bad.statusCode, (bad.json() as { error: { code: string } }).error.code]).toEqual([400, 'invalid_slice']);
    const badDevice = await app.inject({ method: 'GET', url: '/v1/stats/content?site=demo&where=device:fridge' });
    expect([badDevice.statusCode, (badDevice.json() as { error: { code: string } }).error.code]).toEqual([400, 'invalid_slice']);
  });
});
