import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterEach, expect, it } from 'vitest';
import { whenPlaced } from '../../../src/cluster/when-placed';
import { EVENTS_STREAM } from '../../../src/log/event-log';
import { sendEventsOverSocket, type DeliveryCounts } from '../../../src/replay/replay-cli';
import { UsageView } from '../../../processors/usage/usage-processor';
import { adminFetch, batch, connectWs, metricValue, pageView, startTestApp } from '../../helpers/collect-client';
import { BATCH, httpProducer, natsProducer, pageViews, producerStats, storedIds } from '../../helpers/log-producers';
import { startNatsCluster, type ClusterNode } from '../../helpers/nats-cluster';
import { until } from '../../helpers/until';

/**
 * A scaled-out instance on a 3-node JetStream cluster (log, checkpoints and leases at R3) while WS,
 * HTTP and NATS producers send, each resending what was not acknowledged: the CM_EVENTS stream leader
 * is killed (-9), then a follower. With one node of three left nothing can be stored, and the gateways
 * must say so (503 with Retry-After, a WS `retry`), not ack; once the nodes are back every event
 * acknowledged is in the stream exactly once and counted exactly once.
 */

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const PER_PRODUCER = 4_000;

/**
 * The server name the stream's leader is on (other than `not`, a node just killed), as a client of the
 * live nodes sees it: right after a kill the cluster may still be electing one, so it is asked again.
 */
async function streamLeader(urls: string, not?: string): Promise<{ leader: string; replicas: string[] }> {
  const nc = await connect({ servers: urls.split(',') });
  try {
    return await until(
      `a CM_EVENTS leader${not === undefined ? '' : ` other than ${not}`}`,
      async () => {
        const info = await whenPlaced(async () => (await jetstreamManager(nc)).streams.info(EVENTS_STREAM));
        const leader = info.cluster?.leader ?? '';
        return leader !== '' && leader !== not && { leader, replicas: (info.cluster?.replicas ?? []).map((r) => r.name) };
      },
      60_000,
    );
  } finally {
    await nc.close();
  }
}

