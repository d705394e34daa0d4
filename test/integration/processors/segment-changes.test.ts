import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, batch, metricValue, startTestApp } from '../../helpers/collect-client';
import { startNatsServer, type NatsServerHandle } from '../../helpers/nats-server';
import { until } from '../../helpers/until';

let nats: NatsServerHandle;
let t: Awaited<ReturnType<typeof startTestApp>>;
let nc: NatsConnection;
let hook: Server;
/** What the loopback webhook receiver got: headers and body of each POST. */
const hooked: Array<{ signature: string; timestamp: string; id: string; body: string }> = [];

// Two segments from the config: big spenders (revenue ≥ 100) and one-time-or-never buyers (purchases < 2).
const SEGMENTS = [
  { id: 'big', name: 'Big spenders', match: 'all', conditions: [{ field: 'revenue', op: '>=', value: 100 }] },
  { id: 'few', name: 'At most one purchase', match: 'all', conditions: [{ field: 'purchases', op: '<', value: 2 }] },
];

beforeAll(async () => {
  nats = await startNatsServer();
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      hooked.push({ signature: String(req.headers['x-clickstream-signature']), timestamp: String(req.headers['x-clickstream-timestamp']), id: String(req.headers['x-clickstream-trigger-id']), body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  const port = (hook.address() as { port: number }).port;
  t = await startTestApp({
    natsUrl: nats.url,
    sites: [{ id: 'demo', secret: 'demo-secret', webhookSecret: 'seg-hook-secret', processors: { usage: { segments: SEGMENTS, segmentWebhooks: [`http://127.0.0.1:${port}/segments`] } } }],
  });
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await t?.stop();
  await new Promise((r) => hook?.close(r));
  await nats?.stop();
});

describe('segment entries and exits', () => {
  it('segments - entries and exits on cm.segments.<site> are the membership changes each event makes, worked by hand', async () => {
    const got: Array<Record<string, unknown>> = [];
    const sub = nc.subscribe('cm.segments.demo');
    void (async () => {
      for await (const m of sub) got.push(JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>);
    })();
    await nc.flush();
    const now = Date.now();
    const url = 'https://shop.example/checkout';
    const buy = (id: string, visitorId: string, ts: number, price: number) => ({ id, type: 'form', visitorId, ts, url, formId: 'checkout', action: 'submit', items: [{ productId: 'p', quantity: 1, price }] });
    const events = [
      { id: `s1-${now}`, type: 'page_view', visitorId: `ann-${now}`, ts: now - 5_000, url: 'https://shop.example/' },
      buy(`s2-${now}`, `ann-${now}`, now - 4_000, 60),
      buy(`s3-${now}`, `ann-${now}`, now - 3_000, 50),
      { id: `s4-${now}`, type: 'page_view', visitorId: `bob-${now}`, ts: now - 2_000, url: 'https://shop.example/' },
      buy(`s5-${now}`, `bob-${now}`, now - 1_000, 250),
    ];
    const res = await fetch(`${t.base}/v1/collect?site=demo`, { method: 'POST', headers: { 'content-type': 'text/plain', authorization: 'Bearer demo-secret' }, body: JSON.stringify(batch(events, 1)) });
    expect(((await res.json()) as Record<string, unknown>)['accepted']).toBe(5);
    // By hand: Ann enters "few" with her first event (no purchase); her second purchase (110 in all) puts
    // her in "big" and out of "few". Bob enters "few" at his page view and "big" with his purchase (250).
    const iso = (ts: number) => new Date(ts).toISOString();
    const expected = [
      { segment: 'few', visitorId: `ann-${now}`, kind: 'entered', ts: iso(now - 5_000) },
      { segment: 'big', visitorId: `ann-${now}`, kind: 'entered', ts: iso(now - 3_000) },
      { segment: 'few', visitorId: `ann-${now}`, kind: 'exited', ts: iso(now - 3_000) },
      { segment: 'few', visitorId: `bob-${now}`, kind: 'entered', ts: iso(now - 2_000) },
      { segment: 'big', visitorId: `bob-${now}`, kind: 'entered', ts: iso(now - 1_000) },
    ];
    const sort = (xs: Array<Record<string, unknown>>) => [...xs].sort((a, b) => `${String(a['visitorId'])}${String(a['ts'])}${String(a['segment'])}`.localeCompare(`${String(b['visitorId'])}${String(b['ts'])}${String(b['segment'])}`));
    await until('the five changes on NATS', () => got.length >= 5 || undefined, 15_000);
    expect(sort(got.map(({ site: _s, ...c }) => c))).toEqual(sort(expected));
    expect(got.every((c) => c['site'] === 'demo')).toBe(true);
    // The webhook got the same five, signed with the site's webhook secret, each with a stable id.
    await until('the five webhook calls', () => hooked.length >= 5 || undefined, 15_000);
    expect(sort(hooked.map((h) => JSON.parse(h.body) as Record<string, unknown>).map(({ site: _s, ...c }) => c))).toEqual(sort(expected));
    for (const h of hooked) expect(h.signature).toBe(`sha256=${createHmac('sha256', 'seg-hook-secret').update(`${h.timestamp}.${h.body}`).digest('hex')}`);
    expect(new Set(hooked.map((h) => h.id)).size).toBe(5);
    // The admin API lists the same changes; the metric counts them.
    const api = (await (await adminFetch(`${t.admin}/v1/segments/changes?site=demo`)).json()) as { changes: Array<Record<string, unknown>> };
    expect(sort(api.changes.map(({ site: _s, ...c }) => c))).toEqual(sort(expected));
    const metrics = await (await adminFetch(`${t.admin}/metrics`)).text();
    expect(metricValue(metrics, 'clickstream_segment_changes_total', { site: 'demo', kind: 'entered' })).toBe(4);
    expect(metricValue(metrics, 'clickstream_segment_changes_total', { site: 'demo', kind: 'exited' })).toBe(1);
    // Per window: the entries and exits at the event times that made them.
    const usage = (await (await adminFetch(`${t.admin}/v1/stats/usage?site=demo&window=P1D&windows=2&limit=0`)).json()) as { windows: Array<{ segmentChanges: Array<{ segment: string; entered: number; exited: number }> }> };
    const perSegment = new Map<string, [number, number]>();
    for (const w of usage.windows) for (const c of w.segmentChanges) perSegment.set(c.segment, [(perSegment.get(c.segment)?.[0] ?? 0) + c.entered, (perSegment.get(c.segment)?.[1] ?? 0) + c.exited]);
    expect(Object.fromEntries(perSegment)).toEqual({ big: [2, 0], few: [2, 1] });
    // Membership now: both are big spenders, Bob is still in "few" (one purchase).
    const members = async (id: string) => ((await (await adminFetch(`${t.admin}/v1/segments/${id}/visitors?site=demo`)).json()) as { visitors: Array<{ visitorId: string }> }).visitors.map((v) => v.visitorId).sort();
    expect(await members('big')).toEqual([`ann-${now}`, `bob-${now}`]);
    expect(await members('few')).toEqual([`bob-${now}`]);
    sub.unsubscribe();
  });
});
