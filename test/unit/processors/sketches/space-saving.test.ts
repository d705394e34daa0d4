import { describe, expect, it } from 'vitest';
import { SpaceSaving } from '../../../../processors/sketches/space-saving';

/** A deterministic skewed stream (Zipf-like) from a small LCG: no Math.random, reproducible. */
function zipfStream(n: number, keys: number, seed = 1): string[] {
  let x = seed;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const u = (x >>> 8) / 2 ** 24;
    out.push(`k${Math.floor(keys ** u) - 1}`);
  }
  return out;
}

function bruteForce(stream: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of stream) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

describe('SpaceSaving', () => {
  it('space-saving - under capacity every count is exact', () => {
    const stream = zipfStream(50_000, 300);
    const s = new SpaceSaving(1000);
    for (const k of stream) s.add(k);
    const truth = bruteForce(stream);
    expect(s.exact).toBe(true);
    expect(s.size).toBe(truth.size);
    expect(s.total).toBe(stream.length);
    for (const [k, c] of truth) expect(s.get(k)).toEqual({ count: c, error: 0 });
    const top = s.top(5).map((e) => [e.key, e.count]);
    const expected = [...truth].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 5);
    expect(top).toEqual(expected);
  });

  it('space-saving - over capacity the true count lies in [count - error, count] and unmonitored keys stay below the bound', () => {
    const stream = zipfStream(100_000, 20_000, 7);
    const cap = 200;
    const s = new SpaceSaving(cap);
    for (const k of stream) s.add(k);
    const truth = bruteForce(stream);
    expect(s.exact).toBe(false);
    expect(s.size).toBe(cap);
    expect(s.maxError()).toBeLessThanOrEqual(s.total / cap);
    for (const e of s.entries()) {
      const t = truth.get(e.key) ?? 0;
      expect(t).toBeLessThanOrEqual(e.count);
      expect(t).toBeGreaterThanOrEqual(e.count - e.error);
    }
    for (const [k, c] of truth) if (s.get(k) === undefined) expect(c).toBeLessThanOrEqual(s.maxError());
    // Heavy hitters (true count > N/cap) are always monitored.
    for (const [k, c] of truth) if (c > s.total / cap) expect(s.get(k)).toBeDefined();
  });

  it('space-saving - weights add like repeated keys', () => {
    const s = new SpaceSaving<number>(10);
    s.add(1, 2.5);
    s.add(2);
    s.add(1, 0.5);
    s.add(3, 0); // ignored
    expect(s.get(1)).toEqual({ count: 3, error: 0 });
    expect(s.total).toBe(4);
    expect(s.get(3)).toBeUndefined();
  });

  it('space-saving - merging two exact halves equals the exact count of the whole', () => {
    const stream = zipfStream(20_000, 500, 3);
    const a = new SpaceSaving(1000);
    const b = new SpaceSaving(1000);
    stream.forEach((k, i) => (i % 3 === 0 ? a : b).add(k));
    a.merge(b);
    const truth = bruteForce(stream);
    expect(a.exact).toBe(true);
    expect(a.total).toBe(stream.length);
    for (const [k, c] of truth) expect(a.get(k)?.count).toBe(c);
  });

  it('space-saving - merging bounded halves keeps the error bound', () => {
    const stream = zipfStream(60_000, 10_000, 11);
    const a = new SpaceSaving(150);
    const b = new SpaceSaving(150);
    stream.forEach((k, i) => (i < 25_000 ? a : b).add(k));
    a.merge(b);
    const truth = bruteForce(stream);
    expect(a.size).toBeLessThanOrEqual(150);
    for (const e of a.entries()) {
      const t = truth.get(e.key) ?? 0;
      expect(t).toBeLessThanOrEqual(e.count);
      expect(t).toBeGreaterThanOrEqual(e.count - e.error);
    }
    for (const [k, c] of truth) if (a.get(k) === undefined) expect(c).toBeLessThanOrEqual(a.maxError());
    // Adding after a merge keeps the guarantee for keys dropped by it.
    for (const k of stream.slice(0, 5000)) a.add(k);
    const truth2 = bruteForce([...stream, ...stream.slice(0, 5000)]);
    for (const e of a.entries()) {
      const t = truth2.get(e.key) ?? 0;
      expect(t).toBeLessThanOrEqual(e.count);
      expect(t).toBeGreaterThanOrEqual(e.count - e.error);
    }
  });

  it('space-saving - a window folded from many exact panes over capacity (ties at the cut included) keeps the bound, the capacity and every key heavier than it', () => {
    // 200 panes of 300 keys each from 20 k keys: most counts are 1-3, so the cut falls among ties.
    const stream = zipfStream(60_000, 20_000, 5);
    const acc = new SpaceSaving(500);
    for (let p = 0; p < 200; p++) {
      const pane = new SpaceSaving(1_000);
      for (const k of stream.slice(p * 300, (p + 1) * 300)) pane.add(k);
      expect(pane.exact).toBe(true);
      acc.merge(pane);
    }
    const truth = bruteForce(stream);
    expect(acc.size).toBe(500);
    expect(acc.total).toBe(60_000);
    expect(acc.exact).toBe(false);
    for (const e of acc.entries()) {
      const t = truth.get(e.key) ?? 0;
      expect(t).toBeLessThanOrEqual(e.count);
      expect(t).toBeGreaterThanOrEqual(e.count - e.error);
    }
    for (const [k, c] of truth) if (acc.get(k) === undefined) expect(c).toBeLessThanOrEqual(acc.maxError());
    // Every key whose true count is above the bound is monitored.
    for (const [k, c] of truth) if (c > acc.maxError()) expect(acc.get(k), k).toBeDefined();
  });

  it('space-saving - an overflowing merge drops the lightest keys, monitored or new, and the bound becomes the largest count dropped', () => {
    const of = (cap: number, counts: Record<string, number>) => {
      const s = new SpaceSaving(cap);
      for (const [k, c] of Object.entries(counts)) s.add(k, c);
      return s;
    };
    // A monitored key is the lightest: it goes, the newcomer takes its place.
    const a = of(2, { a: 5, b: 1 });
    a.merge(of(2, { c: 3 }));
    expect(a.entries().map((e) => [e.key, e.count])).toEqual([['a', 5], ['c', 3]]);
    expect(a.maxError()).toBe(1);
    // The newcomer is the lightest: it is dropped, and an unmonitored key may have up to its count.
    const b = of(2, { a: 5, b: 4 });
    b.merge(of(2, { c: 3 }));
    expect(b.entries().map((e) => [e.key, e.count])).toEqual([['a', 5], ['b', 4]]);
    expect(b.maxError()).toBe(3);
    expect(b.evictions).toBe(1);
    // At the cut count, monitored keys stay before newcomers.
    const c = of(2, { a: 5, b: 2 });
    c.merge(of(2, { c: 2, d: 1 }));
    expect(c.entries().map((e) => [e.key, e.count])).toEqual([['a', 5], ['b', 2]]);
    expect(c.maxError()).toBe(2);
    expect(c.total).toBe(10);
  });

  it('space-saving - merging into an empty summary copies it, and counting on keeps the bound', () => {
    const stream = zipfStream(30_000, 5_000, 13);
    const src = new SpaceSaving(100);
    for (const k of stream.slice(0, 20_000)) src.add(k);
    const copy = new SpaceSaving(100);
    copy.merge(src);
    expect(copy.entries()).toEqual(src.entries());
    expect(copy.maxError()).toBe(src.maxError());
    for (const k of stream.slice(20_000)) copy.add(k);
    const truth = bruteForce(stream);
    for (const e of copy.entries()) {
      const t = truth.get(e.key) ?? 0;
      expect(t).toBeLessThanOrEqual(e.count);
      expect(t).toBeGreaterThanOrEqual(e.count - e.error);
    }
    expect(src.total).toBe(20_000); // the source is left unchanged
  });

  it('space-saving - a snapshot round-trips through JSON and keeps counting', () => {
    const s = new SpaceSaving(50);
    for (const k of zipfStream(5000, 400, 5)) s.add(k);
    const back = SpaceSaving.fromJSON<string>(JSON.parse(JSON.stringify(s)));
    expect(back.entries()).toEqual(s.entries());
    expect(back.maxError()).toBe(s.maxError());
    back.add('new-key');
    s.add('new-key');
    expect(back.get('new-key')).toEqual(s.get('new-key'));
  });

  it('space-saving - folding JSON in (empty or not) equals merging the summary it describes, and counting on keeps the bound', () => {
    const stream = zipfStream(30_000, 5_000, 17);
    const a = new SpaceSaving(100);
    for (const k of stream.slice(0, 12_000)) a.add(k);
    const b = new SpaceSaving(100);
    for (const k of stream.slice(12_000, 24_000)) b.add(k);
    for (const into of [() => new SpaceSaving(100), () => SpaceSaving.fromJSON<string>(JSON.parse(JSON.stringify(b)))]) {
      const viaJson = into();
      viaJson.mergeJSON(JSON.parse(JSON.stringify(a)));
      const viaMerge = into();
      viaMerge.merge(SpaceSaving.fromJSON<string>(JSON.parse(JSON.stringify(a))));
      expect([viaJson.entries(), viaJson.maxError(), viaJson.total]).toEqual([viaMerge.entries(), viaMerge.maxError(), viaMerge.total]);
      for (const k of stream.slice(24_000)) {
        viaJson.add(k);
        viaMerge.add(k);
      }
      expect(viaJson.entries()).toEqual(viaMerge.entries());
    }
    const truth = bruteForce(stream.slice(0, 12_000).concat(stream.slice(24_000)));
    const restored = new SpaceSaving(100);
    restored.mergeJSON(JSON.parse(JSON.stringify(a)));
    for (const k of stream.slice(24_000)) restored.add(k);
    for (const e of restored.entries()) {
      const t = truth.get(e.key) ?? 0;
      expect(t).toBeLessThanOrEqual(e.count);
      expect(t).toBeGreaterThanOrEqual(e.count - e.error);
    }
  });

  it('space-saving - refuses a missing capacity', () => {
    expect(() => new SpaceSaving(0)).toThrow(/CM_ERR_UNBOUNDED/);
  });
});

describe('SpaceSaving retraction', () => {
  it('space-saving - removing what was added restores exact counts and hides keys at zero', () => {
    const s = new SpaceSaving(10);
    for (const k of ['a', 'a', 'b', 'c']) s.add(k);
    expect(s.remove('a')).toBe(true);
    expect(s.remove('c')).toBe(true);
    expect(s.get('a')).toEqual({ count: 1, error: 0 });
    expect(s.entries().map((e) => e.key)).toEqual(['a', 'b']);
    expect(s.total).toBe(2);
    expect(new SpaceSaving(2).remove('never-added')).toBe(false);
  });

  it('space-saving - evictions are reported to the callback, one per evicted key', () => {
    let evicted = 0;
    const s = new SpaceSaving(2, () => evicted++);
    for (const k of ['a', 'b', 'c', 'd', 'a']) s.add(k);
    expect(evicted).toBe(3);
    expect(s.evictions).toBe(3);
  });
});