it('CM_EVENTS leader then a follower killed -9 under WS, HTTP and NATS ingest: with 2 of 3 nodes down only retry/503; afterwards acked = stored once = counted once', async () => {
  const cluster = await startNatsCluster(3);
  cleanups.push(() => cluster.stop());
  const t = await startTestApp({ natsUrl: cluster.urls, nats: { replicas: 3, publishTimeout: 'PT2S', instanceId: 'solo', leaseTtl: 'PT10S' } });
  cleanups.push(() => t.stop());
  const received = async (): Promise<number> => metricValue(await (await adminFetch(`${t.admin}/metrics`)).text(), 'clickstream_events_received_total', { site: 'demo', type: 'page_view' });

  const ws = pageViews('ws', PER_PRODUCER);
  const http = pageViews('http', PER_PRODUCER);
  const viaNats = pageViews('nats', PER_PRODUCER);
  const httpStats = producerStats();
  const natsStats = producerStats();
  const producers = Promise.all([
    sendEventsOverSocket(`${t.ws}/v1/collect?site=demo`, ws, { batch: BATCH, rate: 0, pace: true, leadMs: 0, maxInFlight: 2, progress: false, userAgent: 'it', secret: 'demo-secret' }),
    httpProducer(t.base, http, httpStats, 2_000),
    natsProducer(cluster.urls, viaNats, natsStats, 2_000),
  ]);

  const node = (name: string): ClusterNode => cluster.nodes.find((n) => n.name === name) as ClusterNode;
  await until('a fifth of the events received', async () => (await received()) > (3 * PER_PRODUCER) / 5, 60_000);
  const first = await streamLeader(cluster.urls);
  expect(first.leader).not.toBe('');
  await node(first.leader).kill();
  // Two of three nodes: a new leader takes over and ingest goes on.
  const acked = (): number => httpStats.acked.size + natsStats.acked.size;
  const atKill = acked();
  await until('batches acknowledged after the leader was killed', () => acked() > atKill + 500, 60_000);
  const second = await streamLeader(cluster.urls, first.leader);
  const follower = second.replicas.find((n) => n !== first.leader) ?? cluster.nodes.find((n) => n.name !== first.leader && n.name !== second.leader)!.name;
  expect(follower).not.toBe(first.leader);
  await node(follower).kill();

  // One node of three: no quorum, nothing stored. Every gateway answers retry, none acks.
  const probe = await until('HTTP answers 503 with Retry-After', async () => {
    const res = await fetch(`${t.base}/v1/collect?site=demo`, { method: 'POST', headers: { authorization: 'Bearer demo-secret' }, body: JSON.stringify(batch([pageView({ id: `probe-${Date.now()}` })])) });
    const body = (await res.json()) as { type?: string; error?: { code?: string } };
    return res.status === 503 && res.headers.get('retry-after') !== null && body.type === 'retry' ? body : undefined;
  }, 30_000);
  expect(probe.error?.code).toMatch(/^(log_unavailable|log_full|starting)$/);
  const socket = await connectWs(`${t.ws}/v1/collect?site=demo`, { authorization: 'Bearer demo-secret' });
  socket.send(batch([pageView({ id: 'probe-ws' })], 7));
  expect(await socket.next()).toMatchObject({ type: 'retry', seq: 7 });
  socket.ws.close();
  const ackedWhileDown = acked();
  await new Promise((r) => setTimeout(r, 3_000));
  expect(acked()).toBe(ackedWhileDown);

  // Both nodes back (same stores): the producers' resends are taken again.
  await Promise.all([node(first.leader).restart(), node(follower).restart()]);
  const [wsCounts] = (await producers) as [DeliveryCounts, void, void];
  expect(wsCounts.accepted + wsCounts.duplicates).toBe(PER_PRODUCER);
  expect(httpStats.acked.size + natsStats.acked.size).toBe(2 * PER_PRODUCER);
  expect(httpStats.retries + natsStats.retries + wsCounts.retries).toBeGreaterThan(0);

  // Stored exactly once: the stream itself, read back.
  const sent = [...ws, ...http, ...viaNats].map((e) => e.id as string);
  const stored = await storedIds(cluster.urls);
  expect([...stored].filter(([, n]) => n > 1)).toEqual([]);
  expect(sent.filter((id) => !stored.has(id))).toEqual([]);
  expect([...stored.keys()].filter((id) => !id.startsWith('probe-') && !sent.includes(id))).toEqual([]);
  // Counted exactly once, once the instance holds every partition again (its leases lapsed with the quorum).
  const counted = (): number => (t.app.pipeline.processor('demo', 'usage') as UsageView).windows(3_600_000, 48).reduce((s, w) => s + w.events.page_view, 0);
  const ownedAll = async (): Promise<boolean> => metricValue(await (await adminFetch(`${t.admin}/metrics`)).text(), 'clickstream_cluster_partitions_owned', {}) === t.config.partitions;
  const probesStored = [...stored.keys()].filter((id) => id.startsWith('probe-')).length;
  await until('every stored event counted', async () => (await ownedAll()) && counted() === sent.length + probesStored, 120_000).catch(async (err: unknown) => {
    const metrics = (await (await adminFetch(`${t.admin}/metrics`)).text()).split('\n').filter((l) => /^clickstream_(cluster|log_consumer_lag_messages)/.test(l));
    throw new Error(`${(err as Error).message}: counted ${counted()} of ${sent.length + probesStored}; ${metrics.join('; ')}`);
  });
  // The fault table's row (closing note, README): what was killed, acked, stored, counted, lost.
  console.info(`node faults: killed ${first.leader} (stream leader) then ${follower}; acked ${sent.length}, stored ${stored.size} (probes ${probesStored}), counted ${counted()}, lost 0; resends ws ${wsCounts.retries} http ${httpStats.retries} nats ${natsStats.retries}; refusals ${JSON.stringify(Object.fromEntries([...httpStats.refusals, ...[...natsStats.refusals].map(([k, v]) => [`nats:${k}`, v] as const)]))}`);
}, 600_000);
