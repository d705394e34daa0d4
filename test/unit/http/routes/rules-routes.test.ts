import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { SoloCrossSell } from '../../../helpers/solo-cross-sell';
import { parseCrossSellSettings } from '../../../../processors/cross-sell/cross-sell-settings';
import type { AppContext } from '../../../../src/app-context';
import { ManualClock } from '../../../../src/clock';
import { loadConfig } from '../../../../src/config';
import { registerRulesRoutes } from '../../../../src/http/routes/rules-routes';
import { createLogger } from '../../../../src/logger';
import { createCoreMetrics } from '../../../../src/metrics/core-metrics';
import { epochMillis, type SiteId } from '../../../../src/types';
import { form } from '../../../helpers/enriched-events';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

interface RulesBody {
  site: string;
  version: number;
  window: { start: string; end: string };
  errorBound: number;
  total: number;
  nextCursor?: string;
  rules: Array<{ antecedent: string[]; consequent: string[]; count: number; support: number; confidence: number; lift: number; conviction: number | null }>;
}

async function setup() {
  const config = loadConfig({}, {});
  const registry = new Registry();
  const settings = parseCrossSellSettings('demo', { minSupport: 0, minConfidence: 0, minLift: 0 });
  if (settings.kind !== 'ok') throw new Error('settings');
  const cs = new SoloCrossSell({ site: 'demo' as SiteId, settings: settings.settings, allowedLatenessMs: 60_000 });
  const ctx: AppContext = {
    config,
    clock: new ManualClock(T0),
    logger: createLogger('silent'),
    registry,
    metrics: createCoreMetrics(registry, { defaultMetrics: false }),
    site: (id) => config.sites.get(id),
    processor: (site, name) => (site === 'demo' && name === 'cross-sell' ? cs.rules : undefined),
    watermark: () => epochMillis(T0),
    lateEvents: () => [],
  };
  // Baskets {a,b} ×3, {a,c}, {b}: c(a)=4 c(b)=4 c(c)=1 c(ab)=3 c(ac)=1, N=5.
  const baskets = [['a', 'b'], ['a', 'b'], ['a', 'b'], ['a', 'c'], ['b']];
  baskets.forEach((b, i) => cs.onEvent(form(`v${i}`, T0 + i, 'checkout', 'submit', { items: b.map((productId) => ({ productId, quantity: 1 })) }), epochMillis(T0 + i)));
  cs.refresh(T0 + 10);
  const app = Fastify();
  registerRulesRoutes(app, ctx);
  await app.ready();
  return { app };
}

describe('rules routes', () => {
  it('GET /v1/rules - the current rules sorted by count with their statistics, version and window as ISO instants', async () => {
    const { app } = await setup();
    const res = await app.inject({ url: '/v1/rules?site=demo&level=product' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as RulesBody;
    expect(body.site).toBe('demo');
    expect(body.version).toBe(1);
    expect(body.errorBound).toBe(0);
    expect(body.window).toEqual({ start: '2026-01-05T09:05:00.000Z', end: '2026-01-05T10:05:00.000Z' });
    expect(body.rules.map((r) => `${r.antecedent.join()}>${r.consequent.join()}:${r.count}`)).toEqual(['a>b:3', 'b>a:3', 'c>a:1', 'a>c:1']); // ties: higher confidence first
    const ca = body.rules[2]!;
    expect(ca.confidence).toBe(1);
    expect(ca.conviction).toBeNull(); // infinite conviction
    expect(ca.lift).toBeCloseTo(1 / (4 / 5), 12);
  });

  it('GET /v1/rules - minConfidence, minLift and limit filter further; the cursor pages on', async () => {
    const { app } = await setup();
    const conf = (await app.inject({ url: '/v1/rules?site=demo&minConfidence=0.8' })).json() as RulesBody;
    expect(conf.rules.map((r) => `${r.antecedent.join()}>${r.consequent.join()}`)).toEqual(['c>a']);
    const lift = (await app.inject({ url: '/v1/rules?site=demo&minLift=1' })).json() as RulesBody;
    // a⇒b: 0.75/0.8 < 1; c⇒a: 1/0.8; a⇒c: 0.25/0.2.
    expect(lift.rules.map((r) => `${r.antecedent.join()}>${r.consequent.join()}`)).toEqual(['c>a', 'a>c']);
    const first = (await app.inject({ url: '/v1/rules?site=demo&limit=3' })).json() as RulesBody;
    expect(first.rules).toHaveLength(3);
    expect(first.total).toBe(4);
    const second = (await app.inject({ url: `/v1/rules?site=demo&limit=3&cursor=${first.nextCursor ?? ''}` })).json() as RulesBody;
    expect(second.rules.map((r) => `${r.antecedent.join()}>${r.consequent.join()}`)).toEqual(['a>c']);
    expect(second.nextCursor).toBeUndefined();
  });

  it('GET /v1/rules - bad filters are 400 with every problem, unknown sites 404', async () => {
    const { app } = await setup();
    const bad = await app.inject({ url: '/v1/rules?site=demo&minConfidence=2&kind=weird&limit=-1' });
    expect(bad.statusCode).toBe(400);
    const msg = (bad.json() as { error: { code: string; message: string } }).error;
    expect(msg.code).toBe('invalid_query');
    expect(msg.message).toMatch(/minConfidence/);
    expect(msg.message).toMatch(/kind/);
    expect(msg.message).toMatch(/limit/);
    expect((await app.inject({ url: '/v1/rules?site=demo&window=PT7M' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/v1/rules?site=nope' })).statusCode).toBe(404);
  });
});
