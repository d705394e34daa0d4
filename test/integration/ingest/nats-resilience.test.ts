import { connect } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { adminFetch, batch, metricValue, pageView, startTestApp } from '../../helpers/collect-client';
import { freePort, startNatsServer, type NatsServerHandle } from '../../helpers/nats-server';
import { until } from '../../helpers/until';

/**
 * The app and its NATS server (real nats-server processes on loopback): down at boot is "not ready,
 * retrying", never a crash; a lost connection is logged, readiness follows it, and the client comes
 * back for as long as it takes; two gateways share cm.ingest.* in a queue group, so each message is
 * counted once.
 */

const cleanups: Array<() => Promise<void>> = [];
// The app is stopped after its NATS server (reverse order): its drain waits out the shutdown timeout.
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
}, 30_000);

const readyz = async (admin: string) => (await adminFetch(`${admin}/readyz`)).status;
const json = (data: Uint8Array): Record<string, unknown> => JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;

describe('NATS resilience', () => {
  it('down at boot - the app starts, answers readyz 503, and becomes ready and takes NATS ingest once the server is up', async () => {
    const port = await freePort();
    const t = await startTestApp({ natsUrl: `nats://127.0.0.1:${port}` });
    cleanups.push(() => t.stop());
    expect(await readyz(t.admin)).toBe(503);
    // Nothing can be stored durably yet: a batch is answered 503 with Retry-After, never acked and lost.
    const early = await fetch(`${t.base}/v1/collect?site=demo`, { method: 'POST', body: JSON.stringify(batch([pageView()])) });
    expect(early.status).toBe(503);
    expect(early.headers.get('retry-after')).not.toBeNull();
    expect(((await early.json()) as { error: { code: string } }).error.code).toBe('starting');
    let nats: NatsServerHandle | undefined = await startNatsServer({ port });
    cleanups.push(() => nats?.stop() ?? Promise.resolve());
    await until('ready once NATS is up', async () => (await readyz(t.admin)) === 200, 20_000);
    const nc = await connect({ servers: nats.url });
    cleanups.push(() => nc.close());
    const reply = await nc.request('cm.ingest.demo', JSON.stringify(batch([pageView({ visitorId: 'late-nats' })], 5)), { timeout: 5_000 });
    expect(json(reply.data)).toMatchObject({ type: 'ack', seq: 5, accepted: 1 });

    // Lost and back: readiness follows the connection.
    await nats.stop();
    await until('not ready while NATS is gone', async () => (await readyz(t.admin)) === 503, 20_000);
    nats = await startNatsServer({ port });
    await until('ready again', async () => (await readyz(t.admin)) === 200, 30_000);
  }, 90_000);

  it('two gateways - cm.ingest.* is consumed in a queue group: every message is counted exactly once across both', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.stop());
    const a = await startTestApp({ natsUrl: nats.url });
    cleanups.push(() => a.stop());
    const b = await startTestApp({ natsUrl: nats.url });
    cleanups.push(() => b.stop());
    const nc = await connect({ servers: nats.url });
    cleanups.push(() => nc.close());
    const N = 200;
    for (let i = 0; i < N; i++) {
      const reply = await nc.request('cm.ingest.demo', JSON.stringify(batch([pageView({ visitorId: `q${i % 20}` })], i)), { timeout: 5_000 });
      expect(json(reply.data)).toMatchObject({ type: 'ack', accepted: 1 });
    }
    const received = async (admin: string) => metricValue(await (await adminFetch(`${admin}/metrics`)).text(), 'clickstream_events_received_total', { site: 'demo', type: 'page_view' });
    const [ra, rb] = [await received(a.admin), await received(b.admin)];
    expect(ra + rb).toBe(N);
    // Both took a share (a queue group load-balances; with 200 messages neither gets none).
    expect(ra).toBeGreaterThan(0);
    expect(rb).toBeGreaterThan(0);
  }, 60_000);
});
