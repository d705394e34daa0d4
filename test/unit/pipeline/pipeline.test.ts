import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { UsageProcessor, UsageView } from '../../../processors/usage/usage-processor';
import { ManualClock } from '../../../src/clock';
import { loadConfig } from '../../../src/config';
import { createLogger } from '../../../src/logger';
import { createCoreMetrics } from '../../../src/metrics/core-metrics';
import { Pipeline } from '../../../src/pipeline/pipeline';
import { pageView } from '../../helpers/enriched-events';
import { VisitorPartitioner } from '../../../src/pipeline/visitor-partitioner';
import { defaultViews } from '../../../processors/site-processors';

const MIN = 60_000;
// A minute-aligned instant: 2023-11-14T22:13:00Z.
const T0 = Math.floor(1_700_000_000_000 / MIN) * MIN;

function setup(time: Record<string, unknown> = {}, over: Record<string, unknown> = {}) {
  const config = loadConfig({}, {
    partitions: 2,
    time: { pane: 'PT1M', outOfOrderness: 0, allowedLateness: 'PT2M', idleTimeout: 'PT30S', ...time },
    ...over,
  });
  const registry = new Registry();
  const metrics = createCoreMetrics(registry, { defaultMetrics: false });
  const clock = new ManualClock(T0);
  const logger = createLogger('silent');
  const pipeline = new Pipeline({
    config,
    clock,
    metrics,
    logger,
    viewsFor: defaultViews,
    processorsFor: (site) => [new UsageProcessor({ site, time: config.time })],
  });
  const usage = () => pipeline.processor('demo', 'usage') as UsageView;
  const windowAt = (start: number, size = MIN) => usage().windows(size, 1000).find((w) => w.start === start);
  return { config, registry, clock, pipeline, usage, windowAt };
}

