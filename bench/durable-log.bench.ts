/**
 * The durable log (issue "Durable by default"), on a real nats-server with file storage, each figure
 * beside a ceiling measured in the same run:
 *   - gateway: acked events/s over one WebSocket in NATS mode (decode, validate, dedupe, enrich,
 *     publish per (batch, partition), ack after the PubAcks — while the same process reads the log back
 *     and runs every processor) beside a bare nats.js publisher of the same messages to a stream of the
 *     same settings (goal ≥ 0.7);
 *   - catch-up: events/s of a fresh process reading the log back from its start through every
 *     processor, beside bare ordered consumers (one per partition) that only JSON.parse (goal ≥ 0.5);
 *   - snapshot size and time at 100 k and 1 M events of kosarak state, and restart-to-ready with that
 *     state (restore + read the log to its end; goal ≤ 5 s).
 * Run: `npx tsx bench/durable-log.bench.ts` — prints a table, writes bench/results/durable-log.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { WebSocket } from 'ws';
import { createApp, type App } from '../src/app';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/logger';
import { CHECKPOINT_BUCKET } from '../src/log/checkpoint-store';
import { batchMessageId, encodeLogMessage, eventStreamConfig, EVENTS_STREAM, partitionSubject } from '../src/log/event-log';
import { VisitorPartitioner } from '../src/pipeline/visitor-partitioner';
import { kosarakEvents, readKosarakSessions } from '../src/replay/dataset-readers';
import { startNatsServer } from '../test/helpers/nats-server';
import type { EnrichedEvent } from '../src/events/enriched-event';

const here = dirname(fileURLToPath(import.meta.url));
const DATA = process.env['CM_DATA_DIR'] ?? join(here, '..', '..', 'shared', 'data');
const seconds = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9;
const logger = createLogger(process.env['BENCH_LOG'] ?? 'error');

function configFor(natsUrl: string) {
  return loadConfig({}, {
    port: 0,
    adminPort: 0,
    host: '127.0.0.1',
    natsUrl,
    logLevel: 'error',
    ingest: { dedupeCapacity: 2_000_000, rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 },
    persistence: { snapshotInterval: 'PT1H', snapshotEvents: 100_000_000 },
    time: { maxVisitors: 1_000_000 },
  });
}

async function started(natsUrl: string): Promise<{ app: App; port: number; readySeconds: number }> {
  const t0 = process.hrtime.bigint();
  const app = createApp({ config: configFor(natsUrl), logger });
  const { port } = await app.start();
  return { app, port, readySeconds: seconds(t0) };
}

// ---------------------------------------------------------------- gateway over WS vs a bare publisher

const FRAMES = 600;
const PER_FRAME = 100;
const WINDOW = 32;

function frames(): string[] {
  const now = Date.now();
  const out: string[] = [];
  for (let b = 0; b < FRAMES; b++) {
    const events = [];
    for (let i = 0; i < PER_FRAME; i++) {
      const n = b * PER_FRAME + i;
      const p = n % 500;
      events.push({ id: `g-${n}`, type: 'page_view', visitorId: `visitor-${n % 5000}`, ts: now - 5_000 + (n % 1000), url: `https://shop.example/product/${p}?utm_source=bench`, title: `Product ${p}`, product: { id: `p${p}`, category: `c${p % 20}`, price: 9.99 } });
    }
    out.push(JSON.stringify({ type: 'batch', seq: b, sentAt: now, events }));
  }
  return out;
}

async function gatewayOverWs(port: number, fs: string[]): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/collect?site=demo`, { headers: { authorization: 'Bearer demo-secret' } });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  const t0 = process.hrtime.bigint();
  let next = 0;
  let acked = 0;
  await new Promise<void>((resolve) => {
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { type: string; seq: number };
      if (m.type === 'retry') {
        setTimeout(() => ws.send(fs[m.seq]!), 20);
        return;
      }
      if (m.type !== 'ack') return;
      acked++;
      if (next < fs.length) ws.send(fs[next++]!);
      if (acked === fs.length) resolve();
    });
    for (; next < Math.min(WINDOW, fs.length); next++) ws.send(fs[next]!);
  });
  const s = seconds(t0);
  ws.close();
  return (FRAMES * PER_FRAME) / s;
}

/** The same messages the gateway writes (events grouped by partition per frame), published bare. */
async function barePublisher(nc: NatsConnection, fs: string[]): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const cfg = eventStreamConfig(configFor('x'));
  await jsm.streams.add({ ...cfg, name: 'BENCH_BARE', subjects: ['bench.bare.*'] });
  const parts = new VisitorPartitioner(16);
  const messages: Array<Array<{ subject: string; body: string; id: string }>> = fs.map((f) => {
    const evs = (JSON.parse(f) as { events: Array<Record<string, unknown>> }).events.map((e) => ({ ...e, site: 'demo', partition: parts.partitionOf(String(e['visitorId'])), receivedAt: Date.now(), seq: 0, page: '/product/:id', bot: false, event: e }) as unknown as EnrichedEvent);
    const groups = new Map<number, EnrichedEvent[]>();
    for (const e of evs) (groups.get(e.partition) ?? groups.set(e.partition, []).get(e.partition)!).push(e);
    return [...groups].map(([p, g]) => ({ subject: `bench.bare.${p}`, body: encodeLogMessage(g), id: batchMessageId('demo', g) }));
  });
  const js = jetstream(nc);
  const t0 = process.hrtime.bigint();
  const inFlight = new Set<Promise<unknown>>();
  for (const frame of messages) {
    const p: Promise<unknown> = Promise.all(frame.map((m) => js.publish(m.subject, m.body, { msgID: m.id }))).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= WINDOW) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const s = seconds(t0);
  await jsm.streams.delete('BENCH_BARE');
  return (FRAMES * PER_FRAME) / s;
}

