/**
 * Whole-app throughput in-process on the real data sets, each beside ceilings measured in the same run:
 *   - kosarak25k as page views, Diginetica item views (product page views), retail.dat as purchases
 *     (one checkout `form` submit with all its items per basket) — the replay tool's timelines — and
 *     the first 24,000 retail purchases 1 s apart (6.7 h of event time: windows over many panes);
 *   - whole app: `createApp` with the default config (site demo, every processor), a manual clock
 *     that follows event time; frames of 200 events go through `gateway.collect` (decode, validate,
 *     dedupe, enrich) and the pipeline (sessions, watermarks, all processors) exactly as
 *     `replay --in-process` sends them, then event time moves past every gap so all sessions close;
 *   - ceiling 1: bare JSON.parse + ajv validation (EventValidator) of the same frames;
 *   - ceiling 2: a bare Map count of the same items (urls, product ids) from the parsed events.
 * Run: `npx tsx bench/pipeline.bench.ts` — prints a table, writes bench/results/pipeline.json.
 * Env: PIPELINE_BENCH_LIMIT=N replays only the first N events of each set (quick checks);
 * PIPELINE_BENCH_SETS=retail,kosarak picks the sets (kosarak, diginetica, retail, retail-1s). Needs ../shared/data (or CM_DATA_DIR).
 * Not measured: sockets (bench/ingest.bench.ts), NATS, queries, memory; building the events from
 * the file and serialising the frames happen before the clock starts.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp } from '../src/app';
import { ManualClock } from '../src/clock';
import { loadConfig } from '../src/config';
import { EventValidator } from '../src/events/event-validator';
import { createLogger } from '../src/logger';
import { digineticaEvents, kosarakEvents, readDigineticaViews, readKosarakSessions, readRetailBaskets, retailEvents } from '../src/replay/dataset-readers';
import { appDigest } from '../test/helpers/app-digest';

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = process.env['CM_DATA_DIR'] ?? resolve(here, '..', '..', 'shared', 'data');
const LIMIT = Number(process.env['PIPELINE_BENCH_LIMIT'] ?? 0);
const BATCH = 200; // the replay tool's default frame size
const START = Date.UTC(2026, 0, 5, 1, 0, 0);
const RETAIL_1S_EVENTS = 24_000;

interface WireEvent {
  readonly ts: number;
  readonly url: string;
  readonly product?: { readonly id: string };
  readonly items?: ReadonlyArray<{ readonly productId: string }>;
}

interface DataSet {
  readonly name: string;
  readonly file: string;
  readonly as: string;
  readonly build: (path: string) => WireEvent[];
}

const SETS: readonly DataSet[] = [
  { name: 'kosarak', file: 'kosarak25k.txt', as: 'page views', build: (p) => kosarakEvents(readKosarakSessions(p), { startMs: START }) },
  { name: 'diginetica', file: 'diginetica_sample_train-item-views.csv', as: 'product page views', build: (p) => digineticaEvents(readDigineticaViews(p), { startMs: START }) },
  { name: 'retail', file: 'retail.dat', as: 'purchases (form submit with items)', build: (p) => retailEvents(readRetailBaskets(p), { startMs: START }) },
  // The same purchases 1 s apart: a longer timeline, so windows span many panes and slide (recompute cost grows with them).
  {
    name: 'retail-1s',
    file: 'retail.dat',
    as: `purchases 1 s apart, first ${RETAIL_1S_EVENTS} (6.7 h)`,
    build: (p) => retailEvents(readRetailBaskets(p), { startMs: START, sessionSpacingMs: 1_000 }).slice(0, RETAIL_1S_EVENTS),
  },
];
const wanted = process.env['PIPELINE_BENCH_SETS']?.split(',');

interface Row {
  set: string;
  name: string;
  events: number;
  /** Items (line items of purchases, else 1 per event). */
  items: number;
  seconds: number;
  eventsPerSecond: number;
  ratioToParseCeiling?: number;
  note: string;
}
const rows: Row[] = [];
const seconds = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9;

function frames(events: readonly WireEvent[]): Array<{ raw: string; lastTs: number }> {
  const out: Array<{ raw: string; lastTs: number }> = [];
  for (let i = 0, seq = 1; i < events.length; i += BATCH, seq++) {
    const batch = events.slice(i, i + BATCH);
    const lastTs = batch[batch.length - 1]!.ts;
    out.push({ raw: JSON.stringify({ type: 'batch', seq, sentAt: lastTs, events: batch }), lastTs });
  }
  return out;
}

