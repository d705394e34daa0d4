import { afterEach, describe, expect, it } from 'vitest';
import { adminFetch, batch, connectWs, metricValue, pageView, startTestApp } from '../../helpers/collect-client';

/**
 * Fair limits (issue "Lock it down", finding 4), each attack of the audit first, over real sockets:
 * many connections from one IP share one per-IP budget; bytes are charged before a frame is parsed,
 * so a flood of unparsable frames is refused unread; one visitor id has its own budget whatever
 * connection it comes on; and the site secret buys a higher limit, not none. Refill rates are set to
 * the minimum so the figures do not depend on how fast the test runs.
 */

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function app(ingest: Record<string, unknown>, sites?: unknown[]) {
  const t = await startTestApp({ ingest, ...(sites === undefined ? {} : { sites }) });
  cleanups.push(() => t.stop());
  const metric = async (name: string, labels: Record<string, string>) => metricValue(await (await adminFetch(`${t.admin}/metrics`)).text(), name, labels);
  return { t, metric };
}

describe('fair rate limits', () => {
  it('per IP - ten sockets from one address share one budget (per connection they would get ten)', async () => {
    const { t, metric } = await app({ rateLimitPerSecond: 1_000, rateLimitBurst: 1_000, rateLimitPerIpPerSecond: 1, rateLimitPerIpBurst: 200 });
    const sockets = await Promise.all(Array.from({ length: 10 }, () => connectWs(`${t.ws}/v1/collect?site=demo`)));
    let accepted = 0;
    let retried = 0;
    for (const [i, s] of sockets.entries()) {
      s.send(batch(Array.from({ length: 50 }, (_, j) => pageView({ visitorId: `ip-${i}-${j}` })), i));
      const m = await s.next();
      if (m['type'] === 'ack') accepted += Number(m['accepted']);
      else if (m['type'] === 'retry' && m['reason'] === 'rate_limited') retried++;
    }
    // 200 tokens (4 batches of 50) plus at most a few refilled at 1 event/s.
    expect(accepted).toBe(200);
    expect(retried).toBe(6);
    expect(await metric('clickstream_events_rejected_total', { site: 'demo', reason: 'rate_limited' })).toBe(6);
    for (const s of sockets) s.ws.close();
  });

  it('bytes before parsing - a flood of 200 KiB unparsable frames is refused unread once the byte budget is spent', async () => {
    const { t, metric } = await app({ rateLimitBytesPerSecond: 1024, rateLimitBytesBurst: 1024 * 1024 });
    const s = await connectWs(`${t.ws}/v1/collect?site=demo`);
    const garbage = '{'.repeat(200 * 1024);
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) {
      s.ws.send(garbage);
      const m = await s.next();
      answers.push(m['type'] === 'retry' ? `retry:${String(m['reason'])}` : `ack:${String((m['rejected'] as Array<{ code: string }>)[0]?.code)}`);
    }
    // 1 MiB of budget: five frames parsed (and refused as invalid JSON), the other fifteen never parsed.
    expect(answers.filter((a) => a === 'ack:invalid_json').length).toBe(5);
    expect(answers.filter((a) => a === 'retry:rate_limited').length).toBe(15);
    expect(await metric('clickstream_events_rejected_total', { site: 'demo', reason: 'invalid_json' })).toBe(5);
    expect(await metric('clickstream_events_rejected_total', { site: 'demo', reason: 'rate_limited' })).toBe(15);
    s.ws.close();
  });

  it('per visitor - one visitor id has one budget across connections', async () => {
    const { t } = await app({ rateLimitPerVisitorPerSecond: 1, rateLimitPerVisitorBurst: 100 });
    const a = await connectWs(`${t.ws}/v1/collect?site=demo`);
    const b = await connectWs(`${t.ws}/v1/collect?site=demo`);
    a.send(batch(Array.from({ length: 80 }, () => pageView({ visitorId: 'busy' })), 1));
    expect(await a.next()).toMatchObject({ type: 'ack', accepted: 80 });
    b.send(batch(Array.from({ length: 80 }, () => pageView({ visitorId: 'busy' })), 1));
    expect(await b.next()).toMatchObject({ type: 'retry', reason: 'rate_limited' });
    // Another visitor on the same connection is not held back by it.
    b.send(batch(Array.from({ length: 80 }, () => pageView({ visitorId: 'calm' })), 2));
    expect(await b.next()).toMatchObject({ type: 'ack', accepted: 80 });
    a.ws.close();
    b.ws.close();
  });

  it('trusted producers - the site secret buys the site producer limit, not none', async () => {
    const sites = [{ id: 'shop', secret: 'shop-secret-0123456789', allowedOrigins: ['*'], producerRateLimitPerSecond: 1, producerRateLimitBurst: 100 }];
    const { t } = await app({}, sites);
    const s = await connectWs(`${t.ws}/v1/collect?site=shop`, { authorization: 'Bearer shop-secret-0123456789' });
    const types: string[] = [];
    for (let i = 0; i < 3; i++) {
      s.send(batch(Array.from({ length: 50 }, (_, j) => pageView({ visitorId: `p-${i}-${j}` })), i));
      types.push(String((await s.next())['type']));
    }
    expect(types).toEqual(['ack', 'ack', 'retry']);
    s.ws.close();
  });
});
