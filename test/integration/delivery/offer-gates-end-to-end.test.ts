import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, batch, connectWs, pageView, startTestApp, type TestSocket } from '../../helpers/collect-client';

/**
 * Budget, holdout and cooldown through the real app and real sockets, with the site's webhook on a
 * local receiver. Site `shop`: an offer for B with a budget of 3, offers for D and A without, holdout
 * share 0.3, cooldown 1 h. Baskets (the oracle): 40 × {A, B}, 40 × {C, D}, 20 × {A, C} → A ⇒ B and
 * C ⇒ D, both with confidence 2/3 over a base rate of 0.4 (lift 5/3); B ⇒ A with confidence 1 over 0.6.
 */

const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
let hook: Server;
let t: Awaited<ReturnType<typeof startTestApp>>;

beforeAll(async () => {
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/offers`;
  t = await startTestApp({
    time: { outOfOrderness: 'PT1S', idleTimeout: 'PT1S', tick: 100 },
    sites: [
      {
        id: 'shop',
        allowedOrigins: ['*'],
        secret: 'shop-secret',
        subscriberSecret: 'shop-subscriber-secret',
        webhookSecret: 'shop-webhook-secret',
        processors: {
          'cross-sell': { recomputeEvery: 'PT1S' },
          'next-best-offer': {
            offers: [
              { id: 'b-coupon', target: { productId: 'B' }, text: '{discount} % off {item}', discount: 10, budget: 3, value: 10 },
              { id: 'd-coupon', target: { productId: 'D' }, text: '{discount} % off {item}', discount: 5, value: 10 },
              { id: 'a-coupon', target: { productId: 'A' }, text: '{discount} % off {item}', discount: 5, value: 10 },
            ],
            holdoutShare: 0.3,
            cooldown: 'PT1H',
            webhooks: [hookUrl],
          },
        },
      },
    ],
  });
});
afterAll(async () => {
  await t?.stop();
  await new Promise((r) => hook?.close(r));
});

interface Stats {
  decisions: { triggered: number; holdout: number; suppressed: Record<string, number> };
  attribution: { totals: { triggered: number; delivered: number; holdout: { recorded: number } } };
}
const stats = async (): Promise<Stats> => (await (await adminFetch(`${t.admin}/v1/offers/stats?site=shop`)).json()) as Stats;
const decided = (s: Stats): number => s.decisions.triggered + s.decisions.holdout + Object.values(s.decisions.suppressed).reduce((a, b) => a + b, 0);

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 400)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Offers that reached this socket so far (acks skipped). */
function drainOffers(s: TestSocket, into: Array<Record<string, unknown>>): void {
  void (async () => {
    for (;;) {
      const m = await s.next();
      if (m['type'] === 'offer') into.push(m);
    }
  })();
}

describe('offer gates through the real app', () => {
  it('budget, holdout, cooldown - only the budget is delivered, never to the holdout, once per visitor; webhooks signed', async () => {
    const seeder = await connectWs(`${t.ws}/v1/collect?site=shop`);
    const baskets = [...Array.from({ length: 40 }, () => ['A', 'B']), ...Array.from({ length: 40 }, () => ['C', 'D']), ...Array.from({ length: 20 }, () => ['A', 'C'])];
    const t0 = Date.now() - 1_000;
    seeder.send(batch(baskets.map((items, i) => ({ ...pageView({ visitorId: `buyer-${i}`, ts: t0 + i }), type: 'form', formId: 'checkout', action: 'submit', items: items.map((productId) => ({ productId, quantity: 1 })) }))));
    await seeder.next();
    seeder.ws.close();
    await until(
      async () => (await (await adminFetch(`${t.admin}/v1/rules?site=shop`)).json()) as { rules: Array<{ antecedent: string[]; consequent: string[] }> },
      (b) => b.rules.some((r) => r.antecedent.join() === 'A' && r.consequent.join() === 'B'),
      'rule A ⇒ B',
    );

    // Many visitors on one socket (a server-side producer): their offers reach the storefront
    // subscriber; a visitor's own socket takes them only with its visitor key (collect-ws.test.ts).
    const socket = await connectWs(`${t.ws}/v1/collect?site=shop`);
    const storefront = await connectWs(`${t.ws}/v1/offers?site=shop`, { authorization: 'Bearer shop-subscriber-secret' });
    const offers: Array<Record<string, unknown>> = [];
    drainOffers(storefront, offers);
    type Recent = { offers: Array<{ visitorId: string; triggerId: string; offerId: string; holdout: boolean }> };
    const recent = async (offerId: string) => ((await (await adminFetch(`${t.admin}/v1/offers/recent?site=shop`)).json()) as Recent).offers.filter((o) => o.offerId === offerId);

    // Budget: 20 visitors view A; the B coupon (budget 3) is delivered exactly 3 times.
    const buyersOfA = Array.from({ length: 20 }, (_, i) => `shopper-${i}`);
    socket.send(batch(buyersOfA.map((v) => pageView({ visitorId: v, product: { id: 'A' } })), 1));
    const s1 = await until(stats, (s) => decided(s) === 20, '20 decisions');
    expect(s1.decisions.triggered).toBe(3);
    // Everyone else was held out (before the budget ran out) or stopped by the spent budget.
    expect(s1.decisions.holdout + (s1.decisions.suppressed['budget'] ?? 0)).toBe(17);
    await until(async () => offers.length, (n) => n >= 3, 'three offers at the storefront');
    expect(offers.map((o) => o['offerId'])).toEqual(['b-coupon', 'b-coupon', 'b-coupon']);

    // Holdout: 40 visitors view C; the D coupon has no budget, so each is either offered or held out.
    const viewersOfC = Array.from({ length: 40 }, (_, i) => `holdout-probe-${i}`);
    socket.send(batch(viewersOfC.map((v) => pageView({ visitorId: v, product: { id: 'C' } })), 2));
    const s2 = await until(stats, (s) => decided(s) === 60, '60 decisions');
    const d = await recent('d-coupon');
    const held = new Set(d.filter((o) => o.holdout).map((o) => o.visitorId));
    const deliveredD = d.filter((o) => !o.holdout);
    expect(d.length).toBe(40);
    expect(held.size).toBe(s2.decisions.holdout - s1.decisions.holdout);
    // 0.3 of 40 visitors: at least one held out and at least one offered (binomial: P(0) = 0.7^40, P(40) = 0.3^40).
    expect(held.size).toBeGreaterThan(0);
    expect(deliveredD.length).toBeGreaterThan(0);
    await until(async () => offers.length, (n) => n >= 3 + deliveredD.length, 'the D offers at the storefront');
    const socketD = offers.filter((o) => o['offerId'] === 'd-coupon');
    expect(socketD.map((o) => o['triggerId']).sort()).toEqual(deliveredD.map((o) => o.triggerId).sort());
    for (const o of socketD) expect(held.has(String(o['visitorId']))).toBe(false);
    expect(s2.attribution.totals).toMatchObject({ triggered: s2.decisions.triggered, delivered: s2.decisions.triggered, holdout: { recorded: s2.decisions.holdout } });

    // Cooldown: C viewers (offered or held out) now view B within the hour: B ⇒ A (confidence 40/40,
    // lift 1/0.6) would bring the fresh A coupon, but the cooldown stops it.
    const again = viewersOfC.slice(0, 10);
    socket.send(batch(again.map((v) => pageView({ visitorId: v, product: { id: 'B' } })), 3));
    const s3 = await until(stats, (s) => decided(s) === 70, 'the repeat decisions');
    expect(s3.decisions.triggered).toBe(s2.decisions.triggered);
    expect(s3.decisions.suppressed['cooldown'] ?? 0).toBe(10);

    // Webhooks: every delivered trigger, signed with the shop's secret over "<timestamp>.<body>".
    const deliveredIds = offers.map((o) => String(o['triggerId'])).sort();
    await until(async () => received.length, (n) => n >= deliveredIds.length, 'the webhook calls');
    expect(received.map((r) => (JSON.parse(r.body) as { triggerId: string }).triggerId).sort()).toEqual(deliveredIds);
    for (const r of received) {
      const ts = String(r.headers['x-clickstream-timestamp']);
      expect(r.headers['x-clickstream-signature']).toBe(`sha256=${createHmac('sha256', 'shop-webhook-secret').update(`${ts}.${r.body}`).digest('hex')}`);
    }
    expect(offers.length).toBe(3 + deliveredD.length);
    socket.ws.close();
  });
});
