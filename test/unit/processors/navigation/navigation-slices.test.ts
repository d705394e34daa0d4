import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { NavigationProcessor, NavigationView, SLICE_LIST_TOP } from '../../../../processors/navigation/navigation-processor';
import type { SliceQuery } from '../../../../processors/usage/session-dimensions';
import type { AppContext } from '../../../../src/app-context';
import type { EnrichedEvent } from '../../../../src/events/enriched-event';
import type { PageViewEvent } from '../../../../src/events/event-types';
import { registerNavigationRoutes } from '../../../../src/http/routes/navigation-routes';
import { createLogger } from '../../../../src/logger';
import { createCoreMetrics } from '../../../../src/metrics/core-metrics';
import { mulberry32 } from '../../../../src/replay/mulberry32';
import { pageView } from '../../../helpers/enriched-events';
import { bruteGroups, shuffledInBlocks, slicedShoppers, slicePipeline, type SlicedTruth } from '../../../helpers/sliced-shoppers';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

function setup(navigation: Record<string, unknown> | undefined = undefined, time: Record<string, unknown> = {}) {
  const s = slicePipeline(T0, (site, config, onEvict) => new NavigationProcessor({ site, time: config.time, context: { site: site.id, onEvict } }), { time, ...(navigation === undefined ? {} : { processors: { navigation } }) });
  return { ...s, nav: () => s.pipeline.processor('demo', 'navigation') as NavigationView };
}

type Counts = Record<string, number>;
type BruteRow = { key: Record<string, string>; sessions: number; bounces: number; pageViews: number; entries: Counts; exits: Counts; transitions: Counts };

/** The group-by, by hand: every session's figures added to its group. */
function brute(truth: readonly SlicedTruth[], q: SliceQuery): BruteRow[] {
  const inc = (m: Counts, k: string) => (m[k] = (m[k] ?? 0) + 1);
  return bruteGroups(truth, q, (key): BruteRow => ({ key, sessions: 0, bounces: 0, pageViews: 0, entries: {}, exits: {}, transitions: {} }), (row, t) => {
    if (t.pages.length === 1) row.bounces++;
    row.pageViews += t.pages.length;
    inc(row.entries, t.pages[0]!);
    inc(row.exits, t.pages[t.pages.length - 1]!);
    for (let i = 1; i < t.pages.length; i++) inc(row.transitions, `${t.pages[i - 1]}→${t.pages[i]}`);
  });
}

const QUERIES: SliceQuery[] = [
  { by: ['channel'], where: {} },
  { by: ['device', 'visitorType'], where: {} },
  { by: ['device'], where: { channel: ['search', 'social'] } },
  { by: ['utmCampaign'], where: { channel: ['email', 'paid'] } },
  { by: [], where: { device: ['mobile'], visitorType: ['returning'] } },
];

