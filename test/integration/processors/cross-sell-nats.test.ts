import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crossSellSettingsOf } from '../../../processors/cross-sell/cross-sell-processor';
import { SoloCrossSell } from '../../helpers/solo-cross-sell';
import type { RuleSetJson } from '../../../processors/cross-sell/rule-set';
import { loadConfig } from '../../../src/config';
import { epochMillis } from '../../../src/types';
import { form } from '../../helpers/enriched-events';
import { startNatsServer, type NatsServerHandle } from '../../helpers/nats-server';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const config = loadConfig({}, { sites: [{ id: 'shop', secret: 's', allowedOrigins: ['*'], processors: { 'cross-sell': { minSupport: 0, minConfidence: 0, minLift: 0 } } }] });

describe('cross-sell rule changes on NATS cm.rules.<site>', () => {
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

  it('nats - each new rule-set version is published on cm.rules.<site> with its rules, and an unchanged one is not', async () => {
    const site = config.sites.get('shop')!;
    const p = new SoloCrossSell({ site: site.id, settings: crossSellSettingsOf(site), allowedLatenessMs: config.time.allowedLatenessMs, publisher: { publish: (subject, data) => nc.publish(subject, data) } });
    const got: Array<{ subject: string; body: RuleSetJson }> = [];
    const sub = nc.subscribe('cm.rules.>');
    const done = (async () => {
      for await (const m of sub) {
        got.push({ subject: m.subject, body: m.json<RuleSetJson>() });
        if (got.length === 2) break;
      }
    })();
    await nc.flush();
    const buy = (i: number, items: string[]) => p.onEvent(form(`v${i}`, T0 + i * 1_000, 'checkout', 'submit', { site: 'shop', items: items.map((productId) => ({ productId, quantity: 1 })) }), epochMillis(T0 + i * 1_000));
    buy(0, ['game', 'book']);
    buy(1, ['game', 'book']);
    buy(2, ['game']);
    p.onWatermark(epochMillis(T0 + 5_000)); // version 1
    p.refresh(T0 + 6_000); // unchanged: nothing published
    buy(3, ['book', 'lamp']);
    p.onWatermark(epochMillis(T0 + 120_000)); // version 2
    await nc.flush();
    await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error('no cm.rules messages')), 5_000))]);
    expect(got.map((g) => [g.subject, g.body.version])).toEqual([['cm.rules.shop', 1], ['cm.rules.shop', 2]]);
    const v1 = got[0]!.body;
    expect(v1.site).toBe('shop');
    expect(v1.window.end).toBe('2026-01-05T10:05:00.000Z');
    const gameBook = v1.rules.find((r) => r.level === 'product' && r.antecedent[0] === 'game' && r.consequent[0] === 'book')!;
    // Baskets {game,book} ×2, {game}: c(game)=3, c(book)=2, c(both)=2, N=3.
    expect([gameBook.count, gameBook.confidence, gameBook.lift]).toEqual([2, 2 / 3, 1]);
    expect(got[1]!.body.rules.some((r) => r.antecedent[0] === 'lamp')).toBe(true);
  });
});
