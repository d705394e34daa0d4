import { describe, expect, it } from 'vitest';
import { OfferCatalog, parseOffer } from '../../../../processors/next-best-offer/offer-catalog';
import { parseNextBestOfferSettings } from '../../../../processors/next-best-offer/next-best-offer-settings';

describe('offer catalog', () => {
  it('catalog - every problem of every offer is reported at once', () => {
    const r = OfferCatalog.fromConfig('shop', [
      { id: 'ok-1', target: { productId: 'p1' }, text: 'x' },
      { id: 'bad id!', target: { productId: 'p1', category: 'c' }, text: '', discount: 150, eligibleStages: ['vip'], validFrom: 'yesterday' },
      { id: 'ok-1', target: { consequent: true }, text: 'dup' },
    ]);
    expect(r.kind).toBe('invalid');
    if (r.kind !== 'invalid') return;
    const joined = r.problems.join('\n');
    for (const needle of ['offers[1].id', 'offers[1].target', 'offers[1].text', 'offers[1].discount', 'offers[1].eligibleStages', 'offers[1].validFrom', 'offers[2].id: duplicate']) {
      expect(joined).toContain(needle);
    }
    expect(r.problems.length).toBe(7);
  });

  it('catalog - the demo site without offers ships a catch-all "recommend the consequent" offer', () => {
    const r = OfferCatalog.fromConfig('demo', undefined);
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.catalog.catchAll().map((o) => o.id)).toEqual(['demo-recommend']);
    expect(r.catalog.forPattern('cart_abandonment').length).toBe(1);
    const other = OfferCatalog.fromConfig('shop', undefined);
    expect(other.kind === 'ok' && other.catalog.size).toBe(0);
  });

  it('catalog - put adds or replaces by id, remove deletes, each change bumps the version', () => {
    const c = OfferCatalog.empty(2);
    expect(c.put({ id: 'a', target: { category: 'books' }, text: 't' })).toMatchObject({ kind: 'ok', replaced: false });
    expect(c.put({ id: 'a', target: { productId: 'p9' }, text: 't2', budget: 3 })).toMatchObject({ kind: 'ok', replaced: true });
    expect(c.forCategory('books')).toEqual([]);
    expect(c.forProduct('p9').map((o) => o.budget)).toEqual([3]);
    expect(c.put({ id: 'b', target: { consequent: true }, text: 't' }).kind).toBe('ok');
    expect(c.put({ id: 'c', target: { consequent: true }, text: 't' }).kind).toBe('invalid');
    expect(c.remove('a')).toBe(true);
    expect(c.remove('a')).toBe(false);
    expect(c.version).toBe(4);
    expect(c.list().map((o) => o.id)).toEqual(['b']);
  });

  it('catalog - replaceAll changes nothing when one offer is invalid', () => {
    const c = OfferCatalog.empty();
    c.put({ id: 'keep', target: { consequent: true }, text: 't' });
    expect(c.replaceAll([{ id: 'x', target: { productId: 'p' }, text: 't' }, { id: 'y' }]).kind).toBe('invalid');
    expect(c.list().map((o) => o.id)).toEqual(['keep']);
  });

  it('catalog - validity instants round-trip through the config form', () => {
    const r = parseOffer({ id: 'v', target: { pattern: 'form_abandonment' }, text: 't', validFrom: '2026-01-01T00:00:00Z', validTo: '2026-02-01T00:00:00Z' });
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.offer.validFrom).toBe(Date.UTC(2026, 0, 1));
    const c = OfferCatalog.empty();
    c.put({ id: 'v', target: { pattern: 'form_abandonment' }, text: 't', validFrom: '2026-01-01T00:00:00Z' });
    expect(c.toJSON()[0]).toMatchObject({ validFrom: '2026-01-01T00:00:00.000Z', target: { pattern: 'form_abandonment' } });
  });

  it('settings - bad settings and bad offers are reported together', () => {
    const r = parseNextBestOfferSettings('shop', { holdoutShare: 2, minLift: 0.5, cooldown: 'soon', caps: { visitor: { max: 0 } }, webhooks: ['ftp://x'], offers: [{ id: 'a' }], nope: 1 });
    expect(r.kind).toBe('invalid');
    if (r.kind !== 'invalid') return;
    const joined = r.problems.join('\n');
    for (const needle of ['holdoutShare', 'minLift', 'cooldown', 'caps.visitor.max', 'webhooks[0]', 'offers[0].target', 'nope: unknown']) expect(joined).toContain(needle);
  });
});
