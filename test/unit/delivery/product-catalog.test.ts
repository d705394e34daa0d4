import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { OfferTrigger } from '../../../processors/next-best-offer/offer-trigger';
import { ProductCatalog, couponCode } from '../../../src/delivery/product-catalog';
import { pageView } from '../../helpers/enriched-events';

function trigger(over: Partial<OfferTrigger> = {}): OfferTrigger {
  return {
    triggerId: 'trig-1',
    site: 'demo',
    visitorId: 'v1',
    sessionId: 's',
    offerId: 'cross-sell',
    text: 'Shoppers who looked at starfield-odyssey also chose dune: 10 % off today',
    discount: 10,
    because: { kind: 'rule', rule: { antecedent: ['starfield-odyssey'], consequent: ['dune'], level: 'product', support: 0.1, confidence: 0.5, lift: 2 }, window: { start: 'a', end: 'b' }, ruleSetVersion: 1, eventId: 'e' },
    ts: 0,
    holdout: false,
    expectedValue: 1,
    offered: { level: 'product', items: ['dune'] },
    ...over,
  };
}

describe('product catalog', () => {
  it('shoppable - names, prices and the discounted price from page views; a coupon the shop can check with its secret', () => {
    const c = new ProductCatalog({ maxProducts: 10, onEvict: () => {} });
    c.observe(pageView('v', 1, '/p/dune', { product: { id: 'dune', name: 'Dune', price: 14.99, category: 'sci-fi-books' } }));
    c.observe(pageView('v', 2, '/p/starfield', { product: { id: 'starfield-odyssey', name: 'Starfield Odyssey' } }));
    // A later view without a name keeps the name, takes the new price.
    c.observe(pageView('v', 3, '/p/dune', { product: { id: 'dune', price: 12.5 } }));
    const s = c.shoppable(trigger(), 'shop-secret');
    expect(s.products).toEqual([{ id: 'dune', name: 'Dune', price: 12.5, category: 'sci-fi-books', discountedPrice: 11.25 }]);
    expect(s.text).toBe('Shoppers who looked at Starfield Odyssey also chose Dune: 10 % off today');
    const mac = createHmac('sha256', 'shop-secret').update('trig-1').digest('base64url').slice(0, 10).toUpperCase().replace(/[-_]/g, 'X');
    expect(s.coupon).toEqual({ code: `CM-${mac}`, percent: 10 });
    expect(couponCode('other-secret', 'trig-1')).not.toBe(s.coupon?.code);
    // Unknown products still come, with what is known (their id); no discount, no coupon.
    const bare = c.shoppable(trigger({ offered: { level: 'product', items: ['x'] }, discount: 0, text: 'x' }), 'shop-secret');
    expect(bare.products).toEqual([{ id: 'x', name: undefined, price: undefined, category: undefined, discountedPrice: undefined }]);
    expect(bare.coupon).toBeUndefined();
  });

  it('bounded - beyond maxProducts the least recently seen product is evicted and counted; sites apart', () => {
    let evicted = 0;
    const c = new ProductCatalog({ maxProducts: 3, onEvict: (_s, n) => (evicted += n) });
    for (let i = 0; i < 5; i++) c.observe(pageView('v', i, `/p/${i}`, { product: { id: `p${i}`, name: `P ${i}` } }));
    expect(evicted).toBe(2);
    expect(c.product('demo', 'p0')).toBeUndefined();
    expect(c.product('demo', 'p4')?.name).toBe('P 4');
    expect(c.product('other', 'p4')).toBeUndefined();
  });
});
