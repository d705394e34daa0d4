import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { SiteView } from '../../../../processors/processor';
import type { AppContext } from '../../../../src/app-context';
import { ManualClock } from '../../../../src/clock';
import { loadConfig } from '../../../../src/config';
import { registerDashboardRoutes } from '../../../../src/http/routes/dashboard-routes';
import { createLogger } from '../../../../src/logger';
import { createCoreMetrics } from '../../../../src/metrics/core-metrics';
import { epochMillis } from '../../../../src/types';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const SECRET = 'shop-secret-5f0c1e9a';
const PUBLIC_KEY = 'shop-public-key-77aa';

async function setup() {
  const config = loadConfig({}, { sites: [{ id: 'demo' }, { id: 'shop', secret: SECRET, publicKey: PUBLIC_KEY, timeZone: 'Europe/Berlin', allowedOrigins: ['*'] }] });
  const registry = new Registry();
  // Only the site's presence matters to the routes here: a stand-in object per running processor.
  const running: Record<string, readonly string[]> = { demo: ['usage', 'content'], shop: ['usage', 'navigation', 'cross-sell'] };
  const ctx: AppContext = {
    config,
    clock: new ManualClock(T0),
    logger: createLogger('silent'),
    registry,
    metrics: createCoreMetrics(registry, { defaultMetrics: false }),
    site: (id) => config.sites.get(id),
    processor: (site, name) => (running[site]?.includes(name) === true ? ({ name } as SiteView) : undefined),
    watermark: () => epochMillis(T0),
    lateEvents: () => [],
  };
  const app = Fastify();
  registerDashboardRoutes(app, ctx);
  await app.ready();
  return { app };
}

describe('dashboard routes', () => {
  it('GET /dashboard and GET / - serve the page as HTML, its script from the same origin, no inline script', async () => {
    const { app } = await setup();
    for (const url of ['/dashboard', '/']) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.body).toMatch(/^<!doctype html>/);
      expect(res.body).toContain('<script src="/dashboard.js" defer></script>');
      for (const id of ['site', 'window', 'usage', 'navigation', 'content', 'rules', 'offers', 'quarantine']) expect(res.body, id).toContain(`id="${id}"`);
      expect(res.body).toContain('href="/metrics"');
      // Every <script> loads a file: the CSP below forbids inline script.
      expect([...res.body.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toEqual(['<script src="/dashboard.js" defer>']);
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toMatch(/script-src 'self'(;|$)/);
      expect(csp).toContain("default-src 'none'");
    }
    for (const w of ['PT1M', 'PT5M', 'PT1H']) expect((await app.inject({ url: '/dashboard' })).body).toContain(`<option value="${w}">`);
  });

  it('GET /dashboard.js - serves the bundled script, which never writes HTML from strings, with a working ETag', async () => {
    const { app } = await setup();
    const res = await app.inject({ url: '/dashboard.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/javascript; charset=utf-8');
    // It reads the APIs the panels show.
    for (const path of ['/v1/sites', '/v1/stats/usage', '/v1/stats/navigation', '/v1/stats/content', '/v1/rules', '/v1/offers/recent', '/v1/offers/stats', '/v1/quarantine']) {
      expect(res.body, path).toContain(path);
    }
    for (const sink of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(']) expect(res.body, sink).not.toContain(sink);
    const etag = String(res.headers['etag']);
    expect((await app.inject({ url: '/dashboard.js', headers: { 'if-none-match': etag } })).statusCode).toBe(304);
  });

  it('GET /v1/sites - lists every configured site with its processors and none of its keys', async () => {
    const { app } = await setup();
    const res = await app.inject({ url: '/v1/sites' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { sites: Array<Record<string, unknown>> };
    expect(body.sites).toEqual([
      { id: 'demo', timeZone: 'UTC', processors: ['usage', 'content'] },
      { id: 'shop', timeZone: 'Europe/Berlin', processors: ['usage', 'navigation', 'cross-sell'] },
    ]);
    expect(res.body).not.toContain(SECRET);
    expect(res.body).not.toContain(PUBLIC_KEY);
    for (const secret of ['demo-secret', 'demo-subscriber-secret', 'demo-webhook-secret']) expect(res.body).not.toContain(secret);
  });
});
