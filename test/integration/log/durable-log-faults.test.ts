import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { connect, nanos } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_PARTITIONS, loadConfig } from '../../../src/config';
import { ClickstreamError } from '../../../src/errors';
import { ensureEventStream, EVENTS_STREAM } from '../../../src/log/event-log';
import { SNAPSHOT_BUCKET } from '../../../src/log/checkpoint-store';
import { UsageView } from '../../../processors/usage/usage-processor';
import { adminFetch, batch, metricValue, startTestApp } from '../../helpers/collect-client';
import { startNatsServer } from '../../helpers/nats-server';
import { until } from '../../helpers/until';

/**
 * The durable log's bad cases: a stream with other settings, an unusable snapshot (corrupt, from
 * another configuration), a stream at its limits. Each is a clear error with a reason code, counted,
 * and never a loss: the state is rebuilt from the log.
 */

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const counted = (app: Awaited<ReturnType<typeof startTestApp>>['app']) =>
  (app.pipeline.processor('demo', 'usage') as UsageView).windows(3_600_000, 48).reduce((s, w) => s + w.events.page_view, 0);

async function post(base: string, n: number, prefix: string): Promise<number> {
  let acked = 0;
  const t0 = Date.now() - 30_000;
  for (let i = 0; i < n; i += 50) {
    const evs = Array.from({ length: Math.min(50, n - i) }, (_, j) => ({ id: `${prefix}-${i + j}`, type: 'page_view', visitorId: `${prefix}-v${(i + j) % 31}`, ts: t0 + i + j, url: '/x' }));
    const res = await fetch(`${base}/v1/collect?site=demo`, { method: 'POST', headers: { authorization: 'Bearer demo-secret' }, body: JSON.stringify(batch(evs, i)) });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
    acked += ((await res.json()) as { accepted: number }).accepted;
  }
  return acked;
}

const metric = async (admin: string, name: string, labels: Record<string, string> = {}) => metricValue(await (await adminFetch(`${admin}/metrics`)).text(), name, labels);