for (const set of SETS) {
  if (wanted !== undefined && !wanted.includes(set.name)) continue;
  const path = join(dataDir, set.file);
  if (!existsSync(path)) {
    process.stderr.write(`missing ${path}: set CM_DATA_DIR\n`);
    process.exit(1);
  }
  let events = set.build(path);
  if (LIMIT > 0 && events.length > LIMIT) events = events.slice(0, LIMIT);
  const items = events.reduce((n, e) => n + (e.items?.length ?? 1), 0);
  const fs = frames(events);
  const n = events.length;

  // Ceiling 1: JSON.parse + validation of every event of the same frames.
  {
    const validator = new EventValidator();
    const t0 = process.hrtime.bigint();
    let ok = 0;
    for (const f of fs) {
      const b = JSON.parse(f.raw) as { events: unknown[] };
      for (const e of b.events) if (validator.validate(e).kind === 'valid') ok++;
    }
    const s = seconds(t0);
    if (ok !== n) throw new Error(`${set.name}: validated ${ok} of ${n}`);
    rows.push({ set: set.name, name: 'ceiling: JSON.parse + validate', events: n, items, seconds: s, eventsPerSecond: Math.round(n / s), note: '' });
  }

  // Ceiling 2: a bare Map count of the same items (after the parse, which ceiling 1 timed).
  {
    const parsed = fs.map((f) => (JSON.parse(f.raw) as { events: WireEvent[] }).events);
    const t0 = process.hrtime.bigint();
    const counts = new Map<string, number>();
    for (const batch of parsed) {
      for (const e of batch) {
        if (e.items !== undefined) for (const it of e.items) counts.set(it.productId, (counts.get(it.productId) ?? 0) + 1);
        else {
          const k = e.product?.id ?? e.url;
          counts.set(k, (counts.get(k) ?? 0) + 1);
        }
      }
    }
    const s = seconds(t0);
    rows.push({ set: set.name, name: 'ceiling: bare Map count of items', events: n, items, seconds: s, eventsPerSecond: Math.round(n / s), note: `${counts.size} distinct` });
  }

  // The whole app in-process, as `replay --in-process` drives it.
  {
    const config = loadConfig({});
    const site = config.sites.get('demo');
    if (site === undefined) throw new Error('no demo site in the default config');
    const clock = new ManualClock(events[0]?.ts ?? START);
    const app = createApp({ config, clock, logger: createLogger('silent') });
    const limit = { maxBytes: config.ingest.maxFrameBytes, tooLargeCode: 'frame_too_large' } as const;
    const t0 = process.hrtime.bigint();
    let accepted = 0;
    let retries = 0;
    for (const f of fs) {
      if (f.lastTs > clock.now()) clock.set(f.lastTs);
      for (;;) {
        const r = app.gateway.collectSync(site, { transport: 'nats', raw: f.raw, limit, client: undefined, userAgent: 'clickstream-miner-bench' });
        if (r.kind === 'ack') {
          accepted += r.ack.accepted;
          if (app.pipeline.queueDepth > config.ingest.queueCapacity / 2) await app.pipeline.drain();
          break;
        }
        retries++;
        await app.pipeline.drain();
      }
    }
    await app.pipeline.drain();
    const t = config.time;
    clock.advance(t.sessionGapMs + t.outOfOrdernessMs + t.idleTimeoutMs + 2 * t.paneMs);
    app.pipeline.tick();
    const s = seconds(t0);
    // PIPELINE_BENCH_DIGEST=1: every window and rule set hashed, to compare two checkouts (a differential replay).
    if (process.env['PIPELINE_BENCH_DIGEST'] === '1') process.stdout.write(`digest ${set.name} ${appDigest(app, 'demo').hash}\n`);
    await app.stop();
    if (accepted !== n) throw new Error(`${set.name}: accepted ${accepted} of ${n} (the frames must all be valid)`);
    rows.push({ set: set.name, name: `whole app in-process (${set.as})`, events: n, items, seconds: s, eventsPerSecond: Math.round(n / s), note: retries > 0 ? `${retries} frames retried after a drain` : '' });
  }
  const ceiling = rows.find((r) => r.set === set.name && r.name.startsWith('ceiling: JSON'))?.eventsPerSecond ?? 1;
  for (const r of rows) if (r.set === set.name) r.ratioToParseCeiling = Number((r.eventsPerSecond / ceiling).toFixed(3));
}

console.table(rows.map((r) => ({ ...r, seconds: Number(r.seconds.toFixed(3)) })));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(
  join(here, 'results', 'pipeline.json'),
  `${JSON.stringify({ at: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, loadAverage1m: Number(loadavg()[0]?.toFixed(2)), limit: LIMIT, batch: BATCH, rows }, null, 2)}\n`,
);
