import { afterEach, describe, expect, it } from 'vitest';
import { sendEventsOverSocket, type DeliveryCounts } from '../../../src/replay/replay-cli';
import { UsageView } from '../../../processors/usage/usage-processor';
import { adminFetch, metricValue, startTestApp } from '../../helpers/collect-client';
import { BATCH, httpProducer, natsProducer, pageViews, producerStats, storedIds } from '../../helpers/log-producers';
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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('NATS restarted under ingest', () => {
  it('acked = stored once = counted once, over WS, HTTP and NATS, with the broker gone for seconds mid-stream', async () => {
    let nats: NatsServerHandle = await startNatsServer();
    cleanups.push(() => nats.stop());
    const t = await startTestApp({ natsUrl: nats.url, nats: { publishTimeout: 'PT2S' } });
    cleanups.push(() => t.stop());
    const ws = pageViews('ws', PER_PRODUCER);
    const http = pageViews('http', PER_PRODUCER);
    const viaNats = pageViews('nats', PER_PRODUCER);
    const httpStats = producerStats();
    const natsStats = producerStats();
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
