import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, expect, it } from 'vitest';
import { VisitorPartitioner } from '../../src/pipeline/visitor-partitioner';
import { launchChromium } from '../helpers/chromium';
import { READ_PANELS, type Shown } from '../helpers/dashboard-panels';
import { startNatsServer } from '../helpers/nats-server';
import { SPAWN_ADMIN_TOKEN, SpawnedServer } from '../helpers/spawned-server';
import { until } from '../helpers/until';

/**
 * Scaled out, the dashboard of any instance shows the whole site: two instances share the
 * partitions, every event goes in through one of them, and the other's dashboard — in real headless
 * Chromium — must show the counts, products and rules of all of them (gathered from the instance
 * holding the rest), equal to a count by hand.
 */

const cleanups: Array<() => Promise<unknown>> = [];
let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

it('dashboard - scaled out, the instance that took no event shows every partition’s numbers and the global rules', async () => {
  const nats = await startNatsServer();
  cleanups.push(() => nats.stop());
  const dir = mkdtempSync(join(tmpdir(), 'cm-dash-scaled-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ sites: [{ id: 'demo', processors: { 'cross-sell': { recomputeEvery: 'PT1S' } } }] }));
  const servers: SpawnedServer[] = [];
  for (const id of ['a', 'b']) {
    const s = await SpawnedServer.create({ NATS_URL: nats.url, INSTANCE_ID: id, LEASE_TTL: 'PT3S', RULES_INTERVAL: 'PT1S', CONFIG_FILE: configFile });
    cleanups.push(() => s.kill9());
    s.start();
    await s.waitReady();
    servers.push(s);
  }
  const [a, b] = servers as [SpawnedServer, SpawnedServer];
  await until('a and b share the partitions', async () => (await a.metric('clickstream_cluster_partitions_owned')) > 0 && (await b.metric('clickstream_cluster_partitions_owned')) > 0, 30_000);

  // Forty shoppers (their partitions spread over both instances): each views p1, half buy p1 + p2, a quarter p3.
  const now = Date.now();
  const shop = 'https://shop.example';
  const events: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 40; i++) {
    const visitorId = `dash-${now}-${i}`;
    events.push({ id: `${visitorId}-v`, type: 'page_view', visitorId, ts: now - 5_000 + i, url: `${shop}/product/p1`, product: { id: 'p1', price: 10 } });
    const items = i % 2 === 0 ? [['p1', 10], ['p2', 5]] : i % 4 === 1 ? [['p3', 7]] : [];
    if (items.length > 0) events.push({ id: `${visitorId}-b`, type: 'form', visitorId, ts: now - 4_000 + i, url: `${shop}/checkout`, formId: 'checkout', action: 'submit', items: items.map(([productId, price]) => ({ productId, quantity: 1, price })) });
  }
  const partitioner = new VisitorPartitioner(16);
  expect(new Set(events.map((e) => partitioner.partitionOf(String(e['visitorId'])))).size).toBeGreaterThan(8);
  const res = await fetch(`http://127.0.0.1:${a.port}/v1/collect?site=demo`, { method: 'POST', headers: { authorization: 'Bearer demo-secret' }, body: JSON.stringify({ type: 'batch', seq: 1, sentAt: Date.now(), events }) });
  expect(((await res.json()) as { accepted: number }).accepted).toBe(events.length);

  // Independent counts of what was posted.
  const purchases = events.filter((e) => e['type'] === 'form');
  const baskets = purchases.map((e) => new Set((e['items'] as Array<{ productId: string }>).map((x) => x.productId)));
  const revenue = purchases.flatMap((e) => e['items'] as Array<{ price: number }>).reduce((s, x) => s + x.price, 0);
  const both = baskets.filter((x) => x.has('p1') && x.has('p2')).length;
  const withP1 = baskets.filter((x) => x.has('p1')).length;
  const withP2 = baskets.filter((x) => x.has('p2')).length;
  const rule = { antecedent: 'p1', consequent: 'p2', support: `${((100 * both) / baskets.length).toFixed(1)}%`, confidence: `${((100 * both) / withP1).toFixed(1)}%`, lift: (both / withP1 / (withP2 / baskets.length)).toFixed(2) };

  browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${b.adminPort}/dashboard#token=${SPAWN_ADMIN_TOKEN}`);
  await page.waitForSelector('#site option', { state: 'attached' });
  await page.selectOption('#window', 'PT1H');
  const shown = await until(
    'b’s dashboard to show every event and the rule',
    async () => {
      const s = (await page.evaluate(READ_PANELS)) as Shown;
      return s.usage.pageViews === 40 && s.usage.forms === purchases.length && s.rules.some((r) => r.antecedent === 'p1' && r.consequent === 'p2') && s;
    },
    60_000,
  ).catch(async (err: unknown) => {
    throw new Error(`${(err as Error).message}: ${JSON.stringify(await page.evaluate(READ_PANELS))}`);
  });
  expect(shown.usage.revenue).toBe(revenue);
  expect(shown.products.find((p) => p.product === 'p1')?.count).toBe('40');
  expect(shown.rules.find((r) => r.antecedent === 'p1' && r.consequent === 'p2')).toEqual(rule);
  // A segment defined on a is defined on b too; its size and rules there count both instances' visitors.
  const put = await fetch(`http://127.0.0.1:${a.adminPort}/v1/segments?site=demo`, { method: 'PUT', headers: { authorization: `Bearer ${SPAWN_ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'buyers', name: 'Buyers', match: 'all', conditions: [{ field: 'purchases', op: '>=', value: 1 }] }) });
  expect(put.status).toBe(201);
  const buyers = new Set(purchases.map((e) => e['visitorId'])).size;
  const seg = await until('b to know the segment defined on a', async () => (await b.adminJson<{ segments: Array<{ id: string; size: number }> }>('/v1/segments?site=demo')).segments.find((x) => x.id === 'buyers'), 30_000);
  expect(seg.size).toBe(buyers);
  const within = await b.adminJson<{ members: number; rules: Array<{ antecedent: string[]; consequent: string[] }> }>('/v1/rules?site=demo&segment=buyers');
  expect(within.members).toBe(buyers);
  expect(within.rules.some((r) => r.antecedent.join() === 'p1' && r.consequent.join() === 'p2')).toBe(true);
  // b held only part of the site: what it showed was gathered.
  expect(await b.metric('clickstream_cluster_partitions_owned')).toBeLessThan(16);
  expect(errors).toEqual([]);
  await page.close();
}, 240_000);
