import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, expect, it } from 'vitest';
import { CHECKPOINT_BUCKET, type Checkpoint } from '../../../src/log/checkpoint-store';
import { demoShopperEvents } from '../../../src/replay/demo-shoppers';
import type { WireEvent } from '../../../src/replay/replay-cli';
import type { HttpDigest } from '../../helpers/http-digest';
import { startNatsServer } from '../../helpers/nats-server';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats-cluster';
import { DATA_START, exactConfigFile, send, settle, withLateAndMarker } from '../../helpers/recovery-runs';
import { SpawnedServer } from '../../helpers/spawned-server';
import { until } from '../../helpers/until';

/**
 * Scale-out (issue "Scale-out"), with real processes on a real nats-server: instances of
 * `clickstream-miner serve` take their share of the 16 partitions through leases, and move them as
 * instances join, leave gracefully, crash (kill -9) or stall (SIGSTOP past the lease TTL). Whatever
 * happened, once one instance holds every partition again its statistics and rules must hash the same
 * as a single instance's over the same events, and no partition may ever have had two owners.
 */

const PARTITIONS = 16;
const TTL_MS = 3_000;
const CLUSTER_TTL_MS = 10_000;
const { file: CONFIG_FILE, remove } = exactConfigFile();
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(remove);
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function natsUrl(): Promise<string> {
  const nats = await startNatsServer();
  cleanups.push(() => nats.stop());
  return nats.url;
}

/** A 3-node nats-server cluster (routes, JetStream on each): the log, buckets and leases replicated 3 times. */
async function clusterUrls(): Promise<NatsCluster> {
  const cluster = await startNatsCluster(3);
  cleanups.push(() => cluster.stop());
  return cluster;
}

/** An instance of `serve` on the log; without an id the classic single instance (every partition, no leases, rules mined locally). */
async function instance(url: string, id: string | undefined, replicas = 1): Promise<SpawnedServer> {
  // On a cluster the TTL outlasts a meta leader election (a few seconds without writes).
  const ttl = replicas > 1 ? CLUSTER_TTL_MS : TTL_MS;
  const server = await SpawnedServer.create({ NATS_URL: url, NATS_REPLICAS: String(replicas), ...(id === undefined ? {} : { INSTANCE_ID: id }), LEASE_TTL: `PT${ttl / 1000}S`, RULES_INTERVAL: 'PT1S', CONFIG_FILE, SNAPSHOT_INTERVAL: 'PT2S', LOG_LEVEL: 'info' });
  cleanups.push(() => server.kill9());
  server.start();
  await server.waitReady();
  return server;
}

const owned = (s: SpawnedServer): Promise<number> => s.metric('clickstream_cluster_partitions_owned');

/** Waits until the running instances hold every partition between them, each as many as `expected` says. */
async function spread(servers: readonly SpawnedServer[], what: string): Promise<void> {
  await until(what, async () => {
    const counts = await Promise.all(servers.map(owned));
    return counts.every((c) => c > 0) && counts.reduce((a, b) => a + b, 0) === PARTITIONS;
  }, 60_000);
}

interface Held {
  readonly instance: string;
  readonly partition: number;
  readonly from: number;
  readonly to: number;
}

/**
 * Per instance, the intervals it held each partition: from its `partition acquired` log line to its
 * `partition released` or `partition lease lost` one (or `diedAt`, or now, when it has neither).
 */
function ownership(id: string, log: string, diedAt?: number): Held[] {
  const open = new Map<number, number>();
  const out: Held[] = [];
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    let rec: { msg?: string; partition?: number; time?: number; component?: string };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      continue;
    }
    if (rec.component !== 'leases' || typeof rec.partition !== 'number' || typeof rec.time !== 'number') continue;
    if (rec.msg === 'partition acquired') open.set(rec.partition, rec.time);
    else if (rec.msg === 'partition released' || (rec.msg ?? '').startsWith('partition lease lost')) {
      const from = open.get(rec.partition);
      if (from !== undefined) out.push({ instance: id, partition: rec.partition, from, to: rec.time });
      open.delete(rec.partition);
    }
  }
  for (const [partition, from] of open) out.push({ instance: id, partition, from, to: diedAt ?? Date.now() });
  return out;
}

