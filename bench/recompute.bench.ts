/**
 * Rule recomputes under a backfill: 1,500 retail.dat baskets bought by 300 visitors (five purchases
 * each, 40 s apart), sent through the whole app in 50-event batches. Event time moves ~33 min per
 * batch, so the demo site's `recomputeEvery: PT5S` recomputes every window after every batch: with
 * ~90 baskets in the last hour every pair clears the count floor of 1, ~50 k rules per PT1H recompute.
 * What it shows is the cost of recomputes (mining, keeping the top `maxRules`, installing a rule set),
 * not ingest; a live stream recomputes once per `recomputeEvery` of event time.
 * Run: `npx tsx bench/recompute.bench.ts` — prints JSON, writes bench/results/recompute.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp } from '../src/app';
import { ManualClock } from '../src/clock';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/logger';
import { readRetailBaskets, retailEvents } from '../src/replay/dataset-readers';

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = process.env['CM_DATA_DIR'] ?? join(here, '..', '..', 'shared', 'data');
const START = Date.UTC(2026, 10, 30, 9);
const BATCH = 50;
const RUNS = 3;

const config = loadConfig({}, { logLevel: 'silent', sites: [{ id: 'demo', secret: 'demo-secret', allowedOrigins: ['*'], processors: { 'cross-sell': { recomputeEvery: 'PT5S' } } }] });
const site = config.sites.get('demo')!;
const events = retailEvents(readRetailBaskets(join(dataDir, 'retail.dat')).slice(0, 1_500), { startMs: START, sessionSpacingMs: 40_000 }).map((e, i) => ({ ...e, visitorId: `r-v${i % 300}` }));

async function once(): Promise<{ seconds: number; rules: number }> {
  const clock = new ManualClock(START);
  const app = createApp({ config, clock, logger: createLogger('silent') });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < events.length; i += BATCH) {
    const b = events.slice(i, i + BATCH);
    clock.set(Math.max(clock.now(), ...b.map((e) => e.ts)));
    const raw = JSON.stringify({ type: 'batch', seq: i, sentAt: clock.now(), events: b });
    const r = app.gateway.collectSync(site, { transport: 'nats', raw, limit: { maxBytes: 1e7, tooLargeCode: 'frame_too_large' }, client: undefined, userAgent: 'Mozilla/5.0 Chrome/120.0' });
    if (r.kind !== 'ack') throw new Error(`batch ${i}: ${r.kind}`);
    await app.pipeline.drain();
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const rules = (app.pipeline.processor('demo', 'cross-sell') as unknown as { current(): { rules: readonly unknown[] } }).current().rules.length;
  await app.stop();
  return { seconds: Number(seconds.toFixed(3)), rules };
}

const runs = [];
for (let i = 0; i < RUNS; i++) runs.push(await once());
const out = { bench: 'recompute', at: new Date().toISOString(), cpu: cpus()[0]?.model, load: loadavg(), purchases: events.length, batches: Math.ceil(events.length / BATCH), runs };
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'recompute.json'), `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`recompute: ${runs.map((r) => `${r.seconds} s`).join(' / ')} for ${events.length} purchases in ${out.batches} batches (a recompute after each)\n`);
