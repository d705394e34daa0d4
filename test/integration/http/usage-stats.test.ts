import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, batch, pageView, startTestApp } from '../../helpers/collect-client';

let t: Awaited<ReturnType<typeof startTestApp>>;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.stop();
});

interface UsageBody {
  site: string;
  windows: Array<{ start: string; end: string; closed: boolean; pageViews: number; events: Record<string, number>; sessionsStarted: number; visitors: number; purchases: number; revenue: number }>;
}

async function poll<T>(fn: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const v = await fn();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  return fn();
}

describe('usage over the real servers', () => {
  it('usage - events posted to /v1/collect show up in /v1/stats/usage and /v1/visitors/:id', async () => {
    const now = Date.now();
    const events = [
      pageView({ visitorId: 'u-1', ts: now - 3_000 }),
      pageView({ visitorId: 'u-1', ts: now - 2_000, url: 'https://shop.example/product/p1', product: { id: 'p1', category: 'games', price: 30 } }),
      pageView({ visitorId: 'u-2', ts: now - 2_000 }),
      { ...pageView({ visitorId: 'u-2', ts: now - 1_000 }), type: 'click', target: { kind: 'ad', adId: 'banner' } },
      { ...pageView({ visitorId: 'u-1', ts: now - 500 }), type: 'form', formId: 'checkout', action: 'submit', items: [{ productId: 'p1', category: 'games', quantity: 2, price: 30 }] },
    ];
    const res = await fetch(`${t.base}/v1/collect?site=demo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(batch(events)) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { accepted: number }).accepted).toBe(5);

    const body = await poll(
      async () => (await (await adminFetch(`${t.admin}/v1/stats/usage?site=demo&window=PT1H`)).json()) as UsageBody,
      (b) => b.windows.reduce((n, w) => n + w.pageViews, 0) >= 3,
    );
    expect(body.site).toBe('demo');
    const sum = (f: (w: UsageBody['windows'][number]) => number) => body.windows.reduce((n, w) => n + f(w), 0);
    expect(sum((w) => w.pageViews)).toBe(3);
    expect(sum((w) => w.events['click'] ?? 0)).toBe(1);
    expect(sum((w) => w.events['form'] ?? 0)).toBe(1);
    expect(sum((w) => w.sessionsStarted)).toBe(2);
    expect(sum((w) => w.purchases)).toBe(1);
    expect(sum((w) => w.revenue)).toBe(60);
    expect(body.windows[0]?.closed).toBe(false); // the open window is listed
    expect(body.windows[0]?.start).toMatch(/^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z$/);

    const buyer = (await (await adminFetch(`${t.admin}/v1/visitors/u-1?site=demo`)).json()) as Record<string, unknown>;
    expect(buyer).toMatchObject({ visitorId: 'u-1', stage: 'active_customer', purchases: 1, revenue: 60, bought: ['p1'] });
    const responder = (await (await adminFetch(`${t.admin}/v1/visitors/u-2?site=demo`)).json()) as Record<string, unknown>;
    expect(responder['stage']).toBe('responder');
    expect((await adminFetch(`${t.admin}/v1/visitors/nobody?site=demo`)).status).toBe(404);
  });
});
