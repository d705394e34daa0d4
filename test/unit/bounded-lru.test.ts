import { LRUCache } from 'lru-cache';
import { describe, expect, it } from 'vitest';
import { BoundedLru } from '../../src/bounded-lru';
import { mulberry32 } from '../../src/replay/mulberry32';

describe('BoundedLru', () => {
  it('side by side with one LRUCache({max}): the same answers, evictions (in order) and recency order under random operations, while it grows', () => {
    for (const max of [1, 7, 1_024, 5_000]) {
      const rnd = mulberry32(max);
      const theirs: Array<[string, number, string]> = [];
      const ours: Array<[string, number, string]> = [];
      const ref = new LRUCache<string, number>({ max, dispose: (v, k, r) => theirs.push([k, v, r]) });
      const lru = new BoundedLru<string, number>({ max, dispose: (v, k, r) => ours.push([k, v, r]) });
      const keys = Math.max(4, Math.floor(max * 1.5));
      for (let i = 0; i < 40_000; i++) {
        const k = `k${Math.floor(rnd() * keys)}`;
        const op = rnd();
        if (op < 0.45) {
          ref.set(k, i);
          lru.set(k, i);
        } else if (op < 0.75) expect(lru.get(k)).toBe(ref.get(k));
        else if (op < 0.85) expect(lru.peek(k)).toBe(ref.peek(k));
        else if (op < 0.95) expect(lru.has(k)).toBe(ref.has(k));
        else expect(lru.delete(k)).toBe(ref.delete(k));
        if (i % 4_000 === 0) expect([...lru.entries()]).toEqual([...ref.entries()]);
      }
      expect(lru.size).toBe(ref.size);
      expect([...lru.keys()]).toEqual([...ref.keys()]);
      expect([...lru.rkeys()]).toEqual([...ref.rkeys()]);
      expect(ours).toEqual(theirs);
      expect(ours.filter((d) => d[2] === 'evict').length).toBeGreaterThan(0);
      expect(lru.capacity).toBe(max);
    }
  });

  it('memory - slots are taken as it fills: a large bound starts small and grows by doubling', () => {
    const lru = new BoundedLru<number, number>({ max: 1_000_000 });
    expect(lru.capacity).toBe(1_024);
    for (let i = 0; i < 3_000; i++) lru.set(i, i);
    expect(lru.capacity).toBe(4_096);
    expect(lru.size).toBe(3_000);
    lru.clear();
    expect([lru.size, lru.capacity]).toEqual([0, 1_024]);
  });
});
