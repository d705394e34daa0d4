import { describe, expect, it } from 'vitest';
import { OfferAttribution, newcombeInterval } from '../../../src/delivery/attribution';
import type { OfferTrigger } from '../../../processors/next-best-offer/offer-trigger';

const HOUR = 3_600_000;

function trig(id: string, visitorId: string, ts: number, holdout: boolean, offered: OfferTrigger['offered'] = { level: 'product', items: ['B'] }, offerId = 'off-b'): OfferTrigger {
  return {
    triggerId: id,
    site: 'shop',
    visitorId,
    sessionId: 's',
    offerId,
    text: 't',
    discount: 10,
    because: { kind: 'rule', rule: { antecedent: ['A'], consequent: ['B'], level: 'product', support: 0.1, confidence: 0.5, lift: 2 }, window: { start: 'a', end: 'b' }, ruleSetVersion: 1, eventId: 'e' },
    ts,
    holdout,
    expectedValue: 1,
    offered,
  };
}

const buy = (visitorId: string, ts: number, productId: string, revenue = 10, category?: string) =>
  ({ kind: 'purchased', site: 'shop', visitorId, ts, items: [{ productId, category, revenue }] }) as const;

describe('offer attribution', () => {
  const make = () => new OfferAttribution({ horizonMs: 24 * HOUR, maxVisitors: 100, maxOpenPerVisitor: 8, maxKeysPerSite: 100, onEvict: () => {} });

  it('funnel - triggered → delivered → shown → clicked → purchased of the offered item within the horizon, per offer and rule', () => {
    const a = make();
    a.onTrigger(trig('t1', 'v1', 0, false));
    a.onTrigger(trig('t2', 'v2', 0, false));
    a.onTrigger(trig('t3', 'v3', 0, false));
    a.onTrigger(trig('t3', 'v3', 0, false)); // redelivered: counted once
    a.onDelivered('shop', 't1');
    a.onDelivered('shop', 't1'); // a second channel: delivered once
    a.onDelivered('shop', 't2');
    a.onDelivered('other', 't3'); // another site's trigger id: not this one
    a.onOutcome({ kind: 'shown', site: 'shop', visitorId: 'v1', triggerId: 't1', offerId: 'off-b', ts: 5 });
    a.onOutcome({ kind: 'shown', site: 'shop', visitorId: 'v1', triggerId: 't1', offerId: 'off-b', ts: 6 }); // shown again: once
    a.onOutcome({ kind: 'shown', site: 'shop', visitorId: 'v2', triggerId: 't2', offerId: 'off-b', ts: 5 });
    a.onOutcome({ kind: 'dismissed', site: 'shop', visitorId: 'v2', triggerId: undefined, offerId: 'off-b', ts: 7 });
    a.onOutcome({ kind: 'clicked', site: 'shop', visitorId: 'v1', triggerId: 't1', offerId: 'off-b', ts: 10 });
    a.onOutcome(buy('v1', 20, 'B', 30)); // clicked, then bought
    a.onOutcome(buy('v2', 30, 'C')); // bought something else
    a.onOutcome(buy('v3', 25 * HOUR, 'B')); // too late
    const s = a.stats('shop');
    expect(s.totals).toMatchObject({ triggered: 3, delivered: 2, shown: 2, dismissed: 1, clicked: 1, converted: 1, convertedAfterClick: 1, revenue: 30 });
    expect(s.totals.conversionRate).toBeCloseTo(1 / 3, 12);
    expect(s.totals.clickRate).toBeCloseTo(1 / 2, 12);
    expect(s.offers.map((o) => [o.offerId, o.triggered])).toEqual([['off-b', 3]]);
    expect(s.rules.map((r) => [r.rule, r.converted])).toEqual([['product:A ⇒ B', 1]]);
  });

  it('holdout - would-be offers convert on the same terms; uplift is the difference of the rates', () => {
    const a = make();
    // Treated: 4 shown, 2 buy B. Holdout: 4 recorded, 1 buys B. Uplift = 2/4 − 1/4 = 0.25.
    for (let i = 0; i < 4; i++) a.onTrigger(trig(`t${i}`, `v${i}`, 0, false));
    for (let i = 0; i < 4; i++) a.onTrigger(trig(`h${i}`, `h${i}`, 0, true));
    a.onOutcome(buy('v0', 1, 'B'));
    a.onOutcome(buy('v1', 1, 'B'));
    a.onOutcome(buy('h0', 1, 'B'));
    a.onOutcome(buy('h1', 1, 'X'));
    const t = a.stats('shop').totals;
    expect(t.holdout).toMatchObject({ recorded: 4, converted: 1 });
    expect(t.conversionRate).toBe(0.5);
    expect(t.uplift).toBeCloseTo(0.25, 12);
    expect(t.upliftInterval).toEqual(newcombeInterval(2, 4, 1, 4));
  });

  it('uplift interval - Newcombe (1998) method 10 reproduces the paper\'s worked examples', () => {
    // Statistics in Medicine 17:873–890, Table II: 56/70 − 48/80 → (0.0524, 0.3339); 9/10 − 3/10 → (0.1705, 0.8090).
    const [a1, b1] = newcombeInterval(56, 70, 48, 80);
    expect([a1.toFixed(4), b1.toFixed(4)]).toEqual(['0.0524', '0.3339']);
    const [a2, b2] = newcombeInterval(9, 10, 3, 10);
    expect([a2.toFixed(4), b2.toFixed(4)]).toEqual(['0.1705', '0.8090']);
  });

  it('segments - uplift within each segment the visitors were in at the decision', () => {
    const a = make();
    // vip: 2 treated (1 buys), 2 held out (none buys); everyone: +2 treated and +2 held out outside vip (1 held out buys).
    const seg = (id: string, v: string, holdout: boolean, segments: string[]) => ({ ...trig(id, v, 0, holdout), segments });
    a.onTrigger(seg('t1', 'v1', false, ['vip']));
    a.onTrigger(seg('t2', 'v2', false, ['vip']));
    a.onTrigger(seg('h1', 'h1', true, ['vip']));
    a.onTrigger(seg('h2', 'h2', true, ['vip']));
    a.onTrigger(seg('t3', 'v3', false, []));
    a.onTrigger(seg('h3', 'h3', true, []));
    a.onOutcome(buy('v1', 1, 'B'));
    a.onOutcome(buy('h3', 1, 'B'));
    const s = a.stats('shop');
    const vip = s.segments.find((x) => x.segment === 'vip')!;
    expect(vip).toMatchObject({ triggered: 2, converted: 1, holdout: { recorded: 2, converted: 0 } });
    expect(vip.uplift).toBeCloseTo(0.5 - 0, 12);
    expect(s.totals.uplift).toBeCloseTo(1 / 3 - 1 / 3, 12);
    expect(s.segments.map((x) => x.segment)).toEqual(['vip']);
  });

  it('category and form offers - converted by a product of the category / by submitting the form', () => {
    const a = make();
    a.onTrigger(trig('c1', 'v1', 0, false, { level: 'category', items: ['books'] }, 'off-books'));
    a.onTrigger(trig('f1', 'v2', 0, false, { level: 'form', items: ['signup'] }, 'off-form'));
    a.onOutcome(buy('v1', 5, 'anything', 7, 'books'));
    a.onOutcome({ kind: 'form_submitted', site: 'shop', visitorId: 'v2', formId: 'signup', ts: 6 });
    const s = a.stats('shop');
    expect(Object.fromEntries(s.offers.map((o) => [o.offerId, o.converted]))).toEqual({ 'off-books': 1, 'off-form': 1 });
  });
});
