import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, batch, connectWs, pageView, startTestApp, type TestSocket } from '../../helpers/collect-client';

/**
 * Through the real app on 127.0.0.1 (demo site, its built-in catch-all offer): purchases streamed over
 * WS /v1/collect seed the cross-sell rules; then a visitor viewing A gets an offer for B on its own
 * collect socket, with the rule as the reason, and a storefront subscribed to WS /v1/offers sees it too.
 *
 * Baskets (written out here, the oracle): 40 × {A, B}, 40 × {C, D}, 20 × {A, C}; N = 100.
 * A ⇒ B: n(AB)/n(A) = 40/60, P(B) = 0.40, lift = (2/3)/0.4 = 5/3.  A ⇒ C: 20/60 over P(C) = 0.60 → lift 5/9 < 1 (never fires).
 */

let t: Awaited<ReturnType<typeof startTestApp>>;
beforeAll(async () => {
  // The demo site as shipped (its default offers), with rules recomputed every second of event time
  // instead of every minute and a 2-second cart idle time, so the test does not wait for minutes.
  t = await startTestApp({
    time: { outOfOrderness: 'PT1S', idleTimeout: 'PT1S', tick: 100 },
    sites: [{ id: 'demo', secret: 'demo-secret', processors: { 'cross-sell': { recomputeEvery: 'PT1S' }, 'next-best-offer': { cartIdle: 'PT2S' } } }],
  });
});
afterAll(async () => {
  await t?.stop();
});

