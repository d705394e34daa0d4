/**
 * Ingest throughput (issue 2's first figure), each beside a ceiling measured in the same run:
 *   - ceiling: bare JSON.parse + ajv validation of every event of the same frames;
 *   - in-process: CollectGateway.collect (decode, validate, dedupe, enrich) + the pipeline with every
 *     site processor, drained to the end;
 *   - ceiling: a bare `ws` server that parses each frame and answers a fixed ack, over one socket;
 *   - over one WebSocket: the real server (WS /v1/collect), acks awaited, processors drained.
 * Run: `npx tsx bench/ingest.bench.ts` — prints a table, writes bench/results/ingest.json.
 * Not measured: HTTP and NATS transports, many sockets, memory; one 2-core machine shared with others.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { createApp } from '../src/app';
import { loadConfig } from '../src/config';
import { EventValidator } from '../src/events/event-validator';
import { createLogger } from '../src/logger';
import { NO_RATE_LIMITS } from './log-fixtures';

const BATCHES = 1000;
const PER_BATCH = 100;
const EVENTS = BATCHES * PER_BATCH;
const WINDOW = 32; // unacknowledged frames in flight over the socket

function frames(tag: string): string[] {
  const now = Date.now();
  const out: string[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const events = [];
    for (let i = 0; i < PER_BATCH; i++) {
      const n = b * PER_BATCH + i;
      const p = n % 500;
      events.push({
        id: `${tag}-${n}`,
        type: 'page_view',
        visitorId: `visitor-${n % 5000}`,
        ts: now - 1000 + (n % 1000),
        url: `https://shop.example/product/${p}?utm_source=bench`,
        title: `Product ${p}`,
        product: { id: `p${p}`, category: `c${p % 20}`, price: 9.99 },
      });
    }
    out.push(JSON.stringify({ type: 'batch', seq: b, sentAt: now, events }));
  }
  return out;
}

interface Row {
  name: string;
  events: number;
  eventsPerSecond: number;
  ratioToCeiling?: number;
}

const seconds = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9;
const config = loadConfig({}, {
  port: 0,
  adminPort: 0,
  host: '127.0.0.1',
  ingest: { ...NO_RATE_LIMITS, maxBatchEvents: 1000, maxFrameBytes: 4 * 1024 * 1024 },
});
const rows: Row[] = [];

// 1. Ceiling: JSON.parse + validation.
{
  const validator = new EventValidator();
  const fs = frames('parse');
  const t0 = process.hrtime.bigint();
  let ok = 0;
  for (const f of fs) {
    const b = JSON.parse(f) as { events: unknown[] };
    for (const e of b.events) if (validator.validate(e).kind === 'valid') ok++;
  }
  if (ok !== EVENTS) throw new Error(`validated ${ok} of ${EVENTS}`);
  rows.push({ name: 'JSON.parse + validate (ceiling)', events: EVENTS, eventsPerSecond: Math.round(EVENTS / seconds(t0)) });
}

// 2a. In-process gateway alone (decode, validate, dedupe, enrich; a pipeline that takes and drops).
{
  const { CollectGateway } = await import('../src/ingest/collect-gateway');
  const { Quarantine } = await import('../src/ingest/quarantine');
  const { createCoreMetrics } = await import('../src/metrics/core-metrics');
  const { Registry } = await import('prom-client');
  const { SystemClock } = await import('../src/clock');
  const clock = new SystemClock();
  const metrics = createCoreMetrics(new Registry(), { defaultMetrics: false });
  const quarantine = new Quarantine({ capacityPerSite: 10, clock, sites: config.sites.keys(), onEvict: () => undefined });
  const gateway = new CollectGateway({ config, clock, metrics, logger: createLogger('silent'), quarantine, pipeline: { offer: () => ({ kind: 'accepted', late: 0 }) } });
  const site = config.sites.get('demo');
  if (site === undefined) throw new Error('no demo site');
  const fs = frames('gw');
  const t0 = process.hrtime.bigint();
  let accepted = 0;
  for (const raw of fs) {
    const r = gateway.collectSync(site, { transport: 'ws', raw, limit: { maxBytes: config.ingest.maxFrameBytes, tooLargeCode: 'frame_too_large' }, client: 'c', userAgent: 'Mozilla/5.0' });
    if (r.kind === 'ack') accepted += r.ack.accepted;
  }
  if (accepted !== EVENTS) throw new Error(`accepted ${accepted} of ${EVENTS}`);
  rows.push({ name: 'in-process gateway only (no processors)', events: EVENTS, eventsPerSecond: Math.round(EVENTS / seconds(t0)) });
}

// 2b. In-process gateway + pipeline + processors.
{
  const app = createApp({ config, logger: createLogger('silent') });
  app.pipeline.start();
  const site = config.sites.get('demo');
  if (site === undefined) throw new Error('no demo site');
  const fs = frames('inproc');
  const t0 = process.hrtime.bigint();
  let accepted = 0;
  for (const raw of fs) {
    for (;;) {
      const r = app.gateway.collectSync(site, { transport: 'ws', raw, limit: { maxBytes: config.ingest.maxFrameBytes, tooLargeCode: 'frame_too_large' }, client: undefined, userAgent: undefined });
      if (r.kind === 'ack') {
        accepted += r.ack.accepted;
        break;
      }
      await app.pipeline.drain();
    }
  }
  await app.pipeline.drain();
  const s = seconds(t0);
  if (accepted !== EVENTS) throw new Error(`accepted ${accepted} of ${EVENTS}`);
  rows.push({ name: 'in-process gateway + pipeline + processors', events: EVENTS, eventsPerSecond: Math.round(EVENTS / s) });
  app.pipeline.stop();
}

async function overSocket(url: string, fs: string[]): Promise<number> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  let sent = 0;
  let acked = 0;
  let accepted = 0;
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (sent < fs.length && sent - acked < WINDOW) ws.send(fs[sent++] as string);
    };
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { type: string; accepted?: number };
      if (m.type !== 'ack') throw new Error(`unexpected ${String(d).slice(0, 200)}`);
      acked++;
      accepted += m.accepted ?? 0;
      if (acked === fs.length) resolve();
      else pump();
    });
    pump();
  });
  const s = seconds(t0);
  ws.close();
  if (accepted !== EVENTS) throw new Error(`accepted ${accepted} of ${EVENTS}`);
  return s;
}

// 3. Ceiling: bare ws receive + JSON.parse + fixed ack.
{
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 4 * 1024 * 1024 });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws) =>
    ws.on('message', (d) => {
      const b = JSON.parse(String(d)) as { seq: number; events: unknown[] };
      ws.send(JSON.stringify({ type: 'ack', seq: b.seq, accepted: b.events.length, duplicates: 0, rejected: [] }));
    }),
  );
  const addr = wss.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  const s = await overSocket(`ws://127.0.0.1:${port}`, frames('bare'));
  rows.push({ name: 'bare ws receive + JSON.parse + ack (ceiling)', events: EVENTS, eventsPerSecond: Math.round(EVENTS / s) });
  await new Promise((r) => wss.close(r));
}

// 4. The real server over one WebSocket.
{
  const app = createApp({ config, logger: createLogger('silent') });
  const { port } = await app.start();
  const t0 = process.hrtime.bigint();
  await overSocket(`ws://127.0.0.1:${port}/v1/collect?site=demo`, frames('ws'));
  await app.pipeline.drain();
  const s = seconds(t0);
  rows.push({ name: 'server over one WebSocket (acked, drained)', events: EVENTS, eventsPerSecond: Math.round(EVENTS / s) });
  await app.stop();
}

const parseCeiling = rows[0]?.eventsPerSecond ?? 1;
const wsCeiling = rows[3]?.eventsPerSecond ?? 1;
for (const i of [1, 2]) if (rows[i] !== undefined) rows[i].ratioToCeiling = Number(((rows[i]?.eventsPerSecond ?? 0) / parseCeiling).toFixed(3));
if (rows[4] !== undefined) rows[4].ratioToCeiling = Number((rows[4].eventsPerSecond / wsCeiling).toFixed(3));
console.table(rows);
const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(
  join(here, 'results', 'ingest.json'),
  `${JSON.stringify({ at: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, batches: BATCHES, perBatch: PER_BATCH, rows }, null, 2)}\n`,
);
