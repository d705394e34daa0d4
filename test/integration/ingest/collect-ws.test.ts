import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, batch, connectWs, metricValue, pageView, startTestApp } from '../../helpers/collect-client';

let t: Awaited<ReturnType<typeof startTestApp>>;

beforeAll(async () => {
  t = await startTestApp({
    ingest: { maxFrameBytes: 8192, rateLimitPerSecond: 5, rateLimitBurst: 40 },
    sites: [{ id: 'demo' }, { id: 'shop', allowedOrigins: ['https://shop.example'], secret: 'shop-secret' }],
  });
});
afterAll(async () => {
  await t.stop();
});

describe('WS /v1/collect', () => {
  it('ws collect - a mixed batch is acked with the good events accepted and each bad one listed by index and code', async () => {
    const s = await connectWs(`${t.ws}/v1/collect?site=demo`);
    const good1 = pageView();
    const good2 = { id: `c-${Date.now()}`, type: 'click', visitorId: 'visitor-1', ts: Date.now(), url: '/', target: { kind: 'link', href: '/x' } };
    s.send(batch([good1, { ...pageView(), ts: 'yesterday' }, { ...pageView(), type: 'scroll' }, good2, { ...pageView(), ts: Date.now() + 86_400_000 }], 11));
    const ack = await s.next();
    expect(ack).toMatchObject({ type: 'ack', seq: 11, accepted: 2, duplicates: 0 });
    expect((ack['rejected'] as Array<{ index: number; code: string }>).map((r) => [r.index, r.code])).toEqual([
      [1, 'schema_violation'],
      [2, 'unknown_event_type'],
      [4, 'future_timestamp'],
    ]);
    // the same batch again: the good ones are duplicates now, the bad ones refused again
    s.send(batch([good1, good2], 12));
    expect(await s.next()).toMatchObject({ type: 'ack', seq: 12, accepted: 0, duplicates: 2, rejected: [] });
    s.ws.close();
  });

  it('ws collect - an unparsable frame is refused whole and the socket stays usable', async () => {
    const s = await connectWs(`${t.ws}/v1/collect?site=demo`);
    s.send('{"type":"batch",');
    expect(await s.next()).toMatchObject({ type: 'ack', seq: null, accepted: 0, rejected: [{ index: -1, code: 'invalid_json' }] });
    s.send(batch([pageView()], 2));
    expect(await s.next()).toMatchObject({ type: 'ack', seq: 2, accepted: 1 });
    s.ws.close();
  });

  it('ws collect - a frame over maxFrameBytes closes the socket with 1009 and is counted as frame_too_large', async () => {
    const before = metricValue(await (await adminFetch(`${t.admin}/metrics`)).text(), 'clickstream_events_rejected_total', { site: 'demo', reason: 'frame_too_large' });
    const s = await connectWs(`${t.ws}/v1/collect?site=demo`);
    s.send(batch([pageView({ title: 'x'.repeat(500) })].concat(Array.from({ length: 20 }, () => pageView({ title: 'y'.repeat(500) })))));
    expect(await s.closed).toBe(1009);
    const after = metricValue(await (await adminFetch(`${t.admin}/metrics`)).text(), 'clickstream_events_rejected_total', { site: 'demo', reason: 'frame_too_large' });
    expect(after - before).toBe(1);
  });

  it('ws collect - an unknown site is refused at the upgrade with 404, a foreign origin with 403', async () => {
    await expect(connectWs(`${t.ws}/v1/collect?site=nope`)).rejects.toMatchObject({ status: 404 });
    await expect(connectWs(`${t.ws}/v1/collect?site=shop`, { origin: 'https://evil.example' })).rejects.toMatchObject({ status: 403 });
    const ok = await connectWs(`${t.ws}/v1/collect?site=shop`, { origin: 'https://shop.example' });
    ok.send(batch([pageView()]));
    expect(await ok.next()).toMatchObject({ accepted: 1 });
    ok.ws.close();
  });

  it('ws collect - a flooding connection gets retry with rate_limited while another connection is served', async () => {
    const flood = await connectWs(`${t.ws}/v1/collect?site=demo`);
    const calm = await connectWs(`${t.ws}/v1/collect?site=demo`);
    const replies: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 4; i++) {
      flood.send(batch(Array.from({ length: 20 }, () => pageView()), i));
      replies.push(await flood.next());
    }
    // burst 40: two batches of 20 pass, then the bucket is empty (5/s refill is far below the send rate)
    expect(replies.map((r) => r['type'])).toEqual(['ack', 'ack', 'retry', 'retry']);
    expect(replies[2]).toMatchObject({ seq: 2, reason: 'rate_limited' });
    expect(replies[2]?.['retryAfterMs']).toBeGreaterThan(0);
    calm.send(batch([pageView()], 1));
    expect(await calm.next()).toMatchObject({ type: 'ack', accepted: 1 });
    flood.ws.close();
    calm.ws.close();
  });

  it('ws collect - a producer with the site secret is not rate limited; a wrong secret is', async () => {
    const flood = async (headers: Record<string, string>): Promise<string[]> => {
      const s = await connectWs(`${t.ws}/v1/collect?site=shop`, headers);
      const types: string[] = [];
      for (let i = 0; i < 4; i++) {
        s.send(batch(Array.from({ length: 20 }, () => pageView()), i));
        types.push(String((await s.next())['type']));
      }
      s.ws.close();
      return types;
    };
    expect(await flood({ authorization: 'Bearer shop-secret' })).toEqual(['ack', 'ack', 'ack', 'ack']);
    // A wrong secret is no producer: a browser at best (an allowed Origin), with a browser's limits.
    expect(await flood({ authorization: 'Bearer shop-secreT', origin: 'https://shop.example' })).toEqual(['ack', 'ack', 'retry', 'retry']);
    // And without an allowed Origin it is not let in at all.
    await expect(connectWs(`${t.ws}/v1/collect?site=shop`, { authorization: 'Bearer shop-secreT' })).rejects.toMatchObject({ status: 403 });
  });

  it('ws collect - an offer for a visitor reaches the socket that proved that visitor (its visitor key)', async () => {
    const vk = 'a1'.repeat(16);
    // The visitor id is the SHA-256 of the key (first 32 hex digits), computed here independently.
    const vid = createHash('sha256').update(vk).digest('hex').slice(0, 32);
    const s = await connectWs(`${t.ws}/v1/collect?site=demo`);
    s.send({ ...batch([pageView({ visitorId: vid })]), vk });
    await s.next();
    expect(t.app.visitorSockets.send('demo', vid, JSON.stringify({ type: 'offer', offerId: 'o1' }))).toBe(true);
    expect(await s.next()).toEqual({ type: 'offer', offerId: 'o1' });
    s.ws.close();
    await s.closed;
  });

  it("ws collect - claiming another visitor's id (no key, or the attacker's own key) never takes that visitor's offers; counted", async () => {
    const victimKey = 'b2'.repeat(16);
    const victim = createHash('sha256').update(victimKey).digest('hex').slice(0, 32);
    const own = await connectWs(`${t.ws}/v1/collect?site=demo`);
    own.send({ ...batch([pageView({ visitorId: victim })]), vk: victimKey });
    await own.next();
    const refused = async (reason: string) => metricValue(await (await adminFetch(`${t.admin}/metrics`)).text(), 'clickstream_offer_binding_refused_total', { site: 'demo', reason });
    const [noKey0, other0] = [await refused('no_visitor_key'), await refused('other_visitor')];
    // The attack of the audit: one event with the victim's id on the attacker's socket.
    const attacker = await connectWs(`${t.ws}/v1/collect?site=demo`);
    attacker.send(batch([pageView({ visitorId: victim })], 1));
    expect(await attacker.next()).toMatchObject({ type: 'ack', accepted: 1 });
    attacker.send({ ...batch([pageView({ visitorId: victim })], 2), vk: 'c3'.repeat(16) });
    expect(await attacker.next()).toMatchObject({ type: 'ack', accepted: 1 });
    expect(await refused('no_visitor_key')).toBe(noKey0 + 1);
    expect(await refused('other_visitor')).toBe(other0 + 1);
    // The victim's offer still goes to the victim's socket, and only there.
    expect(t.app.visitorSockets.send('demo', victim, JSON.stringify({ type: 'offer', offerId: 'mine' }))).toBe(true);
    expect(await own.next()).toEqual({ type: 'offer', offerId: 'mine' });
    attacker.send(batch([pageView()], 3));
    expect(await attacker.next()).toMatchObject({ type: 'ack', seq: 3 }); // the next thing the attacker hears is its own ack, no offer
    own.ws.close();
    attacker.ws.close();
  });

  it('ws collect - an unclaimed WebSocket path is answered 404', async () => {
    await expect(connectWs(`${t.ws}/v1/nothing-here`)).rejects.toMatchObject({ status: 404 });
  });
});
