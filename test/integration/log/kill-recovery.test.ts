import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { kosarakEvents, readKosarakSessions, readRetailBaskets, retailEvents } from '../../../src/replay/dataset-readers';
import { demoShopperEvents } from '../../../src/replay/demo-shoppers';
import { sendEventsOverSocket, type DeliveryCounts, type WireEvent } from '../../../src/replay/replay-cli';
import { describeWithData } from '../../helpers/data';
import { httpDigest, type HttpDigest } from '../../helpers/http-digest';
import { startNatsServer, type NatsServerHandle } from '../../helpers/nats-server';
import { SpawnedServer } from '../../helpers/spawned-server';
import { until } from '../../helpers/until';

/**
 * Exact recovery after kill -9 (issue "Durable by default"), with real processes: `clickstream-miner
 * serve` in NATS mode on a real nats-server, fed over WebSocket by the replay's sender (which
 * reconnects and resends unacknowledged batches, as the snippet does).
 *
 * The same events — a real data set, an idle gap, events far too late to count, and a closing marker
 * that moves event time past every session — are sent to a server that is never interrupted and to
 * one killed three times: (1) kill -9 while it processes, (2) killed by an injected fault between a
 * snapshot's object write and its checkpoint commit, (3) kill -9 right after boot. Every statistics
 * window and the rules must hash the same; the events counted must be the events sent (a brute-force
 * count of the input), the late ones must be listed late, and no offer may reach a subscriber twice.
 */

const MIN = 60_000;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const NOW = Date.now();
/** The data sits well inside the retained day and ends over an hour before the closing marker. */
const DATA_START = Math.floor((NOW - 3 * 60 * MIN) / (5 * MIN)) * (5 * MIN);
const LATE = 5;

/**
 * The demo site with bounded structures that hold these data sets exactly: Space-Saving past its
 * capacity is approximate by design (it says so with `error` and `exact`), and its approximation
 * depends on the order partitions interleave, which a restart changes.
 */
const configDir = mkdtempSync(join(tmpdir(), 'cm-kill-'));
const CONFIG_FILE = join(configDir, 'config.json');
writeFileSync(
  CONFIG_FILE,
  JSON.stringify({
    sites: [{ id: 'demo', processors: { 'cross-sell': { recomputeEvery: 'PT5S' }, usage: { goldenCapacity: 10_000 }, navigation: { maxTransitions: 500_000, maxPaths: 500_000, maxPages: 100_000 } } }],
  }),
);

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(() => rmSync(configDir, { recursive: true, force: true }));
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface RunResult {
  readonly digest: HttpDigest;
  readonly counts: DeliveryCounts[];
  readonly late: number;
  readonly triggerIds: string[];
  readonly log: string;
}

/** Appends the late events (older than any pane a watermark past the data keeps) and the closing marker. */
function withLateAndMarker(events: WireEvent[]): { all: WireEvent[]; markerTs: number } {
  const late: WireEvent[] = [];
  for (let i = 0; i < LATE; i++) {
    const v = events[i * 7]!;
    late.push({ id: `late-${i}`, type: 'page_view', visitorId: String(v['visitorId']), ts: DATA_START - 26 * 60 * MIN, url: '/late' });
  }
  const markerTs = Date.now();
  return { all: [...events, ...late, { id: 'marker', type: 'page_view', visitorId: 'marker-visitor', ts: markerTs, url: '/marker' }], markerTs };
}

function send(server: SpawnedServer, events: readonly WireEvent[]): Promise<DeliveryCounts> {
  return sendEventsOverSocket(server.collectUrl, events, { batch: 50, rate: 0, pace: false, leadMs: 0, maxInFlight: 4, progress: false, userAgent: UA, secret: 'demo-secret' });
}

