import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CrossSellProcessor, CrossSellRules } from '../../../processors/cross-sell/cross-sell-processor';
import { NavigationProcessor } from '../../../processors/navigation/navigation-processor';
import { defaultViews } from '../../../processors/site-processors';
import { UsageProcessor } from '../../../processors/usage/usage-processor';
import { ManualClock } from '../../../src/clock';
import { loadConfig } from '../../../src/config';
import type { EnrichedEvent } from '../../../src/events/enriched-event';
import { createLogger } from '../../../src/logger';
import { createCoreMetrics } from '../../../src/metrics/core-metrics';
import { Pipeline } from '../../../src/pipeline/pipeline';
import { VisitorPartitioner } from '../../../src/pipeline/visitor-partitioner';
import { mulberry32 } from '../../../src/replay/mulberry32';
import { form, pageView } from '../../helpers/enriched-events';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const PARTITIONS = 4;
const config = loadConfig({}, {
  partitions: PARTITIONS,
  time: { pane: 'PT1M', outOfOrderness: 0, allowedLateness: 'PT1H', sessionGap: 'PT10M' },
  sites: [{ id: 'demo', processors: { 'cross-sell': { windows: ['PT1H'], pane: 'PT5M', recomputeEvery: 'PT1M', minSupport: 0.01, minConfidence: 0, minLift: 0 } } }],
});

function pipeline(owned: readonly number[]) {
  const clock = new ManualClock(T0);
  const p = new Pipeline({
    config,
    clock,
    metrics: createCoreMetrics(new Registry(), { defaultMetrics: false }),
    logger: createLogger('silent'),
    ownedPartitions: owned,
    processorsFor: (site) => [new NavigationProcessor({ site, time: config.time, context: { site: site.id, onEvict: () => undefined } }), new UsageProcessor({ site, time: config.time }), CrossSellProcessor.forSite(site, { config })],
    viewsFor: defaultViews,
  });
  return { p, clock };
}

/** 60 shoppers over 2 hours: page views of products, some purchases of 2–4 of 12 products. */
function shoppers(): EnrichedEvent[] {
  const rnd = mulberry32(7);
  const parts = new VisitorPartitioner(PARTITIONS);
  const out: EnrichedEvent[] = [];
  for (let i = 0; i < 600; i++) {
    const v = `v${Math.floor(rnd() * 60)}`;
    const ts = T0 + i * 12_000;
    const e =
      rnd() < 0.2
        ? form(v, ts, 'checkout', 'submit', { items: Array.from({ length: 2 + Math.floor(rnd() * 3) }, () => ({ productId: `p${Math.floor(rnd() * 12)}`, quantity: 1 })) })
        : pageView(v, ts, `/product/p${Math.floor(rnd() * 12)}`, { product: { id: `p${Math.floor(rnd() * 12)}` } });
    out.push({ ...e, partition: parts.partitionOf(v) });
  }
  return out;
}

