import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { UsageProcessor } from '../../../../processors/usage/usage-processor';
import type { AppContext } from '../../../../src/app-context';
import { ManualClock } from '../../../../src/clock';
import { loadConfig } from '../../../../src/config';
import { registerUsageRoutes } from '../../../../src/http/routes/usage-routes';
import { createLogger } from '../../../../src/logger';
import { createCoreMetrics } from '../../../../src/metrics/core-metrics';
import { Pipeline } from '../../../../src/pipeline/pipeline';
import { click, form, pageView } from '../../../helpers/enriched-events';
import { defaultViews } from '../../../../processors/site-processors';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

async function setup() {
  const config = loadConfig({}, { partitions: 1, time: { pane: 'PT1M', outOfOrderness: 0 }, sites: [{ id: 'demo' }, { id: 'berlin', timeZone: 'Europe/Berlin', secret: 's', allowedOrigins: ['*'] }] });
  const registry = new Registry();
  const metrics = createCoreMetrics(registry, { defaultMetrics: false });
  const clock = new ManualClock(T0);
  const logger = createLogger('silent');
  const pipeline = new Pipeline({ config, clock, metrics, logger, viewsFor: defaultViews,
    processorsFor: (site) => [new UsageProcessor({ site, time: config.time })] });
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
  registerUsageRoutes(app, ctx);
  await app.ready();
  return { app, pipeline };
}

describe('usage routes', () => {
  it('GET /v1/stats/usage - lists windows newest first with ISO instants, the open one included', async () => {
    const { app, pipeline } = await setup();
    pipeline.processNow([
      pageView('v1', T0 + 1_000, '/a'),
      pageView('v2', T0 + 2_000, '/b'),
      click('v1', T0 + 3_000, { kind: 'link', href: '/b' }),
      pageView('v1', T0 + MIN + 1_000, '/c'),
    ]);
    const res = await app.inject({ method: 'GET', url: '/v1/stats/usage?site=demo&window=PT1M' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { site: string; windows: Array<Record<string, unknown>> };
    expect(body.site).toBe('demo');
    expect(body.windows.map((w) => [w['start'], w['end'], w['closed'], w['pageViews']])).toEqual([
      ['2026-01-05T10:01:00.000Z', '2026-01-05T10:02:00.000Z', false, 1],
      ['2026-01-05T10:00:00.000Z', '2026-01-05T10:01:00.000Z', true, 2],
    ]);
    expect(body.windows[1]?.['events']).toEqual({ page_view: 2, click: 1, form: 0 });
    expect(body.windows[1]?.['sessionsStarted']).toBe(2);
    expect(body.windows[1]?.['visitors']).toBe(2);
  });

  it('GET /v1/stats/usage - paginates per-window lists with limit and cursor', async () => {
    const { app, pipeline } = await setup();
    pipeline.processNow(['f1', 'f2', 'f3'].map((f, i) => form(`v${i}`, T0 + i, f, 'view')));
    const first = (await app.inject({ url: '/v1/stats/usage?site=demo&window=PT1M&limit=2' })).json() as { windows: Array<{ forms: Array<{ formId: string }> }>; nextCursor?: string };
    expect(first.windows[0]?.forms.map((f) => f.formId)).toEqual(['f1', 'f2']);
    expect(first.nextCursor).toBeDefined();
    const second = (await app.inject({ url: `/v1/stats/usage?site=demo&window=PT1M&limit=2&cursor=${first.nextCursor ?? ''}` })).json() as { windows: Array<{ forms: Array<{ formId: string }> }>; nextCursor?: string };
    expect(second.windows[0]?.forms.map((f) => f.formId)).toEqual(['f3']);
    expect(second.nextCursor).toBeUndefined();
  });

  it('GET /v1/stats/usage - refuses a window that is not a multiple of the pane, and unknown sites', async () => {
    const { app } = await setup();
    expect((await app.inject({ url: '/v1/stats/usage?site=demo&window=PT90S' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/v1/stats/usage?site=nope' })).statusCode).toBe(404);
  });

  it('GET /v1/visitors/:id - returns stage, RFM and interests; 404 for an unknown visitor', async () => {
    const { app, pipeline } = await setup();
    pipeline.processNow([
      pageView('buyer', T0, '/product/p1', { product: { id: 'p1', category: 'games', price: 30 } }),
      form('buyer', T0 + 5_000, 'checkout', 'submit', { items: [{ productId: 'p1', category: 'games', quantity: 2, price: 30 }] }),
    ]);
    const res = await app.inject({ url: '/v1/visitors/buyer?site=demo' });
    expect(res.statusCode).toBe(200);
    const p = res.json() as Record<string, unknown>;
    expect(p['stage']).toBe('active_customer');
    expect(p['purchases']).toBe(1);
    expect(p['revenue']).toBe(60);
    expect(p['bought']).toEqual(['p1']);
    expect(p['categoryInterest']).toEqual({ games: 1 + 5 });
    expect(p['lastSeen']).toBe('2026-01-05T10:00:05.000Z');
    expect((await app.inject({ url: '/v1/visitors/nobody?site=demo' })).statusCode).toBe(404);
  });

  it('GET /v1/stats/usage - day windows follow the site time zone', async () => {
    const { app, pipeline } = await setup();
    // 22:30Z is 23:30 in Berlin (5 January); 23:30Z is 00:30 on 6 January.
    pipeline.processNow([pageView('v1', Date.UTC(2026, 0, 5, 22, 30), '/a', { site: 'berlin' }), pageView('v2', Date.UTC(2026, 0, 5, 23, 30), '/b', { site: 'berlin' })]);
    const body = (await app.inject({ url: '/v1/stats/usage?site=berlin&window=P1D&windows=2' })).json() as { windows: Array<Record<string, unknown>> };
    expect(body.windows.map((w) => [w['start'], w['end'], w['pageViews']])).toEqual([
      ['2026-01-05T23:00:00.000Z', '2026-01-06T23:00:00.000Z', 1],
      ['2026-01-04T23:00:00.000Z', '2026-01-05T23:00:00.000Z', 1],
    ]);
  });

  it('GET /v1/stats/usage - hopping windows with slide, built from panes', async () => {
    const { app, pipeline } = await setup();
    // Page views in minutes 0, 1, 2 (one each) → 2-minute windows every minute: [2,4)=1, [1,3)=2, [0,2)=2, [-1,1)=1.
    pipeline.processNow([0, 1, 2].map((m) => pageView(`v${m}`, T0 + m * MIN, '/')));
    const body = (await app.inject({ url: '/v1/stats/usage?site=demo&window=PT2M&slide=PT1M' })).json() as { windows: Array<Record<string, unknown>> };
    expect(body.windows.map((w) => [w['start'], w['pageViews']])).toEqual([
      ['2026-01-05T10:02:00.000Z', 1],
      ['2026-01-05T10:01:00.000Z', 2],
      ['2026-01-05T10:00:00.000Z', 2],
      ['2026-01-05T09:59:00.000Z', 1],
    ]);
    expect((await app.inject({ url: '/v1/stats/usage?site=demo&window=PT2M&slide=PT3M' })).statusCode).toBe(400);
  });
});
