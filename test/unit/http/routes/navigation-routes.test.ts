import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ContentProcessor } from '../../../../processors/content/content-processor';
import { NavigationProcessor } from '../../../../processors/navigation/navigation-processor';
import type { AppContext } from '../../../../src/app-context';
import { ManualClock } from '../../../../src/clock';
import { loadConfig } from '../../../../src/config';
import { registerContentRoutes } from '../../../../src/http/routes/content-routes';
import { registerNavigationRoutes } from '../../../../src/http/routes/navigation-routes';
import { createLogger } from '../../../../src/logger';
import { createCoreMetrics } from '../../../../src/metrics/core-metrics';
import { Pipeline } from '../../../../src/pipeline/pipeline';
import { pageView } from '../../../helpers/enriched-events';
import type { EnrichedEvent } from '../../../../src/events/enriched-event';
import { mulberry32 } from '../../../../src/replay/mulberry32';
import { defaultViews } from '../../../../processors/site-processors';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

async function setup(events?: EnrichedEvent[]) {
  const config = loadConfig({}, { time: { pane: 'PT1M', outOfOrderness: 0 } });
  const registry = new Registry();
  const metrics = createCoreMetrics(registry, { defaultMetrics: false });
  const clock = new ManualClock(T0);
  const logger = createLogger('silent');
  const context = { site: 'demo' as never, onEvict: () => undefined };
  const pipeline = new Pipeline({
    config,
    clock,
    metrics,
    logger,
    viewsFor: defaultViews,
    processorsFor: (site) => [new NavigationProcessor({ site, time: config.time, context }), new ContentProcessor({ site, time: config.time, context })],
  });
  const ctx: AppContext = {
    config,
    clock,
    logger,
    registry,
    metrics,
    site: (id) => config.sites.get(id),
    processor: (site, name) => pipeline.processor(site, name),
    watermark: () => pipeline.watermark(),
    lateEvents: () => [],
  };
  const app = Fastify();
  registerNavigationRoutes(app, ctx);
  registerContentRoutes(app, ctx);
  await app.ready();
  if (events !== undefined) {
    pipeline.processNow(events);
    return { app, pipeline };
  }
  // Three visitors: / → /a → /b, / → /a, / → /c ; and one in the next minute.
  pipeline.processNow([
    pageView('v1', T0 + 1_000, '/'),
    pageView('v1', T0 + 2_000, '/a'),
    pageView('v1', T0 + 3_000, '/b'),
    pageView('v2', T0 + 4_000, '/'),
    pageView('v2', T0 + 5_000, '/a'),
    pageView('v3', T0 + 6_000, '/'),
    pageView('v3', T0 + 7_000, '/c'),
    pageView('v4', T0 + MIN + 1_000, '/', { product: { id: 'p1' } }),
  ]);
  return { app, pipeline };
}

type Win = Record<string, unknown>;

