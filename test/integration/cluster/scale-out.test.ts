import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, expect, it } from 'vitest';
import { OFFERS_STREAM } from '../../../src/delivery/offer-dispatcher';
import { TRIGGER_ID_HEADER } from '../../../src/delivery/webhook-sender';
import { CHECKPOINT_BUCKET, type Checkpoint } from '../../../src/log/checkpoint-store';
import { VisitorPartitioner } from '../../../src/pipeline/visitor-partitioner';
import { DEFAULT_RFM_SEGMENTS } from '../../../processors/usage/customer-value';
import { demoShopperEvents } from '../../../src/replay/demo-shoppers';
import type { WireEvent } from '../../../src/replay/replay-cli';
import { batch, connectWs, pageView } from '../../helpers/collect-client';
import type { HttpDigest } from '../../helpers/http-digest';
import { startNatsServer } from '../../helpers/nats-server';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats-cluster';
import { DATA_START, exactConfigFile, offerWatcher, send, settle, withLateAndMarker } from '../../helpers/recovery-runs';
import { SPAWN_ADMIN_TOKEN, SpawnedServer } from '../../helpers/spawned-server';
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
async function instance(url: string, id: string | undefined, replicas = 1, configFile = CONFIG_FILE): Promise<SpawnedServer> {
  // On a cluster the TTL outlasts a meta leader election (a few seconds without writes).
  const ttl = replicas > 1 ? CLUSTER_TTL_MS : TTL_MS;
  // A graceful stop hands every partition over (final snapshots at R3) and drains: under a full CI
  // run on two cores that outgrew the default 10 s budget once (exit 1). What is checked is that the
  // stop completes (exit 0), not how fast.
  const server = await SpawnedServer.create({ SHUTDOWN_TIMEOUT: 'PT60S', NATS_URL: url, NATS_REPLICAS: String(replicas), ...(id === undefined ? {} : { INSTANCE_ID: id }), LEASE_TTL: `PT${ttl / 1000}S`, RULES_INTERVAL: 'PT1S', CONFIG_FILE: configFile, SNAPSHOT_INTERVAL: 'PT2S', LOG_LEVEL: 'info' });
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
    let rec: { msg?: string; partition?: number; time?: number; component?: string; trustedUntil?: number };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      continue;
    }
    if (rec.component !== 'leases' || typeof rec.partition !== 'number' || typeof rec.time !== 'number') continue;
    if (rec.msg === 'partition acquired') open.set(rec.partition, rec.time);
    else if (rec.msg === 'partition released' || (rec.msg ?? '').startsWith('partition lease lost')) {
      const from = open.get(rec.partition);
      // A lost lease was last trusted (written for) at `trustedUntil`, which may be long before it noticed.
      if (from !== undefined) out.push({ instance: id, partition: rec.partition, from, to: Math.min(rec.time, rec.trustedUntil ?? rec.time) });
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
  // a trusted its leases for 3/4 of the TTL after its last renewal was sent, before the stop: it says
  // until when in each "lease lost" record, and that is never past the stop by more than 3/4 of the TTL.
  const lost = a.log.split('\n').filter((l) => l.includes('"component":"leases"') && l.includes('partition lease lost')).map((l) => JSON.parse(l) as { trustedUntil?: number });
  expect(lost.length).toBeGreaterThan(0);
  for (const r of lost) expect(r.trustedUntil).toBeLessThanOrEqual(stoppedAt + TTL_MS * 0.75);
  const held = [...ownership('a', a.log), ...ownership('b', b.log)];
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
  // Rules within an RFM segment: its members and their purchases from every partition, so both instances say the same.
  let members = 0;
  for (const name of DEFAULT_RFM_SEGMENTS.map((r) => r.name)) {
    const [fa, fb] = await Promise.all([a, b].map((s) => s.adminJson<{ members: number; baskets: Record<string, number>; rules: unknown[]; partial?: boolean }>(`/v1/rules?site=demo&rfmSegment=${name}&limit=1000`)));
    expect(fa!.partial, name).toBeUndefined();
    expect({ members: fa!.members, baskets: fa!.baskets, rules: fa!.rules }, name).toEqual({ members: fb!.members, baskets: fb!.baskets, rules: fb!.rules });
    members += fa!.members;
  }
  expect(members).toBeGreaterThan(0);

  // The lists each instance keeps of its own, gathered from both: the late side output (owners), the
  // live log (owners), the quarantine (the gateway that refused the input: b here).
  const bad = await fetch(`http://127.0.0.1:${b.port}/v1/collect?site=demo`, { method: 'POST', headers: { authorization: 'Bearer demo-secret' }, body: JSON.stringify({ type: 'batch', seq: 1, sentAt: Date.now(), events: [{ id: 'bad-1', type: 'page_view', visitorId: 'v-bad' }] }) });
  expect(bad.status).toBeLessThan(500);
  const lateIds = all.map((e) => String(e['id'])).filter((id) => id.startsWith('late-')).sort();
  const lists = await Promise.all(
    [a, b].map(async (s) => ({
      late: await s.adminJson<{ items: Array<{ id: string }>; instances: string[]; partial?: boolean }>('/v1/late?site=demo'),
      recent: await s.adminJson<{ items: Array<{ page: string }>; instances: string[] }>('/v1/events/recent?site=demo&limit=50'),
      quarantine: await s.adminJson<{ items: Array<{ sample: string; reason: string }>; instances: string[] }>('/v1/quarantine?site=demo'),
    })),
  );
  for (const l of lists) {
    expect(l.late.items.map((i) => i.id).sort()).toEqual(lateIds);
    expect(l.late.instances).toEqual(['a', 'b']);
    expect(l.late.partial).toBeUndefined();
    expect(l.recent.items[0]?.page).toBe('/marker');
    expect(l.quarantine.items.filter((i) => i.sample.includes('bad-1'))).toHaveLength(1);
  }
  expect(lists[0]!.recent.items).toEqual(lists[1]!.recent.items);

  // b frozen: a still answers, for its own partitions, and says which ones are missing.
  const bHolds = PARTITIONS - (await owned(a));
  b.signal('SIGSTOP');
  try {
    const partial = await a.adminJson<{ partial?: boolean; missingPartitions?: number[] }>('/v1/stats/navigation?site=demo&window=PT5M');
    expect(partial.partial).toBe(true);
    expect(partial.missingPartitions?.length).toBe(bHolds);
    const late = await a.adminJson<{ partial?: boolean; missingInstances?: string[] }>('/v1/late?site=demo');
    expect(late).toMatchObject({ partial: true, missingInstances: ['b'] });
  } finally {
    b.signal('SIGCONT');
  }
}, 600_000);

