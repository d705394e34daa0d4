/**
 * What the log benchmarks share (durable-log, scale-out): the app configured for a bench, the gateway
 * over one WebSocket and a bare publisher of the same messages, kosarak with event times, filling the
 * log through the gateway, bare ordered consumers, and forgetting checkpoints so a process reads from
 * the start.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { WebSocket } from 'ws';
import { createApp, type App } from '../src/app';
import { whenPlaced } from '../src/cluster/when-placed';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/logger';
import { CHECKPOINT_BUCKET } from '../src/log/checkpoint-store';
import { batchMessageId, encodeLogMessage, eventStreamConfig, EVENTS_STREAM, partitionSubject } from '../src/log/event-log';
import { PubAckPublisher } from '../src/log/pub-acks';
import { VisitorPartitioner } from '../src/pipeline/visitor-partitioner';
import { kosarakEvents, readKosarakSessions } from '../src/replay/dataset-readers';
import type { EnrichedEvent } from '../src/events/enriched-event';

export const here = dirname(fileURLToPath(import.meta.url));
export const DATA = process.env['CM_DATA_DIR'] ?? join(here, '..', '..', 'shared', 'data');
export const seconds = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9;
export const logger = createLogger(process.env['BENCH_LOG'] ?? 'error');

/** Every ingest rate limit raised out of the way: the benches measure throughput, not the limits. */
export const NO_RATE_LIMITS = { rateLimitPerSecond: 10_000_000, rateLimitBurst: 10_000_000, rateLimitPerIpPerSecond: 10_000_000, rateLimitPerIpBurst: 10_000_000, rateLimitPerVisitorPerSecond: 10_000_000, rateLimitPerVisitorBurst: 10_000_000, rateLimitBytesPerSecond: 10_000_000_000, rateLimitBytesBurst: 10_000_000_000 } as const;

export function configFor(natsUrl: string, replicas = 1, nats: Record<string, unknown> = {}) {
  return loadConfig({}, {
    port: 0,
    adminPort: 0,
    host: '127.0.0.1',
    natsUrl,
    nats: { replicas, ...nats },
    logLevel: 'error',
    ingest: { dedupeCapacity: 2_000_000, ...NO_RATE_LIMITS },
    persistence: { snapshotInterval: 'PT1H', snapshotEvents: 100_000_000 },
    time: { maxVisitors: 1_000_000 },
  });
}

export async function started(natsUrl: string, replicas = 1, nats: Record<string, unknown> = {}): Promise<{ app: App; port: number; readySeconds: number }> {
  const t0 = process.hrtime.bigint();
  const app = createApp({ config: configFor(natsUrl, replicas, nats), logger });
  const { port } = await app.start();
  return { app, port, readySeconds: seconds(t0) };
}

// ---------------------------------------------------------------- gateway over WS vs a bare publisher

export const FRAMES = 600;
export const PER_FRAME = 100;
export const WINDOW = 32;

export function frames(): string[] {
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

/**
 * A frame as the snippet sends it: `sentAt` is the time of sending. (Frames built before the clock
 * starts and sent seconds later read as a skewed device clock past `ingest.clockTolerance`: every
 * visitor then gets a clock offset kept in an LRU, work a real snippet's batches do not cause.)
 */
const sentNow = (frame: string): string => {
  const at = frame.indexOf('"sentAt":') + 9;
  return frame.slice(0, at) + Date.now() + frame.slice(frame.indexOf(',', at));
};

export async function gatewayOverWs(port: number, fs: string[]): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/collect?site=demo`, { headers: { authorization: 'Bearer demo-secret' } });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  const t0 = process.hrtime.bigint();
  let next = 0;
  let acked = 0;
  await new Promise<void>((resolve) => {
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { type: string; seq: number };
      if (m.type === 'retry') {
        setTimeout(() => ws.send(sentNow(fs[m.seq]!)), 20);
        return;
      }
      if (m.type !== 'ack') return;
      acked++;
      if (next < fs.length) ws.send(sentNow(fs[next++]!));
      if (acked === fs.length) resolve();
    });
    for (; next < Math.min(WINDOW, fs.length); next++) ws.send(sentNow(fs[next]!));
  });
  const s = seconds(t0);
  ws.close();
  return (FRAMES * PER_FRAME) / s;
}

/**
 * The same messages the gateway writes (events grouped by partition per frame), published bare with
 * nats.js `js.publish`, or (`via: 'pub-acks'`) through the publisher the gateway uses.
 */
export async function barePublisher(nc: NatsConnection, fs: string[], replicas = 1, via: 'js' | 'pub-acks' = 'js'): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const cfg = eventStreamConfig(configFor('x', replicas));
  await whenPlaced(() => jsm.streams.add({ ...cfg, name: 'BENCH_BARE', subjects: ['bench.bare.*'] }));
  const parts = new VisitorPartitioner(16);
  const messages: Array<Array<{ subject: string; body: string; id: string }>> = fs.map((f) => {
    const evs = (JSON.parse(f) as { events: Array<Record<string, unknown>> }).events.map((e) => ({ ...e, site: 'demo', partition: parts.partitionOf(String(e['visitorId'])), receivedAt: Date.now(), seq: 0, page: '/product/:id', bot: false, event: e }) as unknown as EnrichedEvent);
    const groups = new Map<number, EnrichedEvent[]>();
    for (const e of evs) (groups.get(e.partition) ?? groups.set(e.partition, []).get(e.partition)!).push(e);
    return [...groups].map(([p, g]) => ({ subject: `bench.bare.${p}`, body: encodeLogMessage(g), id: batchMessageId('demo', g) }));
  });
  const js = jetstream(nc);
  const pubAcks = via === 'pub-acks' ? new PubAckPublisher(nc) : undefined;
  const publish = (m: { subject: string; body: string; id: string }) => (pubAcks === undefined ? js.publish(m.subject, m.body, { msgID: m.id }) : pubAcks.publish(m.subject, m.body, m.id, 5_000));
  const t0 = process.hrtime.bigint();
  const inFlight = new Set<Promise<unknown>>();
  for (const frame of messages) {
    const p: Promise<unknown> = Promise.all(frame.map(publish)).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= WINDOW) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const s = seconds(t0);
  pubAcks?.close();
  await jsm.streams.delete('BENCH_BARE');
  return (FRAMES * PER_FRAME) / s;
}

/** The same events, one message each (Nats-Msg-Id = site + event id): the shape the log does not use. */
export async function barePerEvent(nc: NatsConnection, fs: string[]): Promise<number> {
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

export function kosarakTimes(copies: number): Array<Record<string, unknown>> {
  const sessions = readKosarakSessions(join(DATA, 'kosarak25k.txt'));
  const start = Date.now() - 3 * 3_600_000;
  const out: Array<Record<string, unknown>> = [];
  for (let c = 0; c < copies; c++) {
    for (const e of kosarakEvents(sessions, { startMs: start + c * 300_000 })) out.push({ ...e, id: `c${c}-${e.id}`, visitorId: `c${c}-${e.visitorId}` });
  }
  return out;
}

/** Writes `events` into the log through the gateway (in process), as fast as it takes them. */
export async function fill(app: App, events: Array<Record<string, unknown>>): Promise<number> {
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

export async function bareCatchUp(nc: NatsConnection): Promise<{ records: number; eventsPerSecond: number }> {
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

export async function forgetCheckpoints(nc: NatsConnection): Promise<void> {
  const kv = await new Kvm(jetstream(nc)).open(CHECKPOINT_BUCKET);
  for await (const key of await kv.keys()) await kv.purge(key);
}

