/**
 * `clickstream-miner simulate` against the real app on 127.0.0.1: the synthetic shoppers go over a real
 * WS /v1/collect socket with the replay sender, are not taken for bots, and their purchases become
 * cross-sell rules. The oracle: the pair's basket count, brute-forced here from the events the
 * generator produced for the same seed and clock (not from the server).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulate, simulatedEvents } from '../../../src/replay/simulate-cli';
import { adminFetch, startTestApp } from '../../helpers/collect-client';
import { until } from '../../helpers/until';

let t: Awaited<ReturnType<typeof startTestApp>>;
beforeAll(async () => {
  t = await startTestApp({
    time: { idleTimeout: 'PT1S' },
    sites: [{ id: 'demo', processors: { 'cross-sell': { recomputeEvery: 'PT1S' } } }],
  });
});
afterAll(async () => {
  await t?.stop();
});

type Rule = { antecedent: string[]; consequent: string[]; count: number; lift: number; level: string; kind: string; source: string };

describe('simulate', () => {
  it('simulate - the shoppers are accepted and their purchases show as a starfield-odyssey ⇒ dune rule with the brute-force count', async () => {
    const o = { shoppers: 150, seed: 11, url: `${t.ws}/v1/collect?site=demo`, progress: false };
    const now = Date.now();
    const events = simulatedEvents(o, now);
    let both = 0;
    for (const e of events) {
      if (e.type !== 'form' || e.action !== 'submit') continue;
      const ids = (e.items ?? []).map((i) => i.productId);
      if (ids.includes('starfield-odyssey') && ids.includes('dune')) both++;
    }
    expect(both).toBeGreaterThan(2);

    const summary = await simulate(o, now);
    expect(summary.events).toBe(events.length);
    expect(summary.accepted).toBe(events.length);
    expect(summary.rejected).toEqual({});

    const isPair = (r: Rule) => r.antecedent.join() === 'starfield-odyssey' && r.consequent.join() === 'dune' && r.level === 'product' && r.kind === 'association' && r.source === 'purchase';
    const rule = await until(
      'the starfield-odyssey ⇒ dune rule with the full count',
      async () => {
        const body = (await (await adminFetch(`${t.admin}/v1/rules?site=demo&limit=500`)).json()) as { rules?: Rule[] };
        return (body.rules ?? []).find((r) => isPair(r) && r.count === both);
      },
      30_000,
    );
    expect(rule.lift).toBeGreaterThan(1);
  });
});
