import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageView } from '../../../processors/usage/usage-processor';
import { batch, connectWs, pageView, startTestApp } from '../../helpers/collect-client';
import { until } from '../../helpers/until';

/**
 * Tenants share nothing (issue "Lock it down", finding 3), replayed with two sites: the audit's
 * attacks from the always-present demo site — events minutes in the future, a flood of distinct ids
 * through the dedupe store — and the other site's numbers must not move.
 */
let t: Awaited<ReturnType<typeof startTestApp>>;
beforeAll(async () => {
  t = await startTestApp({ ingest: { dedupeCapacity: 100 }, sites: [{ id: 'demo' }, { id: 'shop', allowedOrigins: ['*'] }] });
});
afterAll(async () => {
  await t.stop();
});

const counted = (site: string) => (t.app.pipeline.processor(site, 'usage') as UsageView).windows(3_600_000, 4).reduce((s, w) => s + w.events.page_view, 0);

describe('site isolation', () => {
  it("one site's future clock and dedupe flood change nothing of another site's", async () => {
    const shop = await connectWs(`${t.ws}/v1/collect?site=shop`);
    const demo = await connectWs(`${t.ws}/v1/collect?site=demo`);
    const first = pageView({ visitorId: 'shop-v' });
    shop.send(batch([first], 1));
    expect(await shop.next()).toMatchObject({ type: 'ack', accepted: 1 });
    const shopWatermark = t.app.pipeline.watermark('shop');

    // Demo: 9.5 minutes in the future (within maxFutureSkew), then 500 distinct ids (5× the dedupe bound).
    demo.send(batch([pageView({ visitorId: 'demo-v', ts: Date.now() + 9.5 * 60_000 })], 1));
    expect(await demo.next()).toMatchObject({ type: 'ack', accepted: 1 });
    for (let i = 0; i < 10; i++) {
      demo.send(batch(Array.from({ length: 50 }, (_, j) => pageView({ visitorId: `flood-${i}-${j}` })), i + 2));
      expect(await demo.next()).toMatchObject({ type: 'ack', accepted: 50 });
    }
    // Shop's watermark did not jump with demo's clock: its next honest event is on time, not late.
    expect(t.app.pipeline.watermark('shop')).toBeLessThan(Date.now() + 60_000);
    expect(Number(t.app.pipeline.watermark('shop'))).toBeGreaterThanOrEqual(Number(shopWatermark));
    shop.send(batch([pageView({ visitorId: 'shop-v' })], 2));
    expect(await shop.next()).toMatchObject({ type: 'ack', accepted: 1, late: 0 });
    // Shop's remembered ids survived demo's flood: a retry is still a duplicate, counted once.
    shop.send(batch([first], 3));
    expect(await shop.next()).toMatchObject({ type: 'ack', accepted: 0, duplicates: 1 });
    await until('shop counted', () => counted('shop') === 2);
    expect(counted('shop')).toBe(2);
    shop.ws.close();
    demo.ws.close();
  });
});
