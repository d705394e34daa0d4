import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { SystemClock } from '../../../src/clock';
import { WebhookSender } from '../../../src/delivery/webhook-sender';

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A local receiver on 127.0.0.1:0 answering with the statuses given, in turn (the last one repeats). */
async function receiver(statuses: number[]): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(statuses[Math.min(got.length - 1, statuses.length - 1)] ?? 200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, server };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

function sender(registry = new Registry(), maxAttempts = 4): WebhookSender {
  return new WebhookSender({ maxAttempts, baseDelayMs: 20, maxDelayMs: 100, timeoutMs: 2_000, maxPending: 100, deadLetterCapacity: 10, clock: new SystemClock(), registry });
}

describe('webhook sender', () => {
  it('signature - HMAC-SHA256 of "<timestamp>.<raw body>" with the site secret, checked by the receiver', async () => {
    const r = await receiver([200]);
    servers.push(r.server);
    const w = sender();
    const body = JSON.stringify({ triggerId: 't1', text: 'ünïcode €' });
    w.send('shop', r.url, 'shop-secret', 't1', body);
    await w.idle();
    expect(r.got.length).toBe(1);
    const g = r.got[0] as Received;
    expect(g.body).toBe(body);
    const ts = String(g.headers['x-clickstream-timestamp']);
    // Independent check: the receiver's own HMAC over the bytes it received.
    const expected = `sha256=${createHmac('sha256', 'shop-secret').update(`${ts}.${g.body}`).digest('hex')}`;
    expect(g.headers['x-clickstream-signature']).toBe(expected);
    const wrongSecret = `sha256=${createHmac('sha256', 'other').update(`${ts}.${g.body}`).digest('hex')}`;
    expect(g.headers['x-clickstream-signature']).not.toBe(wrongSecret);
    expect(g.headers['x-clickstream-trigger-id']).toBe('t1');
    expect(g.headers['content-type']).toBe('application/json');
  });

  it('retries - 500s are retried with backoff until a 2xx; nothing is dead-lettered', async () => {
    const r = await receiver([500, 503, 200]);
    servers.push(r.server);
    const w = sender();
    w.send('shop', r.url, 's', 't2', '{}');
    await w.idle();
    expect(r.got.map((g) => g.headers['x-clickstream-attempt'])).toEqual(['1', '2', '3']);
    expect(r.got.map((g) => g.headers['x-clickstream-trigger-id'])).toEqual(['t2', 't2', 't2']);
    expect(w.deadLetters('shop')).toEqual([]);
  });

  it('dead letters - a receiver that keeps failing gets maxAttempts tries, then the delivery is dead-lettered', async () => {
    const r = await receiver([500]);
    servers.push(r.server);
    const registry = new Registry();
    const w = sender(registry, 3);
    w.send('shop', r.url, 's', 't3', '{"a":1}');
    await w.idle();
    expect(r.got.length).toBe(3);
    expect(w.deadLetters('shop')).toMatchObject([{ triggerId: 't3', attempts: 3, lastStatus: 500, reason: 'attempts_exhausted', body: '{"a":1}', url: r.url }]);
    expect(w.deadLetters('other')).toEqual([]);
    const m = await registry.getSingleMetric('clickstream_webhook_deliveries_total')?.get();
    const count = (outcome: string) => m?.values.find((v) => v.labels['outcome'] === outcome)?.value ?? 0;
    expect([count('retried'), count('dead_lettered'), count('delivered')]).toEqual([2, 1, 0]);
  });

  it('dead letters - a 4xx refusal is not retried', async () => {
    const r = await receiver([400]);
    servers.push(r.server);
    const w = sender();
    w.send('shop', r.url, 's', 't4', '{}');
    await w.idle();
    expect(r.got.length).toBe(1);
    expect(w.deadLetters('shop')).toMatchObject([{ triggerId: 't4', reason: 'rejected', lastStatus: 400 }]);
  });

  it('dead letters - an unreachable receiver is retried, then dead-lettered with the network error', async () => {
    const r = await receiver([200]);
    const url = r.url;
    await new Promise((res) => r.server.close(res)); // nothing listens there now
    const w = sender(new Registry(), 2);
    w.send('shop', url, 's', 't5', '{}');
    await w.idle();
    const [d] = w.deadLetters('shop');
    expect(d).toMatchObject({ triggerId: 't5', attempts: 2, reason: 'attempts_exhausted', lastStatus: undefined });
    expect(d?.lastError).toBeTruthy();
  });
});
