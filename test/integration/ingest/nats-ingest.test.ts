import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, batch, metricValue, pageView, startTestApp } from '../../helpers/collect-client';
import { startNatsServer, type NatsServerHandle } from '../../helpers/nats-server';

let nats: NatsServerHandle;
let t: Awaited<ReturnType<typeof startTestApp>>;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer();
  // Rules recomputed every second of event time and a short idleness, so rule changes show up promptly.
  t = await startTestApp({
    natsUrl: nats.url,
    time: { idleTimeout: 'PT1S' },
    sites: [{ id: 'demo', secret: 'demo-secret', processors: { 'cross-sell': { recomputeEvery: 'PT1S', minSupport: 0, minConfidence: 0, minLift: 0 } } }],
  });
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
    const metrics = await (await adminFetch(`${t.admin}/metrics`)).text();
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

  it('nats - purchases taken on cm.ingest.<site> lead to a rule set on cm.rules.<site> over the same connection', async () => {
    const sub = nc.subscribe('cm.rules.demo');
    await nc.flush();
    const now = Date.now();
    // Baskets {console, game} ×2 and {console}: c(console)=3, c(game)=2, c(both)=2 → game ⇒ console has confidence 1.
    const buys = [['console', 'game'], ['console', 'game'], ['console']].map((items, i) => ({
      id: `rules-buy-${i}`, type: 'form', visitorId: `rules-buyer-${i}`, ts: now + i, url: 'https://shop.example/checkout', formId: 'checkout', action: 'submit',
      items: items.map((productId) => ({ productId, quantity: 1 })),
    }));
    const reply = await nc.request('cm.ingest.demo', JSON.stringify(batch(buys, 90)), { timeout: 5_000 });
    expect(json(reply.data)).toMatchObject({ accepted: 3 });
    const deadline = setTimeout(() => sub.unsubscribe(), 20_000);
    let found: Record<string, unknown> | undefined;
    for await (const m of sub) {
      const body = json(m.data) as { rules: Array<{ antecedent: string[]; consequent: string[]; level: string; count: number; confidence: number }> };
      const rule = body.rules.find((r) => r.level === 'product' && r.antecedent.join() === 'game' && r.consequent.join() === 'console');
      if (rule !== undefined) {
        found = rule;
        break;
      }
    }
    clearTimeout(deadline);
    expect(found).toMatchObject({ count: 2, confidence: 1 });
  });
});
