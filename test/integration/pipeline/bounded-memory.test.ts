import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { UsageProcessor, UsageView } from '../../../processors/usage/usage-processor';
import { parseUsageSettings } from '../../../processors/usage/usage-settings';
import { defaultViews } from '../../../processors/site-processors';
import { VisitorPartitioner, partitionShare } from '../../../src/pipeline/visitor-partitioner';
import { ManualClock } from '../../../src/clock';
import { loadConfig } from '../../../src/config';
import type { EnrichedEvent } from '../../../src/events/enriched-event';
import { createLogger } from '../../../src/logger';
import { createCoreMetrics } from '../../../src/metrics/core-metrics';
import { Pipeline } from '../../../src/pipeline/pipeline';
import { pageView } from '../../helpers/enriched-events';

const TOTAL = 5_000_000;
const WARMUP = 1_000_000;
const CHUNK = 10_000;
const MAX_VISITORS = 5_000;
const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

type Mutable = { -readonly [K in keyof EnrichedEvent]: EnrichedEvent[K] };

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * 5 million distinct visitors, one page view each (1 ms apart: 83 minutes of event time), through the
 * sessionizer and the usage processor with 5 000 visitors / profiles kept. State must stay within
 * its bounds: evictions counted, heap flat after warm-up. An unbounded store would hold 4 million
 * more visitors at the end (hundreds of MB); the allowance below is a small fraction of that.
 */
describe('bounded memory', () => {
  it('state - memory (heap after GC) stays flat while 5 million distinct visitors stream through the sessionizer and usage', { timeout: 300_000 }, async () => {
    const config = loadConfig({}, {
      partitions: 4,
      time: { pane: 'PT1M', outOfOrderness: 0, maxVisitors: MAX_VISITORS, retentionPanes: 240 },
      sites: [{ id: 'big', secret: 's', allowedOrigins: ['*'], processors: { usage: { maxProfiles: MAX_VISITORS, maxPendingSessions: MAX_VISITORS } } }],
    });
    const registry = new Registry();
    const metrics = createCoreMetrics(registry, { defaultMetrics: false });
    const clock = new ManualClock(T0);
    const pipeline = new Pipeline({
      config,
      clock,
      metrics,
      logger: createLogger('silent'),
      // The site's bounds, shared by its 4 partitions (as the app's processors share them).
      processorsFor: (site) => {
        const s = parseUsageSettings(site.processors['usage'], site.id);
        const settings = { ...s, maxProfiles: partitionShare(s.maxProfiles, 4), maxPendingSessions: partitionShare(s.maxPendingSessions, 4) };
        return [new UsageProcessor({ site, time: config.time, settings, onEvict: (p, st, n) => metrics.evictions.inc({ component: p, structure: st }, n) })];
      },
      viewsFor: defaultViews,
    });
    const partitioner = new VisitorPartitioner(4);
    const perPartition = [0, 0, 0, 0];
    // TRICKY: a pool of event objects refilled per chunk — nothing downstream keeps an event (no
    // late events here), and 5 million fresh event objects would measure the test harness's garbage.
    const batch: Mutable[] = Array.from({ length: CHUNK }, () => pageView('x', T0, '/', { site: 'big' }) as Mutable);
    let warmHeap = 0;
    for (let i = 0; i < TOTAL; i += CHUNK) {
      for (let j = 0; j < CHUNK; j++) {
        const e = batch[j]!;
        const vid = `visitor-${i + j}`;
        e.visitorId = vid as EnrichedEvent['visitorId'];
        e.ts = (T0 + i + j) as EnrichedEvent['ts'];
        e.partition = partitioner.partitionOf(vid);
        perPartition[e.partition]!++;
        e.event.visitorId = vid;
        e.event.ts = e.ts;
      }
      pipeline.processNow(batch);
      if (i + CHUNK === WARMUP) warmHeap = heapAfterGc();
    }
    const endHeap = heapAfterGc();
    const usage = pipeline.processor('big', 'usage') as UsageView;
    const share = MAX_VISITORS / 4;
    for (let p = 0; p < 4; p++) expect(pipeline.sessionizer('big', p)!.visitors).toBeLessThanOrEqual(share);
    // Each partition keeps its share; every visitor beyond it was evicted once (brute force over the ids).
    const beyond = perPartition.reduce((n, c) => n + Math.max(0, c - share), 0);
    expect(usage.visitor('visitor-0')).toBeUndefined(); // long evicted
    expect(usage.visitor(`visitor-${TOTAL - 1}`)).toBeDefined();
    const text = await registry.metrics();
    const evicted = (component: string, structure: string) => Number(new RegExp(`clickstream_state_evictions_total\\{component="${component}",structure="${structure}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    expect(beyond).toBeGreaterThan(TOTAL - MAX_VISITORS - 1);
    expect(evicted('sessionizer', 'visitors')).toBe(beyond);
    expect(evicted('usage', 'profiles')).toBe(beyond);
    // Every visitor was counted (HLL ≈ 5M within 3σ at precision 12).
    const total = usage.windows(24 * 60 * 60_000, 1)[0]!;
    expect(total.pageViews).toBe(TOTAL);
    expect(total.sessionsStarted).toBe(TOTAL);
    expect(Math.abs(total.visitors - TOTAL) / TOTAL).toBeLessThan(3 * 0.0163);
    // Flat: growth after warm-up well under what 4M retained visitors would take (≥ 200 B each = 800 MB).
    expect(endHeap - warmHeap).toBeLessThan(64 * 1024 * 1024);
  });
});
