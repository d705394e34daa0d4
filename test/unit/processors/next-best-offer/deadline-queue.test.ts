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
      expect(q.push(d, `k${i}`, 1 + (i % 3), i)).toBe(true);
    }
    const sorted = [...all].sort((a, b) => a - b);
    const popped: number[] = [];
    for (const upTo of [0, 10_000, 50_000, 99_999]) {
      for (let e = q.popDue(upTo); e !== undefined; e = q.popDue(upTo)) {
        popped.push(e.deadline);
        // Each entry comes back whole: its key, kind and seq are the ones pushed with its deadline.
        expect([e.key, e.kind, all[e.seq]]).toEqual([`k${e.seq}`, 1 + (e.seq % 3), e.deadline]);
      }
      expect(popped).toEqual(sorted.filter((d) => d <= upTo));
    }
    expect(q.size).toBe(0);
  });

  it('deadline queue - its entries, pushed again in their order, rebuild the same heap (snapshot and restore)', () => {
    const q = new DeadlineQueue(1_000);
    for (let i = 0; i < 300; i++) q.push((i * 7919) % 1_000, `k${i}`, 1, i);
    for (let i = 0; i < 50; i++) q.popDue(Number.POSITIVE_INFINITY);
    const copy = new DeadlineQueue(1_000);
    for (const d of q.entries()) copy.push(d.deadline, d.key, d.kind, d.seq);
    expect(copy.entries()).toEqual(q.entries());
    const drain = (x: DeadlineQueue) => [...Array(x.size)].map(() => x.popDue(Number.POSITIVE_INFINITY)?.key);
    expect(drain(copy)).toEqual(drain(q));
  });

  it('deadline queue - refuses a push beyond its capacity', () => {
    const q = new DeadlineQueue(2);
    expect(q.push(1, 'a', 1, 0)).toBe(true);
    expect(q.push(2, 'b', 1, 0)).toBe(true);
    expect(q.push(0, 'c', 1, 0)).toBe(false);
    expect(() => new DeadlineQueue(0)).toThrow(/CM_ERR_UNBOUNDED/);
  });
});
