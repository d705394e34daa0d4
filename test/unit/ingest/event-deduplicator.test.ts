import { LRUCache } from 'lru-cache';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../src/replay/mulberry32';
import { EventDeduplicator } from '../../../src/ingest/event-deduplicator';

const make = (capacity: number, ttlMs = 60_000, onEvict: () => void = () => undefined) => new EventDeduplicator({ capacity, ttlMs, onEvict });

describe('EventDeduplicator', () => {
  it('dedupe - an id is a duplicate within its ttl and forgotten after it', () => {
    const d = make(10);
    expect(d.has('demo', 'e1', 1_000)).toBe(false);
    d.remember('demo', 'e1', 1_000);
    expect(d.has('demo', 'e1', 60_999)).toBe(true);
    expect(d.has('demo', 'e1', 61_000)).toBe(false);
  });

  it('dedupe - ids are per site, and so are the capacities: one site\'s flood never pushes out another\'s ids', () => {
    let evicted = 0;
    const d = make(5, 60_000, () => evicted++);
    d.remember('shop', 'order-1', 0);
    for (let i = 0; i < 1_000; i++) d.remember('demo', `flood-${i}`, 1);
    expect(d.has('shop', 'order-1', 2)).toBe(true);
    expect(d.has('demo', 'order-1', 2)).toBe(false);
    expect(evicted).toBe(995);
  });

  it('dedupe - beyond capacity the oldest id is evicted and each eviction is reported', () => {
    let evicted = 0;
    const d = make(3, 60_000, () => evicted++);
    for (const id of ['1', '2', '3', '4', '5']) d.remember('s', id, 0);
    expect(evicted).toBe(2);
    expect(d.size).toBe(3);
    expect(['1', '2', '3', '4', '5'].map((id) => d.has('s', id, 1))).toEqual([false, false, true, true, true]);
  });

  it('dedupe - evicts exactly like the LRU it replaces (insertion order, hits do not reorder, ttl expiry not counted)', () => {
    const rnd = mulberry32(3);
    let ours = 0;
    let theirs = 0;
    const d = make(50, 10_000, () => ours++);
    let now = 0;
    const lru = new LRUCache<string, true>({ max: 50, ttl: 10_000, ttlResolution: 0, perf: { now: () => now }, updateAgeOnGet: false, updateAgeOnHas: false, dispose: (_v, _k, r) => r === 'evict' && theirs++ });
    for (let i = 0; i < 20_000; i++) {
      now += Math.floor(rnd() * 40);
      const id = `e${Math.floor(rnd() * 400)}`;
      const a = d.has('s', id, now);
      const b = lru.has(id);
      expect(a).toBe(b);
      if (!a) {
        d.remember('s', id, now);
        lru.set(id, true);
      }
    }
    expect(ours).toBe(theirs);
  });

  it('dedupe - a snapshot restores the same ids with the same expiry and order', () => {
    const a = make(4);
    for (const [id, t] of [['x', 0], ['y', 10], ['z', 20]] as const) a.remember('s', id, t);
    a.remember('s', 'x', 70_000); // expired and remembered again: its old slot is stale
    const b = make(4);
    b.restore(JSON.parse(JSON.stringify(a.snapshot())) as ReturnType<EventDeduplicator['snapshot']>);
    expect(b.snapshot()).toEqual(a.snapshot());
    for (const d of [a, b]) d.remember('s', 'w', 70_001);
    expect(['x', 'y', 'z', 'w'].map((id) => b.has('s', id, 70_002))).toEqual(['x', 'y', 'z', 'w'].map((id) => a.has('s', id, 70_002)));
  });

  it('dedupe - refuses to be built without bounds', () => {
    expect(() => make(0, 1)).toThrow(/CM_ERR_UNBOUNDED/);
    expect(() => make(1, Number.NaN)).toThrow(/CM_ERR_UNBOUNDED/);
  });
});
