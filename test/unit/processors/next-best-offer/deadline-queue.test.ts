import { describe, expect, it } from 'vitest';
import { DeadlineQueue } from '../../../../processors/next-best-offer/deadline-queue';

describe('deadline queue', () => {
  it('deadline queue - pops exactly the due entries, earliest first, against a sorted copy', () => {
    // A small LCG so the sequence is the same on every run.
    let x = 12345;
    const rand = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const q = new DeadlineQueue(10_000);
    const all: number[] = [];
    for (let i = 0; i < 2_000; i++) {
      const d = Math.floor(rand() * 100_000);
      all.push(d);
      expect(q.push({ deadline: d, key: `k${i}`, kind: 1, seq: i })).toBe(true);
    }
    const sorted = [...all].sort((a, b) => a - b);
    const popped: number[] = [];
    for (const upTo of [0, 10_000, 50_000, 99_999]) {
      for (let e = q.popDue(upTo); e !== undefined; e = q.popDue(upTo)) popped.push(e.deadline);
      expect(popped).toEqual(sorted.filter((d) => d <= upTo));
    }
    expect(q.size).toBe(0);
  });

  it('deadline queue - refuses a push beyond its capacity', () => {
    const q = new DeadlineQueue(2);
    expect(q.push({ deadline: 1, key: 'a', kind: 1, seq: 0 })).toBe(true);
    expect(q.push({ deadline: 2, key: 'b', kind: 1, seq: 0 })).toBe(true);
    expect(q.push({ deadline: 0, key: 'c', kind: 1, seq: 0 })).toBe(false);
    expect(() => new DeadlineQueue(0)).toThrow(/CM_ERR_UNBOUNDED/);
  });
});