/** The same events, one message each (Nats-Msg-Id = site + event id): the shape the log does not use. */
async function barePerEvent(nc: NatsConnection, fs: string[]): Promise<number> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ ...eventStreamConfig(configFor('x')), name: 'BENCH_EACH', subjects: ['bench.each.*'] });
  const parts = new VisitorPartitioner(16);
  const events = fs.slice(0, 200).flatMap((f) => (JSON.parse(f) as { events: Array<Record<string, unknown>> }).events);
  const js = jetstream(nc);
  const t0 = process.hrtime.bigint();
  const inFlight = new Set<Promise<unknown>>();
  for (const e of events) {
    const p: Promise<unknown> = js.publish(`bench.each.${parts.partitionOf(String(e['visitorId']))}`, JSON.stringify(e), { msgID: `demo.${String(e['id'])}` }).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= WINDOW * 16) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const s = seconds(t0);
  await jsm.streams.delete('BENCH_EACH');
  return events.length / s;
}

// ---------------------------------------------------------------- catch-up, snapshot, restart

function kosarakTimes(copies: number): Array<Record<string, unknown>> {
  const sessions = readKosarakSessions(join(DATA, 'kosarak25k.txt'));
  const start = Date.now() - 3 * 3_600_000;
  const out: Array<Record<string, unknown>> = [];
  for (let c = 0; c < copies; c++) {
    for (const e of kosarakEvents(sessions, { startMs: start + c * 300_000 })) out.push({ ...e, id: `c${c}-${e.id}`, visitorId: `c${c}-${e.visitorId}` });
  }
  return out;
}

