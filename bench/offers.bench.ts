/**
 * Event → offer-trigger latency (issue 4), each beside a ceiling measured in the same run:
 *   - in-process ceiling: the bare rule look-up (RuleSet.byAntecedent + the best lift among the hits)
 *     for the same events, no catalog, no gates, no trigger object;
 *   - in-process: NextBestOfferProcessor.onEvent → trigger emitted (listener called), per event;
 *   - over WebSocket ceiling: a bare `ws` echo server on 127.0.0.1 (send a batch frame, get a small
 *     reply), one socket, one frame in flight;
 *   - over WebSocket: the real app on 127.0.0.1 (demo site, its catch-all offer), rules seeded by
 *     streamed baskets; a visitor sends a page view on WS /v1/collect and waits for the
 *     `{"type":"offer"}` on the same socket (and a WS /v1/offers storefront subscriber gets it too).
 * Run: `npx tsx bench/offers.bench.ts` — prints a table, writes bench/results/offers.json.
 * Not measured here: NATS and webhook channels, many concurrent sockets (offers under ingest load:
 * bench/offers-under-load.bench.ts); one
 * 2-core machine shared with other work, so read the ratios rather than the absolute figures.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { WebSocketServer, type RawData } from 'ws';
import { createApp } from '../src/app';
import { frame, open, seedRules, shopper } from './offer-shoppers';
import { SystemClock } from '../src/clock';
import { loadConfig } from '../src/config';
import type { EnrichedEvent } from '../src/events/enriched-event';
import { createLogger } from '../src/logger';
import type { EpochMillis, SessionId, SiteId, VisitorId } from '../src/types';
import { RuleSet, type Rule } from '../processors/cross-sell/rule-set';
import { NextBestOfferProcessor } from '../processors/next-best-offer/next-best-offer-processor';
import { parseNextBestOfferSettings } from '../processors/next-best-offer/next-best-offer-settings';

const IN_PROCESS_EVENTS = 50_000;
const WS_ROUNDS = 1_000;
const PRODUCTS = 500;

interface Row {
  name: string;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  /** This row's p50 over its ceiling's p50 (lower is closer to the ceiling). */
  p50OverCeiling?: number;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const row = (name: string, ms: number[], ceiling?: Row): Row => {
  const r: Row = { name, samples: ms.length, p50Ms: round(pct(ms, 50)), p99Ms: round(pct(ms, 99)) };
  if (ceiling !== undefined) r.p50OverCeiling = round(r.p50Ms / ceiling.p50Ms);
  return r;
};
const round = (x: number): number => Math.round(x * 10_000) / 10_000;
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const rows: Row[] = [];

// Rules: product i ⇒ i+1 and i ⇒ i+2 (lift 2 and 1.5), and i ⇒ i+3 with lift 0.9 (floored).
function ruleSet(): RuleSet {
  const rules: Rule[] = [];
  for (let i = 0; i < PRODUCTS; i++) {
    const mk = (d: number, confidence: number, lift: number): Rule => ({
      antecedent: [`p${i}`],
      consequent: [`p${(i + d) % PRODUCTS}`],
      level: 'product',
      kind: 'association',
      count: 100,
      support: 0.01,
      confidence,
      lift,
      conviction: null,
    });
    rules.push(mk(1, 0.5, 2), mk(2, 0.4, 1.5), mk(3, 0.6, 0.9));
  }
  return new RuleSet({ site: 'bench', version: 1, windowName: 'PT1H', window: { start: 0 as EpochMillis, end: 3_600_000 as EpochMillis }, baskets: { purchase: 10_000, session: 0, sequential: 0, viewSequential: 0 }, errorBound: 0, rules });
}

function event(n: number, visitor: string): EnrichedEvent {
  const p = `p${n % PRODUCTS}`;
  const ts = 1_000_000 + n;
  return {
    site: 'bench' as SiteId,
    id: `e${n}`,
    type: 'page_view',
    visitorId: visitor as VisitorId,
    ts: ts as EpochMillis,
    receivedAt: ts as EpochMillis, seq: 0,
    partition: 0,
    page: '/product/:id',
    bot: false,
    event: { id: `e${n}`, type: 'page_view', visitorId: visitor, ts, url: `https://shop.example/product/${p}`, product: { id: p, category: 'c' } },
    session: { id: `s-${visitor}` as SessionId, start: ts as EpochMillis, isNew: false, prevPage: undefined, nextPage: undefined, nextPageTs: Number.NaN as EpochMillis, pageIndex: 0, returningVisitor: false },
  };
}

