import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { loadConfig } from '../../../src/config';
import { OfferDispatcher } from '../../../src/delivery/offer-dispatcher';
import { OfferSubscribers, subscriberToken } from '../../../src/delivery/offer-subscribers';
import type { OfferTrigger } from '../../../processors/next-best-offer/offer-trigger';

const config = loadConfig({}, { sites: [{ id: 'shop', secret: 'shop-producer', subscriberSecret: 'shop-secret', allowedOrigins: ['*'] }, { id: 'other', secret: 'other-producer', subscriberSecret: 'other-secret', allowedOrigins: ['*'] }, { id: 'nosecret', secret: 'has-only-a-producer-secret', allowedOrigins: ['*'] }] });

type Attempt = { kind: 'open'; ws: WebSocket; messages: string[] } | { kind: 'refused'; status: number; header: string; body: { code: string; message: string } };

function attempt(url: string, headers: Record<string, string> = {}): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const messages: string[] = [];
    ws.on('message', (d) => messages.push(String(d)));
    ws.once('open', () => resolve({ kind: 'open', ws, messages }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ kind: 'refused', status: res.statusCode ?? 0, header: String(res.headers['x-clickstream-error']), body: (JSON.parse(body) as { error: { code: string; message: string } }).error }));
    });
    ws.once('error', (err) => {
      if (ws.readyState !== ws.CLOSED) reject(err);
    });
  });
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function trigger(site: string, n: number, padding = 0): OfferTrigger {
  return {
    triggerId: `t-${site}-${n}`,
    site,
    visitorId: `v${n}`,
    sessionId: 's',
    offerId: 'o',
    text: 'x'.repeat(padding),
    discount: 10,
    because: { kind: 'rule', rule: { antecedent: ['A'], consequent: ['B'], level: 'product', support: 0.1, confidence: 0.5, lift: 2 }, window: { start: 'a', end: 'b' }, ruleSetVersion: 1, eventId: `e${n}` },
    ts: n,
    holdout: false,
    expectedValue: 1,
    offered: { level: 'product', items: ['B'] },
  };
}