/** Overlapping ownership intervals of one partition between two instances (none may exist). */
function twoOwners(held: readonly Held[]): string[] {
  const out: string[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const list = held.filter((h) => h.partition === p).sort((a, b) => a.from - b.from);
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!;
      if (list[i]!.from < prev.to) out.push(`partition ${p}: ${list[i]!.instance} from ${list[i]!.from} while ${prev.instance} held it until ${prev.to}`);
    }
  }
  return out;
}

function shoppers(runId: string): { data: WireEvent[]; all: WireEvent[]; lastDataTs: number } {
  const data = demoShopperEvents({ seed: 11, shoppers: 1_200, startMs: DATA_START, runId }) as unknown as WireEvent[];
  return { data, all: withLateAndMarker(data).all, lastDataTs: data.reduce((m, e) => Math.max(m, e.ts), 0) };
}

async function soloRun(): Promise<HttpDigest> {
  const url = await natsUrl();
  const solo = await instance(url, undefined);
  const { all, lastDataTs } = shoppers('scale');
  await send(solo, all);
  expect(await owned(solo)).toBe(PARTITIONS);
  return settle(solo, lastDataTs);
}

it('rebalance 1 → 2 → 3 → 2 → 1 on a 3-node cluster under ingest, one instance killed -9: the statistics and rules hash as one instance’s, never two owners', async () => {
  const expected = await soloRun();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);

  // On a 3-node JetStream cluster, everything at R3.
  const cluster = await clusterUrls();
  const url = cluster.urls;
  const R3 = 3;
  const { data, all, lastDataTs } = shoppers('scale');
  const q = Math.floor(data.length / 5);
  const a = await instance(url, 'a', R3);
  expect(await owned(a)).toBe(PARTITIONS);
  await send(a, all.slice(0, q));
  // 1 → 2: b joins; a hands b its share (final snapshot, commit, release) while ingest goes on to b.
  const b = await instance(url, 'b', R3);
  const toB = send(b, all.slice(q, 2 * q));
  await spread([a, b], 'a and b share the partitions');
  await toB;
  // 2 → 3 under ingest to both gateways at once: each visitor's events to one of them, in order (a
  // visitor's socket stays on one gateway; across gateways the log interleaves batches in any order).
  const c = await instance(url, 'c', R3);
  const third = all.slice(2 * q, 3 * q);
  const even = (e: WireEvent): boolean => String(e['visitorId']).charCodeAt(String(e['visitorId']).length - 1) % 2 === 0;
  const both = Promise.all([send(a, third.filter(even)), send(b, third.filter((e) => !even(e)))]);
  await spread([a, b, c], 'a, b and c share the partitions');
  await both;
  // 3 → 2: kill -9 b under ingest; its partitions move once its leases ran out.
  const toA = send(a, all.slice(3 * q, 4 * q));
  const bDied = Date.now();
  await b.kill9();
  await toA;
  await spread([a, c], "a and c hold b's partitions too");
  // 2 → 1: c leaves gracefully (hands everything over); the rest arrives at a.
  const cLeft = c.stop();
  await send(a, all.slice(4 * q));
  expect(await cLeft).toBe(0);
  await until('a holds every partition', async () => (await owned(a)) === PARTITIONS, 60_000);
  const got = await settle(a, lastDataTs);

  expect(got.events).toBe(data.length + 1); // brute force: every data event and the marker, the late ones not
  expect(expected.events).toBe(data.length + 1);
  expect(JSON.parse(got.hash)).toEqual(JSON.parse(expected.hash));
  expect(await a.metric('clickstream_cluster_partition_changes_total', { change: 'released' })).toBeGreaterThan(0);
  expect(c.log).toContain('partition handed over: final snapshot committed');
  const held = [...ownership('a', a.log), ...ownership('b', b.log, bDied), ...ownership('c', c.log)];
  expect(held.filter((h) => h.instance === 'b').length).toBeGreaterThan(0);
  expect(twoOwners(held)).toEqual([]);
}, 600_000);

/** Per checkpoint key, the lease epochs of its kept history, oldest first (a stale owner's commit would lower one). */
async function checkpointEpochs(url: string): Promise<Map<string, number[]>> {
  const nc = await connect({ servers: url });
  try {
    const kv = await new Kvm(jetstream(nc)).open(CHECKPOINT_BUCKET);
    const out = new Map<string, number[]>();
    for await (const key of await kv.keys('ckpt.*')) {
      if (!key.startsWith('ckpt.p')) continue;
      const epochs: number[] = [];
      for await (const e of await kv.history({ key })) if (e.operation === 'PUT') epochs.push((JSON.parse(e.string()) as Checkpoint).epoch ?? -1);
      out.set(key, epochs);
    }
    return out;
  } finally {
    await nc.close();
  }
}

