import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { UsageProcessor, UsageView, type UsageWindowStats } from '../../../../processors/usage/usage-processor';
import { ManualClock } from '../../../../src/clock';
import { loadConfig } from '../../../../src/config';
import type { EnrichedEvent } from '../../../../src/events/enriched-event';
import type { PageViewEvent } from '../../../../src/events/event-types';
import type { Dimension } from '../../../../processors/usage/session-dimensions';
import { createLogger } from '../../../../src/logger';
import { createCoreMetrics } from '../../../../src/metrics/core-metrics';
import { Pipeline } from '../../../../src/pipeline/pipeline';
import { click, form, pageView } from '../../../helpers/enriched-events';
import { mulberry32 } from '../../../../src/replay/mulberry32';
import { shuffledInBlocks } from '../../../helpers/sliced-shoppers';
import { defaultViews } from '../../../../processors/site-processors';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const GAP = 30 * MIN;


function setup(usage: Record<string, unknown> | undefined = undefined, time: Record<string, unknown> = {}) {
  const config = loadConfig({}, {
    partitions: 1,
    time: { pane: 'PT1M', outOfOrderness: 0, allowedLateness: 'PT2M', sessionGap: 'PT30M', retentionPanes: 10_000, ...time },
    ...(usage === undefined ? {} : { sites: [{ id: 'shop', secret: 's', allowedOrigins: ['*'], processors: { usage } }] }),
  });
  const registry = new Registry();
  const metrics = createCoreMetrics(registry, { defaultMetrics: false });
  const clock = new ManualClock(T0);
  const evictions = new Map<string, number>();
  const pipeline = new Pipeline({
    config,
    clock,
    metrics,
    logger: createLogger('silent'),
    viewsFor: defaultViews,
    processorsFor: (site) => [new UsageProcessor({ site, time: config.time, onEvict: (_p, s, n) => evictions.set(s, (evictions.get(s) ?? 0) + n) })],
  });
  const site = usage === undefined ? 'demo' : 'shop';
  const usageProc = () => pipeline.processor(site, 'usage') as UsageView;
  /** Moves event time two hours past the newest event (a tick record): every session closes, no pane expires yet. */
  const finish = () => {
    clock.set(Math.max(clock.now(), usageProc().newestEventTime()) + 2 * 3_600_000);
    pipeline.tick();
  };
  return { pipeline, usage: usageProc, finish, clock, evictions, site };
}

/** A generated shop stream: visits of 1–8 events, spaced 10 s – 5 min, some visitors coming back. */
function generate(seed: number, visitors: number): EnrichedEvent[] {
  const rnd = mulberry32(seed);
  const out: EnrichedEvent[] = [];
  for (let v = 0; v < visitors; v++) {
    const visits = 1 + Math.floor(rnd() * 4);
    for (let k = 0; k < visits; k++) {
      let t = T0 + Math.floor(rnd() * 3 * 60 * MIN);
      const n = 1 + Math.floor(rnd() * 8);
      for (let i = 0; i < n; i++) {
        const r = rnd();
        const vid = `v${v}`;
        if (r < 0.6) out.push(pageView(vid, t, `/p${Math.floor(rnd() * 20)}`));
        else if (r < 0.85) out.push(click(vid, t, { kind: 'link', href: '/x' }));
        else if (r < 0.95) out.push(form(vid, t, 'newsletter', 'view'));
        else out.push(form(vid, t, 'checkout', 'submit', { items: [{ productId: `p${Math.floor(rnd() * 5)}`, quantity: 1 + Math.floor(rnd() * 3), price: 10 + Math.floor(rnd() * 90) }] }));
        t += 10_000 + Math.floor(rnd() * 5 * MIN);
      }
    }
  }
  return out.sort((a, b) => a.ts - b.ts);
}

/** Brute-force sessions: per visitor, sorted by time, a new session when the gap reaches 30 minutes. */
function bruteSessions(events: readonly EnrichedEvent[]): Array<{ start: number; end: number; pageViews: number; bought: boolean }> {
  const byVisitor = new Map<string, EnrichedEvent[]>();
  for (const e of events) {
    const l = byVisitor.get(e.visitorId) ?? [];
    l.push(e);
    byVisitor.set(e.visitorId, l);
  }
  const sessions: Array<{ start: number; end: number; pageViews: number; bought: boolean }> = [];
  for (const list of byVisitor.values()) {
    list.sort((a, b) => a.ts - b.ts);
    let cur: { start: number; end: number; pageViews: number; bought: boolean } | undefined;
    for (const e of list) {
      if (cur === undefined || e.ts - cur.end >= GAP) {
        cur = { start: e.ts, end: e.ts, pageViews: 0, bought: false };
        sessions.push(cur);
      }
      cur.end = e.ts;
      if (e.type === 'page_view') cur.pageViews++;
      if (e.event.type === 'form' && e.event.action === 'submit' && (e.event.items?.length ?? 0) > 0) cur.bought = true;
    }
  }
  return sessions;
}