describe('Pipeline windows', () => {
  it('windows - an event exactly at a window end belongs to the next window', () => {
    const { pipeline, windowAt } = setup();
    pipeline.processNow([pageView('v1', T0, '/a'), pageView('v1', T0 + MIN - 1, '/b'), pageView('v1', T0 + MIN, '/c')]);
    expect(windowAt(T0)?.pageViews).toBe(2);
    expect(windowAt(T0 + MIN)?.pageViews).toBe(1);
  });

  it('windows - a late event within the allowed lateness revises a fired window; beyond it goes to the late side output', async () => {
    const { pipeline, windowAt, registry } = setup();
    pipeline.processNow([pageView('v1', T0 + 10_000, '/a')]);
    pipeline.processNow([pageView('v2', T0 + 3 * MIN, '/b')]); // watermark T0+3m (no out-of-orderness)
    expect(pipeline.watermark()).toBe(T0 + 3 * MIN);
    expect(windowAt(T0 + MIN)).toBeUndefined();
    // [T0+1m, T0+2m) fired at T0+2m; 1 min later < 2 min lateness: a revision.
    pipeline.processNow([pageView('v3', T0 + 90_000, '/c')]);
    expect(windowAt(T0 + MIN)?.pageViews).toBe(1);
    expect(windowAt(T0 + MIN)?.closed).toBe(true);
    // T0+30s is older than its partition watermark (T0+3m) minus the allowed lateness (2m): late,
    // judged once on the way in, never seen by a processor.
    const late = pageView('v4', T0 + 30_000, '/d');
    const heard: string[] = [];
    pipeline.onLate((e) => heard.push(`${e.id}:${e.reason}`));
    expect(pipeline.processNow([late])).toBe(1);
    expect(heard).toEqual([`${late.id}:older_than_retention`]);
    expect(windowAt(T0)?.pageViews).toBe(1);
    expect(pipeline.lateEvents('demo').map((l) => [l.id, l.watermark, l.processor])).toEqual([[late.id, T0 + 3 * MIN, null]]);
    const text = await registry.metrics();
    expect(text).toMatch(/clickstream_window_revisions_total\{site="demo",processor="usage"\} 1/);
    expect(text).toMatch(/clickstream_events_late_total\{site="demo",reason="older_than_retention"\} 1/);
  });

  it('lateness - is judged against the event\'s own partition watermark, not another partition\'s', () => {
    const { pipeline, windowAt } = setup();
    pipeline.processNow([pageView('a', T0 + 30 * MIN, '/a', { partition: 0 })]);
    // Partition 1 has seen nothing: an event 30 minutes behind partition 0 still counts.
    expect(pipeline.processNow([pageView('b', T0, '/b', { partition: 1 })])).toBe(0);
    expect(windowAt(T0)?.pageViews).toBe(1);
    expect(pipeline.processNow([pageView('c', T0, '/c', { partition: 0 })])).toBe(1);
  });

  it('windows - an idle partition stops holding the watermark back once a tick record says so', () => {
    const { pipeline, clock } = setup();
    pipeline.processNow([pageView('a', T0 + 10 * MIN, '/a', { partition: 0 }), pageView('b', T0, '/b', { partition: 1 })]);
    expect(pipeline.watermark()).toBe(T0);
    clock.set(T0 + 10 * MIN + 29_999);
    pipeline.processNow([pageView('a', T0 + 10 * MIN + 29_999, '/a', { partition: 0 })]);
    expect(pipeline.watermark()).toBe(T0); // no tick: wall time alone moves nothing
    pipeline.tick(); // partition 1 received nothing for the idle timeout: lifted to the tick's time
    expect(pipeline.watermark()).toBe(T0 + 10 * MIN + 29_999);
  });

  it('windows - with no input, tick records advance the watermark and close windows', () => {
    const { pipeline, clock, windowAt } = setup({ outOfOrderness: 'PT5S' });
    clock.set(T0 + 20_000);
    pipeline.processNow([pageView('v1', T0 + 20_000, '/a')]);
    expect(pipeline.watermark()).toBe(T0 + 15_000);
    expect(windowAt(T0)?.closed).toBe(false);
    clock.advance(29_999);
    pipeline.tick();
    expect(pipeline.watermark()).toBe(T0 + 15_000); // still active: nothing moves
    clock.advance(1); // idle now: wall clock − out-of-orderness = T0+50s−5s
    pipeline.tick();
    expect(pipeline.watermark()).toBe(T0 + 45_000);
    clock.advance(20_000);
    pipeline.tick();
    expect(pipeline.watermark()).toBe(T0 + 65_000);
    expect(windowAt(T0)?.closed).toBe(true);
  });

  it('sessions - a late event that bridges two sessions merges them: sessionsStarted drops by one', () => {
    const { pipeline, usage } = setup({ allowedLateness: 'PT1H' });
    const total = () => usage().windows(MIN, 1000).reduce((n, w) => n + w.sessionsStarted, 0);
    pipeline.processNow([pageView('v1', T0, '/a')]);
    pipeline.processNow([pageView('v1', T0 + 40 * MIN, '/c')]);
    expect(total()).toBe(2);
    pipeline.processNow([pageView('v1', T0 + 20 * MIN, '/b')]);
    expect(total()).toBe(1);
    expect(usage().windows(MIN, 1000).find((w) => w.start === T0 + 40 * MIN)?.sessionsStarted).toBe(0);
  });

  it('sessions - a 31-minute gap splits a session: two sessions started, the first counted as ended once the watermark passes end + gap', () => {
    const { pipeline, usage } = setup({ allowedLateness: 'PT2M', sessionGap: 'PT30M' });
    pipeline.processNow([pageView('v1', T0, '/a'), pageView('v1', T0 + 5 * MIN, '/b')]);
    pipeline.processNow([pageView('v2', T0 + 34 * MIN, '/x')]); // the watermark to T0+34m: not yet closed
    expect(usage().windows(MIN, 1000).reduce((n, w) => n + w.sessions.ended, 0)).toBe(0);
    pipeline.processNow([pageView('v1', T0 + 36 * MIN, '/c')]);
    const ws = usage().windows(MIN, 1000);
    expect(ws.reduce((n, w) => n + w.sessionsStarted, 0)).toBe(3);
    // The first session (T0 .. T0+5m) closed at T0+5m+30m = T0+35m, and counts in the pane of its last event.
    const first = ws.find((w) => w.start === T0 + 5 * MIN);
    expect(first?.sessions.ended).toBe(1);
    expect(Math.abs(first!.sessions.durationSeconds!.max - 300)).toBeLessThanOrEqual(3); // within the sketch's 1 %
    expect(first?.sessions.pagesPerSession?.max).toBe(2);
  });
});