describe('durable log faults', () => {
  it('a CM_EVENTS stream with other settings is a CM_ERR_NATS error naming each difference, never changed', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.stop());
    const nc = await connect({ servers: nats.url });
    cleanups.push(() => nc.close());
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: EVENTS_STREAM, subjects: ['cm.events.*'], max_age: nanos(3_600_000) });
    const config = loadConfig({}, { natsUrl: nats.url });
    const err = await ensureEventStream(nc, config).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ClickstreamError);
    expect((err as ClickstreamError).code).toBe('CM_ERR_NATS');
    expect((err as Error).message).toMatch(/max_age: the stream has 3600000000000/);
    expect((err as Error).message).toMatch(/discard/);
    // Untouched.
    expect((await jsm.streams.info(EVENTS_STREAM)).config.max_age).toBe(nanos(3_600_000));
    // The app does not take traffic on it: not ready.
    const t = await startTestApp({ natsUrl: nats.url });
    cleanups.push(() => t.stop());
    expect((await adminFetch(`${t.admin}/readyz`)).status).toBe(503);
  }, 60_000);

  it('a snapshot cuts one partition per turn of the event loop (a whole-state cut held it for seconds at a million events), and the units it commits restore the same counts', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.stop());
    const a = await startTestApp({ natsUrl: nats.url, persistence: { snapshotInterval: 'PT1H' } });
    cleanups.push(() => a.stop());
    const sent = await post(a.base, 300, 'turns');
    await until('counted', () => counted(a.app) === sent, 20_000);
    const pipeline = a.app.pipeline;
    const cut = pipeline.snapshotPartition.bind(pipeline);
    // Whether the event loop turned (an immediate set at the previous cut ran) before each cut.
    const turnedBefore: boolean[] = [];
    let turned = true;
    pipeline.snapshotPartition = (p, opts) => {
      turnedBefore.push(turned);
      turned = false;
      setImmediate(() => (turned = true));
      return cut(p, opts);
    };
    await a.app.durableLog!.snapshotNow();
    expect(turnedBefore).toHaveLength(DEFAULT_PARTITIONS);
    expect(turnedBefore.every(Boolean)).toBe(true);
    expect(await metric(a.admin, 'clickstream_snapshots_total', { outcome: 'ok' })).toBe(1);
    // The units, cut at different moments, restore to the same counts.
    await a.stop();
    const b = await startTestApp({ natsUrl: nats.url, persistence: { snapshotInterval: 'PT1H' } });
    cleanups.push(() => b.stop());
    expect(counted(b.app)).toBe(sent);
  }, 60_000);

  it('a corrupt newest snapshot falls back to the previous one (CM_ERR_SNAPSHOT counted); another config rebuilds from the log; nothing is lost', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.stop());
    const a = await startTestApp({ natsUrl: nats.url, persistence: { snapshotInterval: 'PT0.2S' } });
    const sent = (await post(a.base, 600, 'a')) + 0;
    await until('counted', () => counted(a.app) === sent, 20_000);
    await until('a snapshot', async () => (await metric(a.admin, 'clickstream_snapshots_total', { outcome: 'ok' })) >= 1, 20_000);
    const more = await post(a.base, 400, 'b');
    await a.stop(); // the final snapshot: the newest checkpoint
    // Corrupt the newest snapshot object (same name, other bytes: its digest no longer matches).
    const nc = await connect({ servers: nats.url });
    cleanups.push(() => nc.close());
    const objects = await new Objm(jetstream(nc)).open(SNAPSHOT_BUCKET);
    const newest = (await objects.list()).filter((o) => !o.deleted).sort((x, y) => (x.mtime < y.mtime ? 1 : -1))[0]!;
    await objects.putBlob({ name: newest.name }, new TextEncoder().encode('not a snapshot'));

    const b = await startTestApp({ natsUrl: nats.url });
    cleanups.push(() => b.stop());
    expect(await metric(b.admin, 'clickstream_snapshot_errors_total', { reason: 'corrupt' })).toBe(1);
    await until('everything counted again', () => counted(b.app) === sent + more, 20_000);
    await b.stop();

    // Another configuration: every snapshot is refused and the state is rebuilt from the log's start.
    const c = await startTestApp({ natsUrl: nats.url, time: { sessionGap: 'PT20M' } });
    cleanups.push(() => c.stop());
    // Every unit's snapshot (each partition's and the site's) is refused.
    expect(await metric(c.admin, 'clickstream_restore_refused_total')).toBe(DEFAULT_PARTITIONS + 1);
    await until('rebuilt from the log', () => counted(c.app) === sent + more, 20_000);
  }, 90_000);

  it('a stream at its byte limit answers 503 log_full (counted), keeps what it stored, and never acks what it refused', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.stop());
    const t = await startTestApp({ natsUrl: nats.url, nats: { maxBytes: 1024 * 1024 } });
    cleanups.push(() => t.stop());
    let acked = 0;
    let full: Response | undefined;
    const t0 = Date.now() - 30_000;
    for (let i = 0; i < 40_000 && full === undefined; i += 100) {
      const evs = Array.from({ length: 100 }, (_, j) => ({ id: `f-${i + j}`, type: 'page_view', visitorId: `f-v${(i + j) % 7}`, ts: t0 + ((i + j) % 20_000), url: `/full/${'x'.repeat(100)}` }));
      const res = await fetch(`${t.base}/v1/collect?site=demo`, { method: 'POST', headers: { authorization: 'Bearer demo-secret' }, body: JSON.stringify(batch(evs, i)) });
      if (res.status === 200) acked += ((await res.json()) as { accepted: number }).accepted;
      else full = res;
    }
    expect(full?.status).toBe(503);
    expect(full?.headers.get('retry-after')).not.toBeNull();
    expect(((await full!.json()) as { error: { code: string } }).error.code).toBe('log_full');
    expect(await metric(t.admin, 'clickstream_log_publishes_total', { outcome: 'full' })).toBeGreaterThan(0);
    // What was acked is what is counted (parts of the refused batch that were stored are remembered, not counted twice).
    await until('acked counted', () => counted(t.app) >= acked, 20_000);
    expect(counted(t.app)).toBe(await metric(t.admin, 'clickstream_events_received_total', { site: 'demo', type: 'page_view' }));
  }, 90_000);
});
