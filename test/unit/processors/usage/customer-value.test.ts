import { describe, expect, it } from 'vitest';
import { DEFAULT_RFM_SEGMENTS, customerValue, rfmSegment } from '../../../../processors/usage/customer-value';
import { UsageProcessor, UsageView } from '../../../../processors/usage/usage-processor';
import { loadConfig } from '../../../../src/config';
import { form, pageView } from '../../../helpers/enriched-events';
import { replayThroughPipeline } from '../../../helpers/pipeline-replay';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

describe('customer value', () => {
  it('model - worked by hand: steady buyers keep their rate, lapsed ones fade by e per missed gap', () => {
    // 4 purchases over 120 days (one every 30 days), 400 spent, last one 30 days ago: alive, 100 × 1/30 × 365.
    const now = T0 + 120 * DAY;
    const steady = customerValue({ purchases: 4, revenue: 400, firstSeen: T0, lastPurchase: now - 30 * DAY }, now, 365);
    expect(steady.pAlive).toBe(1);
    expect(steady.predicted).toBeCloseTo((100 * 365) / 30, 9);
    // Seen 210 days, 4 purchases (λ = 4/210: one per 52.5 days), the last one 210 days ago: 157.5 days
    // past the expected gap, i.e. three gaps, e⁻³.
    const lapsed = customerValue({ purchases: 4, revenue: 400, firstSeen: T0, lastPurchase: T0 }, T0 + 210 * DAY, 365);
    expect(lapsed.pAlive).toBeCloseTo(Math.exp(-3), 12);
    expect(lapsed.predicted).toBeCloseTo(100 * (4 / 210) * 365 * Math.exp(-3), 9);
    // One purchase yesterday: the rate is over 30 days, not 1.
    const fresh = customerValue({ purchases: 1, revenue: 50, firstSeen: now - DAY, lastPurchase: now - DAY }, now, 365);
    expect(fresh.ratePerDay).toBeCloseTo(1 / 30, 12);
    expect(customerValue({ purchases: 0, revenue: 0, firstSeen: T0, lastPurchase: null }, now, 365).predicted).toBe(0);
  });

  it('segments - the RFM map by recency and frequency score, first match wins', () => {
    const seg = (recency: number, frequency: number) => rfmSegment({ recency, frequency, monetary: 3, score: '' }, DEFAULT_RFM_SEGMENTS);
    expect([seg(5, 5), seg(3, 4), seg(4, 2), seg(5, 1), seg(4, 1), seg(3, 3), seg(3, 1), seg(1, 5), seg(2, 4), seg(2, 1), seg(1, 1)]).toEqual([
      'champions', 'loyal', 'potential_loyalists', 'new_customers', 'promising', 'need_attention', 'about_to_sleep', 'cannot_lose', 'at_risk', 'hibernating', 'lost',
    ]);
    expect(rfmSegment({ recency: 0, frequency: 0, monetary: 0, score: '000' }, DEFAULT_RFM_SEGMENTS)).toBe('prospect');
  });

  it('golden customers - ranked by predicted value across partitions, filtered by segment; segment sizes add up', () => {
    // 60 customers with 1–8 purchases at known days; the site's "now" is the last event.
    const events = [];
    const truth: Array<{ id: string; purchases: number; revenue: number; first: number; last: number }> = [];
    for (let c = 0; c < 60; c++) {
      const id = `cust${c}`;
      const n = 1 + (c % 8);
      const first = T0 + (c % 5) * DAY;
      events.push(pageView(id, first, '/'));
      let revenue = 0;
      let last = first;
      for (let k = 0; k < n; k++) {
        last = first + (k * (10 + (c % 7) * 5) + (c % 3)) * DAY;
        const price = 10 + ((c * 7 + k) % 40);
        revenue += price;
        events.push(form(id, last, 'checkout', 'submit', { items: [{ productId: 'p', quantity: 1, price }] }));
      }
      truth.push({ id, purchases: n, revenue, first, last });
    }
    events.push(pageView('someone', T0 + 400 * DAY, '/')); // the event-time "now"
    events.sort((a, b) => a.ts - b.ts);
    const config = loadConfig({}, { partitions: 4, time: { pane: 'PT1H', outOfOrderness: 0, retentionPanes: 20_000 } });
    const pipeline = replayThroughPipeline(config, (site) => [new UsageProcessor({ site, time: config.time })], events, 50);
    const usage = pipeline.processor('demo', 'usage') as UsageView;
    // The site's event-time "now": the watermark, which the helper's closing tick puts 2 h past the last event.
    const now = T0 + 400 * DAY + 2 * 3_600_000;
    const expected = truth
      .map((t) => ({ id: t.id, predicted: customerValue({ purchases: t.purchases, revenue: t.revenue, firstSeen: t.first, lastPurchase: t.last }, now, 365).predicted, historic: t.revenue }))
      .sort((a, b) => b.predicted - a.predicted || b.historic - a.historic || (a.id < b.id ? -1 : 1));
    const got = usage.customers({ offset: 0, limit: 100 });
    expect(got.total).toBe(60);
    expect(got.customers.map((c) => c.visitorId)).toEqual(expected.map((e) => e.id));
    got.customers.forEach((c, i) => expect(c.value.predicted).toBeCloseTo(expected[i]!.predicted, 9));
    const segments = usage.valueBySegment();
    expect(segments.reduce((n, s) => n + s.customers, 0)).toBe(60);
    for (const s of segments) {
      const members = usage.customers({ segment: s.segment, offset: 0, limit: 100 });
      expect(members.total).toBe(s.customers);
      expect(members.customers.every((c) => c.segment === s.segment)).toBe(true);
      expect(s.historic).toBeCloseTo(members.customers.reduce((n, c) => n + c.revenue, 0), 6);
    }
  });
});