describe('Pipeline queue', () => {
  it('offer - takes a whole batch or nothing when the queue is full', () => {
    const { pipeline } = setup({}, { ingest: { queueCapacity: 3 } });
    expect(pipeline.offer([pageView('v', T0, '/a'), pageView('v', T0, '/b')]).kind).toBe('accepted');
    expect(pipeline.offer([pageView('v', T0, '/c'), pageView('v', T0, '/d')]).kind).toBe('overloaded');
    expect(pipeline.queueDepth).toBe(2);
    expect(pipeline.offer([pageView('v', T0, '/e')]).kind).toBe('accepted');
    expect(pipeline.queueDepth).toBe(3);
  });

  it('offer - one site may fill only its share of the queue: its flood gets overloaded, another site is still taken', () => {
    const { pipeline } = setup({}, { ingest: { queueCapacity: 10 }, sites: [{ id: 'demo' }, { id: 'shop', allowedOrigins: ['*'] }] });
    expect(pipeline.offer(Array.from({ length: 5 }, (_, i) => pageView(`v${i}`, T0, '/a'))).kind).toBe('accepted');
    expect(pipeline.offer([pageView('v9', T0, '/b')]).kind).toBe('overloaded'); // demo holds its 50 %
    expect(pipeline.offer(Array.from({ length: 5 }, (_, i) => pageView(`s${i}`, T0, '/a', { site: 'shop' }))).kind).toBe('accepted');
    expect(pipeline.queueDepth).toBe(10);
  });

  it('drain - resolves once every accepted event has been processed, in order', async () => {
    const { pipeline, usage } = setup({}, { ingest: { queueCapacity: 10_000 } });
    const evs = Array.from({ length: 5_000 }, (_, i) => pageView(`v${i % 50}`, T0 + i, `/p${i % 7}`));
    expect(pipeline.offer(evs.slice(0, 2_500)).kind).toBe('accepted');
    expect(pipeline.offer(evs.slice(2_500)).kind).toBe('accepted');
    await pipeline.drain();
    expect(pipeline.queueDepth).toBe(0);
    expect(usage().windows(MIN, 10).reduce((n, w) => n + w.pageViews, 0)).toBe(5_000);
  });
});

