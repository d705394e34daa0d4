/**
 * Global rules scaled out (issue "Scale-out", must have 2): what the owners' pushed pane partials
 * cost, beside what gathering every partition's whole cross-sell state each round (the pull design
 * this replaced) would transfer, measured in the same run. retail.dat purchase baskets (88,162, 500 ms
 * apart: 13 one-hour panes) over 16 partitions held by two GlobalRules instances on a real
 * nats-server; the role holder merges and mines. Rows: the first publication (every pane), a round
 * after 1 % more baskets, and quiet rounds.
 * Run: `npx tsx bench/global-rules.bench.ts` — prints JSON, writes bench/results/global-rules.json.
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { GlobalRules } from '../src/cluster/global-rules';
import { CrossSellProcessor, CrossSellRules } from '../processors/cross-sell/cross-sell-processor';
import { parseCrossSellSettings } from '../processors/cross-sell/cross-sell-settings';
import { createLogger } from '../src/logger';
import { VisitorPartitioner } from '../src/pipeline/visitor-partitioner';
import { epochMillis, type EpochMillis, type SessionId, type SiteId, type VisitorId } from '../src/types';
import { startNatsServer } from '../test/helpers/nats-server';

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = process.env['CM_DATA_DIR'] ?? join(here, '..', '..', 'shared', 'data');
const SITE = 'retail' as SiteId;
const T0 = Date.UTC(2026, 0, 5);
const PARTITIONS = 16;
const INTERVAL_MS = 500;

const parsed = parseCrossSellSettings('retail', {
  windows: ['P1D'], pane: 'PT1H', minSupport: 0.01, minConfidence: 0, minLift: 0,
  itemCapacity: 100_000, pairCapacity: 1_000_000, tripleCapacity: 0, maxBasketItems: 1_000, maxRules: 100_000,
  sessionBaskets: false, sequential: false, categoryLevel: false,
});
if (parsed.kind !== 'ok') throw new Error(parsed.problems.join('; '));
const settings = parsed.settings;
const baskets = readFileSync(join(dataDir, 'retail.dat'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => l.trim().split(/\s+/));
const partitioner = new VisitorPartitioner(PARTITIONS);
const procs = Array.from({ length: PARTITIONS }, () => new CrossSellProcessor({ site: SITE, settings, allowedLatenessMs: 0 }));
let watermark = Number.NEGATIVE_INFINITY;
function feed(from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const ts = epochMillis(T0 + i * 500);
    const visitorId = `v${i}` as VisitorId;
    const p = partitioner.partitionOf(visitorId);
    procs[p]!.onEvent(
      {
        site: SITE, id: `b${i}`, type: 'form', visitorId, ts, receivedAt: ts, seq: 0, partition: p, page: '/checkout', bot: false,
        event: { id: `b${i}`, type: 'form', visitorId, ts, url: '/checkout', formId: 'checkout', action: 'submit', items: baskets[i]!.map((productId) => ({ productId, quantity: 1 })) },
        session: { id: `s${i}` as SessionId, start: ts, isNew: true, prevPage: undefined, nextPage: undefined, nextPageTs: Number.NaN as EpochMillis, pageIndex: 0, returningVisitor: false },
      },
      epochMillis(watermark),
    );
    watermark = Math.max(watermark, ts);
  }
}

const nats = await startNatsServer();
const conns: NatsConnection[] = [];
const sent = { partials: 0, bytes: 0 };
const views: CrossSellRules[] = [];
const instances: GlobalRules[] = [];
for (const [id, first, role] of [['a', 0, 1], ['b', PARTITIONS / 2, undefined]] as const) {
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  conns.push(nc);
  const held = new Map(Array.from({ length: PARTITIONS / 2 }, (_, k) => [first + k, 1] as const));
  const view = new CrossSellRules({ site: SITE, settings, parts: () => [], allowedLatenessMs: 0, adoptsRules: true });
  views.push(view);
  const rules = new GlobalRules({
    instanceId: id, sites: [SITE], partitions: PARTITIONS,
    local: { ready: () => held, processor: (_s, p) => procs[p], watermark: () => watermark },
    tenure: (p) => held.get(p), roleEpoch: () => role, rulesView: () => view,
    view: (_s, _n, parts) => new CrossSellRules({ site: SITE, settings, parts: () => parts.of<CrossSellProcessor>('cross-sell'), allowedLatenessMs: 0 }),
    replicas: 1, intervalMs: INTERVAL_MS, inlineMaxBytes: 512 * 1024,
    counted: (outcome, bytes) => {
      if (outcome === 'inline' || outcome === 'object') {
        sent.partials++;
        sent.bytes += bytes;
      }
    },
    logger: createLogger('warn'),
  });
  await rules.start(nc, jetstream(nc));
  instances.push(rules);
}

/** Waits until both views adopted rules over `n` purchase baskets; the partials and bytes sent meanwhile, and the wall time. */
async function round(name: string, n: number): Promise<Record<string, unknown>> {
  const before = { ...sent };
  const t0 = process.hrtime.bigint();
  const deadline = Date.now() + 120_000;
  while (!views.every((v) => v.current().baskets.purchase === n)) {
    if (Date.now() > deadline) throw new Error(`${name}: rules over ${n} baskets not adopted in 120 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { round: name, baskets: n, partials: sent.partials - before.partials, bytes: sent.bytes - before.bytes, secondsToAdopted: Number(s.toFixed(2)) };
}

const N = 80_000;
feed(0, N);
const pullBytes = (): number => gzipSync(Buffer.from(JSON.stringify(procs.map((p) => p.snapshot())))).length;
const rows: Array<Record<string, unknown>> = [];
rows.push({ ...(await round('first publication (every pane)', N)), pullBytesPerRound: pullBytes() });
feed(N, N + 800);
rows.push({ ...(await round('after 1 % more baskets (800, the newest panes)', N + 800)), pullBytesPerRound: pullBytes() });
const quiet = { ...sent };
await new Promise((r) => setTimeout(r, 5 * INTERVAL_MS));
rows.push({ round: `quiet: ${5} rounds, nothing new`, baskets: N + 800, partials: sent.partials - quiet.partials, bytes: sent.bytes - quiet.bytes, pullBytesPerRound: pullBytes() });

for (const g of instances) await g.stop();
for (const c of conns) await c.close();
await nats.stop();

const result = { machine: { cores: cpus().length, node: process.version }, partitions: PARTITIONS, intervalMs: INTERVAL_MS, rules: views[0]!.current().rules.length, rows };
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'global-rules.json'), `${JSON.stringify(result, null, 2)}\n`);
process.exit(0);
