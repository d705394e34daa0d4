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
import { defaultViews } from '../../../../processors/site-processors';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

async function setup() {
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