describe('Pipeline snapshot', () => {
  it('snapshot - a pipeline restored mid-stream ends with the statistics of a run that was never interrupted', () => {
    // A stream with sessions spanning the cut, a merge after it, forms in progress and purchases.
    const events = [
      pageView('a', T0, '/a'),
      pageView('b', T0 + 10_000, '/b'),
      pageView('a', T0 + 5 * MIN, '/c'),
      pageView('c', T0 + 6 * MIN, '/a'),
      pageView('a', T0 + 50 * MIN, '/d'), // a's second session (gap 45 min)
      pageView('b', T0 + 52 * MIN, '/e'),
      // --- cut here ---
      pageView('a', T0 + 28 * MIN, '/late-bridge'), // late, bridges a's two sessions (within 1 h lateness)
      pageView('c', T0 + 70 * MIN, '/f'),
      pageView('d', T0 + 71 * MIN, '/g'),
    ].map((e) => ({ ...e, partition: new VisitorPartitioner(2).partitionOf(e.visitorId) })); // each visitor in its own partition, as the enricher puts it
    const cut = 6;
    const time = { allowedLateness: 'PT1H' };
    const whole = setup(time);
    for (const e of events) whole.pipeline.processNow([{ ...e }]);
    const first = setup(time);
    for (const e of events.slice(0, cut)) first.pipeline.processNow([{ ...e }]);
    const snap = JSON.parse(JSON.stringify(first.pipeline.snapshot())) as ReturnType<Pipeline['snapshot']>;
    const resumed = setup(time);
    resumed.pipeline.restore(snap);
    for (const e of events.slice(cut)) resumed.pipeline.processNow([{ ...e }]);
    for (const x of [whole, resumed]) {
      x.clock.set(T0 + 5 * 60 * MIN); // a tick record hours later: every session closes, no pane expires
      x.pipeline.tick();
    }
    const view = (x: ReturnType<typeof setup>) => x.usage().windows(MIN, 1000).map((w) => ({ ...w, sessions: { ...w.sessions, durationSeconds: w.sessions.durationSeconds?.count, pagesPerSession: w.sessions.pagesPerSession?.max } }));
    expect(view(resumed)).toEqual(view(whole));
    // By hand: a's two sessions (0–5 min, 50 min) bridged by the late 28-min event → 1; b 2 (gap 52 min); c 2; d 1.
    expect(view(whole).reduce((n, w) => n + w.sessionsStarted, 0)).toBe(6);
    expect(whole.usage().visitor('a')).toBeDefined();
    expect(resumed.usage().visitor('a')).toEqual(whole.usage().visitor('a'));
    const pa = new VisitorPartitioner(2).partitionOf('a');
    expect(resumed.pipeline.sessionizer('demo', pa)?.sessionsOf('a')).toEqual(whole.pipeline.sessionizer('demo', pa)?.sessionsOf('a'));
  });
  it('snapshot - each partition is a unit of its own: partitions restored from cuts taken at different times, each reading on from its own cut, end equal to an uninterrupted run', () => {
    // 40 visitors, 3 page views each, 20 s apart across visitors: sessions, bounces and revisits in both partitions.
    const parts = new VisitorPartitioner(2);
    const events = Array.from({ length: 120 }, (_, i) => {
      const v = `v${(i * 7) % 40}`;
      return { ...pageView(v, T0 + i * 20_000, `/p${i % 5}`), partition: parts.partitionOf(v) };
    });
    expect(new Set(events.map((e) => e.partition))).toEqual(new Set([0, 1]));
    const run = (upTo: number) => {
      const x = setup();
      for (const e of events.slice(0, upTo)) x.pipeline.processNow([{ ...e }]);
      return x;
    };
    const whole = run(events.length);
    const cutA = 40; // partition 0 restored from here
    const cutB = 85; // partition 1 and the site unit from here
    const a = JSON.parse(JSON.stringify(run(cutA).pipeline.snapshot())) as ReturnType<Pipeline['snapshot']>;
    const b = JSON.parse(JSON.stringify(run(cutB).pipeline.snapshot())) as ReturnType<Pipeline['snapshot']>;
    const resumed = setup();
    resumed.pipeline.restoreSite(b.site);
    resumed.pipeline.restorePartition(a.partitions[0]!);
    resumed.pipeline.restorePartition(b.partitions[1]!);
    events.forEach((e, i) => {
      if (i >= (e.partition === 0 ? cutA : cutB)) resumed.pipeline.processNow([{ ...e }]);
    });
    for (const x of [whole, resumed]) {
      x.clock.set(T0 + 5 * 60 * MIN);
      x.pipeline.tick();
    }
    const view = (x: ReturnType<typeof setup>) => x.usage().windows(MIN, 1000).map((w) => ({ ...w, sessions: { ...w.sessions, durationSeconds: w.sessions.durationSeconds?.count } }));
    // Brute force: every page view counted once, one session start per visitor whose views are < 30 min apart.
    expect(view(whole).reduce((n, w) => n + w.pageViews, 0)).toBe(120);
    expect(view(resumed)).toEqual(view(whole));
  });
});

describe('Pipeline metrics', () => {
  it('metrics - active sessions and watermark lag follow the stream even when the watermark stands still', async () => {
    const { pipeline, registry, clock } = setup();
    pipeline.processNow([pageView('a', T0, '/a', { partition: 0 })]);
    // Partition 1 far behind holds the watermark; new sessions still show in the gauge.
    pipeline.processNow([pageView('b', T0 - 10 * MIN, '/b', { partition: 1 })]);
    const wm = pipeline.watermark();
    pipeline.processNow([pageView('c', T0 + MIN, '/c', { partition: 0 })]);
    expect(pipeline.watermark()).toBe(wm);
    const text = await registry.metrics();
    expect(text).toMatch(/clickstream_active_sessions 3/);
    // Lag = wall clock − watermark, seconds: clock at T0, watermark at T0 (partition 0 before partition 1 arrived).
    expect(text).toMatch(new RegExp(`clickstream_watermark_lag_seconds\\{site="demo"\\} ${(clock.now() - wm) / 1000}`));
  });
});
