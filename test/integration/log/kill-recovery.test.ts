import { afterAll, afterEach, expect, it } from 'vitest';
import { kosarakEvents, readKosarakSessions, readRetailBaskets, retailEvents } from '../../../src/replay/dataset-readers';
import { demoShopperEvents } from '../../../src/replay/demo-shoppers';
import type { DeliveryCounts, WireEvent } from '../../../src/replay/replay-cli';
import { describeWithData } from '../../helpers/data';
import type { HttpDigest } from '../../helpers/http-digest';
import { startNatsServer, type NatsServerHandle } from '../../helpers/nats-server';
import { DATA_START, exactConfigFile, LATE, offerWatcher, send, settle, withLateAndMarker } from '../../helpers/recovery-runs';
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

const { file: CONFIG_FILE, remove } = exactConfigFile();
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(remove);
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
