import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batch, pageView, startTestApp } from '../../helpers/collect-client';

let t: Awaited<ReturnType<typeof startTestApp>>;
let small: Awaited<ReturnType<typeof startTestApp>>;

beforeAll(async () => {
  t = await startTestApp({ ingest: { maxBodyBytes: 2048 }, sites: [{ id: 'demo' }, { id: 'shop', allowedOrigins: ['https://shop.example'] }] });
  // queue of 2 events: a 3-event batch can never be taken whole → 503; burst 5 at 1/s → 429 soon
  small = await startTestApp({ ingest: { queueCapacity: 2, rateLimitBurst: 5, rateLimitPerSecond: 1, retryAfterSeconds: 2 } });
});
afterAll(async () => {
  await t.stop();
  await small.stop();
});

const post = (base: string, site: string, body: string, headers: Record<string, string> = { 'content-type': 'text/plain;charset=UTF-8' }) =>
  fetch(`${base}/v1/collect?site=${site}`, { method: 'POST', body, headers });

describe('POST /v1/collect', () => {
  it('http collect - a sendBeacon text/plain body gets 200 and the ack with per-event rejections', async () => {
    const res = await post(t.base, 'demo', JSON.stringify(batch([pageView(), { ...pageView(), url: '' }, pageView()], 5)));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ type: 'ack', seq: 5, accepted: 2, late: 0, duplicates: 0, rejected: [{ index: 1, code: 'schema_violation', message: expect.stringMatching(/^\/url: /) }] });
  });

  it('http collect - application/json bodies are accepted the same way', async () => {
    const res = await post(t.base, 'demo', JSON.stringify(batch([pageView()])), { 'content-type': 'application/json' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ accepted: 1 });
  });

  it('http collect - unparsable JSON is 400, a bad envelope is 400, both with the reason code', async () => {
    const a = await post(t.base, 'demo', 'not json at all');
    expect(a.status).toBe(400);
    expect(await a.json()).toMatchObject({ error: { code: 'invalid_json' } });
    const b = await post(t.base, 'demo', JSON.stringify({ type: 'batch', events: [] }));
    expect(b.status).toBe(400);
    expect(await b.json()).toMatchObject({ error: { code: 'invalid_batch' } });
  });

  it('http collect - a body over maxBodyBytes is 413 body_too_large', async () => {
    const res = await post(t.base, 'demo', JSON.stringify(batch([pageView({ title: 'x'.repeat(3000) })])));
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'body_too_large' } });
  });

  it('http collect - an unknown site is 404, a disallowed origin 403, an allowed one gets CORS headers', async () => {
    const a = await post(t.base, 'nope', JSON.stringify(batch([pageView()])));
    expect(a.status).toBe(404);
    expect(await a.json()).toMatchObject({ error: { code: 'unknown_site' } });
    const b = await post(t.base, 'shop', JSON.stringify(batch([pageView()])), { 'content-type': 'text/plain', origin: 'https://evil.example' });
    expect(b.status).toBe(403);
    expect(await b.json()).toMatchObject({ error: { code: 'origin_not_allowed' } });
    const c = await post(t.base, 'shop', JSON.stringify(batch([pageView()])), { 'content-type': 'text/plain', origin: 'https://shop.example' });
    expect(c.status).toBe(200);
    expect(c.headers.get('access-control-allow-origin')).toBe('https://shop.example');
  });

  it('http collect - a full pipeline answers 503 with Retry-After and acknowledges nothing; a flood answers 429', async () => {
    const full = await post(small.base, 'demo', JSON.stringify(batch([pageView(), pageView(), pageView()], 3)));
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('2');
    expect(await full.json()).toMatchObject({ type: 'retry', seq: 3, error: { code: 'overloaded' } });
    // 3 of the 5 tokens are gone; 1 event passes, then 2 more do not fit
    expect((await post(small.base, 'demo', JSON.stringify(batch([pageView()])))).status).toBe(200);
    const limited = await post(small.base, 'demo', JSON.stringify(batch([pageView(), pageView()])));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await limited.json()).toMatchObject({ error: { code: 'rate_limited' } });
  });
});
