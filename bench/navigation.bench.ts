/**
 * Navigation and content processors on real data (kosarak25k as page views), beside a ceiling in the
 * same run: a bare Map count of the same transitions and pages (no sessions, no windows, no bounds).
 *   - ceiling: Map<string, number> transition + page counts over the pre-sessionized lines;
 *   - sessionizer only: the Pipeline with no processor (sessions, watermarks);
 *   - navigation + content: the Pipeline with both processors (exact capacities), then one window query.
 * Run: `npx tsx bench/navigation.bench.ts` — prints a table, writes bench/results/navigation.json.
 * Needs ../shared/data/kosarak25k.txt (or CM_DATA_DIR). Not measured: memory, gateway/validation
 * (bench/ingest.bench.ts), the other processors.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { ContentProcessor } from '../processors/content/content-processor';
import { NavigationProcessor, NavigationView } from '../processors/navigation/navigation-processor';
import type { Processor } from '../processors/processor';
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
const sessions = readKosarakSessions(file);
const events = kosarakEvents(sessions, { startMs: START });

interface Row {
  name: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  note: string;
}
const rows: Row[] = [];
function row(name: string, seconds: number, note = ''): void {
  rows.push({ name, events: events.length, seconds, eventsPerSecond: Math.round(events.length / seconds), note });
}

// Ceiling: the counts alone.
{
  const t0 = performance.now();
  const trans = new Map<string, number>();
  const pages = new Map<string, number>();
  for (const s of sessions) {
    for (let i = 0; i < s.length; i++) {
      const p = `/page/${s[i]!}`;
      pages.set(p, (pages.get(p) ?? 0) + 1);
      if (i > 0) {
        const k = `/page/${s[i - 1]!}\u001f${p}`;
        trans.set(k, (trans.get(k) ?? 0) + 1);
      }
    }
  }
  row('ceiling: bare Map counts', (performance.now() - t0) / 1000, `${trans.size} transitions, ${pages.size} pages`);
}

function run(processors: (site: SiteConfig, time: ReturnType<typeof loadConfig>['time']) => Processor[]): { seconds: number; pipeline: Pipeline } {
  const config = loadConfig(
    {},
    {
      sites: [{ id: 'data', allowedOrigins: ['*'], urlRules: { groups: [], keepParams: [] }, processors: { navigation: { maxTransitions: 100_000, maxPages: 20_000, maxPaths: 200_000 }, content: { maxPages: 20_000 } } }],
      time: { pane: 'PT1M', retentionPanes: 2_000 },
    },
  );
  const site = config.sites.get('data') as SiteConfig;
  const clock = new ManualClock(START);
  const pipeline = new Pipeline({
    config,
    clock,
    metrics: createCoreMetrics(new Registry(), { defaultMetrics: false }),
    logger: createLogger('silent'),
    viewsFor: defaultViews,
    processorsFor: (s) => processors(s, config.time),
  });
  const enricher = new EventEnricher(config);
  // Enrich up front: the figure is the pipeline's, not the enricher's.
  const batches: EnrichedEvent[][] = [];
  for (let i = 0; i < events.length; i += 500) {
    const slice = events.slice(i, i + 500);
    const last = slice[slice.length - 1]!.ts;
    const ctx = enricher.batchContext(last as never, last, undefined);
    batches.push(slice.map((ev) => {
      const r = enricher.enrich(ev, site, ctx);
      if (r.kind !== 'enriched') throw new Error(r.message);
      return r.event;
    }));
  }
  const t0 = performance.now();
  for (const b of batches) {
    clock.set(b[b.length - 1]!.ts);
    pipeline.processNow(b);
  }
  clock.set(START + DAY);
  pipeline.tick();
  return { seconds: (performance.now() - t0) / 1000, pipeline };
}

row('pipeline, sessionizer only', run(() => []).seconds);
const onEvict = () => undefined;
const full = run((site, time) => [new NavigationProcessor({ site, time, context: { site: site.id, onEvict } }), new ContentProcessor({ site, time, context: { site: site.id, onEvict } })]);
row('pipeline + navigation + content', full.seconds);
{
  const nav = full.pipeline.processor('data', 'navigation') as NavigationView;
  const t0 = performance.now();
  const w = nav.windows(DAY, 1)[0]!;
  const s = (performance.now() - t0) / 1000;
  rows.push({ name: 'navigation query: one-day window', events: 0, seconds: s, eventsPerSecond: 0, note: `${w.transitions.length} transitions merged from ${Math.round((w.end - w.start) / 60_000)} min of 1-min panes` });
}

const pad = Math.max(...rows.map((r) => r.name.length));
for (const r of rows) console.log(`${r.name.padEnd(pad)}  ${r.seconds.toFixed(3).padStart(8)} s  ${r.eventsPerSecond > 0 ? `${r.eventsPerSecond.toLocaleString('en').padStart(12)} ev/s` : ''.padStart(17)}  ${r.note}`);
const out = join(here, 'results', 'navigation.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, date: new Date().toISOString(), data: 'kosarak25k.txt', rows }, null, 2) + '\n');
