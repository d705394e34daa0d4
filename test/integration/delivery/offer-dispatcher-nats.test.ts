import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config';
import { OFFERS_STREAM, OfferDispatcher } from '../../../src/delivery/offer-dispatcher';
import type { OfferTrigger } from '../../../processors/next-best-offer/offer-trigger';
import { startNatsServer, type NatsServerHandle } from '../../helpers/nats-server';

const config = loadConfig({}, { sites: [{ id: 'shop', secret: 's', allowedOrigins: ['*'] }] });

function trigger(id: string, holdout = false): OfferTrigger {
  return {
    triggerId: id,
    site: 'shop',
    visitorId: 'v1',
    sessionId: 's1',
    offerId: 'o1',
    text: 'hello',
    discount: 5,
    because: { kind: 'rule', rule: { antecedent: ['A'], consequent: ['B'], level: 'product', support: 0.1, confidence: 0.5, lift: 2 }, window: { start: 'a', end: 'b' }, ruleSetVersion: 3, eventId: 'e1' },
    ts: 1,
    holdout,
    expectedValue: 1,
    offered: { level: 'product', items: ['B'] },
  };
}

describe('offers on NATS JetStream cm.offers.<site>', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('nats - the stream is created if missing, and the same trigger published twice is stored once (Nats-Msg-Id)', async () => {
    const d = new OfferDispatcher({ site: (id) => config.sites.get(id), webhookUrls: () => [], nats: nc, maxNatsInFlight: 100, registry: new Registry(), logger: pino({ level: 'silent' }) });
    await d.start();
    const first = trigger('trig-1');
    d.onTrigger(first);
    d.onTrigger(first); // at-least-once redelivery
    d.onTrigger(trigger('trig-2'));
    d.onTrigger(trigger('trig-3', true)); // holdout: never delivered
    await d.flush();
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(OFFERS_STREAM);
    expect(info.config.subjects).toEqual(['cm.offers.>']);
    expect(info.state.messages).toBe(2);
    const m1 = await jsm.streams.getMessage(OFFERS_STREAM, { seq: 1 });
    expect(m1?.subject).toBe('cm.offers.shop');
    expect(m1?.header?.get('Nats-Msg-Id')).toBe('trig-1');
    expect(m1?.json<OfferTrigger>()).toEqual(first);
    const m2 = await jsm.streams.getMessage(OFFERS_STREAM, { seq: 2 });
    expect(m2?.header?.get('Nats-Msg-Id')).toBe('trig-2');
  });

  it('nats - a second dispatcher (another instance) reuses the existing stream and still dedupes', async () => {
    const d = new OfferDispatcher({ site: (id) => config.sites.get(id), webhookUrls: () => [], nats: nc, maxNatsInFlight: 100, registry: new Registry(), logger: pino({ level: 'silent' }) });
    await d.start();
    d.onTrigger(trigger('trig-1'));
    await d.flush();
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(OFFERS_STREAM)).state.messages).toBe(2);
  });

  it('replay - while the log is read back, a trigger JetStream already has reaches no other channel, a fresh one does, one older than the duplicate window none', async () => {
    const sent: string[] = [];
    let replaying = false;
    const now = 10_000_000;
    const registry = new Registry();
    const d = new OfferDispatcher({
      site: (id) => config.sites.get(id),
      webhookUrls: () => [],
      subscribers: { publish: (_site, message) => sent.push((JSON.parse(message) as { triggerId: string }).triggerId) },
      nats: nc,
      maxNatsInFlight: 100,
      duplicateWindowMs: 60_000,
      replaying: () => replaying,
      now: () => now,
      registry,
      logger: pino({ level: 'silent' }),
    });
    await d.start();
    // Before the crash: delivered live on every channel.
    d.onTrigger({ ...trigger('replay-1'), ts: now - 1_000 });
    await d.flush();
    expect(sent).toEqual(['replay-1']);
    // After the restore, reading the log back re-derives it, plus one the crash cut off, plus an old one.
    replaying = true;
    d.onTrigger({ ...trigger('replay-1'), ts: now - 1_000 });
    d.onTrigger({ ...trigger('replay-2'), ts: now - 2_000 });
    d.onTrigger({ ...trigger('replay-old'), ts: now - 120_000 });
    await d.flush();
    expect(sent).toEqual(['replay-1', 'replay-2']);
    const suppressed = (await registry.getSingleMetric('clickstream_offers_suppressed_total')!.get()).values;
    expect(suppressed.find((v) => v.labels['reason'] === 'already_delivered')?.value).toBe(1);
    expect(suppressed.find((v) => v.labels['reason'] === 'older_than_duplicate_window')?.value).toBe(1);
  });
});