describe('partition hand-over', () => {
  it('a partition handed from one process to another mid-stream (final unit, add, restore) leaves the merged statistics and rules equal to one process holding all', () => {
    const events = shoppers();
    const one = pipeline([0, 1, 2, 3]);
    const a = pipeline([0, 1]);
    const b = pipeline([2, 3]);
    const cut = 300;
    const holder = (e: EnrichedEvent, i: number) => (e.partition < 2 && !(e.partition === 1 && i >= cut) ? a : b);
    events.forEach((e, i) => {
      if (i === cut) {
        // a hands partition 1 over: its final unit goes to b, which takes the partition on.
        const unit = a.p.dropPartition(1)!;
        expect(a.p.ownedPartitions()).toEqual([0]);
        b.p.addPartition(1);
        b.p.restorePartition(JSON.parse(JSON.stringify(unit)) as typeof unit);
      }
      one.p.processNow([{ ...e }]);
      holder(e, i).p.processNow([{ ...e }]);
    });
    for (const x of [one, a, b]) {
      x.clock.set(T0 + 4 * 60 * MIN);
      x.p.tick();
    }
    const of = <T,>(x: ReturnType<typeof pipeline>, name: string) => x.p.ownedPartitions().map((p) => x.p.partitionProcessors('demo', p).find((q) => q.name === name) as T);
    // Brute force: every event is counted once in the whole run.
    const total = (ws: ReturnType<typeof UsageProcessor.windowsOf>) => ws.reduce((n, w) => n + w.events.page_view + w.events.form, 0);
    const usageOne = UsageProcessor.windowsOf(of<UsageProcessor>(one, 'usage'), MIN, 10_000);
    expect(total(usageOne)).toBe(events.length);
    // The two processes' partitions merged, as a scatter-gather over them would.
    expect(UsageProcessor.windowsOf([...of<UsageProcessor>(a, 'usage'), ...of<UsageProcessor>(b, 'usage')], MIN, 10_000)).toEqual(usageOne);
    const nav = (parts: NavigationProcessor[]) => NavigationProcessor.windowsOf(parts, 60 * MIN, 100, { watermark: T0 + 4 * 60 * MIN });
    expect(nav([...of<NavigationProcessor>(a, 'navigation'), ...of<NavigationProcessor>(b, 'navigation')])).toEqual(nav(of<NavigationProcessor>(one, 'navigation')));
    // Rules mined from both processes' partitions equal those of the one process.
    const rules = (parts: CrossSellProcessor[]) => {
      const r = new CrossSellRules({ site: 'demo' as never, settings: parts[0]!.settings, allowedLatenessMs: config.time.allowedLatenessMs, parts: () => parts });
      r.refresh(T0 + 2 * 60 * MIN);
      return r.current().rules.map((x) => [x.antecedent.join(), x.consequent.join(), x.count]);
    };
    const want = rules(of<CrossSellProcessor>(one, 'cross-sell'));
    expect(want.length).toBeGreaterThan(0);
    expect(rules([...of<CrossSellProcessor>(a, 'cross-sell'), ...of<CrossSellProcessor>(b, 'cross-sell')])).toEqual(want);
    // b's own view of the rules counts the restored partition's baskets too (its site panes were rebuilt).
    const bRules = b.p.processor('demo', 'cross-sell') as CrossSellRules;
    bRules.refresh(T0 + 2 * 60 * MIN);
    const aRules = a.p.processor('demo', 'cross-sell') as CrossSellRules;
    aRules.refresh(T0 + 2 * 60 * MIN);
    const w = bRules.current().window;
    const inWindow = events.filter((e) => e.type === 'form' && e.ts >= w.start && e.ts < w.end).length;
    expect(inWindow).toBeGreaterThan(0);
    expect(bRules.current().baskets.purchase + aRules.current().baskets.purchase).toBe(inWindow);
  });
});

describe('partition cuts', () => {
  it("a partition's own cut equals its part of the whole pipeline's cut, its queued records included", () => {
    const events = shoppers();
    const x = pipeline([0, 1, 2, 3]);
    x.p.processNow(events.slice(0, 400).map((e) => ({ ...e })));
    // Not started: what is offered stays queued.
    expect(x.p.offer(events.slice(400).map((e) => ({ ...e }))).kind).toBe('accepted');
    const whole = x.p.snapshot({ withQueue: true });
    const queued = whole.partitions.map((u) => u.queued?.length ?? 0);
    expect(queued.reduce((a, b) => a + b, 0)).toBe(200);
    for (const u of whole.partitions) {
      const own = x.p.snapshotPartition(u.partition, { withQueue: true });
      expect(JSON.parse(JSON.stringify(own))).toEqual(JSON.parse(JSON.stringify(u)));
      // Each queued event of its partition, in offer order.
      expect((own.queued ?? []).map((r) => (r.type === 'tick' ? 'tick' : r.id))).toEqual(events.slice(400).filter((e) => e.partition === u.partition).map((e) => e.id));
    }
    expect(x.p.snapshotPartition(0).queued).toBeUndefined();
  });
});