describe('WS /v1/offers subscribers', () => {
  let server: Server;
  let base: string;
  let registry: Registry;
  let subs: OfferSubscribers;
  let dispatcher: OfferDispatcher;
  const open: WebSocket[] = [];

  beforeEach(async () => {
    registry = new Registry();
    subs = new OfferSubscribers({ site: (id) => config.sites.get(id), maxQueue: 50, highWaterBytes: 64 * 1024, maxSubscribersPerSite: 10, registry });
    dispatcher = new OfferDispatcher({ site: (id) => config.sites.get(id), webhookUrls: () => [], subscribers: subs, maxNatsInFlight: 10, registry, logger: pino({ level: 'silent' }) });
    server = createServer((_req, res) => res.writeHead(404).end());
    server.on('upgrade', subs.handleOffersUpgrade);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/offers`;
  });

  afterEach(async () => {
    for (const ws of open.splice(0)) ws.terminate();
    subs.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const connect = async (url: string, headers: Record<string, string> = {}) => {
    const a = await attempt(url, headers);
    if (a.kind !== 'open') throw new Error(`refused: ${JSON.stringify(a)}`);
    open.push(a.ws);
    await until(() => a.messages.length > 0, 'the subscribed message');
    return a;
  };

  it('auth - no token is refused with 401 unauthorized', async () => {
    const a = await attempt(`${base}?site=shop`);
    expect(a).toMatchObject({ kind: 'refused', status: 401, header: 'unauthorized', body: { code: 'unauthorized' } });
    if (a.kind === 'refused') expect(a.body.message).toMatch(/missing token/);
  });

  it('auth - a wrong token is refused with 401 unauthorized', async () => {
    const a = await attempt(`${base}?site=shop`, { authorization: 'Bearer guess' });
    expect(a).toMatchObject({ kind: 'refused', status: 401, body: { code: 'unauthorized' } });
    const b = await attempt(`${base}?site=shop`, { authorization: 'Bearer shop-secreT' });
    expect(b).toMatchObject({ kind: 'refused', status: 401 });
  });

  it("auth - another site's secret does not open this site", async () => {
    const a = await attempt(`${base}?site=shop`, { authorization: 'Bearer other-secret' });
    expect(a).toMatchObject({ kind: 'refused', status: 401, body: { code: 'unauthorized' } });
  });

  it('auth - the producer secret does not open the subscriber endpoint (one secret, one job)', async () => {
    expect(await attempt(`${base}?site=shop`, { authorization: 'Bearer shop-producer' })).toMatchObject({ kind: 'refused', status: 401, body: { code: 'unauthorized' } });
  });

  it('auth - the site secret is never taken from the URL (it leaks through history, logs and Referer)', async () => {
    const a = await attempt(`${base}?site=shop&token=shop-secret`);
    expect(a).toMatchObject({ kind: 'refused', status: 401, body: { code: 'unauthorized' } });
    if (a.kind === 'refused') expect(a.body.message).toMatch(/Authorization header/);
  });

  it('auth - wrong guesses are throttled per IP: after 20 in a minute even the right secret gets 429 (counted)', async () => {
    for (let i = 0; i < 20; i++) expect(await attempt(`${base}?site=shop`, { authorization: `Bearer guess-${i}` })).toMatchObject({ kind: 'refused', status: 401 });
    expect(await attempt(`${base}?site=shop`, { authorization: 'Bearer shop-secret' })).toMatchObject({ kind: 'refused', status: 429, body: { code: 'throttled' } });
    const refused = (await registry.getSingleMetric('clickstream_offer_subscriber_refused_total')!.get()).values;
    expect(refused.find((v) => v.labels['reason'] === 'throttled')?.value).toBe(1);
    expect(refused.find((v) => v.labels['reason'] === 'unauthorized')?.value).toBe(20);
  });

  it('auth - an unknown site is 404 unknown_site; a site without a secret is 403', async () => {
    expect(await attempt(`${base}?site=nope`, { authorization: 'Bearer x' })).toMatchObject({ kind: 'refused', status: 404, body: { code: 'unknown_site' } });
    expect(await attempt(`${base}?site=nosecret`, { authorization: 'Bearer x' })).toMatchObject({ kind: 'refused', status: 403, body: { code: 'no_secret' } });
  });

  it('auth - with allowQueryToken a browser passes a short-lived subscriber token, never the secret; an expired or forged one is refused', async () => {
    let now = Date.now();
    const browserSubs = new OfferSubscribers({ site: (id) => config.sites.get(id), maxQueue: 5, highWaterBytes: 64 * 1024, maxSubscribersPerSite: 10, registry: new Registry(), allowQueryToken: true, now: () => now });
    const srv = createServer((_req, res) => res.writeHead(404).end());
    srv.on('upgrade', browserSubs.handleOffersUpgrade);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `ws://127.0.0.1:${(srv.address() as AddressInfo).port}/v1/offers?site=shop`;
    const shop = config.sites.get('shop')!;
    // The token is HMAC-SHA256("subscribe:<site>:<expiry>") under the secret, computed here independently.
    const exp = now + 60_000;
    const token = `st1.${exp}.${createHmac('sha256', 'shop-secret').update(`subscribe:shop:${exp}`).digest('base64url')}`;
    expect(subscriberToken(shop, exp)).toBe(token);
    const ok = await attempt(`${url}&token=${token}`);
    expect(ok.kind).toBe('open');
    if (ok.kind === 'open') ok.ws.terminate();
    expect(await attempt(`${url}&token=shop-secret`)).toMatchObject({ kind: 'refused', status: 401 });
    expect(await attempt(`${url}&token=${token.slice(0, -2)}xx`)).toMatchObject({ kind: 'refused', status: 401 });
    now = exp + 1;
    expect(await attempt(`${url}&token=${token}`)).toMatchObject({ kind: 'refused', status: 401 });
    browserSubs.close();
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  });

  it("isolation - a subscriber gets its own site's offers only", async () => {
    const shop = await connect(`${base}?site=shop`, { authorization: 'Bearer shop-secret' });
    const other = await connect(`${base}?site=other`, { authorization: 'Bearer other-secret' });
    dispatcher.dispatch(trigger('shop', 1));
    dispatcher.dispatch(trigger('other', 2));
    await until(() => shop.messages.length >= 2 && other.messages.length >= 2, 'one offer each');
    const offers = (a: { messages: string[] }) => a.messages.map((m) => JSON.parse(m) as { type: string; site?: string; triggerId?: string }).filter((m) => m.type === 'offer');
    expect(offers(shop).map((m) => [m.site, m.triggerId])).toEqual([['shop', 't-shop-1']]);
    // The other site's subscriber saw only its own offer, which came after the shop's was published.
    expect(offers(other).map((m) => [m.site, m.triggerId])).toEqual([['other', 't-other-2']]);
  });

  it('slow subscriber - one that stops reading loses its oldest offers (counted); the others and the publisher go on', async () => {
    const healthy = await connect(`${base}?site=shop`, { authorization: 'Bearer shop-secret' });
    const slow = await connect(`${base}?site=shop`, { authorization: 'Bearer shop-secret' });
    // Stop reading: the kernel buffers fill, then the server-side socket buffers, then the queue.
    (slow.ws as unknown as { _socket: Socket })._socket.pause();
    const n = 2_000;
    const pad = 16 * 1024;
    for (let i = 0; i < n; i++) {
      dispatcher.dispatch(trigger('shop', i, pad)); // returns at once, whatever the slow one does
      if (i % 20 === 19) await until(() => healthy.messages.length >= i + 2, 'the healthy subscriber to keep up');
    }
    await until(() => healthy.messages.length === n + 1, 'every offer at the healthy subscriber');
    const dropped = (await registry.getSingleMetric('clickstream_offer_subscriber_dropped_total')?.get())?.values.find((v) => v.labels['site'] === 'shop')?.value ?? 0;
    const state = subs.subscribers('shop');
    const slowState = state.find((s) => s.dropped > 0);
    expect(dropped).toBeGreaterThan(0);
    expect(slowState?.dropped).toBe(dropped);
    // What the slow subscriber holds is bounded: a full queue plus at most the high-water mark and one message.
    expect(slowState?.queued).toBe(50);
    expect(slowState?.bufferedBytes ?? Infinity).toBeLessThanOrEqual(64 * 1024 + pad + 1024);
    // The healthy one lost nothing and saw them in order.
    const ids = healthy.messages.slice(1).map((m) => (JSON.parse(m) as { triggerId: string }).triggerId);
    expect(ids).toEqual(Array.from({ length: n }, (_, i) => `t-shop-${i}`));
  });
});
