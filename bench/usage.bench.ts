/**
 * The usage processor and the sessionizer, beside a ceiling in the same run.
 *   - ceiling: a bare Map count of page views per 1-minute pane and a Set of visitor ids (no sessions,
 *     no sketches, no bounds) over the same kosarak25k page views;
 *   - pipeline, sessionizer only: the Pipeline with no processor (sessions, watermarks);
 *   - pipeline + usage: the same with the usage processor (HLL, DDSketch, profiles, forms);
 *   - 1M distinct visitors: one page view each through sessionizer + usage with 20 000 visitors kept
 *     (every visitor evicted in turn: the bounded-state path), CPU µs per event.
 * Run: `npx tsx bench/usage.bench.ts` — prints a table, writes bench/results/usage.json.
 * Needs ../shared/data/kosarak25k.txt (or CM_DATA_DIR). Not measured: the gateway (bench/ingest.bench.ts),
 * the other processors, query time.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import type { Processor } from '../processors/processor';
import { UsageProcessor } from '../processors/usage/usage-processor';
import { ManualClock } from '../src/clock';
import { loadConfig, type SiteConfig } from '../src/config';
import type { EnrichedEvent } from '../src/events/enriched-event';
import { EventEnricher } from '../src/events/event-enricher';
import { createLogger } from '../src/logger';
import { createCoreMetrics } from '../src/metrics/core-metrics';
import { Pipeline } from '../src/pipeline/pipeline';
import { kosarakEvents, readKosarakSessions } from '../src/replay/dataset-readers';
import { defaultViews } from '../processors/site-processors';

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = process.env['CM_DATA_DIR'] ?? resolve(here, '..', '..', 'shared', 'data');
const file = join(dataDir, 'kosarak25k.txt');
if (!existsSync(file)) {
  process.stderr.write(`missing ${file}: set CM_DATA_DIR\n`);
  process.exit(1);
}
const START = Date.UTC(2026, 0, 5, 1, 0, 0);
const DAY = 86_400_000;
const events = kosarakEvents(readKosarakSessions(file), { startMs: START });

interface Row {
  name: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  note: string;
}
const rows: Row[] = [];
const row = (name: string, n: number, seconds: number, note = ''): void => {
  rows.push({ name, events: n, seconds, eventsPerSecond: Math.round(n / seconds), note });
};

{
  const t0 = performance.now();
  const panes = new Map<number, number>();
  const visitors = new Set<string>();
  for (const e of events) {
    const p = Math.floor(e.ts / 60_000);
    panes.set(p, (panes.get(p) ?? 0) + 1);
    visitors.add(e.visitorId);
  }
  row('ceiling: bare Map/Set counts', events.length, (performance.now() - t0) / 1000, `${panes.size} panes, ${visitors.size} visitors`);
}

function pipelineFor(processors: (site: SiteConfig, time: ReturnType<typeof loadConfig>['time']) => Processor[], over: Record<string, unknown> = {}) {
  const config = loadConfig({}, { sites: [{ id: 'data', allowedOrigins: ['*'], urlRules: { groups: [], keepParams: [] } }], time: { pane: 'PT1M', retentionPanes: 2_000 }, ...over });
  const clock = new ManualClock(START);
  const pipeline = new Pipeline({
    config,
    clock,
    metrics: createCoreMetrics(new Registry(), { defaultMetrics: false }),
    logger: createLogger('silent'),
    viewsFor: defaultViews,
    processorsFor: (s) => processors(s, config.time),
  });
  return { config, clock, pipeline };
}

function runKosarak(processors: (site: SiteConfig, time: ReturnType<typeof loadConfig>['time']) => Processor[]): number {
  const { config, clock, pipeline } = pipelineFor(processors);
  const site = config.sites.get('data') as SiteConfig;
  const enricher = new EventEnricher(config);
  // Enrich up front: the figure is the pipeline's, not the enricher's.
  const batches: EnrichedEvent[][] = [];
  for (let i = 0; i < events.length; i += 500) {
    const slice = events.slice(i, i + 500);
    const last = slice[slice.length - 1]!.ts;
    const ctx = enricher.batchContext(last as never, last, undefined);
    batches.push(
      slice.map((ev) => {
        const r = enricher.enrich(ev, site, ctx);
        if (r.kind !== 'enriched') throw new Error(r.message);
        return r.event;
      }),
    );
  }
  const t0 = performance.now();
  for (const b of batches) {
    clock.set(b[b.length - 1]!.ts);
    pipeline.processNow(b);
  }
  clock.set(START + DAY);
  pipeline.tick();
  return (performance.now() - t0) / 1000;
}

row('pipeline, sessionizer only (kosarak)', events.length, runKosarak(() => []));
row('pipeline + usage (kosarak)', events.length, runKosarak((site, time) => [new UsageProcessor({ site, time })]));

{
  const N = 1_000_000;
  const KEEP = 20_000;
  const { pipeline } = pipelineFor((site, time) => [new UsageProcessor({ site, time })], {
    time: { pane: 'PT1M', retentionPanes: 240, maxVisitors: KEEP },
    sites: [{ id: 'data', allowedOrigins: ['*'], processors: { usage: { maxProfiles: KEEP, maxPendingSessions: KEEP } } }],
  });
  const cpu0 = process.cpuUsage().user;
  const t0 = performance.now();
  const batch: EnrichedEvent[] = [];
  for (let i = 0; i < N; i += 10_000) {
    batch.length = 0;
    for (let j = 0; j < 10_000; j++) {
      const ts = START + i + j;
      const vid = `visitor-${i + j}`;
      batch.push({
        site: 'data' as EnrichedEvent['site'],
        id: `e${i + j}`,
        type: 'page_view',
        visitorId: vid as EnrichedEvent['visitorId'],
        ts: ts as EnrichedEvent['ts'],
        receivedAt: ts as EnrichedEvent['receivedAt'], seq: 0,
        partition: (i + j) & 15,
        page: '/',
        bot: false,
        event: { id: `e${i + j}`, type: 'page_view', visitorId: vid, ts, url: 'https://shop.test/' },
        session: undefined as unknown as EnrichedEvent['session'],
      });
    }
    pipeline.processNow(batch);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpuUs = (process.cpuUsage().user - cpu0) / N;
  row('1M distinct visitors, 20k kept (sessionizer + usage)', N, seconds, `${cpuUs.toFixed(2)} µs CPU/event incl. building the events; heap ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB`);
}

const pad = Math.max(...rows.map((r) => r.name.length));
for (const r of rows) console.log(`${r.name.padEnd(pad)}  ${r.seconds.toFixed(3).padStart(8)} s  ${r.eventsPerSecond.toLocaleString('en').padStart(12)} ev/s  ${r.note}`);
const out = join(here, 'results', 'usage.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, date: new Date().toISOString(), data: 'kosarak25k.txt', rows }, null, 2) + '\n');