// 1. In-process ceiling: the rule look-up alone.
const rs = ruleSet();
const events = Array.from({ length: IN_PROCESS_EVENTS }, (_, n) => event(n, `v${n}`));
{
  const ms: number[] = [];
  let sink = 0;
  for (const e of events) {
    const t0 = nowMs();
    const hits = rs.byAntecedent((e.event as { product: { id: string } }).product.id);
    let best = 0;
    for (const r of hits) if (r.lift > best) best = r.lift;
    sink += best;
    ms.push(nowMs() - t0);
  }
  if (sink === 0) throw new Error('no rules found');
  rows.push(row('in-process: bare rule look-up (ceiling)', ms));
}

// 2. In-process: the processor, one fresh visitor per event (every event fires).
{
  const parsed = parseNextBestOfferSettings('bench', { offers: [{ id: 'all', target: { consequent: true }, text: 'Try {consequent}', value: 10 }], caps: { offer: { max: 10_000_000, window: 'PT1H' }, site: { max: 10_000_000, window: 'PT1H' } } });
  if (parsed.kind !== 'ok') throw new Error(parsed.problems.join('\n'));
  const nbo = new NextBestOfferProcessor({ site: 'bench' as SiteId, settings: parsed.settings, catalog: parsed.catalog, rules: { current: () => rs }, clock: new SystemClock(), registry: new Registry(), onEvict: () => {} });
  let fired = 0;
  let t0 = 0;
  const ms: number[] = [];
  nbo.ledger.subscribe({
    onTrigger: () => {
      ms.push(nowMs() - t0);
      fired++;
    },
    onOutcome: () => {},
  });
  const wall0 = nowMs();
  for (const e of events) {
    t0 = nowMs();
    nbo.onEvent(e, 0 as EpochMillis);
  }
  const wall = nowMs() - wall0;
  if (fired !== IN_PROCESS_EVENTS) throw new Error(`fired ${fired} of ${IN_PROCESS_EVENTS}`);
  const r = row('in-process: NextBestOfferProcessor event → trigger', ms, rows[0]);
  rows.push(r);
  console.log(`in-process throughput: ${Math.round(IN_PROCESS_EVENTS / (wall / 1000))} events/s (each firing a trigger)`);
}

// 3. Over-WebSocket ceiling: a bare ws echo of the same frames.
{
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wss.on('connection', (ws) => ws.on('message', (d: RawData) => ws.send(`{"type":"ack","seq":${(JSON.parse(String(d)) as { seq: number }).seq}}`)));
  const port = (wss.address() as { port: number }).port;
  const ws = await open(`ws://127.0.0.1:${port}`);
  const ms: number[] = [];
  for (let i = 0; i < WS_ROUNDS; i++) {
    const f = frame(i, [{ id: `x${i}`, type: 'page_view', visitorId: `w${i}`, ts: Date.now(), url: 'https://shop.example/product/p0', product: { id: 'p0' } }]);
    const t0 = nowMs();
    await new Promise<void>((resolve) => {
      ws.once('message', () => resolve());
      ws.send(f);
    });
    ms.push(nowMs() - t0);
  }
  ws.close();
  await new Promise((r) => wss.close(r));
  rows.push(row('ws: bare echo round trip on 127.0.0.1 (ceiling)', ms));
}

