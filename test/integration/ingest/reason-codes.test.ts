import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REJECT_REASON_CODES, type RejectReason } from '../../../src/errors';
import { adminFetch, batch, connectWs, metricValue, pageView, startTestApp } from '../../helpers/collect-client';

let t: Awaited<ReturnType<typeof startTestApp>>;

beforeAll(async () => {
  t = await startTestApp({
    ingest: { maxFrameBytes: 4096, maxBodyBytes: 4096, maxBatchEvents: 3, rateLimitBurst: 10, rateLimitPerSecond: 1, maxFutureSkew: 'PT1M', maxEventAge: 'PT1H' },
    sites: [{ id: 'demo' }, { id: 'shop', allowedOrigins: ['https://shop.example'] }],
  });
});
afterAll(async () => {
  await t.stop();
});

const post = (site: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${t.base}/v1/collect?site=${site}`, { method: 'POST', body, headers: { 'content-type': 'text/plain', ...headers } });

// `unauthorized` is the offers subscriber endpoint's refusal (src/delivery), not an ingest one.
const INGEST_CODES = REJECT_REASON_CODES.filter((c) => c !== 'unauthorized');

describe('every ingest reason code end to end', () => {
  it('reason codes - each refusal is answered with its code, counted in clickstream_events_rejected_total and listed in the quarantine', async () => {
    const seen = new Map<RejectReason, string>(); // code → site label it is counted under

    // Whole frames over HTTP.
    expect((await post('demo', '{"type":')).status).toBe(400);
    seen.set('invalid_json', 'demo');
    expect((await post('demo', JSON.stringify({ type: 'batch', seq: 1, events: [] }))).status).toBe(400);
    seen.set('invalid_batch', 'demo');
    expect((await post('demo', JSON.stringify(batch([pageView(), pageView(), pageView(), pageView()])))).status).toBe(413);
    seen.set('batch_too_large', 'demo');
    expect((await post('demo', JSON.stringify(batch([pageView({ title: 'x'.repeat(5000) })])))).status).toBe(413);
    seen.set('body_too_large', 'demo');
    expect((await post('nope', JSON.stringify(batch([pageView()])))).status).toBe(404);
    seen.set('unknown_site', '_unknown');
    expect((await post('shop', JSON.stringify(batch([pageView()])), { origin: 'https://evil.example' })).status).toBe(403);
    seen.set('origin_not_allowed', 'shop');
    const wrongKey = await fetch(`${t.base}/v1/collect?site=demo&key=guessed`, { method: 'POST', body: JSON.stringify(batch([pageView()])) });
    expect(wrongKey.status).toBe(403);
    expect(((await wrongKey.json()) as { error: { code: string } }).error.code).toBe('invalid_public_key');
    seen.set('invalid_public_key', 'demo');

    // Single events over WS: one batch, every per-event reason.
    const s = await connectWs(`${t.ws}/v1/collect?site=demo`);
    const raw = `{"type":"batch","seq":9,"sentAt":${Date.now()},"events":[${JSON.stringify({ ...pageView(), ts: -1 })},{"id":"p","type":"page_view","constructor":{}},${JSON.stringify(pageView({ type: 'hover' }))}]}`;
    s.send(raw);
    const ack1 = await s.next();
    expect((ack1['rejected'] as Array<{ code: string }>).map((r) => r.code)).toEqual(['schema_violation', 'forbidden_key', 'unknown_event_type']);
    s.send(batch([pageView({ ts: Date.now() + 3_600_000 }), pageView({ ts: Date.now() - 2 * 3_600_000 })], 10));
    const ack2 = await s.next();
    expect((ack2['rejected'] as Array<{ code: string }>).map((r) => r.code)).toEqual(['future_timestamp', 'ancient_timestamp']);
    for (const c of ['schema_violation', 'forbidden_key', 'unknown_event_type', 'future_timestamp', 'ancient_timestamp'] as const) seen.set(c, 'demo');

    // Flood on a fresh connection: 10-token burst, 3-event batches → the fourth batch is refused.
    s.ws.close();
    const f = await connectWs(`${t.ws}/v1/collect?site=demo`);
    const replies: string[] = [];
    for (let i = 0; i < 4; i++) {
      f.send(batch([pageView(), pageView(), pageView()], 20 + i));
      replies.push(String((await f.next())['type']));
    }
    expect(replies).toEqual(['ack', 'ack', 'ack', 'retry']);
    seen.set('rate_limited', 'demo');

    // Oversized WS frame: the socket is closed with 1009.
    f.send(JSON.stringify(batch([pageView({ title: 'y'.repeat(2000) }), pageView({ title: 'z'.repeat(2500) })])));
    expect(await f.closed).toBe(1009);
    seen.set('frame_too_large', 'demo');

    expect([...seen.keys()].sort()).toEqual([...INGEST_CODES].sort());
    const metrics = await (await adminFetch(`${t.admin}/metrics`)).text();
    for (const [code, site] of seen) {
      expect(metricValue(metrics, 'clickstream_events_rejected_total', { site, reason: code }), code).toBeGreaterThanOrEqual(1);
      const q = (await (await adminFetch(`${t.admin}/v1/quarantine?site=${site}`)).json()) as { items: Array<{ reason: string; message: string; at: string }> };
      const item = q.items.find((i) => i.reason === code);
      expect(item, `quarantine of ${site} lists ${code}`).toBeDefined();
      expect(item?.message.length).toBeGreaterThan(0);
      expect(Number.isNaN(Date.parse(item?.at ?? ''))).toBe(false);
    }
  });

  it('reason codes - the quarantine of an unconfigured site is 404, not an empty list', async () => {
    const res = await adminFetch(`${t.admin}/v1/quarantine?site=nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'unknown_site' } });
  });
});