/** A storefront subscribed to WS /v1/offers that reconnects whenever the server comes back; records every trigger id. */
function offerWatcher(server: SpawnedServer): { ids: string[]; close: () => void } {
  const ids: string[] = [];
  let closed = false;
  let ws: WebSocket | undefined;
  const open = (): void => {
    if (closed) return;
    ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/offers?site=demo`, { headers: { authorization: 'Bearer demo-subscriber-secret' } });
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { type?: string; triggerId?: string };
      if (m.type === 'offer' && typeof m.triggerId === 'string') ids.push(m.triggerId);
    });
    ws.on('error', () => undefined);
    ws.on('close', () => setTimeout(open, 200));
  };
  open();
  return {
    ids,
    close: () => {
      closed = true;
      ws?.terminate();
    },
  };
}

async function settle(server: SpawnedServer, lastDataTs: number): Promise<HttpDigest> {
  // Event time past every session of the data (the marker, then idle ticks), everything read back.
  await until(
    'the watermark past the data and every session gap',
    async () => (await httpDigest(server, lastDataTs + 1)).watermark > lastDataTs + 40 * MIN && (await server.metric('clickstream_log_consumer_lag_messages')) === 0,
    60_000,
  );
  // Stable: two reads a tick apart agree (no recompute in between).
  let prev = await httpDigest(server, lastDataTs + 1);
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 1_500));
    const next = await httpDigest(server, lastDataTs + 1);
    if (next.hash === prev.hash && next.events === prev.events) return next;
    prev = next;
  }
  return prev;
}

async function run(data: WireEvent[], interrupted: boolean): Promise<RunResult> {
  const nats: NatsServerHandle = await startNatsServer();
  cleanups.push(() => nats.stop());
  const server = await SpawnedServer.create({ NATS_URL: nats.url, CONFIG_FILE, SNAPSHOT_INTERVAL: 'PT2S', LOG_LEVEL: 'info' });
  cleanups.push(() => server.kill9());
  server.start();
  await server.waitReady();
  const watcher = offerWatcher(server);
  cleanups.push(async () => watcher.close());
  const lastDataTs = data.reduce((m, e) => Math.max(m, e.ts), 0);
  const { all } = withLateAndMarker(data);
  const q = Math.floor(data.length / 4);
  const [a, b, c] = [all.slice(0, q), all.slice(q, 3 * q), all.slice(3 * q)];
  const counts: DeliveryCounts[] = [await send(server, a)];
  // An idle gap: every partition goes quiet, ticks move the watermarks on through the log.
  await new Promise((r) => setTimeout(r, 7_000));
  const middle = send(server, b);
  if (interrupted) {
    // (1) kill -9 while batches are being processed.
    await until('part of the middle received', async () => (await server.metric('clickstream_events_received_total')) > a.length + 200, 60_000);
    await server.kill9();
    // (2) killed between a snapshot's object write and its checkpoint commit (the first snapshot after ready).
    server.start({ CM_FAULT_KILL_AFTER_SNAPSHOT_OBJECT: '1' });
    expect(await server.waitExit(90_000)).toBeNull(); // died of SIGKILL, by itself
    // (3) kill -9 right after boot.
    server.start();
    await server.waitReady(90_000);
    await server.kill9();
    server.start();
    await server.waitReady(90_000);
  }
  counts.push(await middle);
  counts.push(await send(server, c));
  const digest = await settle(server, lastDataTs);
  const late = (await server.adminJson<{ items: unknown[] }>('/v1/late?site=demo&limit=100')).items.length;
  watcher.close();
  return { digest, counts, late, triggerIds: watcher.ids, log: server.log };
}

function expectExactRecovery(data: WireEvent[], plain: RunResult, killed: RunResult): void {
  // Brute force over the input: every data event and the marker counted, the late ones listed late.
  const expected = data.length + 1;
  for (const r of [plain, killed]) {
    expect(r.digest.events).toBe(expected);
    expect(r.late).toBe(LATE);
    // Every event sent was acknowledged once: accepted, late, or (a resend after a lost ack) a duplicate.
    expect(r.counts.reduce((s, c) => s + c.accepted + c.late + c.duplicates, 0)).toBe(expected + LATE);
    expect(new Set(r.triggerIds).size).toBe(r.triggerIds.length);
  }
  expect(killed.log).toContain('snapshot restored');
  expect(JSON.parse(killed.digest.hash)).toEqual(JSON.parse(plain.digest.hash));
}

describeWithData('kosarak25k.txt', 'kill -9 three times: kosarak click sessions recover exactly', (path) => {
  it('hashes every window and the rules the same as an uninterrupted run', async () => {
    const sessions = readKosarakSessions(path).slice(0, 1_500);
    const data = kosarakEvents(sessions, { startMs: DATA_START, sessionSpacingMs: 2_000 }) as unknown as WireEvent[];
    const plain = await run(data, false);
    const killed = await run(data, true);
    expectExactRecovery(data, plain, killed);
  }, 400_000);
});

describeWithData('retail.dat', 'kill -9 three times: retail baskets recover exactly', (path) => {
  it('hashes every window and the rules the same as an uninterrupted run', async () => {
    const baskets = readRetailBaskets(path).slice(0, 3_000);
    const data = retailEvents(baskets, { startMs: DATA_START, sessionSpacingMs: 1_000 }) as unknown as WireEvent[];
    const plain = await run(data, false);
    const killed = await run(data, true);
    expectExactRecovery(data, plain, killed);
  }, 400_000);
});

it('kill -9 three times: the demo shoppers (clicks, forms, offers) recover exactly, no offer twice', async () => {
  const data = demoShopperEvents({ seed: 7, shoppers: 1_500, startMs: DATA_START, runId: 'kill' }) as unknown as WireEvent[];
  const plain = await run(data, false);
  const killed = await run(data, true);
  expectExactRecovery(data, plain, killed);
  expect(plain.triggerIds.length).toBeGreaterThan(0);
}, 400_000);