async function untilJson<T>(url: string, ok: (body: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const body = (await (await adminFetch(url)).json()) as T;
    if (ok(body)) return body;
    if (Date.now() > deadline) throw new Error(`timed out waiting on ${url}: ${JSON.stringify(body).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function nextOfType(s: TestSocket, type: string): Promise<Record<string, unknown>> {
  for (;;) {
    const m = await s.next();
    if (m['type'] === type) return m;
  }
}

describe('offers end to end through the real app', () => {
  it('e2e - rules seeded by streamed baskets fire an offer on the visitor’s own socket, with the rule as the reason', async () => {
    const seeder = await connectWs(`${t.ws}/v1/collect?site=demo`);
    const baskets: string[][] = [...Array.from({ length: 40 }, () => ['A', 'B']), ...Array.from({ length: 40 }, () => ['C', 'D']), ...Array.from({ length: 20 }, () => ['A', 'C'])];
    const t0 = Date.now() - 1_000;
    const events = baskets.map((items, i) => ({
      ...pageView({ visitorId: `buyer-${i}`, ts: t0 + i }),
      type: 'form',
      formId: 'checkout',
      action: 'submit',
      items: items.map((productId) => ({ productId, quantity: 1, price: 10 })),
    }));
    seeder.send(batch(events, 1));
    expect(await nextOfType(seeder, 'ack')).toMatchObject({ accepted: 100, rejected: [] });
    seeder.ws.close();

    // The purchase-basket rules of the current window show A ⇒ B once the watermark passed the baskets.
    type RuleBody = { rules?: Array<{ antecedent: string[]; consequent: string[]; lift: number; confidence: number; level: string; source?: string }> };
    const rulesUrl = `${t.admin}/v1/rules?site=demo`;
    const isAB = (r: NonNullable<RuleBody['rules']>[number]) => r.antecedent.join() === 'A' && r.consequent.join() === 'B' && r.source === 'purchase' && r.level === 'product';
    const body = await untilJson<RuleBody>(rulesUrl, (b) => (b.rules ?? []).some(isAB));
    expect(body.rules?.find(isAB)?.lift).toBeCloseTo(5 / 3, 9);

    const storefront = await connectWs(`${t.ws}/v1/offers?site=demo`, { authorization: 'Bearer demo-subscriber-secret' });
    expect(await storefront.next()).toMatchObject({ type: 'subscribed', site: 'demo' });

    // A visitor views A until its offer arrives (the rules may still be computing on the first views);
    // its batches carry its visitor key, whose SHA-256 is its id (the snippet's identity).
    const vk = 'd4'.repeat(16);
    const shopper = createHash('sha256').update(vk).digest('hex').slice(0, 32);
    const visitor = await connectWs(`${t.ws}/v1/collect?site=demo`);
    let offer: Record<string, unknown> | undefined;
    const got = nextOfType(visitor, 'offer').then((m) => (offer = m));
    const deadline = Date.now() + 20_000;
    for (let seq = 1; offer === undefined; seq++) {
      if (Date.now() > deadline) throw new Error('no offer on the visitor socket');
      visitor.send({ ...batch([pageView({ visitorId: shopper, product: { id: 'A' } })], seq), vk });
      await Promise.race([got, new Promise((r) => setTimeout(r, 300))]);
    }
    expect(offer).toMatchObject({
      type: 'offer',
      site: 'demo',
      visitorId: shopper,
      offerId: 'demo-recommend',
      holdout: false,
      offered: { level: 'product', items: ['B'] },
      because: { kind: 'rule', rule: { antecedent: ['A'], consequent: ['B'], level: 'product' } },
    });
    const because = (offer as { because: { rule: { lift: number; confidence: number }; eventId: string; window: { start: string; end: string } } }).because;
    expect(because.rule.lift).toBeGreaterThan(1);
    expect(typeof because.eventId).toBe('string');
    expect(Date.parse(because.window.start)).toBeLessThan(Date.parse(because.window.end));
    expect(String(offer?.['text'])).toContain('B');

    // The storefront got the same trigger.
    const seen = await nextOfType(storefront, 'offer');
    expect(seen['triggerId']).toBe(offer?.['triggerId']);

    // The admin API lists it and counts it.
    const recent = (await (await adminFetch(`${t.admin}/v1/offers/recent?site=demo`)).json()) as { offers: Array<{ triggerId: string }> };
    expect(recent.offers.map((o) => o.triggerId)).toContain(offer?.['triggerId']);
    const stats = (await (await adminFetch(`${t.admin}/v1/offers/stats?site=demo`)).json()) as { decisions: { triggered: number }; attribution: { totals: { triggered: number; delivered: number; shown: number } } };
    expect(stats.decisions.triggered).toBeGreaterThanOrEqual(1);
    // Every trigger reached a channel (the visitor's socket, the storefront subscriber); none was reported displayed.
    expect(stats.attribution.totals).toMatchObject({ triggered: stats.decisions.triggered, delivered: stats.decisions.triggered, shown: 0 });
    visitor.ws.close();
    storefront.ws.close();
  });

  it('e2e - a cart left alone past the idle time (by the watermark) brings the cart-rescue offer to the visitor', async () => {
    const visitor = await connectWs(`${t.ws}/v1/collect?site=demo`);
    const added = Date.now();
    const vk = 'e5'.repeat(16);
    const leaver = createHash('sha256').update(vk).digest('hex').slice(0, 32);
    visitor.send({ ...batch([{ ...pageView({ visitorId: leaver, ts: added }), type: 'click', target: { kind: 'button', productId: 'P42' } }], 1), vk });
    const offer = await nextOfType(visitor, 'offer');
    expect(offer).toMatchObject({
      visitorId: leaver,
      offerId: 'demo-cart-rescue',
      because: { kind: 'pattern', pattern: 'cart_abandonment', idleMs: 2_000, items: ['P42'] },
      offered: { level: 'product', items: ['P42'] },
    });
    // Event time of the add-to-cart (skew-corrected by the gateway: `ts` plus receive − send), and the
    // trigger at exactly that time plus the idle time.
    const lastActivity = (offer['because'] as { lastActivity: number }).lastActivity;
    expect(lastActivity).toBeGreaterThanOrEqual(added);
    expect(offer['ts']).toBe(lastActivity + 2_000);
    visitor.ws.close();
  });

  it('e2e - the catalog admin API adds, lists and removes offers, reporting every problem', async () => {
    const url = `${t.admin}/v1/offers/catalog?site=demo`;
    const bad = await adminFetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'x y', target: {}, text: '' }) });
    expect(bad.status).toBe(400);
    const badBody = (await bad.json()) as { error: { code: string; problems: string[] } };
    expect(badBody.error.code).toBe('invalid_offer');
    expect(badBody.error.problems.length).toBe(3);
    const put = await adminFetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'books-10', target: { category: 'books' }, text: '10 % off books', discount: 10, budget: 100 }) });
    expect(put.status).toBe(201);
    const list = (await (await adminFetch(url)).json()) as { offers: Array<{ id: string }> };
    expect(list.offers.map((o) => o.id)).toContain('books-10');
    expect((await adminFetch(`${url}&id=books-10`, { method: 'DELETE' })).status).toBe(200);
    expect((await adminFetch(`${url}&id=books-10`, { method: 'DELETE' })).status).toBe(404);
    expect((await adminFetch(`${t.admin}/v1/offers/dead-letters?site=demo`)).status).toBe(200);
    expect((await adminFetch(`${t.admin}/v1/offers/catalog?site=nope`)).status).toBe(404);
  });
});
