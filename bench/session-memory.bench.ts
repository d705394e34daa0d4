/**
 * Heap per active session, whole app (issue "A lean hot path": ≤ 1.2 KB must, ≤ 600 B goal): N
 * visitors, one open session each (a product page view and an add-to-cart click), through a pipeline
 * with the app's own processor set (createSiteProcessors: navigation, content, usage, cross-sell,
 * next-best-offer) and bounds raised so nothing is evicted. Heap after a full GC, minus the heap of
 * the same pipeline before the events, divided by N. The events themselves are dropped before the
 * measurement (the pipeline keeps no reference to them but the live log's last 200).
 * Run: `npx tsx bench/session-memory.bench.ts` (BENCH_SESSIONS=N, default 500 000) — writes
 * bench/results/session-memory.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Registry } from 'prom-client';
import { createSiteProcessors, type SiteProcessors } from '../processors/site-processors';
import { ManualClock } from '../src/clock';
import { loadConfig } from '../src/config';
import { VisitorSocketRegistry } from '../src/delivery/visitor-socket-registry';
import type { EnrichedEvent } from '../src/events/enriched-event';
import { createLogger } from '../src/logger';
import { createCoreMetrics } from '../src/metrics/core-metrics';
import { Pipeline } from '../src/pipeline/pipeline';
import { VisitorPartitioner } from '../src/pipeline/visitor-partitioner';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const here = dirname(fileURLToPath(import.meta.url));
const N = Number(process.env['BENCH_SESSIONS'] ?? 500_000);
const START = Date.UTC(2026, 0, 5, 10);
const BOUND = N + 10_000;

const config = loadConfig(
  {},
  {
    time: { pane: 'PT1M', maxVisitors: BOUND, outOfOrderness: 0 },
    sites: [
      {
        id: 'demo',
        processors: {
          usage: { maxProfiles: BOUND, maxPendingSessions: BOUND, maxOpenForms: BOUND },
          'cross-sell': { maxTrackedSessions: BOUND, maxVisitors: BOUND },
          'next-best-offer': { maxVisitors: BOUND, maxPending: BOUND },
        },
      },
    ],
  },
);
const registry = new Registry();
const metrics = createCoreMetrics(registry, { defaultMetrics: false });
const clock = new ManualClock(START);
const logger = createLogger('silent');
const visitorSockets = new VisitorSocketRegistry({ capacity: 10, onEvict: () => undefined });
const bySite = new Map<string, SiteProcessors>();
const sp = (site: Parameters<typeof createSiteProcessors>[0]): SiteProcessors => {
  let s = bySite.get(site.id);
  if (s === undefined) bySite.set(site.id, (s = createSiteProcessors(site, { config, clock, registry, metrics, logger, visitorSockets, onEvict: () => undefined })));
  return s;
};
// BENCH_PROCESSORS=usage,navigation keeps only those (the sessionizer always runs): where the bytes go.
const only = process.env['BENCH_PROCESSORS']?.split(',');
const pipeline = new Pipeline({
  config,
  clock,
  metrics,
  logger,
  processorsFor: (site, p) => sp(site).forPartition(p).filter((x) => only === undefined || only.includes(x.name)),
  viewsFor: (site, parts) => sp(site).views(parts),
});
const partitioner = new VisitorPartitioner(config.partitions);

function event(i: number, k: number): EnrichedEvent {
  const vid = `visitor-${i}`;
  const ts = START + i * 2 + k;
  const id = `e${i}-${k}`;
  const base = { site: 'demo' as EnrichedEvent['site'], id, visitorId: vid as EnrichedEvent['visitorId'], ts: ts as EnrichedEvent['ts'], receivedAt: ts as EnrichedEvent['receivedAt'], seq: k, partition: partitioner.partitionOf(vid), bot: false, device: 'desktop' as const, session: undefined as unknown as EnrichedEvent['session'] };
  const product = `p${i % 500}`;
  return k === 0
    ? { ...base, type: 'page_view', page: `/product/${product}`, event: { id, type: 'page_view', visitorId: vid, ts, url: `https://shop.test/product/${product}`, product: { id: product, category: `c${i % 20}`, price: 10 } } }
    : { ...base, type: 'click', page: `/product/${product}`, event: { id, type: 'click', visitorId: vid, ts, url: `https://shop.test/product/${product}`, target: { kind: 'button', productId: product } } };
}

gc();
const before = process.memoryUsage().heapUsed;
const t0 = performance.now();
for (let i = 0; i < N; i += 5_000) {
  const batch: EnrichedEvent[] = [];
  for (let j = i; j < Math.min(N, i + 5_000); j++) batch.push(event(j, 0), event(j, 1));
  pipeline.processNow(batch);
}
const seconds = (performance.now() - t0) / 1000;
gc();
gc();
const after = process.memoryUsage().heapUsed;
let open = 0;
for (let p = 0; p < config.partitions; p++) open += pipeline.sessionizer('demo', p)?.activeSessions ?? 0;
const perSession = (after - before) / N;
const result = { node: process.version, sessions: N, openSessions: open, seconds: Math.round(seconds * 100) / 100, heapBeforeMB: Math.round(before / 1e6), heapAfterMB: Math.round(after / 1e6), bytesPerSession: Math.round(perSession), goal: { mustBytes: 1_200, goalBytes: 600 } };
process.stdout.write(`${N.toLocaleString('en')} open sessions (${open.toLocaleString('en')} counted open): heap ${result.heapBeforeMB} → ${result.heapAfterMB} MB, ${result.bytesPerSession} B per session (${seconds.toFixed(1)} s)\n`);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'session-memory.json'), `${JSON.stringify(result, null, 2)}\n`);