/** Writes `events` into the log through the gateway (in process), as fast as it takes them. */
async function fill(app: App, events: Array<Record<string, unknown>>): Promise<number> {
  const site = app.ctx.config.sites.get('demo')!;
  const limit = { maxBytes: 1 << 22, tooLargeCode: 'frame_too_large' as const };
  const t0 = process.hrtime.bigint();
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < events.length; i += 200) {
    const raw = JSON.stringify({ type: 'batch', seq: i, sentAt: Date.now(), events: events.slice(i, i + 200) });
    const send = async (): Promise<void> => {
      for (;;) {
        const o = await app.gateway.collect(site, { transport: 'nats', raw, limit, client: undefined, userAgent: undefined });
        if (o.kind === 'ack') return;
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const p: Promise<unknown> = send().finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 16) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return events.length / seconds(t0);
}

async function bareCatchUp(nc: NatsConnection): Promise<{ records: number; eventsPerSecond: number }> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const t0 = process.hrtime.bigint();
  let records = 0;
  await Promise.all(
    Array.from({ length: 16 }, async (_, p) => {
      const last = await jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: partitionSubject(p) }).then((m) => m?.seq ?? 0, () => 0);
      if (last === 0) return;
      const c = await js.consumers.get(EVENTS_STREAM, { filter_subjects: partitionSubject(p), deliver_policy: DeliverPolicy.All });
      const it = await c.consume({ max_messages: 512 });
      for await (const m of it) {
        records += (JSON.parse(new TextDecoder().decode(m.data)) as { r: unknown[] }).r.length;
        if (m.seq >= last) break;
      }
      await it.close();
    }),
  );
  return { records, eventsPerSecond: records / seconds(t0) };
}

async function forgetCheckpoints(nc: NatsConnection): Promise<void> {
  const kv = await new Kvm(jetstream(nc)).open(CHECKPOINT_BUCKET);
  for await (const key of await kv.keys()) await kv.purge(key);
}

interface StateRow {
  events: number;
  fillEventsPerSecond: number;
  catchUpSeconds: number;
  catchUpEventsPerSecond: number;
  bareCatchUpEventsPerSecond: number;
  catchUpRatio: number;
  snapshotBytes: number;
  snapshotSeconds: number;
  /** From creating the app to ready, in the fresh process. */
  restartToReadySeconds: number;
  /** From spawning the process (node + module loading included) to ready. */
  restartWallSeconds: number;
  restartRssMiB: number;
  rssMiB: number;
}

/**
 * `BENCH_RESTART_CHILD=<nats url>`: this file run as the restarted process — starts the app, prints
 * its time to ready and RSS as one JSON line, stops. BENCH_PROFILE_RESTART=<file> writes its CPU profile.
 */
async function restartInChild(natsUrl: string): Promise<{ readySeconds: number; wallSeconds: number; rssMiB: number }> {
  const { spawn } = await import('node:child_process');
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], { env: { ...process.env, BENCH_RESTART_CHILD: natsUrl }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const line = out.trim().split('\n').pop() ?? '';
  if (code !== 0) throw new Error(`restart child exited ${String(code)}: ${line}`);
  const r = JSON.parse(line) as { readySeconds: number; rssMiB: number };
  return { readySeconds: r.readySeconds, wallSeconds: seconds(t0), rssMiB: r.rssMiB };
}

async function stateRound(events: Array<Record<string, unknown>>): Promise<StateRow> {
  const nats = await startNatsServer();
  try {
    const filler = await started(nats.url);
    const fillEventsPerSecond = await fill(filler.app, events);
    await filler.app.stop();
    const nc = await connect({ servers: nats.url });
    await forgetCheckpoints(nc);
    const bare = await bareCatchUp(nc);
    // A fresh process reads the whole log back through every processor.
    const stopProfile = process.env['BENCH_PROFILE_CATCHUP'] === undefined ? undefined : await startProfile();
    const reader = await started(nats.url);
    await stopProfile?.(process.env['BENCH_PROFILE_CATCHUP']!);
    const catchUpSeconds = reader.readySeconds;
    const t0 = process.hrtime.bigint();
    await reader.app.durableLog!.snapshotNow();
    const snapshotSeconds = seconds(t0);
    const snapshotBytes = (await reader.app.ctx.metrics.snapshotBytes.get()).values[0]?.value ?? 0;
    const rssMiB = process.memoryUsage().rss / 2 ** 20;
    await reader.app.stop();
    // Restart with that state, in a fresh process as a real restart is (this one holds the events and
    // the earlier apps' garbage): restore the snapshot, read the (already covered) log to its end.
    const restart = await restartInChild(nats.url);
    await nc.close();
    const catchUpEventsPerSecond = events.length / catchUpSeconds;
    return { events: events.length, fillEventsPerSecond, catchUpSeconds, catchUpEventsPerSecond, bareCatchUpEventsPerSecond: bare.eventsPerSecond, catchUpRatio: catchUpEventsPerSecond / bare.eventsPerSecond, snapshotBytes, snapshotSeconds, restartToReadySeconds: restart.readySeconds, restartWallSeconds: restart.wallSeconds, restartRssMiB: restart.rssMiB, rssMiB };
  } finally {
    await nats.stop();
  }
}

