import { jetstream, DeliverPolicy } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeLogMessage, EVENTS_STREAM } from '../../../src/log/event-log';
import { sendEventsOverSocket, type DeliveryCounts, type WireEvent } from '../../../src/replay/replay-cli';
import { UsageView } from '../../../processors/usage/usage-processor';
import { adminFetch, batch, metricValue, startTestApp } from '../../helpers/collect-client';
import { startNatsServer, type NatsServerHandle } from '../../helpers/nats-server';
import { until } from '../../helpers/until';

/**
 * NATS mode under a broker outage: nats-server is stopped and started again (same store) while WS,
 * HTTP and NATS producers send, each resending what was not acknowledged. Afterwards every event
 * acknowledged is in CM_EVENTS exactly once (read back from the stream itself) and counted exactly
 * once, and nothing was lost: acked = stored = counted, lost = 0.
 */

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const PER_PRODUCER = 3_000;
const BATCH = 25;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function events(prefix: string, n: number): WireEvent[] {
  const t0 = Date.now() - 60_000;
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, type: 'page_view', visitorId: `${prefix}-v${i % 97}`, ts: t0 + i * 10, url: `/p/${i % 13}` }));
}

/** Posts batches to /v1/collect, resending on anything but 200 (503 + Retry-After while the log is away). */
async function httpProducer(base: string, evs: WireEvent[], stats: { acked: Set<string>; retries: number }): Promise<void> {
  for (let i = 0; i < evs.length; i += BATCH) {
    const b = evs.slice(i, i + BATCH);
    for (let attempt = 0; ; attempt++) {
      if (attempt > 400) throw new Error('HTTP batch never acknowledged');
      const res = await fetch(`${base}/v1/collect?site=demo`, { method: 'POST', headers: { authorization: 'Bearer demo-secret' }, body: JSON.stringify(batch(b, i)) }).catch(() => undefined);
      if (res?.status === 200) {
        await res.json();
        for (const e of b) stats.acked.add(e.id as string);
        break;
      }
      stats.retries++;
      await sleep(100);
    }
  }
}

/** Requests on cm.ingest.demo from its own connection, resending on a retry reply, a timeout or no responders. */
async function natsProducer(url: string, evs: WireEvent[], stats: { acked: Set<string>; retries: number }): Promise<void> {
  const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  try {
    for (let i = 0; i < evs.length; i += BATCH) {
      const b = evs.slice(i, i + BATCH);
      for (let attempt = 0; ; attempt++) {
        if (attempt > 400) throw new Error('NATS batch never acknowledged');
        const reply = await nc.request('cm.ingest.demo', JSON.stringify(batch(b, i)), { timeout: 8_000 }).catch(() => undefined);
        const body = reply === undefined ? undefined : (JSON.parse(new TextDecoder().decode(reply.data)) as { type?: string });
        if (body?.type === 'ack') {
          for (const e of b) stats.acked.add(e.id as string);
          break;
        }
        stats.retries++;
        await sleep(100);
      }
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Every event id in CM_EVENTS with how often it is stored. */
async function storedIds(url: string): Promise<Map<string, number>> {
  const nc = await connect({ servers: url });
  try {
    const js = jetstream(nc);
    const c = await js.consumers.get(EVENTS_STREAM, { deliver_policy: DeliverPolicy.All });
    const out = new Map<string, number>();
    for (;;) {
      const m = await c.next({ expires: 1_000 });
      if (m === null) break;
      const d = decodeLogMessage(m.data, Number(m.subject.slice(m.subject.lastIndexOf('.') + 1)));
      if (d.kind !== 'ok') throw new Error(`unreadable log message at ${m.seq}`);
      for (const r of d.records) if (r.type !== 'tick') out.set(r.id, (out.get(r.id) ?? 0) + 1);
      if (m.info.pending === 0) break;
    }
    return out;
  } finally {
    await nc.close();
  }
}

describe('NATS restarted under ingest', () => {
  it('acked = stored once = counted once, over WS, HTTP and NATS, with the broker gone for seconds mid-stream', async () => {
    let nats: NatsServerHandle = await startNatsServer();
    cleanups.push(() => nats.stop());
    const t = await startTestApp({ natsUrl: nats.url, nats: { publishTimeout: 'PT2S' } });
    cleanups.push(() => t.stop());
    const ws = events('ws', PER_PRODUCER);
    const http = events('http', PER_PRODUCER);
    const viaNats = events('nats', PER_PRODUCER);
    const httpStats = { acked: new Set<string>(), retries: 0 };
    const natsStats = { acked: new Set<string>(), retries: 0 };
    const producers = [
      sendEventsOverSocket(`${t.ws}/v1/collect?site=demo`, ws, { batch: BATCH, rate: 0, pace: true, leadMs: 0, maxInFlight: 2, progress: false, userAgent: 'it', secret: 'demo-secret' }),
      httpProducer(t.base, http, httpStats),
      natsProducer(nats.url, viaNats, natsStats),
    ];
    // Mid-stream: the broker goes away for a few seconds, then comes back with its store.
    await until('a third of the events received', async () => metricValue(await (await adminFetch(`${t.admin}/metrics`)).text(), 'clickstream_events_received_total', { site: 'demo', type: 'page_view' }) > PER_PRODUCER, 60_000);
    await nats.pause();
    await until('not ready while NATS is gone', async () => (await adminFetch(`${t.admin}/readyz`)).status === 503, 20_000);
    await sleep(3_000);
    nats = await nats.startAgain();
    const [wsCounts] = (await Promise.all(producers)) as [DeliveryCounts, void, void];
    expect(wsCounts.accepted + wsCounts.duplicates).toBe(PER_PRODUCER);

    const sent = [...ws, ...http, ...viaNats].map((e) => e.id as string);
    // Every acked id is stored exactly once in the log.
    const stored = await storedIds(nats.url);
    const twice = [...stored].filter(([, n]) => n > 1);
    expect(twice).toEqual([]);
    const missing = sent.filter((id) => !stored.has(id));
    expect(missing).toEqual([]);
    expect(httpStats.acked.size + natsStats.acked.size).toBe(2 * PER_PRODUCER);
    // Some batches had to be resent: the outage was real.
    expect(httpStats.retries + natsStats.retries + wsCounts.retries).toBeGreaterThan(0);
    // And counted exactly once: the usage windows hold every event, once.
    const counted = () => (t.app.pipeline.processor('demo', 'usage') as UsageView).windows(3_600_000, 48).reduce((s, w) => s + w.events.page_view, 0);
    await until('everything read back', () => counted() === sent.length, 30_000).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}: counted ${counted()} of ${sent.length}; ${(await (await adminFetch(`${t.admin}/metrics`)).text()).split('\n').filter((l) => l.startsWith('clickstream_log_consumer_lag_messages') || l.startsWith('clickstream_events_duplicate') || l.startsWith('clickstream_events_late')).join('; ')}`);
    });
  }, 180_000);
});