/** A webhook endpoint on 127.0.0.1 that answers 200 and records every trigger id it was sent. */
async function webhookReceiver(): Promise<{ url: string; ids: string[] }> {
  const ids: string[] = [];
  const server = createServer((req, res) => {
    const id = req.headers[TRIGGER_ID_HEADER];
    req.resume();
    req.on('end', () => {
      if (typeof id === 'string') ids.push(id);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { url: `http://127.0.0.1:${address.port}/hook`, ids };
}

/** Every trigger id the offers stream stored, with its visitor. */
async function storedTriggers(url: string): Promise<Map<string, string>> {
  const nc = await connect({ servers: url });
  try {
    const c = await jetstream(nc).consumers.get(OFFERS_STREAM, { deliver_policy: DeliverPolicy.All });
    const out = new Map<string, string>();
    for (;;) {
      const m = await c.next({ expires: 1_000 });
      if (m === null) break;
      const t = m.json<{ triggerId: string; visitorId: string }>();
      if (out.has(t.triggerId)) throw new Error(`trigger ${t.triggerId} stored twice`);
      out.set(t.triggerId, t.visitorId);
      if (m.info.pending === 0) break;
    }
    return out;
  } finally {
    await nc.close();
  }
}

const duplicatesIn = (ids: readonly string[]): string[] => ids.filter((id, i) => ids.indexOf(id) !== i);

/**
 * A shopper's browser on one gateway: its batches carry its visitor key (SHA-256 of it is its id), so
 * its socket may receive its offers; it views `product` until an offer arrives.
 */
async function shopperViews(server: SpawnedServer, vk: string, product: string): Promise<Array<Record<string, unknown>>> {
  const visitorId = visitorOfKey(vk);
  const socket = await connectWs(server.collectUrl);
  try {
    const offers: Array<Record<string, unknown>> = [];
    socket.ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as Record<string, unknown>;
      if (m['type'] === 'offer') offers.push(m);
    });
    const deadline = Date.now() + 30_000;
    for (let seq = 1; offers.length === 0; seq++) {
      if (Date.now() > deadline) throw new Error(`no offer reached ${visitorId} on ${server.port}`);
      socket.send({ ...batch([pageView({ visitorId, product: { id: product } })], seq), vk });
      await new Promise((r) => setTimeout(r, 300));
    }
    // Anything more for this visitor would come now (it must not: the trigger is delivered once).
    await new Promise((r) => setTimeout(r, 1_000));
    return offers;
  } finally {
    socket.ws.close();
  }
}

const visitorOfKey = (vk: string): string => createHash('sha256').update(vk).digest('hex').slice(0, 32);

it('offers scaled out: the owner decides, each gateway delivers to the visitor sockets it holds, every storefront hears each trigger once, one instance sends each webhook', async () => {
  const hooks = await webhookReceiver();
  const { file, remove: removeConfig } = exactConfigFile({ webhooks: [hooks.url], holdoutShare: 0 });
  cleanups.push(async () => removeConfig());
  const url = await natsUrl();
  const a = await instance(url, 'a', 1, file);
  const b = await instance(url, 'b', 1, file);
  await spread([a, b], 'a and b share the partitions');
  const storefrontA = offerWatcher(a);
  const storefrontB = offerWatcher(b);
  cleanups.push(async () => {
    storefrontA.close();
    storefrontB.close();
  });
  // Baskets through a, bought by visitors of every partition: A ⇒ B, mined over both instances' partitions.
  const t0 = Date.now() - 2_000;
  const baskets = [...Array.from({ length: 40 }, () => ['A', 'B']), ...Array.from({ length: 40 }, () => ['C', 'D']), ...Array.from({ length: 20 }, () => ['A', 'C'])];
  await send(a, baskets.map((items, i) => ({ id: `buy-${i}`, type: 'form', formId: 'checkout', action: 'submit', visitorId: `buyer-${i}`, ts: t0 + i, url: '/checkout', items: items.map((productId) => ({ productId, quantity: 1, price: 10 })) })));
  const hasAB = async (s: SpawnedServer): Promise<boolean> => ((await s.adminJson<{ rules?: Array<{ antecedent: string[]; consequent: string[] }> }>('/v1/rules?site=demo')).rules ?? []).some((r) => r.antecedent.join() === 'A' && r.consequent.join() === 'B');
  await until('both instances use the global rule A ⇒ B', async () => (await hasAB(a)) && (await hasAB(b)), 60_000);
  // The catalog replaced on a only: every owner decides from it (b learns it through CM_CATALOG).
  const catalog = (await a.adminJson<{ offers: Array<Record<string, unknown>> }>('/v1/offers/catalog?site=demo')).offers;
  const renamed = catalog.map((o) => ({ ...o, id: `${String(o['id'])}-shared` }));
  const put = await fetch(`http://127.0.0.1:${a.adminPort}/v1/offers/catalog?site=demo`, { method: 'PUT', headers: { authorization: `Bearer ${SPAWN_ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(renamed) });
  expect(put.status).toBe(200);
  await until('b holds a’s catalog', async () => (await b.adminJson<{ offers: Array<{ id: string }> }>('/v1/offers/catalog?site=demo')).offers.every((o) => o.id.endsWith('-shared')), 30_000);

  // Shoppers whose partition the other instance owns, each on one gateway: the owner decides, the gateway holding the socket delivers.
  const partitioner = new VisitorPartitioner(PARTITIONS);
  const now = Date.now();
  const held = [...ownership('a', a.log), ...ownership('b', b.log)].filter((h) => h.to >= now);
  const ownerOf = (visitorId: string): string | undefined => held.find((h) => h.partition === partitioner.partitionOf(visitorId))?.instance;
  const keys = Array.from({ length: 200 }, (_, i) => i.toString(16).padStart(4, '0').repeat(8));
  const onA = keys.filter((k) => ownerOf(visitorOfKey(k)) === 'b').slice(0, 3);
  const onB = keys.filter((k) => ownerOf(visitorOfKey(k)) === 'a').slice(0, 3);
  expect(onA.length + onB.length).toBe(6);
  const got = await Promise.all([...onA.map((k) => shopperViews(a, k, 'A')), ...onB.map((k) => shopperViews(b, k, 'A'))]).catch(async (err: unknown) => {
    const offerMetrics = async (s: SpawnedServer): Promise<string> => (await (await fetch(`http://127.0.0.1:${s.adminPort}/metrics`, { headers: { authorization: `Bearer ${SPAWN_ADMIN_TOKEN}` } })).text()).split('\n').filter((l) => /^clickstream_(offers?_|nbo_|next_best)/.test(l) && !l.endsWith(' 0')).join('; ');
    throw new Error(`${(err as Error).message}\na: ${await offerMetrics(a)}\nb: ${await offerMetrics(b)}\na log: ${a.log.slice(-3000)}\nb log: ${b.log.slice(-3000)}`);
  });
  for (const [i, offers] of got.entries()) {
    expect(offers.length).toBe(1);
    expect(offers[0]).toMatchObject({ type: 'offer', visitorId: visitorOfKey([...onA, ...onB][i]!), offered: { items: ['B'] } });
    expect(String(offers[0]?.['offerId'])).toMatch(/-shared$/);
  }

  // Each channel got every stored trigger, once: both storefronts (one per instance) and the webhooks.
  const stored = await storedTriggers(url);
  expect([...stored.values()].sort()).toEqual([...onA, ...onB].map(visitorOfKey).sort());
  await until('every stored trigger reached both storefronts and a webhook', () => storefrontA.ids.length >= stored.size && storefrontB.ids.length >= stored.size && hooks.ids.length >= stored.size, 30_000);
  await new Promise((r) => setTimeout(r, 1_000));
  for (const ids of [storefrontA.ids, storefrontB.ids, hooks.ids]) {
    expect(duplicatesIn(ids)).toEqual([]);
    expect(new Set(ids)).toEqual(new Set(stored.keys()));
  }
  expect(new Set(got.map((offers) => String(offers[0]?.['triggerId'])))).toEqual(new Set(stored.keys()));
  // Both instances list every stored trigger and count each once, whichever partition owner decided it.
  for (const s of [a, b]) {
    const recent = await s.adminJson<{ offers: Array<{ triggerId: string }>; instances: string[] }>('/v1/offers/recent?site=demo&limit=100');
    expect(new Set(recent.offers.map((o) => o.triggerId))).toEqual(new Set(stored.keys()));
    expect(recent.offers).toHaveLength(stored.size);
    const stats = await s.adminJson<{ decisions: { triggered: number }; attribution: { totals: { triggered: number } } }>('/v1/offers/stats?site=demo');
    expect(stats.decisions.triggered).toBe(stored.size);
    expect(stats.attribution.totals.triggered).toBe(stored.size);
  }
}, 600_000);
