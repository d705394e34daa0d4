import { describe, expect, it } from 'vitest';
import { VisitorPartitioner, fnv1a32 } from '../../../src/pipeline/visitor-partitioner';

describe('VisitorPartitioner', () => {
  it('fnv1a32 - matches the published FNV-1a 32-bit test vectors', () => {
    // Vectors from the FNV reference (isthe.com/chongo/tech/comp/fnv): "" , "a", "foobar".
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('partitionOf - is stable and within range', () => {
    const p = new VisitorPartitioner(16);
    for (let i = 0; i < 1000; i++) {
      const id = `visitor-${i}`;
      const k = p.partitionOf(id);
      expect(k).toBeGreaterThanOrEqual(0);
      expect(k).toBeLessThan(16);
      expect(new VisitorPartitioner(16).partitionOf(id)).toBe(k);
    }
  });

  it('partitionOf - spreads ids roughly evenly over partitions', () => {
    const p = new VisitorPartitioner(8);
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 80_000; i++) counts[p.partitionOf(`v${i}`)]! += 1;
    for (const c of counts) {
      expect(c).toBeGreaterThan(8_000);
      expect(c).toBeLessThan(12_000);
    }
  });

  it('constructor - refuses a missing or non-positive partition count', () => {
    expect(() => new VisitorPartitioner(0)).toThrow(/CM_ERR_UNBOUNDED/);
    expect(() => new VisitorPartitioner(Number.NaN)).toThrow(/CM_ERR_UNBOUNDED/);
  });
});
