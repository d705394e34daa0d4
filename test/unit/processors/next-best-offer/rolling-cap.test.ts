import { describe, expect, it } from 'vitest';
import { RollingCap } from '../../../../processors/next-best-offer/rolling-cap';

describe('rolling cap', () => {
  it('rolling cap - agrees with a brute-force count of the triggers in the last window', () => {
    const max = 5;
    const windowMs = 1_000;
    const cap = new RollingCap(max, windowMs);
    const fired: number[] = [];
    let x = 7;
    let ts = 0;
    for (let i = 0; i < 5_000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      ts += x % 150; // non-decreasing event times, bursts and gaps
      // Oracle: fewer than `max` fired within (ts − windowMs, ts].
      const inWindow = fired.filter((t) => t > ts - windowMs).length;
      const allowed = cap.allows(ts);
      expect(allowed).toBe(inWindow < max);
      if (allowed) {
        cap.record(ts);
        fired.push(ts);
      }
    }
    expect(fired.length).toBeGreaterThan(100);
  });

  it('rolling cap - times round-trip through load (snapshots)', () => {
    const a = new RollingCap(3, 100);
    for (const t of [1, 2, 3, 4]) a.record(t);
    const b = new RollingCap(3, 100);
    b.load(a.times());
    expect(b.times()).toEqual([2, 3, 4]);
    expect(b.allows(101)).toBe(false);
    expect(b.allows(102)).toBe(true);
  });
});
