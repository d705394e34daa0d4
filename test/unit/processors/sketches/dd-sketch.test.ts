import { describe, expect, it } from 'vitest';
import { DDSketch } from '../../../../processors/sketches/dd-sketch';

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

/** Lower-rank quantile of a sorted array: the value at index floor(q·(n−1)). */
function exactQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

const QS = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

describe('DDSketch', () => {
  it('ddsketch - quantiles of a heavy-tailed sample are within the relative accuracy', () => {
    const r = lcg(42);
    const values: number[] = [];
    for (let i = 0; i < 100_000; i++) values.push(Math.exp(r() * 16 - 4)); // ~0.02 … 160k
    const d = new DDSketch(0.01);
    for (const v of values) d.add(v);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of QS) {
      const exact = exactQuantile(sorted, q);
      expect(Math.abs(d.quantile(q) - exact) / exact).toBeLessThanOrEqual(0.01 + 1e-12);
    }
    expect(d.count).toBe(values.length);
    expect(d.min).toBe(sorted[0]);
    expect(d.max).toBe(sorted[sorted.length - 1]);
    expect(d.sum).toBeCloseTo(values.reduce((a, b) => a + b, 0), 3);
  });

  it('ddsketch - zeros and negatives are ranked correctly', () => {
    const values = [-50, -5, 0, 0, 0, 1, 2, 3, 100, 1000];
    const d = new DDSketch(0.02);
    for (const v of values) d.add(v);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of QS) {
      const exact = exactQuantile(sorted, q);
      const est = d.quantile(q);
      if (exact === 0) expect(est).toBe(0);
      else expect(Math.abs(est - exact) / Math.abs(exact)).toBeLessThanOrEqual(0.02 + 1e-12);
    }
  });

  it('ddsketch - merging two halves gives the quantiles of the whole within accuracy', () => {
    const r = lcg(9);
    const values: number[] = [];
    for (let i = 0; i < 50_000; i++) values.push(1 + r() * r() * 10_000);
    const a = new DDSketch(0.01);
    const b = new DDSketch(0.01);
    values.forEach((v, i) => (i % 2 === 0 ? a : b).add(v));
    a.merge(b);
    const sorted = [...values].sort((x, y) => x - y);
    for (const q of QS) {
      const exact = exactQuantile(sorted, q);
      expect(Math.abs(a.quantile(q) - exact) / exact).toBeLessThanOrEqual(0.01 + 1e-12);
    }
    expect(a.count).toBe(values.length);
  });

  it('ddsketch - memory stays within maxBins: the lowest values collapse, the top stays accurate', () => {
    const d = new DDSketch(0.01, 128);
    const values: number[] = [];
    for (let i = 1; i <= 10_000; i++) values.push(i * 0.37 * i); // spans ~0.37 … 37M: > 128 bins
    for (const v of values) d.add(v);
    expect(d.collapsed).toBeGreaterThan(0);
    expect(d.toJSON().pos[1].length).toBeLessThanOrEqual(128);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [0.9, 0.99, 1]) {
      const exact = exactQuantile(sorted, q);
      expect(Math.abs(d.quantile(q) - exact) / exact).toBeLessThanOrEqual(0.01 + 1e-12);
    }
  });

  it('ddsketch - a snapshot round-trips through JSON', () => {
    const d = new DDSketch(0.01);
    for (let i = 0; i < 1000; i++) d.add(i - 100);
    const back = DDSketch.fromJSON(JSON.parse(JSON.stringify(d)));
    for (const q of QS) expect(back.quantile(q)).toBe(d.quantile(q));
    expect(back.count).toBe(d.count);
    expect(DDSketch.fromJSON(JSON.parse(JSON.stringify(new DDSketch()))).count).toBe(0);
    expect(new DDSketch().quantile(0.5)).toBeNaN();
  });
});