// 4. Over WebSocket through the real app.
{
  const config = loadConfig({}, {
    port: 0,
    adminPort: 0,
    host: '127.0.0.1',
    time: { outOfOrderness: 'PT1S', idleTimeout: 'PT1S', tick: 100 },
    ingest: { rateLimitPerSecond: 10_000_000, rateLimitBurst: 10_000_000 },
    sites: [{ id: 'demo', secret: 'demo-secret', subscriberSecret: 'demo-subscriber-secret', processors: { 'cross-sell': { recomputeEvery: 'PT1S' } } }],
  });
  const registry = new Registry();
  const app = createApp({ config, logger: createLogger('silent'), registry });
  const { port } = await app.start();
  const base = `ws://127.0.0.1:${port}`;
  await seedRules(base);

  const storefront = await open(`${base}/v1/offers?site=demo`, { authorization: 'Bearer demo-subscriber-secret' });
  const visitor = await open(`${base}/v1/collect?site=demo`);
  let pendingOffer: ((id: string) => void) | undefined;
  let pendingAck: (() => void) | undefined;
  let pendingStorefront: ((id: string) => void) | undefined;
  visitor.on('message', (d: RawData) => {
    const m = JSON.parse(String(d)) as { type: string; triggerId?: string };
    if (m.type === 'offer') pendingOffer?.(m.triggerId ?? '');
    else if (m.type === 'ack') pendingAck?.();
  });
  storefront.on('message', (d: RawData) => {
    const m = JSON.parse(String(d)) as { type: string; triggerId?: string };
    if (m.type === 'offer') pendingStorefront?.(m.triggerId ?? '');
  });
  const roundTrip = async (i: number): Promise<{ ack: number; offer: number; storefront: number } | undefined> => {
    const { vk, visitorId } = shopper();
    const f = frame(i, [{ id: `b-${i}-${visitorId}`, type: 'page_view', visitorId, ts: Date.now(), url: 'https://shop.example/product/A', product: { id: 'A' } }], vk);
    const t0 = nowMs();
    let ack = 0;
    let offer = 0;
    let store = 0;
    const acked = new Promise<void>((r) => (pendingAck = () => ((ack = nowMs() - t0), r())));
    const offered = new Promise<boolean>((r) => {
      pendingOffer = () => ((offer = nowMs() - t0), r(true));
      setTimeout(() => r(false), 2_000).unref();
    });
    const stored = new Promise<void>((r) => (pendingStorefront = () => ((store = nowMs() - t0), r())));
    visitor.send(f);
    await acked;
    if (!(await offered)) return undefined;
    await stored;
    return { ack, offer, storefront: store };
  };
  // Wait for the rules: the first visitor to get an offer.
  const deadline = Date.now() + 30_000;
  for (let i = 0; (await roundTrip(1_000_000 + i)) === undefined; i++) {
    if (Date.now() > deadline) throw new Error('no offer from the app within 30 s');
  }
  const acks: number[] = [];
  const offers: number[] = [];
  const stores: number[] = [];
  for (let i = 0; i < WS_ROUNDS; i++) {
    const r = await roundTrip(i);
    if (r === undefined) throw new Error(`round ${i}: no offer`);
    acks.push(r.ack);
    offers.push(r.offer);
    stores.push(r.storefront);
  }
  const ceiling = rows.find((r) => r.name.startsWith('ws: bare echo'));
  rows.push(row('ws: real app, page view → ack on WS /v1/collect', acks, ceiling));
  rows.push(row('ws: real app, page view → offer on the visitor’s own socket', offers, ceiling));
  rows.push(row('ws: real app, page view → offer at a WS /v1/offers subscriber', stores, ceiling));
  const h = await registry.getSingleMetric('clickstream_event_to_offer_seconds')?.get();
  const sum = h?.values.find((v) => (v as { metricName?: string }).metricName === 'clickstream_event_to_offer_seconds_sum')?.value ?? 0;
  const count = h?.values.find((v) => (v as { metricName?: string }).metricName === 'clickstream_event_to_offer_seconds_count')?.value ?? 0;
  console.log(`server-side clickstream_event_to_offer_seconds: mean ${round((sum / Math.max(1, count)) * 1000)} ms over ${count} triggers`);
  visitor.close();
  storefront.close();
  await app.stop();
}

console.table(rows);
const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(
  join(here, 'results', 'offers.json'),
  `${JSON.stringify({ at: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, inProcessEvents: IN_PROCESS_EVENTS, wsRounds: WS_ROUNDS, rows }, null, 2)}\n`,
);