describe('navigation slices', () => {
  it('by/where - sessions, bounces, entry and exit pages and transitions per group equal a brute-force group-by, in two arrival orders', () => {
    const { events, truth } = slicedShoppers(31, 500, T0);
    const shuffled = shuffledInBlocks(events, mulberry32(32));
    const newest = events[events.length - 1]!.ts;
    for (const [order, time] of [[events, {}], [shuffled, { outOfOrderness: 'PT1H' }]] as const) {
      const { pipeline, nav, finish } = setup(undefined, time);
      for (let i = 0; i < order.length; i += 70) pipeline.processNow(order.slice(i, i + 70));
      finish(newest);
      expect(pipeline.lateEvents('demo')).toEqual([]);
      for (const q of QUERIES) {
        const w = nav().windows(DAY, 1, { slices: q })[0]!;
        const got = w.slices!.rows.map((r) => {
          expect(r.exact).toBe(true);
          expect(r.transitions.length).toBeLessThanOrEqual(SLICE_LIST_TOP);
          return {
            key: r.key,
            sessions: r.sessions,
            bounces: r.bounces,
            pageViews: r.pageViews,
            entries: Object.fromEntries(r.entryPages.map((p) => [p.page, p.count])),
            exits: Object.fromEntries(r.exitPages.map((p) => [p.page, p.count])),
            transitions: Object.fromEntries(r.transitions.map((t) => [`${t.from}→${t.to}`, t.count])),
          };
        });
        expect({ q, rows: got }).toEqual({ q, rows: brute(truth, q) });
        expect(w.slices!.exact).toBe(true);
        // Probabilities within a group: the transitions leaving one page add up to 1.
        for (const r of w.slices!.rows) {
          const out = new Map<string, number>();
          for (const t of r.transitions) out.set(t.from, (out.get(t.from) ?? 0) + t.probability);
          for (const p of out.values()) expect(p).toBeCloseTo(1, 12);
        }
      }
      // Per hour: the groups of a window are the sessions that ended in it, like sessionsEnded.
      for (const w of nav().windows(60 * MIN, 100, { slices: { by: ['channel'], where: {} } })) {
        expect(w.slices!.rows.reduce((n, r) => n + r.sessions, 0)).toBe(truth.filter((t) => t.end >= w.start && t.end < w.end).length);
        expect(w.slices!.rows.reduce((n, r) => n + r.sessions, 0)).toBe(w.sessionsEnded);
      }
    }
  });

  it('snapshot and restore keep the slices', () => {
    const { events, truth } = slicedShoppers(33, 120, T0);
    const a = setup();
    a.pipeline.processNow(events);
    a.finish(events[events.length - 1]!.ts);
    const b = setup();
    b.pipeline.restore(JSON.parse(JSON.stringify(a.pipeline.snapshot())));
    const q: SliceQuery = { by: ['channel', 'device'], where: {} };
    const rows = b.nav().windows(DAY, 1, { slices: q })[0]!.slices!.rows;
    expect(rows.map((r) => [r.key, r.sessions, r.bounces])).toEqual(brute(truth, q).map((r) => [r.key, r.sessions, r.bounces]));
  });

  it('many distinct UTM campaigns: past the bound they fold into other, counted as evictions; channel and device stay exact', () => {
    const { pipeline, nav, finish, evictions } = setup({ maxSlicesPerPane: 10 });
    const events: EnrichedEvent[] = [];
    for (let v = 0; v < 200; v++) {
      const pv = pageView(`c${v}`, T0 + v * 100, '/');
      events.push({ ...pv, device: v % 2 === 0 ? 'mobile' : 'desktop', event: { ...(pv.event as PageViewEvent), url: `https://shop.test/?utm_medium=email&utm_source=crm&utm_campaign=c${v}` } });
    }
    pipeline.processNow(events);
    finish(T0 + 200 * 100);
    const byDevice = nav().windows(DAY, 1, { slices: { by: ['channel', 'device'], where: {} } })[0]!.slices!;
    expect(byDevice.rows.map((r) => [r.key.channel, r.key.device, r.sessions, r.bounces])).toEqual([
      ['email', 'desktop', 100, 100],
      ['email', 'mobile', 100, 100],
    ]);
    expect(byDevice.exact).toBe(true);
    const byCampaign = nav().windows(DAY, 1, { slices: { by: ['utmCampaign'], where: {} } })[0]!.slices!;
    expect(byCampaign.exact).toBe(false);
    const other = byCampaign.rows.find((r) => r.key.utmCampaign === 'other')!;
    expect(byCampaign.rows.reduce((n, r) => n + r.sessions, 0)).toBe(200);
    expect(other.sessions).toBeGreaterThan(150);
    expect(evictions.get('slices')).toBe(other.sessions);
  });

  it('GET /v1/stats/navigation?by=&where= - the slices of each window; a bad dimension is invalid_slice, the flow route refuses slices', async () => {
    const { events, truth } = slicedShoppers(34, 150, T0);
    const s = setup();
    s.pipeline.processNow(events);
    s.finish(events[events.length - 1]!.ts);
    const ctx: AppContext = {
      config: s.config,
      clock: s.clock,
      logger: createLogger('silent'),
      registry: s.registry,
      metrics: createCoreMetrics(new Registry(), { defaultMetrics: false }),
      site: (id) => s.config.sites.get(id),
      processor: (site, name) => s.pipeline.processor(site, name),
      watermark: () => s.pipeline.watermark(),
      lateEvents: () => [],
    };
    const app = Fastify();
    registerNavigationRoutes(app, ctx);
    await app.ready();
    const res = await app.inject({ method: 'GET', url: '/v1/stats/navigation?site=demo&window=P1D&windows=1&by=device&where=channel:search' });
    expect(res.statusCode, res.body).toBe(200);
    const rows = (res.json() as { windows: Array<{ slices: { rows: Array<{ key: Record<string, string>; sessions: number; bounceRate: number | null }> } }> }).windows[0]!.slices.rows;
    const q: SliceQuery = { by: ['device'], where: { channel: ['search'] } };
    expect(rows.map((r) => [r.key, r.sessions, r.bounceRate])).toEqual(brute(truth, q).map((r) => [r.key, r.sessions, r.bounces / r.sessions]));
    const bad = await app.inject({ method: 'GET', url: '/v1/stats/navigation?site=demo&by=colour' });
    expect([bad.statusCode, (bad.json() as { error: { code: string } }).error.code]).toEqual([400, 'invalid_slice']);
    const flow = await app.inject({ method: 'GET', url: '/v1/stats/navigation/flow?site=demo&page=/&by=device' });
    expect([flow.statusCode, (flow.json() as { error: { code: string } }).error.code]).toEqual([400, 'slice_unsupported']);
  });
});