/** CPU profile of one phase (BENCH_PROFILE_RESTART=<file>: the restart; BENCH_PROFILE_CATCHUP=<file>: the read-back), written as a .cpuprofile. */
async function startProfile(): Promise<(file: string) => Promise<void>> {
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) => new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  await post('Profiler.enable');
  await post('Profiler.start');
  return async (file) => {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}

const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;

const CHILD = process.env['BENCH_RESTART_CHILD'];
if (CHILD !== undefined) {
  const stopProfile = process.env['BENCH_PROFILE_RESTART'] === undefined ? undefined : await startProfile();
  const again = await started(CHILD);
  await stopProfile?.(process.env['BENCH_PROFILE_RESTART']!);
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  await again.app.stop();
  process.stdout.write(`${JSON.stringify({ readySeconds: again.readySeconds, rssMiB })}\n`);
  process.exit(0);
}

const ONLY_STATE = process.env['BENCH_ONLY_1M'] === '1';
if (ONLY_STATE) {
  const r = await stateRound(kosarakTimes(5).slice(0, Number(process.env['BENCH_EVENTS'] ?? 1_000_000)));
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}
const nats = await startNatsServer();
// The ceiling uses the client options the app uses (noAsyncTraces), so the ratio compares like with like.
const nc = await connect({ servers: nats.url, noAsyncTraces: true });
const fs = frames();
const bare = await barePublisher(nc, fs);
const perEvent = await barePerEvent(nc, fs);
const gw = await started(nats.url);
const stopGatewayProfile = process.env['BENCH_PROFILE_GATEWAY'] === undefined ? undefined : await startProfile();
const gateway = await gatewayOverWs(gw.port, fs);
await stopGatewayProfile?.(process.env['BENCH_PROFILE_GATEWAY']!);
await gw.app.stop();
await nc.close();
await nats.stop();
if (process.env['BENCH_ONLY_GATEWAY'] === '1') {
  process.stdout.write(`${JSON.stringify({ gatewayEventsPerSecond: round(gateway), barePublisherEventsPerSecond: round(bare), ratio: round(gateway / bare, 3) })}\n`);
  process.exit(0);
}

const all = kosarakTimes(5);
const rows = [await stateRound(all.slice(0, 100_000)), await stateRound(all.slice(0, 1_000_000))];

const result = {
  machine: { cores: cpus().length, node: process.version },
  gateway: { frames: FRAMES, perFrame: PER_FRAME, window: WINDOW, gatewayEventsPerSecond: round(gateway), barePublisherEventsPerSecond: round(bare), ratio: round(gateway / bare, 3), barePerEventMessagesEventsPerSecond: round(perEvent) },
  state: rows.map((r) => ({ ...r, fillEventsPerSecond: round(r.fillEventsPerSecond), catchUpSeconds: round(r.catchUpSeconds, 2), catchUpEventsPerSecond: round(r.catchUpEventsPerSecond), bareCatchUpEventsPerSecond: round(r.bareCatchUpEventsPerSecond), catchUpRatio: round(r.catchUpRatio, 3), snapshotSeconds: round(r.snapshotSeconds, 3), restartToReadySeconds: round(r.restartToReadySeconds, 2), rssMiB: round(r.rssMiB) })),
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'durable-log.json'), `${JSON.stringify(result, null, 2)}\n`);
process.exit(0);