it('a stale owner (SIGSTOP past its lease TTL, then SIGCONT) stops its partitions and commits nothing more; the results are unchanged', async () => {
  const expected = await soloRun();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);

  const url = await natsUrl();
  const { data, all, lastDataTs } = shoppers('scale');
  const q = Math.floor(data.length / 3);
  const a = await instance(url, 'a');
  const b = await instance(url, 'b');
  await spread([a, b], 'a and b share the partitions');
  await send(a, all.slice(0, q));
  a.signal('SIGSTOP');
  const stoppedAt = Date.now();
  // Ingest goes on through b while a is frozen; b takes a's partitions once their leases ran out.
  await send(b, all.slice(q, 2 * q));
  await until('b holds every partition', async () => (await owned(b)) === PARTITIONS, 60_000);
  a.signal('SIGCONT');
  await until('a found its leases lost', () => a.log.includes('partition lease lost'), 30_000);
  // a is a member again: b hands its share back (cooperatively) while the rest arrives.
  await spread([a, b], 'a and b share the partitions again');
  await send(b, all.slice(2 * q));
  expect(await b.stop()).toBe(0);
  await until('a holds every partition', async () => (await owned(a)) === PARTITIONS, 60_000);
  const got = await settle(a, lastDataTs);

  expect(got.events).toBe(data.length + 1);
  expect(JSON.parse(got.hash)).toEqual(JSON.parse(expected.hash));
  // Fencing: every checkpoint's history has non-decreasing lease epochs (no commit by an owner older than the one before).
  const epochs = await checkpointEpochs(url);
  expect(epochs.size).toBe(PARTITIONS);
  for (const [key, list] of epochs) expect(list, key).toEqual([...list].sort((x, y) => x - y));
  // a trusted its leases for at most 3/4 of the TTL after its last renewal, which came before the stop.
  const held = [...ownership('a', a.log).map((h) => (h.from < stoppedAt && h.to > stoppedAt ? { ...h, to: stoppedAt + TTL_MS * 0.75 } : h)), ...ownership('b', b.log)];
  expect(held.filter((h) => h.instance === 'b' && h.from > stoppedAt).length).toBeGreaterThan(0);
  expect(twoOwners(held)).toEqual([]);
}, 600_000);

it('any instance answers global statistics and rules equal to one instance’s; with an owner frozen the answer says partial, naming its partitions', async () => {
  const expected = await soloRun();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);

  const url = await natsUrl();
  const { data, all, lastDataTs } = shoppers('scale');
  const a = await instance(url, 'a');
  const b = await instance(url, 'b');
  await spread([a, b], 'a and b share the partitions');
  const half = Math.floor(all.length / 2);
  await Promise.all([send(a, all.slice(0, half).filter((e) => String(e['visitorId']).endsWith('1'))), send(b, all.slice(0, half).filter((e) => !String(e['visitorId']).endsWith('1')))]);
  await send(b, all.slice(half));
  const fromA = await settle(a, lastDataTs);
  const fromB = await settle(b, lastDataTs);
  expect(fromA.events).toBe(data.length + 1);
  // Statistics by scatter-gather over both instances; rules mined by the role holder over every partition, adopted by both.
  expect(JSON.parse(fromA.hash)).toEqual(JSON.parse(expected.hash));
  expect(JSON.parse(fromB.hash)).toEqual(JSON.parse(expected.hash));
  const whole = await a.adminJson<{ partial?: boolean }>('/v1/stats/usage?site=demo&window=PT5M');
  expect(whole.partial).toBeUndefined();

  // b frozen: a still answers, for its own partitions, and says which ones are missing.
  const bHolds = PARTITIONS - (await owned(a));
  b.signal('SIGSTOP');
  try {
    const partial = await a.adminJson<{ partial?: boolean; missingPartitions?: number[] }>('/v1/stats/navigation?site=demo&window=PT5M');
    expect(partial.partial).toBe(true);
    expect(partial.missingPartitions?.length).toBe(bHolds);
  } finally {
    b.signal('SIGCONT');
  }
}, 600_000);
