import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batch, metricValue, pageView, startTestApp } from '../../helpers/collect-client';
import { startNatsServer, type NatsServerHandle } from '../../helpers/nats-server';

let nats: NatsServerHandle;
let t: Awaited<ReturnType<typeof startTestApp>>;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer();
  t = await startTestApp({ natsUrl: nats.url });
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await t?.stop();
  await nats?.stop();
});

const json = (data: Uint8Array): Record<string, unknown> => JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;

describe('NATS cm.ingest.<site>', () => {
  it('nats ingest - a request on cm.ingest.demo is judged like a WS frame and answered with the ack', async () => {
    const good = pageView({ visitorId: 'nats-visitor' });
    const reply = await nc.request('cm.ingest.demo', JSON.stringify(batch([good, { ...pageView(), target: 1 }], 77)), { timeout: 5_000 });
    expect(json(reply.data)).toMatchObject({ type: 'ack', seq: 77, accepted: 1, duplicates: 0, rejected: [{ index: 1, code: 'schema_violation' }] });
    const again = await nc.request('cm.ingest.demo', JSON.stringify(batch([good], 78)), { timeout: 5_000 });
    expect(json(again.data)).toMatchObject({ accepted: 0, duplicates: 1 });
    const metrics = await (await fetch(`${t.admin}/metrics`)).text();
    expect(metricValue(metrics, 'clickstream_events_received_total', { site: 'demo', type: 'page_view' })).toBe(1);
  });

  it('nats ingest - refused input is published on cm.quarantine.<site> with its reason', async () => {
    const sub = nc.subscribe('cm.quarantine.*', { max: 2 });
    await nc.flush();
    const got: Array<Record<string, unknown>> = [];
    const done = (async () => {
      for await (const m of sub) got.push({ subject: m.subject, ...json(m.data) });
    })();
    const r1 = await nc.request('cm.ingest.demo', '{"not":"a batch"', { timeout: 5_000 });
    expect(json(r1.data)).toMatchObject({ rejected: [{ index: -1, code: 'invalid_json' }] });
    const r2 = await nc.request('cm.ingest.no-such-site', JSON.stringify(batch([pageView()])), { timeout: 5_000 });
    expect(json(r2.data)).toMatchObject({ error: { code: 'unknown_site' } });
    await done;
    expect(got).toEqual([
      expect.objectContaining({ subject: 'cm.quarantine.demo', reason: 'invalid_json', transport: 'nats', sample: '{"not":"a batch"' }),
      expect.objectContaining({ subject: 'cm.quarantine._unknown', reason: 'unknown_site', sample: 'no-such-site' }),
    ]);
  });

  it('nats ingest - a message over maxFrameBytes is frame_too_large', async () => {
    const big = JSON.stringify(batch([pageView({ title: 'x'.repeat(300 * 1024) })]));
    const r = await nc.request('cm.ingest.demo', big, { timeout: 5_000 });
    expect(json(r.data)).toMatchObject({ accepted: 0, rejected: [{ index: -1, code: 'frame_too_large' }] });
  });
});
