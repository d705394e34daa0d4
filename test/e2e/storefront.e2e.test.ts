import { createHash } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app';
import type { CollectEvent } from '../../src/events/event-types';
import { launchChromium } from '../helpers/chromium';
import { adminFetch, metricValue, startTestApp } from '../helpers/collect-client';
import { until } from '../helpers/until';

/** Typed into the email, password and card fields: it must never appear in anything the page sends. */
const MARK = 'mk7c0ffee9e2e';

type Json = Record<string, unknown>;

/**
 * The demo storefront in real headless Chromium against the REAL server (createApp, ports 0): what a
 * shopper does, what the server accepted (a spy on the pipeline's intake: after validation and dedupe),
 * the live statistics, offers, offline and unload behaviour — and that no form value ever left the page.
 */
describe('demo storefront in Chromium against the real server', () => {
  let t: Awaited<ReturnType<typeof startTestApp>>;
  let browser: Browser;
  /** Every event the pipeline took in, by id, with how often and when (server clock). */
  const accepted = new Map<string, { event: CollectEvent; count: number; at: number }>();
  /** Every request URL, request body and WebSocket frame any page sent. */
  const wire: string[] = [];

  beforeAll(async () => {
    t = await startTestApp({
      // The built-in demo site, with rules recomputed every second of event time so a seeded rule is live
      // at once; quiet shoppers' partitions stop holding the watermark back after a second (default 30 s).
      sites: [{ id: 'demo', processors: { 'cross-sell': { recomputeEvery: 'PT1S' } } }],
      time: { idleTimeout: 'PT1S' },
    });
    spyOnIntake(t.app);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  function spyOnIntake(app: App): void {
    const offer = app.pipeline.offer.bind(app.pipeline);
    app.pipeline.offer = (events) => {
      const r = offer(events);
      if (r.kind === 'accepted') {
        for (const e of events) {
          const seen = accepted.get(e.id);
          accepted.set(e.id, { event: e.event, count: (seen?.count ?? 0) + 1, at: seen?.at ?? Date.now() });
        }
      }
      return r;
    };
  }

  async function newShopper(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    context.on('request', (r) => {
      wire.push(r.url());
      const body = r.postData();
      if (body !== null) wire.push(body);
    });
    context.on('page', (p) => p.on('websocket', (ws) => ws.on('framesent', (f) => wire.push(String(f.payload)))));
    const page = await context.newPage();
    return { context, page };
  }

  /** Event ids in every batch a page sent (socket frames, POSTs, beacons). */
  function sentIds(): Set<string> {
    const ids = new Set<string>();
    for (const s of wire) {
      if (!s.startsWith('{"type":"batch"')) continue;
      for (const e of (JSON.parse(s) as { events: Json[] }).events) ids.add(String(e['id']));
    }
    return ids;
  }

  const events = (pred: (e: CollectEvent) => boolean): CollectEvent[] => [...accepted.values()].map((a) => a.event).filter(pred);
  const loaded = (page: Page): Promise<unknown> => page.waitForFunction('window.cm && window.cm.loaded === true');
  const adminJson = async (path: string): Promise<Json> => (await (await adminFetch(t.admin + path)).json()) as Json;
  const windowsOf = (body: Json): Json[] => body['windows'] as Json[];

  it('storefront - browse, click the ad, search, abandon a form and buy: every event sent is accepted exactly once, and no form value leaves the page', async () => {
    const { context, page } = await newShopper();
    await page.goto(t.base + '/demo');
    await loaded(page);
    await page.click('header nav >> text=Video games'); // single-page-app route (pushState)
    await page.waitForURL('**/demo/category/video-games');
    await page.waitForSelector('[data-cm-product="neon-drift"]');
    await page.click('[data-cm-product="neon-drift"]');
    await page.waitForURL('**/demo/product/neon-drift');
    await page.click('[data-cm-cart="neon-drift"]');
    await page.click('a.logo');
    await page.waitForURL(/\/demo$/);
    await page.click('[data-cm-ad]');
    await page.waitForURL('**/demo/category/consoles');
    await page.fill('form.search input[name=q]', 'dune');
    await page.press('form.search input[name=q]', 'Enter');
    await page.waitForURL('**/demo/search?q=dune');
    await page.click('[data-cm-product="dune"]');
    await page.waitForURL('**/demo/product/dune');
    await page.click('[data-cm-cart="dune"]');
    await page.click('a[href="/demo/checkout"]');
    await page.waitForURL('**/demo/checkout');
    // Start the checkout and walk away: an abandonment.
    await page.fill('#f-name', 'Ann Example');
    await page.fill('#f-email', `${MARK}@example.com`);
    await page.fill('#f-password', MARK);
    await page.click('a.logo');
    await page.waitForURL(/\/demo$/);
    // Come back and buy.
    await page.click('#cart-link');
    await page.waitForURL('**/demo/cart');
    await page.click('#to-checkout');
    await page.waitForURL('**/demo/checkout');
    await page.fill('#f-name', 'Ann Example');
    await page.fill('#f-email', `${MARK}@example.com`);
    await page.fill('#f-address', '1 Nebula Way');
    await page.fill('#f-password', MARK);
    await page.fill('#f-card', `4111 1111 ${MARK}`);
    await page.click('#place-order');
    await page.waitForURL('**/demo/thanks');
    await loaded(page);

    // Everything the page sent reaches the pipeline, each event exactly once after dedupe.
    await until('the last page view', () => events((e) => e.type === 'page_view' && e.url.endsWith('/demo/thanks')).length > 0);
    await until('every sent event accepted', () => {
      const sent = sentIds();
      return sent.size > 0 && [...sent].every((id) => accepted.has(id)) && sent;
    });
    const sent = sentIds();
    for (const id of sent) expect(accepted.get(id)?.count, id).toBe(1);
    const mine = events((e) => sent.has(e.id));
    expect(mine.length).toBe(sent.size);

    // No form value ever left the page: not in a URL, a body, a beacon or a socket frame.
    expect(wire.length).toBeGreaterThan(10);
    expect(wire.filter((s) => s.includes(MARK))).toEqual([]);

    const views = mine.filter((e) => e.type === 'page_view');
    const paths = views.map((e) => new URL(e.url).pathname + new URL(e.url).search);
    expect(paths).toEqual([
      '/demo',
      '/demo/category/video-games',
      '/demo/product/neon-drift',
      '/demo',
      '/demo/category/consoles',
      '/demo/search?q=dune',
      '/demo/product/dune',
      '/demo/checkout',
      '/demo',
      '/demo/cart',
      '/demo/checkout',
      '/demo/thanks',
    ]);
    expect(new Set(mine.map((e) => e.visitorId)).size).toBe(1);
    expect(views.find((e) => e.url.endsWith('/neon-drift'))).toMatchObject({ product: { id: 'neon-drift', category: 'video-games', price: 39.99 } });
    expect(views.find((e) => e.url.includes('search'))).toMatchObject({ search: { query: 'dune', results: 1 } });
    // The banner is on the home page and the category pages: 3 home views + 2 category views.
    expect(views.filter((e) => e.type === 'page_view' && e.ads?.includes('nova-launch-banner')).length).toBe(5);
    const clicks = mine.flatMap((e) => (e.type === 'click' ? [e.target] : []));
    expect(clicks.filter((c) => c.kind === 'ad')).toEqual([expect.objectContaining({ adId: 'nova-launch-banner' })]);
    expect(clicks.filter((c) => c.kind === 'button').map((c) => c.productId)).toEqual(['neon-drift', 'dune']);
    const forms = mine.flatMap((e) => (e.type === 'form' ? [e] : []));
    expect(forms.map((f) => [f.action, f.field ?? null])).toEqual([
      ['view', null],
      ['start', null],
      ['field', 'name'],
      ['field', 'email'],
      ['abandon', 'email'],
      ['view', null],
      ['start', null],
      ['field', 'name'],
      ['field', 'email'],
      ['field', 'address'],
      ['submit', null],
    ]);
    expect(forms.at(-1)?.items).toEqual([
      { productId: 'neon-drift', quantity: 1, price: 39.99, category: 'video-games' },
      { productId: 'dune', quantity: 1, price: 14.99, category: 'sci-fi-books' },
    ]);

    // Nothing refused: the quarantine is empty and no rejection was counted.
    expect(((await adminJson('/v1/quarantine?site=demo'))['items'] as unknown[]).length).toBe(0);
    const metrics = await (await adminFetch(t.admin + '/metrics')).text();
    expect(metrics.split('\n').filter((l) => l.startsWith('clickstream_events_rejected_total{') && !l.endsWith(' 0'))).toEqual([]);
    await context.close();
  });

  it('storefront - the live statistics count what the server accepted', async () => {
    // Independent count: the accepted events themselves (the spy), summed by hand.
    const all = [...accepted.values()].map((a) => a.event);
    const count = (type: string): number => all.filter((e) => e.type === type).length;
    const sum = (ws: Json[], f: (w: Json) => number): number => ws.reduce((a, w) => a + f(w), 0);
    const usage = await until('usage stats to catch up', async () => {
      const ws = windowsOf(await adminJson('/v1/stats/usage?site=demo&window=PT1H&windows=2'));
      return sum(ws, (w) => Number(w['pageViews'])) === count('page_view') && sum(ws, (w) => Number((w['events'] as Json)['form'])) === count('form') && ws;
    });
    expect(sum(usage, (w) => Number((w['events'] as Json)['click']))).toBe(count('click'));
    expect(sum(usage, (w) => Number(w['visitors']))).toBeGreaterThanOrEqual(1);

    const impressions = all.filter((e) => e.type === 'page_view' && e.ads?.includes('nova-launch-banner')).length;
    const adClicks = all.filter((e) => e.type === 'click' && e.target.adId === 'nova-launch-banner').length;
    await until('the ad click-through', async () => {
      const ws = windowsOf(await adminJson('/v1/stats/navigation?site=demo&window=PT1H&windows=2&limit=100'));
      const ct = ws.flatMap((w) => (w['clickThrough'] as Json[]).filter((c) => c['id'] === 'nova-launch-banner'));
      return sum(ct, (c) => Number(c['impressions'])) === impressions && sum(ct, (c) => Number(c['clicks'])) === adClicks;
    });
    const searches = all.filter((e) => e.type === 'page_view' && e.search?.query === 'dune').length;
    await until('the search term in the content stats', async () => {
      const ws = windowsOf(await adminJson('/v1/stats/content?site=demo&window=PT1H&windows=2&limit=100'));
      const s = ws.flatMap((w) => (w['searches'] as Json[]).filter((x) => x['query'] === 'dune'));
      return sum(s, (x) => Number(x['count'])) === searches;
    });
  });

  it('storefront - offline, events wait in the persisted queue and are delivered once back online', async () => {
    const { context, page } = await newShopper();
    await page.goto(t.base + '/demo/product/dune');
    await loaded(page);
    await until('the page view', () => events((e) => e.type === 'page_view' && e.url.endsWith('/demo/product/dune') && sentIds().has(e.id)).length > 0);
    await context.setOffline(true);
    for (let i = 0; i < 3; i++) await page.click('[data-cm-cart="dune"]');
    const queued = (await page.evaluate(`JSON.parse(localStorage.getItem('cm_q_demo') || '[]').filter((e) => e.type === 'click').map((e) => e.id)`)) as string[];
    expect(queued.length).toBe(3);
    // The snippet tries nothing while the browser is offline.
    expect(queued.filter((id) => accepted.has(id))).toEqual([]);
    await context.setOffline(false);
    await until('the queued clicks after reconnecting', () => queued.every((id) => accepted.has(id)));
    for (const id of queued) expect(accepted.get(id)?.count).toBe(1);
    await until('the persisted queue to empty', async () => (await page.evaluate(`localStorage.getItem('cm_q_demo')`)) === null);
    await context.close();
  });

  it('storefront - the page unloads mid-batch (navigation, then a closed tab): nothing is lost, each event accepted once', async () => {
    const { context, page } = await newShopper();
    await page.goto(t.base + '/demo/product/foundation');
    await loaded(page);
    // Clicks and navigation in one task of the page: the batch is still pending when the page goes.
    const navigating = (await page.evaluate(`(() => {
      const b = document.querySelector('[data-cm-cart]');
      b.click(); b.click(); b.click();
      const ids = JSON.parse(localStorage.getItem('cm_q_demo') || '[]').map((e) => e.id);
      location.href = '/demo/cart';
      return ids;
    })()`)) as string[];
    await page.waitForURL('**/demo/cart');
    await loaded(page);
    const closing = (await page.evaluate(`(() => {
      window.cm('track', 'click', { target: { kind: 'button', id: 'last-words-1' } });
      window.cm('track', 'click', { target: { kind: 'button', id: 'last-words-2' } });
      return JSON.parse(localStorage.getItem('cm_q_demo') || '[]').map((e) => e.id);
    })()`)) as string[];
    await page.close({ runBeforeUnload: true });
    // The same shopper comes back later in a new tab: whatever the closed tab could not send goes now.
    const again = await context.newPage();
    await again.goto(t.base + '/demo');
    const all = [...navigating, ...closing];
    expect(navigating.length).toBeGreaterThanOrEqual(3); // the 3 clicks (and the page view unless already acked)
    await until('every event of both unloaded pages', () => all.every((id) => accepted.has(id)));
    for (const id of all) expect(accepted.get(id)?.count, id).toBe(1);
    await context.close();
  });

  it('offers - an offer from a seeded rule appears in the page, fired by the product view that triggers it', async () => {
    // Seed the rule neon-drift ⇒ dune through the public collect API: purchase baskets of other shoppers.
    const now = Date.now();
    const baskets = [...Array.from({ length: 6 }, () => ['neon-drift', 'dune']), ...Array.from({ length: 4 }, () => ['nova-console', 'nova-controller'])];
    const seed = baskets.map((items, i) => ({
      id: `seed-${now}-${i}`,
      type: 'form',
      visitorId: `seed-visitor-${now}-${i}`,
      ts: now,
      url: t.base + '/demo/checkout',
      formId: 'checkout',
      action: 'submit',
      items: items.map((productId) => ({ productId, quantity: 1 })),
    }));
    // Another shopper's view of dune teaches the server its name and price (what the offer will show).
    seed.push({ id: `seed-${now}-view`, type: 'page_view', visitorId: `seed-viewer-${now}`, ts: now, url: t.base + '/demo/product/dune', product: { id: 'dune', name: 'Dune', price: 14.99, category: 'sci-fi-books' } } as never);
    const res = await fetch(`${t.base}/v1/collect?site=demo`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ type: 'batch', seq: 1, sentAt: now, events: seed }) });
    expect(await res.json()).toMatchObject({ accepted: seed.length, rejected: [] });
    const rule = await until('the seeded rule', async () => {
      const rules = (await adminJson('/v1/rules?site=demo&limit=100'))['rules'] as Json[] | undefined;
      // Lift > 1 once the seeded baskets are in (the earlier shopper's one purchase alone gives lift 1).
      return rules?.find((r) => JSON.stringify(r['antecedent']) === '["neon-drift"]' && JSON.stringify(r['consequent']) === '["dune"]' && Number(r['lift']) > 1);
    });
    expect(Number(rule['confidence'])).toBe(1);

    const { context, page } = await newShopper();
    await page.goto(t.base + '/demo/product/neon-drift');
    await loaded(page);
    const vk = await until('the visitor key', async () => ((await page.evaluate(`localStorage.getItem('cm_vk')`)) as string | null) ?? undefined);
    const visitorId = createHash('sha256').update(vk).digest('hex').slice(0, 32);
    const trigger = await until('the product view at the server', () =>
      [...accepted.values()].find((a) => a.event.visitorId === visitorId && a.event.type === 'page_view' && a.event.url.endsWith('/demo/product/neon-drift')),
    );
    const card = await page.waitForSelector('#offers .offer', { timeout: 10_000 });
    // How fast is the offers bench's business (event → offer p50/p99 on the socket), not a test's: no timing assertion here.
    expect(await card.textContent()).toContain('dune');
    const recent = (await adminJson('/v1/offers/recent?site=demo'))['offers'] as Json[] | undefined;
    const triggerId = await card.getAttribute('data-trigger-id');
    const fired = recent?.find((o) => o['triggerId'] === triggerId);
    expect(fired).toMatchObject({ visitorId, because: { rule: { antecedent: ['neon-drift'], consequent: ['dune'] }, eventId: trigger.event.id } });
    await context.close();
  });

  it('shoppable offers - name, price and discounted price shown; the impression, a dismiss and a click are reported; the coupon reaches the cart and the purchase is attributed', async () => {
    // Runs after the test above: the rule neon-drift ⇒ dune (10 % off) is live and the server knows dune's name and price.
    const attribution = async () => ((await adminJson('/v1/offers/stats?site=demo'))['attribution'] as { totals: Record<string, number> }).totals;
    const before = await attribution();
    const discounted = (Math.round(14.99 * 0.9 * 100) / 100).toFixed(2);

    // A shopper dismisses the offer.
    const first = await newShopper();
    await first.page.goto(t.base + '/demo/product/neon-drift');
    await loaded(first.page);
    await first.page.waitForSelector('#offers .offer .offer-product[data-product="dune"]', { timeout: 10_000 });
    await first.page.click('#offers .offer .dismiss');
    await first.page.waitForSelector('#offers .offer', { state: 'detached' });
    await until('the dismiss at the server', async () => (await attribution())['dismissed']! > before['dismissed']! || undefined);
    await first.context.close();

    // Another takes it.
    const { context, page } = await newShopper();
    await page.goto(t.base + '/demo/product/neon-drift');
    await loaded(page);
    const card = await page.waitForSelector('#offers .offer .offer-product[data-product="dune"]', { timeout: 10_000 });
    expect(await card.$eval('.name', (e) => e.textContent)).toBe('Dune');
    expect(await card.$eval('.price', (e) => e.textContent)).toBe('€14.99');
    expect(await card.$eval('.discounted', (e) => e.textContent)).toBe(`€${discounted}`);
    const shown = await until('the impression at the server', async () => {
      const a = await attribution();
      return a['shown']! >= before['shown']! + 2 ? a : undefined;
    });
    expect(shown['delivered']).toBeGreaterThanOrEqual(before['delivered']! + 2);
    const link = await page.$('#offers .offer a[data-cm-offer]');
    const href = (await link?.getAttribute('href')) ?? '';
    const code = new URL(href, t.base).searchParams.get('coupon');
    expect(code).toMatch(/^CM-[A-Z0-9X]{10}$/);
    await link?.click();
    await page.waitForURL('**/demo/product/dune?coupon=*');
    await loaded(page);
    await page.click('[data-cm-cart="dune"]');
    await page.goto(t.base + '/demo/checkout');
    await loaded(page);
    const line = await page.waitForSelector('#checkout-items [data-cm-item="dune"]');
    expect(await line.getAttribute('data-cm-item-price')).toBe(discounted);
    expect(await line.getAttribute('data-coupon')).toBe(code);
    await page.fill('#f-name', 'Ann Example');
    await page.fill('#f-email', 'ann@example.com');
    await page.fill('#f-address', '1 Nebula Way');
    await page.fill('#f-card', '4111 1111 1111 1111');
    await page.click('#place-order');
    await page.waitForURL('**/demo/thanks');
    // The purchase went out at the discounted price, and attribution counts the click and the conversion.
    const purchase = await until('the purchase at the server', () =>
      [...accepted.values()].find((a) => a.event.type === 'form' && a.event.action === 'submit' && (a.event.items ?? []).some((i) => i.productId === 'dune' && i.price === Number(discounted))),
    );
    expect(purchase.count).toBe(1);
    const after = await until('the conversion attributed', async () => {
      const a = await attribution();
      return a['converted']! > before['converted']! ? a : undefined;
    });
    expect(after['clicked']).toBe(before['clicked']! + 1);
    expect(after['convertedAfterClick']).toBe(before['convertedAfterClick']! + 1);
    expect(after['revenue']).toBeCloseTo(before['revenue']! + Number(discounted), 6);
    await context.close();
  });
});
