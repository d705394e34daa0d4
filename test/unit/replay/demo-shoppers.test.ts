import { describe, expect, it } from 'vitest';
import { EventValidator } from '../../../src/events/event-validator';
import { DEMO_PRODUCTS } from '../../../src/http/demo/demo-catalog';
import { demoShopperEvents } from '../../../src/replay/demo-shoppers';

const opts = { seed: 7, shoppers: 400, startMs: Date.UTC(2026, 10, 23, 12), runId: 'sim-test' };
const categoryOf = new Map(DEMO_PRODUCTS.map((p) => [p.id, p.category]));

/** Purchase baskets (product ids) read back from the events: every form submit with items. */
function baskets(events: ReturnType<typeof demoShopperEvents>): string[][] {
  const out: string[][] = [];
  for (const e of events) if (e.type === 'form' && e.action === 'submit' && e.items !== undefined) out.push(e.items.map((i) => i.productId));
  return out;
}

/** lift(X ⇒ Y) by brute force over baskets, with X and Y predicates on a basket. */
function lift(bs: string[][], x: (b: string[]) => boolean, y: (b: string[]) => boolean): number {
  const n = bs.length;
  const nx = bs.filter(x).length;
  const ny = bs.filter(y).length;
  const nxy = bs.filter((b) => x(b) && y(b)).length;
  return nxy / nx / (ny / n);
}

describe('demo shoppers', () => {
  it('demo shoppers - the same seed gives the same events, another seed different ones', () => {
    expect(demoShopperEvents(opts)).toEqual(demoShopperEvents(opts));
    expect(demoShopperEvents({ ...opts, seed: 8 })).not.toEqual(demoShopperEvents(opts));
  });

  it('demo shoppers - every event validates against the v1 schemas and ids are unique', () => {
    const v = new EventValidator();
    const events = demoShopperEvents(opts);
    for (const e of events) {
      const r = v.validate(e);
      expect(r.kind === 'valid' ? 'valid' : r.message).toBe('valid');
    }
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('demo shoppers - events are in time order, start at startMs and are seconds apart within a shopper', () => {
    const events = demoShopperEvents(opts);
    expect(events[0]?.ts).toBeGreaterThanOrEqual(opts.startMs);
    for (let i = 1; i < events.length; i++) expect(events[i]!.ts).toBeGreaterThanOrEqual(events[i - 1]!.ts);
    const byVisitor = new Map<string, number[]>();
    for (const e of events) byVisitor.set(e.visitorId, [...(byVisitor.get(e.visitorId) ?? []), e.ts]);
    for (const ts of byVisitor.values()) for (let i = 1; i < ts.length; i++) expect(ts[i]! - ts[i - 1]!).toBeGreaterThanOrEqual(1_000);
  });

  it('demo shoppers - sessions carry product views, ad impressions, add-to-cart clicks, purchases and abandons', () => {
    const events = demoShopperEvents(opts);
    expect(events.some((e) => e.type === 'page_view' && e.product !== undefined && e.product.price !== undefined)).toBe(true);
    expect(events.some((e) => e.type === 'page_view' && (e.ads ?? []).length > 0)).toBe(true);
    expect(events.some((e) => e.type === 'click' && e.target.kind === 'button' && e.target.productId !== undefined)).toBe(true);
    expect(events.some((e) => e.type === 'click' && e.target.kind === 'ad')).toBe(true);
    expect(events.some((e) => e.type === 'form' && e.action === 'abandon')).toBe(true);
    // Every purchased product was carted by that visitor first.
    const carted = new Set<string>();
    for (const e of events) {
      if (e.type === 'click' && e.target.kind === 'button') carted.add(`${e.visitorId} ${e.target.productId}`);
      if (e.type === 'form' && e.action === 'submit') for (const item of e.items ?? []) expect(carted.has(`${e.visitorId} ${item.productId}`)).toBe(true);
    }
  });

  it('demo shoppers - the planted affinity shows: lift(video game ⇒ sci-fi book) > 1 over the purchase baskets', () => {
    const bs = baskets(demoShopperEvents(opts));
    expect(bs.length).toBeGreaterThan(100);
    const hasCat = (c: string) => (b: string[]) => b.some((id) => categoryOf.get(id) === c);
    const categoryLift = lift(bs, hasCat('video-games'), hasCat('sci-fi-books'));
    expect(categoryLift).toBeGreaterThan(1);
    // The product-level companion is much stronger than chance.
    const has = (id: string) => (b: string[]) => b.includes(id);
    expect(lift(bs, has('starfield-odyssey'), has('dune'))).toBeGreaterThan(2);
  });
});