const W = 5 * MIN;
const win = (ts: number) => ts - (ts % W);

function expectQuantile(got: number | undefined, values: number[], q: number): void {
  const sorted = [...values].sort((a, b) => a - b);
  const r = q * (sorted.length - 1);
  const lo = sorted[Math.floor(r)]!;
  const hi = sorted[Math.ceil(r)]!;
  expect(got).toBeGreaterThanOrEqual(lo * 0.99 - 1e-9);
  expect(got).toBeLessThanOrEqual(hi * 1.01 + 1e-9);
}

describe('UsageProcessor', () => {
  it('counts - page views, events by type, sessions, visitors, conversions and revenue match a brute-force count', () => {
    const events = generate(42, 300);
    const { pipeline, usage, finish } = setup();
    for (let i = 0; i < events.length; i += 97) pipeline.processNow(events.slice(i, i + 97));
    finish();

    const expected = new Map<number, { pv: number; click: number; form: number; visitors: Set<string>; conv: number; rev: number; started: number }>();
    const slot = (ts: number) => {
      let x = expected.get(win(ts));
      if (x === undefined) expected.set(win(ts), (x = { pv: 0, click: 0, form: 0, visitors: new Set(), conv: 0, rev: 0, started: 0 }));
      return x;
    };
    for (const e of events) {
      const x = slot(e.ts);
      x.visitors.add(e.visitorId);
      const ev = e.event;
      if (ev.type === 'page_view') x.pv++;
      else if (ev.type === 'click') x.click++;
      else {
        x.form++;
        if (ev.action === 'submit' && ev.items !== undefined) {
          x.conv++;
          x.rev += ev.items.reduce((s, it) => s + (it.price ?? 0) * it.quantity, 0);
        }
      }
    }
    const sessions = bruteSessions(events);
    for (const s of sessions) slot(s.start).started++;

    const got = new Map<number, UsageWindowStats>(usage().windows(W, 1000).map((w) => [w.start as number, w]));
    expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [start, x] of expected) {
      const w = got.get(start)!;
      expect(w.closed).toBe(true);
      expect([w.pageViews, w.events.page_view, w.events.click, w.events.form]).toEqual([x.pv, x.pv, x.click, x.form]);
      expect(w.sessionsStarted).toBe(x.started);
      expect(w.purchases).toBe(x.conv);
      expect(w.revenue).toBeCloseTo(x.rev, 6);
      // HLL (precision 12, σ = 1.6 %): within 3σ, at least ±1.
      expect(Math.abs(w.visitors - x.visitors.size)).toBeLessThanOrEqual(Math.max(1, 3 * 0.0163 * x.visitors.size));
    }
    // Every session has closed: durations and pages per session vs brute force.
    const day = usage().windows(DAY, 1)[0]!;
    const all = usage().windows(DAY, 10).reduce(
      (acc, w) => {
        acc.ended += w.sessions.ended;
        acc.started += w.sessionsStarted;
        return acc;
      },
      { ended: 0, started: 0 },
    );
    expect(all.started).toBe(sessions.length);
    expect(all.ended).toBe(sessions.length);

    expectQuantile(day.sessions.durationSeconds?.p50, sessions.map((s) => (s.end - s.start) / 1000), 0.5);
    expectQuantile(day.sessions.durationSeconds?.p90, sessions.map((s) => (s.end - s.start) / 1000), 0.9);
    expectQuantile(day.sessions.pagesPerSession?.p50, sessions.map((s) => s.pageViews), 0.5);
    // README definitions: bounce = exactly one page view ÷ at least one; conversion = sessions with a purchase ÷ sessions.
    const viewed = sessions.filter((s) => s.pageViews >= 1);
    expect(day.sessions.withPageViews).toBe(viewed.length);
    expect(day.sessions.bounceRate).toBeCloseTo(viewed.filter((s) => s.pageViews === 1).length / viewed.length, 12);
    expect(day.sessions.converted).toBe(sessions.filter((s) => s.bought).length);
    expect(day.conversionRate).toBeCloseTo(sessions.filter((s) => s.bought).length / sessions.length, 12);
    expect(day.conversionRate).toBeLessThanOrEqual(1);
  });

  it('funnel - product → cart → checkout → purchase per window equals a brute force over sessions, whatever the arrival order', () => {
    // Shoppers who view products, add some to the cart, open the checkout form and sometimes buy; some
    // skip steps (a purchase without a cart click, a cart click without a product view).
    const rnd = mulberry32(7);
    const events: EnrichedEvent[] = [];
    for (let v = 0; v < 400; v++) {
      const vid = `f${v}`;
      let t = T0 + Math.floor(rnd() * 3 * 60 * MIN);
      const step = () => (t += 5_000 + Math.floor(rnd() * 2 * MIN));
      if (rnd() < 0.8) events.push(pageView(vid, step(), `/product/p${v % 7}`, { product: { id: `p${v % 7}` } }));
      else events.push(pageView(vid, step(), '/'));
      if (rnd() < 0.5) events.push(click(vid, step(), { kind: 'button', productId: `p${v % 7}` }));
      if (rnd() < 0.5) events.push(form(vid, step(), rnd() < 0.8 ? 'checkout' : 'newsletter', 'view'));
      if (rnd() < 0.3) events.push(form(vid, step(), 'checkout', 'submit', { items: [{ productId: `p${v % 7}`, quantity: 1, price: 10 }] }));
    }
    events.sort((a, b) => a.ts - b.ts);
    // Brute force: one session per visitor (all events within 30 minutes), counted in the window of its last event.
    const expected = new Map<number, number[]>();
    const byVisitor = new Map<string, EnrichedEvent[]>();
    for (const e of events) byVisitor.set(e.visitorId, [...(byVisitor.get(e.visitorId) ?? []), e]);
    for (const list of byVisitor.values()) {
      const end = Math.max(...list.map((e) => e.ts));
      const product = list.some((e) => e.event.type === 'page_view' && e.event.product !== undefined);
      const cart = list.some((e) => e.event.type === 'click' && e.event.target.kind === 'button');
      const bought = list.some((e) => e.event.type === 'form' && e.event.action === 'submit');
      const checkout = bought || list.some((e) => e.event.type === 'form' && e.event.formId === 'checkout');
      const steps = [product, product && cart, product && cart && checkout, product && cart && checkout && bought];
      const row = expected.get(win(end)) ?? [0, 0, 0, 0, 0];
      row[0]!++;
      steps.forEach((on, i) => (row[i + 1]! += on ? 1 : 0));
      expected.set(win(end), row);
    }
    expect([...expected.values()].reduce((n, r) => n + r[4]!, 0)).toBeGreaterThan(10);

    const funnelOf = (order: readonly EnrichedEvent[], time: Record<string, unknown>) => {
      const { pipeline, usage, finish } = setup(undefined, time);
      for (let i = 0; i < order.length; i += 50) pipeline.processNow(order.slice(i, i + 50));
      finish();
      return new Map(usage().windows(W, 1000).filter((w) => w.funnel.sessions > 0).map((w) => [w.start as number, [w.funnel.sessions, ...w.funnel.steps.map((s) => s.sessions)]]));
    };
    // In time order, and shuffled within blocks of 50 (minutes out of order, inside the out-of-orderness).
    const shuffled = events.slice();
    for (let i = 0; i < shuffled.length; i += 50) {
      for (let j = Math.min(i + 49, shuffled.length - 1); j > i; j--) {
        const k = i + Math.floor(rnd() * (j - i + 1));
        [shuffled[j], shuffled[k]] = [shuffled[k]!, shuffled[j]!];
      }
    }
    expect(funnelOf(events, {})).toEqual(expected);
    expect(funnelOf(shuffled, { outOfOrderness: 'PT1H' })).toEqual(expected);
    const day = setup();
    day.pipeline.processNow(events);
    day.finish();
    const w = day.usage().windows(DAY, 1)[0]!;
    const [sessions, product, cart] = [...expected.values()].reduce((a, r) => a.map((x, i) => x + r[i]!), [0, 0, 0, 0, 0]);
    expect(w.funnel.steps[1]!.rate).toBeCloseTo(cart! / product!, 12);
    expect(w.funnel.steps[0]!.dropOff).toBeCloseTo(1 - product! / sessions!, 12);
  });

  it('slices - sessions by channel, device, visitor type and UTM equal a brute-force group-by, for every query shape and in two arrival orders', () => {
    // Shoppers with a known channel each: the landing page view carries it (referrer, UTM, click id);
    // later pages of the session are internal. Some come back later by another channel.
    const rnd = mulberry32(21);
    const scenarios = [
      { channel: 'direct', url: '/', referrer: undefined },
      { channel: 'search', url: '/', referrer: 'https://www.google.de/search?q=shop' },
      { channel: 'search', url: '/p/1', referrer: 'https://duckduckgo.com/' },
      { channel: 'social', url: '/', referrer: 'https://t.co/x1' },
      { channel: 'email', url: '/?utm_source=newsletter&utm_medium=email&utm_campaign=spring', referrer: undefined },
      { channel: 'paid', url: '/?utm_source=google&utm_medium=cpc&utm_campaign=brand', referrer: 'https://www.google.com/' },
      { channel: 'paid', url: '/?gclid=abc', referrer: 'https://www.google.com/' },
      { channel: 'referral', url: '/', referrer: 'https://blog.example.org/post' },
      { channel: 'direct', url: '/cart', referrer: 'https://shop.test/' },
    ] as const;
    const devices = ['desktop', 'mobile', 'tablet'] as const;
    type Truth = { channel: string; device: string; visitorType: string; utmSource: string; utmMedium: string; utmCampaign: string; pageViews: number; converted: boolean; revenue: number; end: number };
    const truth: Truth[] = [];
    const events: EnrichedEvent[] = [];
    for (let v = 0; v < 400; v++) {
      const visits = rnd() < 0.3 ? 2 : 1;
      for (let k = 0; k < visits; k++) {
        const sc = scenarios[Math.floor(rnd() * scenarios.length)]!;
        const device = devices[Math.floor(rnd() * devices.length)]!;
        // A second visit starts 100 minutes later: over the 30-minute gap after the first one's last event.
        let t = T0 + Math.floor(rnd() * 60 * MIN) + k * 100 * MIN;
        const vid = `sl${v}`;
        const landing = pageView(vid, t, '/');
        const ev = { ...(landing.event as PageViewEvent), url: `https://shop.test${sc.url}` };
        if (sc.referrer !== undefined) ev.referrer = sc.referrer;
        events.push({ ...landing, device, event: ev });
        const more = Math.floor(rnd() * 4);
        for (let i = 0; i < more; i++) {
          t += 20_000;
          const pv = pageView(vid, t, `/p/${i}`);
          events.push({ ...pv, device, event: { ...(pv.event as PageViewEvent), referrer: 'https://shop.test/' } });
        }
        const buys = rnd() < 0.3;
        const revenue = buys ? 10 + Math.floor(rnd() * 50) : 0;
        if (buys) {
          t += 20_000;
          events.push({ ...form(vid, t, 'checkout', 'submit', { items: [{ productId: 'p1', quantity: 1, price: revenue }] }), device });
        }
        const q = new URL(`https://shop.test${sc.url}`).searchParams;
        const u = (n: string) => q.get(n) ?? '(none)';
        truth.push({ channel: sc.channel, device, visitorType: k === 0 ? 'new' : 'returning', utmSource: u('utm_source'), utmMedium: u('utm_medium'), utmCampaign: u('utm_campaign'), pageViews: 1 + more, converted: buys, revenue, end: t });
      }
    }
    events.sort((a, b) => a.ts - b.ts);
    type Row = { key: Record<string, string>; sessions: number; pageViews: number; converted: number; revenue: number };
    const brute = (by: Array<keyof Truth>, where: Partial<Record<keyof Truth, string[]>>): Row[] => {
      const groups = new Map<string, Row>();
      for (const t of truth) {
        if (!Object.entries(where).every(([d, vs]) => vs.includes(String(t[d as keyof Truth])))) continue;
        const key = Object.fromEntries(by.map((d) => [d, String(t[d])]));
        const g = JSON.stringify(key);
        const row = groups.get(g) ?? { key, sessions: 0, pageViews: 0, converted: 0, revenue: 0 };
        row.sessions++;
        row.pageViews += t.pageViews;
        row.converted += t.converted ? 1 : 0;
        row.revenue += t.revenue;
        groups.set(g, row);
      }
      return [...groups.values()].sort((a, b) => b.sessions - a.sessions || (JSON.stringify(a.key) < JSON.stringify(b.key) ? -1 : 1));
    };
    const queries: Array<{ by: Dimension[]; where: Partial<Record<Dimension, string[]>> }> = [
      { by: ['channel'], where: {} },
      { by: ['device', 'visitorType'], where: {} },
      { by: ['device'], where: { channel: ['search', 'social'] } },
      { by: ['utmCampaign'], where: { channel: ['email', 'paid'], visitorType: ['new'] } },
      { by: ['channel', 'utmSource'], where: {} },
    ];
    const shuffled = shuffledInBlocks(events, rnd);
    // (A block may straddle the 40 minutes without events between first and second visits: under an hour out of order.)
    for (const [order, time] of [[events, {}], [shuffled, { outOfOrderness: 'PT1H' }]] as const) {
      const { pipeline, usage, finish } = setup(undefined, time);
      for (let i = 0; i < order.length; i += 70) pipeline.processNow(order.slice(i, i + 70));
      finish();
      expect(pipeline.lateEvents('demo')).toEqual([]);
      for (const q of queries) {
        const day = usage().windows(DAY, 1, { slices: q })[0]!;
        const got = day.slices!.rows.map((r) => ({ key: r.key, sessions: r.sessions, pageViews: r.pageViews, converted: r.converted, revenue: r.revenue }));
        expect({ q, rows: got }).toEqual({ q, rows: brute(q.by as Array<keyof Truth>, q.where as Partial<Record<keyof Truth, string[]>>) });
        expect(day.slices!.exact).toBe(true);
      }
      // Per hour as well: a session counts in the window of its last event, like sessions.ended.
      const hours = usage().windows(60 * MIN, 100, { slices: { by: ['channel'], where: {} } });
      for (const w of hours) {
        const inWindow = truth.filter((t) => t.end >= w.start && t.end < w.end);
        expect(w.slices!.rows.reduce((n, r) => n + r.sessions, 0)).toBe(inWindow.length);
        expect(w.slices!.rows.reduce((n, r) => n + r.sessions, 0)).toBe(w.sessions.ended);
      }
    }
  });

  it('slices - many distinct UTM campaigns: past the bound they fold into other, counted as evictions; channel, device and visitor type stay exact', () => {
    const { pipeline, usage, finish, evictions } = setup({ maxSlicesPerPane: 20 });
    const events: EnrichedEvent[] = [];
    for (let v = 0; v < 300; v++) {
      const pv = pageView(`c${v}`, T0 + v * 100, '/', { site: 'shop' });
      events.push({ ...pv, device: v % 2 === 0 ? 'mobile' : 'desktop', event: { ...(pv.event as PageViewEvent), url: `https://shop.test/?utm_medium=email&utm_source=crm&utm_campaign=c${v}` } });
    }
    pipeline.processNow(events);
    finish();
    const byChannel = usage().windows(DAY, 1, { slices: { by: ['channel', 'device'], where: {} } })[0]!.slices!;
    expect(byChannel.rows.map((r) => [r.key.channel, r.key.device, r.sessions])).toEqual([
      ['email', 'desktop', 150],
      ['email', 'mobile', 150],
    ]);
    const byCampaign = usage().windows(DAY, 1, { slices: { by: ['utmCampaign'], where: {} } })[0]!.slices!;
    expect(byCampaign.exact).toBe(false);
    const other = byCampaign.rows.find((r) => r.key.utmCampaign === 'other')!;
    expect(byCampaign.rows.reduce((n, r) => n + r.sessions, 0)).toBe(300);
    expect(other.sessions).toBeGreaterThan(250);
    expect(evictions.get('slices')).toBe(other.sessions);
  });

  it('forms - a scripted checkout with a known abandonment: last field before abandonment, errors, time to complete', () => {
    const { pipeline, usage, finish } = setup();
    const t = T0 + 1_000;
    pipeline.processNow([
      // A: starts, fills email and address, fails the card, touches the card again, leaves.
      form('A', t, 'checkout', 'view'),
      form('A', t + 1_000, 'checkout', 'start', { field: 'email' }),
      form('A', t + 2_000, 'checkout', 'field', { field: 'email' }),
      form('A', t + 3_000, 'checkout', 'field', { field: 'address' }),
      form('A', t + 4_000, 'checkout', 'error', { field: 'card' }),
      form('A', t + 5_000, 'checkout', 'field', { field: 'card' }),
      form('A', t + 6_000, 'checkout', 'abandon'),
      // B: completes in 90 s.
      form('B', t + 1_000, 'checkout', 'view'),
      form('B', t + 2_000, 'checkout', 'start', { field: 'email' }),
      form('B', t + 50_000, 'checkout', 'field', { field: 'card' }),
      form('B', t + 92_000, 'checkout', 'submit', { items: [{ productId: 'p1', quantity: 1, price: 20 }] }),
      // C: only looks.
      form('C', t + 3_000, 'checkout', 'view'),
      form('C', t + 4_000, 'newsletter', 'view'),
    ]);
    finish();
    const w = usage().windows(5 * MIN, 1)[0]!;
    const checkout = w.forms.find((f) => f.formId === 'checkout')!;
    expect([checkout.views, checkout.starts, checkout.submits, checkout.abandons]).toEqual([3, 2, 1, 1]);
    expect(checkout.abandonmentRate).toBe(0.5);
    expect(checkout.lastFieldBeforeAbandon).toEqual([{ field: 'card', count: 1 }]);
    expect(checkout.errors).toEqual([{ field: 'card', count: 1 }]);
    expect(checkout.timeToCompleteSeconds?.count).toBe(1);
    expect(Math.abs(checkout.timeToCompleteSeconds!.p50 - 90)).toBeLessThanOrEqual(0.9);
    expect(w.forms.map((f) => f.formId)).toEqual(['checkout', 'newsletter']);
    expect(w.purchases).toBe(1);
  });

  it('forms - a form started and left without a submit counts as abandoned once the session is final', () => {
    const { pipeline, usage, finish } = setup();
    pipeline.processNow([
      form('D', T0, 'contact', 'view'),
      form('D', T0 + 1_000, 'contact', 'start', { field: 'name' }),
      form('D', T0 + 2_000, 'contact', 'field', { field: 'phone' }),
      // a field event without a start (no `start` seen) is not an abandonment of its own
      form('E', T0 + 3_000, 'contact', 'field', { field: 'name' }),
    ]);
    const before = usage().windows(5 * MIN, 1)[0]!.forms.find((f) => f.formId === 'contact')!;
    expect(before.abandons).toBe(0); // the session can still continue
    finish();
    const after = usage().windows(5 * MIN, 1)[0]!.forms.find((f) => f.formId === 'contact')!;
    expect([after.views, after.starts, after.submits, after.abandons]).toEqual([1, 1, 0, 1]);
    expect(after.lastFieldBeforeAbandon).toEqual([{ field: 'phone', count: 1 }]);
    expect(after.abandonmentRate).toBe(1);
  });

  it('forms - the order form events arrive in changes nothing: the last field is the newest by event time, the start the earliest, a submit or abandon that overtakes earlier events counts as if it came last (a resend that arrives late)', () => {
    const events = [
      form('D', T0, 'checkout', 'view'),
      form('D', T0 + 1_000, 'checkout', 'start', { field: 'email' }),
      form('D', T0 + 2_000, 'checkout', 'field', { field: 'email' }),
      form('D', T0 + 3_000, 'checkout', 'field', { field: 'address' }),
      form('D', T0 + 4_000, 'checkout', 'error', { field: 'zip' }),
      form('F', T0 + 1_000, 'checkout', 'start'),
      form('F', T0 + 9_000, 'checkout', 'field', { field: 'card' }),
      form('F', T0 + 20_000, 'checkout', 'submit'),
      form('G', T0 + 2_000, 'checkout', 'start', { field: 'name' }),
      form('G', T0 + 5_000, 'checkout', 'field', { field: 'phone' }),
      form('G', T0 + 8_000, 'checkout', 'abandon'),
    ];
    const [view, dStart, dEmail, dAddress, dZip, fStart, fCard, fSubmit, gStart, gPhone, gAbandon] = events as [EnrichedEvent, EnrichedEvent, EnrichedEvent, EnrichedEvent, EnrichedEvent, EnrichedEvent, EnrichedEvent, EnrichedEvent, EnrichedEvent, EnrichedEvent, EnrichedEvent];
    const orders = [
      events,
      [view, dZip, dAddress, dEmail, dStart, fCard, fStart, fSubmit, gPhone, gStart, gAbandon],
      [dAddress, view, fCard, dZip, dStart, dEmail, fStart, fSubmit, gStart, gAbandon, gPhone],
      // The submit and the abandon first, every event they end after them.
      [fSubmit, gAbandon, fCard, gPhone, fStart, dZip, view, dStart, gStart, dEmail, dAddress],
    ];
    const results = orders.map((order) => {
      const { pipeline, usage, finish } = setup();
      for (const e of order) pipeline.processNow([{ ...e }]);
      finish();
      return usage().windows(5 * MIN, 1)[0]!.forms.find((f) => f.formId === 'checkout')!;
    });
    // By hand: D started and left (implicitly: its newest field event is the error on zip, 4 s);
    // F took 19 s; G left explicitly after the phone field.
    expect([results[0]!.starts, results[0]!.submits, results[0]!.abandons]).toEqual([3, 1, 2]);
    expect(results[0]!.lastFieldBeforeAbandon).toEqual([
      { field: 'phone', count: 1 },
      { field: 'zip', count: 1 },
    ]);
    expect(results[0]!.timeToCompleteSeconds?.count).toBe(1);
    expect(Math.abs(results[0]!.timeToCompleteSeconds!.p50 - 19)).toBeLessThanOrEqual(0.19);
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
  });

  it('lifecycle - prospect → responder → active customer → former customer, in event time', () => {
    const { pipeline, usage } = setup({ lifecycle: { responderOn: ['ad_click', 'form_start'], formerAfterDays: 90 } });
    const site = 'shop';
    pipeline.processNow([pageView('x', T0, '/', { site })]);
    expect(usage().visitor('x')?.stage).toBe('prospect');
    pipeline.processNow([click('x', T0 + 1_000, { kind: 'link', href: '/a' }, { site })]);
    expect(usage().visitor('x')?.stage).toBe('prospect');
    pipeline.processNow([click('x', T0 + 2_000, { kind: 'ad', adId: 'banner' }, { site })]);
    expect(usage().visitor('x')?.stage).toBe('responder');
    pipeline.processNow([form('x', T0 + 3_000, 'checkout', 'submit', { site, items: [{ productId: 'p', quantity: 1, price: 5 }] })]);
    expect(usage().visitor('x')?.stage).toBe('active_customer');
    // Another visitor moves event time on: 89 days later x is still active, 90 days later former.
    pipeline.processNow([pageView('y', T0 + 3_000 + 89 * DAY, '/', { site })]);
    expect(usage().visitor('x')?.stage).toBe('active_customer');
    pipeline.processNow([pageView('y', T0 + 3_000 + 90 * DAY, '/', { site })]);
    expect(usage().visitor('x')?.stage).toBe('former_customer');
    // Buying again makes a former customer active again.
    pipeline.processNow([form('x', T0 + 3_000 + 90 * DAY + 1, 'checkout', 'submit', { site, items: [{ productId: 'q', quantity: 1, price: 5 }] })]);
    expect(usage().visitor('x')?.stage).toBe('active_customer');
    expect(usage().visitor('x')?.bought).toEqual(['p', 'q']);
    // Starting a form is a response too (configured above).
    pipeline.processNow([form('z', T0 + 91 * DAY, 'contact', 'start', { site })]);
    expect(usage().visitor('z')?.stage).toBe('responder');
  });

  it('RFM - scores from the documented thresholds', () => {
    // recencyDays [7,30,90,180], frequency [2,3,5,10], monetary [50,150,500,1500] (defaults).
    const { pipeline, usage } = setup();
    const buy = (v: string, ts: number, price: number) => form(v, ts, 'checkout', 'submit', { items: [{ productId: 'p', quantity: 1, price }] });
    pipeline.processNow([
      buy('a', T0, 100),
      buy('a', T0 + DAY, 60),
      buy('a', T0 + 2 * DAY, 40), // 3 purchases, 200 in total, last at T0+2d
      buy('b', T0 + 5 * DAY, 2_000), // 1 purchase, 2000
      pageView('c', T0 + 12 * DAY, '/'), // never bought; moves event time to T0+12d
    ]);
    // a: last purchase 10 days ago → recency 4 (≤30); 3 purchases → frequency 3; 200 → monetary 3.
    expect(usage().visitor('a')?.rfm).toEqual({ recency: 4, frequency: 3, monetary: 3, score: '433' });
    // b: 7 days ago → recency 5 (≤7); 1 purchase → 1; 2000 → 5.
    expect(usage().visitor('b')?.rfm).toEqual({ recency: 5, frequency: 1, monetary: 5, score: '515' });
    expect(usage().visitor('c')?.rfm).toEqual({ recency: 0, frequency: 0, monetary: 0, score: '000' });
  });

  it('profiles - category interest weighs views 1, add-to-cart clicks 3 and purchases 5', () => {
    const { pipeline, usage } = setup();
    pipeline.processNow([
      pageView('x', T0, '/product/g1', { product: { id: 'g1', category: 'games' } }),
      pageView('x', T0 + 1, '/product/b1', { product: { id: 'b1', category: 'books' } }),
      click('x', T0 + 2, { kind: 'button', productId: 'g1' }), // category learned from the view
      click('x', T0 + 3, { kind: 'button', productId: 'unknown' }), // no category known: no interest
      form('x', T0 + 4, 'checkout', 'submit', { items: [{ productId: 'b1', quantity: 1, price: 10 }] }), // category from memory
    ]);
    // By hand: games = 1 (view) + 3 (cart); books = 1 (view) + 5 (purchase).
    expect(usage().visitor('x')?.categoryInterest).toEqual({ games: 4, books: 6 });
  });

  it('golden customers - the top visitors by revenue in a window', () => {
    const { pipeline, usage } = setup();
    const buy = (v: string, ts: number, price: number) => form(v, ts, 'checkout', 'submit', { items: [{ productId: 'p', quantity: 1, price }] });
    pipeline.processNow([buy('a', T0, 10), buy('b', T0 + 1, 50), buy('a', T0 + 2, 45), buy('c', T0 + 3, 5)]);
    const w = usage().windows(5 * MIN, 1)[0]!;
    expect(w.goldenCustomers.map((g) => [g.visitorId, g.revenue, g.error])).toEqual([
      ['a', 55, 0],
      ['b', 50, 0],
      ['c', 5, 0],
    ]);
  });

  it('new vs returning - sessions of visitors seen before count as returning', () => {
    const { pipeline, usage } = setup();
    pipeline.processNow([pageView('a', T0, '/'), pageView('b', T0 + 1, '/'), pageView('a', T0 + 40 * MIN, '/')]);
    const [w] = usage().windows(60 * MIN, 1);
    expect([w?.sessionsStarted, w?.newSessions, w?.returningSessions]).toEqual([3, 2, 1]);
  });

  it('snapshot - merging the partials of two instances equals one instance that saw everything', () => {
    const events = generate(7, 120);
    const one = setup();
    const a = setup();
    const b = setup();
    for (let i = 0; i < events.length; i += 50) one.pipeline.processNow(events.slice(i, i + 50));
    const evA = events.filter((e) => Number(e.visitorId.slice(1)) % 2 === 0);
    const evB = events.filter((e) => Number(e.visitorId.slice(1)) % 2 === 1);
    for (let i = 0; i < evA.length; i += 50) a.pipeline.processNow(evA.slice(i, i + 50));
    for (let i = 0; i < evB.length; i += 50) b.pipeline.processNow(evB.slice(i, i + 50));
    for (const x of [one, a, b]) x.finish();
    const merged = setup();
    const part = (x: ReturnType<typeof setup>) => x.pipeline.partitionProcessors(x.site, 0).find((p) => p.name === 'usage') as UsageProcessor;
    part(merged).merge(JSON.parse(JSON.stringify(part(a).snapshot())));
    part(merged).merge(JSON.parse(JSON.stringify(part(b).snapshot())));
    const strip = (ws: UsageWindowStats[]) => ws.map((w) => ({ ...w, closed: undefined, sessions: { ...w.sessions, durationSeconds: w.sessions.durationSeconds?.count } }));
    expect(strip(merged.usage().windows(W, 1000))).toEqual(strip(one.usage().windows(W, 1000)));
    expect(merged.usage().visitor('v3')).toEqual(one.usage().visitor('v3'));
  });

  it('state - profiles beyond the bound are evicted and counted', () => {
    const { pipeline, usage, evictions } = setup({ maxProfiles: 10 });
    pipeline.processNow(Array.from({ length: 25 }, (_, i) => pageView(`v${i}`, T0 + i, '/', { site: 'shop' })));
    expect(evictions.get('profiles')).toBe(15);
    expect(usage().visitor('v0')).toBeUndefined();
    expect(usage().visitor('v24')?.stage).toBe('prospect');
  });
});
