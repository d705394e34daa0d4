import { describe, expect, it } from 'vitest';
import { EventValidator } from '../../../src/events/event-validator';

const v = new EventValidator();
const pageView = { id: 'e1', type: 'page_view', visitorId: 'v1', ts: 1_700_000_000_000, url: 'https://shop.example/p/1' };
const click = { id: 'e2', type: 'click', visitorId: 'v1', ts: 1_700_000_000_000, url: '/', target: { kind: 'ad', adId: 'banner-1' } };
const form = { id: 'e3', type: 'form', visitorId: 'v1', ts: 1_700_000_000_000, url: '/checkout', formId: 'checkout', action: 'submit', items: [{ productId: 'p1', quantity: 2, price: 9.5 }] };

describe('EventValidator', () => {
  it('validator - accepts a minimal event of each of the three types', () => {
    for (const e of [pageView, click, form]) expect(v.validate(e)).toEqual({ kind: 'valid', event: e });
  });

  it('validator - an unknown or missing type is unknown_event_type, naming /type', () => {
    for (const e of [{ ...pageView, type: 'purchase' }, { id: 'x' }, { ...pageView, type: 7 }]) {
      const r = v.validate(e);
      expect(r.kind === 'invalid' && r.code).toBe('unknown_event_type');
      expect(r.kind === 'invalid' && r.message).toMatch(/^\/type:/);
    }
  });

  it('validator - a non-object event is a schema violation', () => {
    for (const e of [null, 3, 'page_view', [pageView]]) {
      const r = v.validate(e);
      expect(r.kind === 'invalid' && r.code).toBe('schema_violation');
    }
  });

  it('validator - the message names the failing path', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ ...pageView, ts: 1.5 }, /^\/ts: /],
      [{ ...pageView, url: 'x'.repeat(2049) }, /^\/url: /],
      [{ ...pageView, extra: 1 }, /^\/extra: .*not allowed/],
      [{ ...click, target: { kind: 'banner' } }, /^\/target\/kind: /],
      [{ ...form, action: undefined }, /^\/action: is required/],
      [{ ...form, items: [{ productId: 'p', quantity: 0 }] }, /^\/items\/0\/quantity: /],
      [{ ...pageView, visitorId: 'v'.repeat(129) }, /^\/visitorId: /],
      [{ ...pageView, props: { nested: { a: 1 } } }, /^\/props\/nested: /],
    ];
    for (const [e, re] of cases) {
      const r = v.validate(e);
      expect(r.kind).toBe('invalid');
      if (r.kind === 'invalid') {
        expect(r.code).toBe('schema_violation');
        expect(r.message).toMatch(re);
      }
    }
  });

  it('validator - the batch envelope needs type, seq, sentAt and events and nothing else', () => {
    expect(v.validateBatch({ type: 'batch', seq: 0, sentAt: 1, events: [] }).kind).toBe('valid');
    for (const b of [{ type: 'batch', seq: 0, events: [] }, { type: 'batch', seq: -1, sentAt: 1, events: [] }, { type: 'batch', seq: 0, sentAt: 1, events: {} }, { type: 'batch', seq: 0, sentAt: 1, events: [], x: 1 }, []]) {
      expect(v.validateBatch(b).kind).toBe('invalid');
    }
  });
});