describe('navigation and content routes', () => {
  it('GET /v1/stats/navigation/flow - previous and next pages of one page equal a brute force, the full tail paged', async () => {
    // 300 visitors wander over 12 pages, 2–6 views each, all inside one 10-minute window.
    const rnd = mulberry32(11);
    const events: EnrichedEvent[] = [];
    const visits: string[][] = [];
    for (let v = 0; v < 300; v++) {
      const pages = Array.from({ length: 2 + Math.floor(rnd() * 5) }, () => `/p${Math.floor(rnd() * 12)}`);
      visits.push(pages);
      pages.forEach((page, i) => events.push(pageView(`fv${v}`, T0 + v * 1_000 + i * 100, page)));
    }
    events.sort((a, b) => a.ts - b.ts);
    const { app } = await setup(events);
    const page = '/p3';
    const prev = new Map<string, number>();
    const next = new Map<string, number>();
    let views = 0;
    let entries = 0;
    for (const pages of visits) {
      pages.forEach((p, i) => {
        if (p !== page) return;
        views++;
        if (i === 0) entries++;
        else prev.set(pages[i - 1]!, (prev.get(pages[i - 1]!) ?? 0) + 1);
        if (i + 1 < pages.length) next.set(pages[i + 1]!, (next.get(pages[i + 1]!) ?? 0) + 1);
      });
    }
    expect(prev.size).toBeGreaterThan(4);
    // Page through with 3 entries at a time until the cursor runs out.
    const got = { previous: new Map<string, number>(), next: new Map<string, number>(), views: -1, entries: -1, pages: 0 };
    let cursor: string | undefined;
    do {
      const res = await app.inject({ method: 'GET', url: `/v1/stats/navigation/flow?site=demo&window=PT10M&windows=1&limit=3&page=${encodeURIComponent(page)}${cursor === undefined ? '' : `&cursor=${cursor}`}` });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { windows: Array<{ page: string; views: number; entries: number; previous: Array<{ page: string; count: number }>; next: Array<{ page: string; count: number }>; previousTotal: number }>; nextCursor?: string };
      const w = body.windows[0]!;
      expect(w.page).toBe(page);
      expect(w.previousTotal).toBe(prev.size);
      for (const x of w.previous) got.previous.set(x.page, x.count);
      for (const x of w.next) got.next.set(x.page, x.count);
      got.views = w.views;
      got.entries = w.entries;
      got.pages++;
      cursor = body.nextCursor;
    } while (cursor !== undefined && got.pages < 20);
    expect(got.previous).toEqual(prev);
    expect(got.next).toEqual(next);
    expect([got.views, got.entries]).toEqual([views, entries]);
    expect(got.pages).toBe(Math.ceil(Math.max(prev.size, next.size) / 3));
    const bad = await app.inject({ method: 'GET', url: '/v1/stats/navigation/flow?site=demo' });
    expect(bad.statusCode).toBe(400);
    const wrongDim = await app.inject({ method: 'GET', url: '/v1/stats/content?site=demo&by=colour' });
    expect([wrongDim.statusCode, (wrongDim.json() as { error: { code: string } }).error.code]).toEqual([400, 'invalid_slice']);
  });

  it('GET /v1/stats/content?by=device - page views and top pages per device equal a brute-force count; where keeps the listed devices', async () => {
    const rnd = mulberry32(12);
    const devices = ['desktop', 'mobile', 'tablet'] as const;
    const events: EnrichedEvent[] = [];
    const views = new Map<string, number>();
    const pages = new Map<string, Map<string, number>>();
    for (let i = 0; i < 400; i++) {
      const device = devices[Math.floor(rnd() * 3)]!;
      const page = `/p${Math.floor(rnd() * 8)}`;
      events.push({ ...pageView(`dv${i % 90}`, T0 + i * 1_000, page), device });
      views.set(device, (views.get(device) ?? 0) + 1);
      const m = pages.get(device) ?? new Map<string, number>();
      m.set(page, (m.get(page) ?? 0) + 1);
      pages.set(device, m);
    }
    const { app } = await setup(events);
    const res = await app.inject({ method: 'GET', url: '/v1/stats/content?site=demo&window=PT10M&windows=1&by=device' });
    expect(res.statusCode, res.body).toBe(200);
    type Dev = { device: string; pageViews: number; topPages: Array<{ page: string; count: number; error: number }> };
    const got = (res.json() as { windows: Array<{ devices: Dev[] }> }).windows[0]!.devices;
    expect(Object.fromEntries(got.map((d) => [d.device, d.pageViews]))).toEqual(Object.fromEntries(views));
    for (const d of got) {
      expect(Object.fromEntries(d.topPages.map((p) => [p.page, p.count]))).toEqual(Object.fromEntries(pages.get(d.device)!));
      expect(d.topPages.every((p) => p.error === 0)).toBe(true);
    }
    const mobile = (await app.inject({ method: 'GET', url: '/v1/stats/content?site=demo&window=PT10M&windows=1&where=device:mobile' })).json() as { windows: Array<{ devices: Dev[] }> };
    expect(mobile.windows[0]!.devices.map((d) => d.device)).toEqual(['mobile']);
  });

  it('GET /v1/stats/navigation - windows newest first with ISO instants, transitions with probabilities', async () => {
    const { app } = await setup();
    const res = await app.inject({ method: 'GET', url: '/v1/stats/navigation?site=demo&window=PT1M' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { site: string; windows: Win[] };
    expect(body.site).toBe('demo');
    expect(body.windows.map((w) => [w['start'], w['end'], w['closed']])).toEqual([
      ['2026-01-05T10:01:00.000Z', '2026-01-05T10:02:00.000Z', false],
      ['2026-01-05T10:00:00.000Z', '2026-01-05T10:01:00.000Z', true],
    ]);
    const w = body.windows[1]!;
    expect(w['transitions']).toEqual([
      { from: '/', to: '/a', count: 2, probability: 2 / 3, error: 0, exact: true },
      { from: '/', to: '/c', count: 1, probability: 1 / 3, error: 0, exact: true },
      { from: '/a', to: '/b', count: 1, probability: 1, error: 0, exact: true },
    ]);
    expect(w['entryPages']).toEqual([{ page: '/', count: 3, error: 0 }]);
    expect(w['transitionsTotal']).toBe(3);
  });

  it('GET /v1/stats/navigation - lists are paginated with limit and cursor; probabilities stay over the full tail', async () => {
    const { app } = await setup();
    const first = (await app.inject({ method: 'GET', url: '/v1/stats/navigation?window=PT1M&windows=2&limit=2' })).json() as { windows: Win[]; nextCursor?: string };
    expect((first.windows[1]!['transitions'] as unknown[]).length).toBe(2);
    expect(first.nextCursor).toBeDefined();
    const second = (await app.inject({ method: 'GET', url: `/v1/stats/navigation?window=PT1M&windows=2&limit=2&cursor=${first.nextCursor!}` })).json() as { windows: Win[]; nextCursor?: string };
    expect(second.windows[1]!['transitions']).toEqual([{ from: '/a', to: '/b', count: 1, probability: 1, error: 0, exact: true }]);
    expect(second.nextCursor).toBeUndefined();
  });

  it('GET /v1/stats/navigation - a bad window or unknown site is a JSON error', async () => {
    const { app } = await setup();
    const bad = await app.inject({ method: 'GET', url: '/v1/stats/navigation?window=PT7S' });
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as { error: { code: string } }).error.code).toBe('invalid_window');
    const unknown = await app.inject({ method: 'GET', url: '/v1/stats/content?site=nope' });
    expect(unknown.statusCode).toBe(404);
  });

  it('GET /v1/stats/content - top pages and products per window, newest first', async () => {
    const { app } = await setup();
    const body = (await app.inject({ method: 'GET', url: '/v1/stats/content?site=demo&window=PT1M' })).json() as { windows: Win[] };
    expect(body.windows[0]!['topProducts']).toEqual([{ id: 'p1', count: 1, error: 0 }]);
    expect(body.windows[0]!['closed']).toBe(false);
    expect(body.windows[1]!['topPages']).toEqual([
      { page: '/', count: 3, error: 0 },
      { page: '/a', count: 2, error: 0 },
      { page: '/b', count: 1, error: 0 },
      { page: '/c', count: 1, error: 0 },
    ]);
    expect(body.windows[1]!['pageViews']).toBe(7);
  });
});
