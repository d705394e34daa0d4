import { describe, expect, it } from 'vitest';
import { ItemsetCounter, type ItemsetCounterOptions } from '../../../../processors/cross-sell/itemset-counter';
import { mulberry32 } from '../../../../src/replay/mulberry32';


/** Baskets over `items` distinct items with a skewed (roughly Zipf) popularity; repeats allowed in a basket. */
function baskets(seed: number, count: number, items: number, maxLen: number): string[][] {
  const r = mulberry32(seed);
  const out: string[][] = [];
  for (let i = 0; i < count; i++) {
    const len = 1 + Math.floor(r() * maxLen);
    const b: string[] = [];
    for (let j = 0; j < len; j++) b.push(`p${Math.floor(items * r() ** 3)}`);
    out.push(b);
  }
  return out;
}

/** Brute-force truth: counts of items, pairs and triples over baskets as sets. */
function bruteForce(bs: readonly string[][]) {
  const items = new Map<string, number>();
  const pairs = new Map<string, number>();
  const triples = new Map<string, number>();
  for (const b of bs) {
    const set = [...new Set(b)].sort();
    for (const a of set) items.set(a, (items.get(a) ?? 0) + 1);
    for (let i = 0; i < set.length; i++)
      for (let j = i + 1; j < set.length; j++) {
        const k = `${set[i]}|${set[j]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + 1);
        for (let l = j + 1; l < set.length; l++) {
          const t = `${set[i]}|${set[j]}|${set[l]}`;
          triples.set(t, (triples.get(t) ?? 0) + 1);
        }
      }
  }
  return { items, pairs, triples };
}

const roomy: ItemsetCounterOptions = { itemCapacity: 10_000, pairCapacity: 100_000, tripleCapacity: 200_000, maxBasketItems: 50 };

function expectExact(c: ItemsetCounter, bs: readonly string[][]): void {
  const truth = bruteForce(bs);
  expect(c.baskets).toBe(bs.length);
  expect(c.errorBound()).toEqual({ items: 0, pairs: 0, triples: 0 });
  expect(c.itemCount).toBe(truth.items.size);
  expect(c.pairCount).toBe(truth.pairs.size);
  for (const [name, n] of truth.items) expect(c.item(name)).toBe(n);
  for (const [k, n] of truth.pairs) {
    const [a, b] = k.split('|') as [string, string];
    expect(c.pair(a, b)).toBe(n);
    expect(c.pair(b, a)).toBe(n);
  }
  if (c.triplesEnabled) {
    expect(c.tripleCount).toBe(truth.triples.size);
    for (const [k, n] of truth.triples) {
      const [a, b, d] = k.split('|') as [string, string, string];
      expect(c.triple(d, a, b)).toBe(n);
    }
  }
}

describe('ItemsetCounter', () => {
  it('counter - within capacity, item, pair and triple counts equal a brute-force count over baskets as sets', () => {
    const bs = baskets(1, 2_000, 300, 8);
    const c = new ItemsetCounter(roomy);
    for (const b of bs) c.add(b);
    expectExact(c, bs);
  });

  it('counter - a basket repeating an item counts it once', () => {
    const c = new ItemsetCounter(roomy);
    c.add(['a', 'b', 'a', 'a']);
    expect(c.item('a')).toBe(1);
    expect(c.pair('a', 'b')).toBe(1);
    expect(c.pair('a', 'a')).toBe(0);
  });

  it('counter - removing baskets leaves exactly the counts of the baskets that remain', () => {
    const bs = baskets(2, 1_000, 200, 7);
    const c = new ItemsetCounter(roomy);
    for (const b of bs) c.add(b);
    const kept = bs.filter((_, i) => i % 3 !== 0);
    bs.forEach((b, i) => {
      if (i % 3 === 0) c.remove(b);
    });
    const truth = bruteForce(kept);
    expect(c.baskets).toBe(kept.length);
    for (const [name, n] of truth.items) expect(c.item(name)).toBe(n);
    for (const [k, n] of truth.pairs) {
      const [a, b] = k.split('|') as [string, string];
      expect(c.pair(a, b)).toBe(n);
    }
    // Items only in removed baskets are at 0.
    const removedOnly = new Set(bs.flat().filter((x) => !truth.items.has(x)));
    for (const x of removedOnly) expect(c.item(x)).toBe(0);
  });

  it('counter - merging two partial counters equals one counter over all baskets, and a snapshot round trip changes nothing', () => {
    const bs = baskets(3, 1_500, 250, 6);
    const left = new ItemsetCounter(roomy);
    const right = new ItemsetCounter(roomy);
    bs.forEach((b, i) => (i % 2 === 0 ? left : right).add(b));
    const restored = ItemsetCounter.fromSnapshot(JSON.parse(JSON.stringify(right.snapshot())), roomy);
    left.mergeFrom(restored);
    expectExact(left, bs);
    const again = ItemsetCounter.fromSnapshot(JSON.parse(JSON.stringify(left.snapshot())), roomy);
    expectExact(again, bs);
  });

  it('counter - beyond capacity every estimate lies within [true, true + reported bound], and unheld keys have true counts ≤ the bound', () => {
    const bs = baskets(4, 6_000, 2_000, 6);
    const evicted = { items: 0, pairs: 0, triples: 0 };
    const small: ItemsetCounterOptions = {
      itemCapacity: 300, pairCapacity: 2_000, tripleCapacity: 3_000, maxBasketItems: 20,
      onEvict: (s, n) => (evicted[s] += n),
    };
    const c = new ItemsetCounter(small);
    for (const b of bs) c.add(b);
    const truth = bruteForce(bs);
    expect(truth.items.size).toBeGreaterThan(small.itemCapacity);
    expect(evicted.items).toBeGreaterThan(0);
    expect(evicted.pairs).toBeGreaterThan(0);
    expect(c.itemCount).toBeLessThanOrEqual(small.itemCapacity);
    expect(c.pairCount).toBeLessThanOrEqual(small.pairCapacity);
    const bound = c.errorBound();
    expect(bound.items).toBeGreaterThan(0);
    expect(bound.items).toBeLessThan(bs.length / 10);
    for (const [name, n] of truth.items) {
      const est = c.item(name);
      if (est === 0) expect(n).toBeLessThanOrEqual(bound.items);
      else {
        expect(est).toBeGreaterThanOrEqual(n);
        expect(est).toBeLessThanOrEqual(n + bound.items);
      }
    }
    for (const [k, n] of truth.pairs) {
      const [a, b] = k.split('|') as [string, string];
      const est = c.pair(a, b);
      if (est === 0) expect(n).toBeLessThanOrEqual(bound.pairs);
      else {
        expect(est).toBeGreaterThanOrEqual(n);
        expect(est).toBeLessThanOrEqual(n + bound.pairs);
      }
    }
    // The heaviest items are held and near-exact.
    const top = [...truth.items.entries()].sort((x, y) => y[1] - x[1]).slice(0, 5);
    for (const [name, n] of top) expect(c.item(name)).toBeGreaterThanOrEqual(n);
  });

  it('counter - merged bounded counters keep the error bound: estimates within [true, true + bound]', () => {
    const bs = baskets(5, 4_000, 1_500, 5);
    const small: ItemsetCounterOptions = { itemCapacity: 200, pairCapacity: 1_500, tripleCapacity: 0, maxBasketItems: 20 };
    const parts = [new ItemsetCounter(small), new ItemsetCounter(small), new ItemsetCounter(small)];
    bs.forEach((b, i) => parts[i % 3]!.add(b));
    const merged = new ItemsetCounter(small);
    for (const p of parts) merged.mergeFrom(p);
    const truth = bruteForce(bs);
    const bound = merged.errorBound();
    expect(merged.baskets).toBe(bs.length);
    for (const [name, n] of truth.items) {
      const est = merged.item(name);
      if (est === 0) expect(n).toBeLessThanOrEqual(bound.items);
      else expect(est - n).toBeGreaterThanOrEqual(0), expect(est - n).toBeLessThanOrEqual(bound.items);
    }
    for (const [k, n] of truth.pairs) {
      const [a, b] = k.split('|') as [string, string];
      const est = merged.pair(a, b);
      if (est === 0) expect(n).toBeLessThanOrEqual(bound.pairs);
      else expect(est - n).toBeGreaterThanOrEqual(0), expect(est - n).toBeLessThanOrEqual(bound.pairs);
    }
  });

  it('counter - a basket larger than maxBasketItems is truncated and counted', () => {
    const c = new ItemsetCounter({ itemCapacity: 100, pairCapacity: 100, tripleCapacity: 0, maxBasketItems: 3 });
    c.add(['a', 'b', 'c', 'd', 'e']);
    expect(c.truncatedBaskets).toBe(1);
    expect(c.itemCount).toBe(3);
    expect(c.pairCount).toBe(3);
  });

  it('counter - a clone continues exactly like the original through further baskets, removals and merges with evictions', () => {
    // Small capacities so items, pairs and triples are evicted both before and after the clone.
    const opts: ItemsetCounterOptions = { itemCapacity: 60, pairCapacity: 300, tripleCapacity: 400, maxBasketItems: 8 };
    const original = new ItemsetCounter(opts);
    for (const b of baskets(21, 400, 150, 8)) original.add(b);
    const copy = original.clone();
    expect(copy.snapshot()).toEqual(original.snapshot());
    const other = new ItemsetCounter(opts);
    for (const b of baskets(22, 300, 150, 8)) other.add(b);
    const later = baskets(23, 300, 150, 8);
    for (const c of [original, copy]) {
      for (const b of later) c.add(b);
      for (const b of later.slice(0, 40)) c.remove(b);
      c.mergeFrom(other);
    }
    // The snapshot lists entries in slot order, so equal snapshots mean equal layouts, not only equal counts.
    expect(original.errorBound().pairs).toBeGreaterThan(0);
    expect(copy.snapshot()).toEqual(original.snapshot());
  });

  it('counter - every change bumps the version; reads do not', () => {
    const c = new ItemsetCounter({ itemCapacity: 100, pairCapacity: 100, tripleCapacity: 0, maxBasketItems: 5 });
    const seen = [c.version];
    c.add(['a', 'b']);
    seen.push(c.version);
    c.addBipartite(['<a'], ['>b']);
    seen.push(c.version);
    c.remove(['a', 'b']);
    seen.push(c.version);
    c.mergeFrom(c.emptyLike());
    seen.push(c.version);
    expect(new Set(seen).size).toBe(5);
    c.item('a');
    c.pair('a', 'b');
    c.snapshot();
    expect(c.version).toBe(seen[4]);
  });

  it('counter - buffered baskets give the counts of pairs counted as they come, and counting them later leaves the same tables', () => {
    // Capacities small enough that the eager table evicts, so "the same tables" covers eviction order too.
    const opts: ItemsetCounterOptions = { itemCapacity: 2_000, pairCapacity: 3_000, tripleCapacity: 4_000, maxBasketItems: 12 };
    const bs = baskets(31, 2_500, 600, 9);
    const eager = new ItemsetCounter({ ...opts, maxBufferedItems: 0 });
    const buffered = new ItemsetCounter({ ...opts, maxBufferedItems: 1_000_000 });
    for (const b of bs) {
      eager.add(b);
      buffered.add(b);
    }
    expect(eager.buffered).toBe(false);
    expect(buffered.buffered).toBe(true);
    expect(eager.errorBound().pairs).toBeGreaterThan(0);
    // Buffered, every count is the brute-force one (the eager table is only within its bound).
    const truth = bruteForce(bs);
    expect(buffered.errorBound()).toEqual({ items: 0, pairs: 0, triples: 0 });
    // (At a low enough count the candidates overflow pairCapacity and the tables answer: the next test.)
    for (const minCount of [60, 40, 30]) {
      const want = [...truth.pairs].filter(([, n]) => n >= minCount).map(([k, n]) => `${k}=${n}`).sort();
      const got: string[] = [];
      buffered.forEachPair(minCount, (a, b, n) => got.push(`${a < b ? a : b}|${a < b ? b : a}=${n}`));
      expect(got.sort()).toEqual(want);
      const wantTriples = [...truth.triples].filter(([, n]) => n >= minCount).map(([k, n]) => `${k}=${n}`).sort();
      const gotTriples: string[] = [];
      buffered.forEachTriple(minCount, (a, b, c, n) => gotTriples.push(`${[a, b, c].sort().join('|')}=${n}`));
      expect(gotTriples.sort()).toEqual(wantTriples);
    }
    expect(buffered.buffered).toBe(true);
    for (const [k, n] of [...truth.pairs].slice(0, 300)) expect(buffered.pair(...(k.split('|') as [string, string]))).toBe(n);
    for (const [k, n] of [...truth.triples].slice(0, 300)) expect(buffered.triple(...(k.split('|') as [string, string, string]))).toBe(n);
    // A removal counts the buffer into the tables first: from then on both counters are the same, slot for slot.
    buffered.remove(bs[0]!);
    eager.remove(bs[0]!);
    expect(buffered.buffered).toBe(false);
    expect(buffered.snapshot()).toEqual(eager.snapshot());
  });

  it('counter - a buffer reaching its bound is counted into the tables, exactly as eager counting would have left them', () => {
    const opts: ItemsetCounterOptions = { itemCapacity: 500, pairCapacity: 2_000, tripleCapacity: 0, maxBasketItems: 10 };
    const bs = baskets(32, 1_500, 300, 8);
    const eager = new ItemsetCounter({ ...opts, maxBufferedItems: 0 });
    const bounded = new ItemsetCounter({ ...opts, maxBufferedItems: 900 });
    let flushedAt = -1;
    bs.forEach((b, i) => {
      eager.add(b);
      bounded.add(b);
      if (flushedAt < 0 && !bounded.buffered) flushedAt = i;
    });
    expect(flushedAt).toBeGreaterThan(50);
    expect(bounded.snapshot()).toEqual(eager.snapshot());
  });

  it('counter - buffered counters merge by their baskets, within the bound and beyond it, and keep them through a v2 snapshot', () => {
    const opts: ItemsetCounterOptions = { itemCapacity: 5_000, pairCapacity: 50_000, tripleCapacity: 0, maxBasketItems: 12 };
    const bs = baskets(33, 3_000, 400, 8);
    const parts = [0, 1, 2].map(() => new ItemsetCounter(opts));
    bs.forEach((b, i) => parts[i % 3]!.add(b));
    const roomyMerge = new ItemsetCounter(opts);
    for (const p of parts) roomyMerge.mergeFrom(ItemsetCounter.fromSnapshot(JSON.parse(JSON.stringify(p.snapshot())), opts));
    expect(parts[0]!.snapshot().v).toBe(2);
    expect(roomyMerge.buffered).toBe(true);
    expectExact(roomyMerge, bs);
    // Past the merged counter's bound the baskets are counted into its tables instead.
    const tight = { ...opts, maxBufferedItems: parts[0]!.snapshot().buffered!.length + 10 };
    const tightMerge = new ItemsetCounter(tight);
    for (const p of parts) tightMerge.mergeFrom(p);
    expect(tightMerge.buffered).toBe(false);
    expectExact(tightMerge, bs);
    const restored = ItemsetCounter.fromSnapshot(JSON.parse(JSON.stringify(roomyMerge.snapshot())), opts);
    expect(restored.buffered).toBe(true);
    expect(restored.snapshot()).toEqual(roomyMerge.snapshot());
    // A counted (v1) snapshot restores as counted tables.
    const v1 = tightMerge.snapshot();
    expect(v1.v).toBe(1);
    expectExact(ItemsetCounter.fromSnapshot(JSON.parse(JSON.stringify(v1)), tight), bs);
  });

  it('counter - buffered candidates beyond the pair capacity fall back to the counted table and report its bound', () => {
    const opts: ItemsetCounterOptions = { itemCapacity: 1_000, pairCapacity: 200, tripleCapacity: 0, maxBasketItems: 10, maxBufferedItems: 100_000 };
    const bs = baskets(34, 1_000, 300, 8);
    const c = new ItemsetCounter(opts);
    for (const b of bs) c.add(b);
    expect(c.buffered).toBe(true);
    const truth = bruteForce(bs);
    expect(truth.pairs.size).toBeGreaterThan(opts.pairCapacity);
    let seen = 0;
    c.forEachPair(1, () => seen++);
    expect(c.buffered).toBe(false);
    expect(seen).toBeLessThanOrEqual(opts.pairCapacity);
    const bound = c.errorBound().pairs;
    expect(bound).toBeGreaterThan(0);
    for (const [k, n] of truth.pairs) {
      const est = c.pair(...(k.split('|') as [string, string]));
      if (est === 0) expect(n).toBeLessThanOrEqual(bound);
      else {
        expect(est).toBeGreaterThanOrEqual(n);
        expect(est).toBeLessThanOrEqual(n + bound);
      }
    }
  });

  it('counter - random adds, merges, clones, snapshot round trips and flushes: every read stays within [true, true + bound] of a brute-force count', () => {
    const r = mulberry32(35);
    for (let round = 0; round < 12; round++) {
      // Half the rounds small enough that the tables evict, half roomy (exact); buffers of varied bounds.
      const small = round % 2 === 0;
      const opts: ItemsetCounterOptions = { itemCapacity: small ? 150 : 5_000, pairCapacity: small ? 700 : 50_000, tripleCapacity: 0, maxBasketItems: 8, maxBufferedItems: [0, 300, 1_000_000][round % 3]! };
      let c = new ItemsetCounter(opts);
      const truth: string[][] = [];
      for (let step = 0; step < 40; step++) {
        const op = r();
        if (op < 0.5) {
          const bs = baskets(1000 * round + step, 1 + Math.floor(r() * 60), 250, 7);
          for (const b of bs) c.add(b);
          truth.push(...bs);
        } else if (op < 0.7) {
          const other = new ItemsetCounter({ ...opts, maxBufferedItems: r() < 0.5 ? 0 : opts.maxBufferedItems });
          const bs = baskets(5000 + 1000 * round + step, 1 + Math.floor(r() * 80), 250, 7);
          for (const b of bs) other.add(b);
          c.mergeFrom(other);
          truth.push(...bs);
        } else if (op < 0.8) c = c.clone();
        else if (op < 0.9) c = ItemsetCounter.fromSnapshot(JSON.parse(JSON.stringify(c.snapshot())), opts);
        else if (!small && truth.length > 0 && step >= 35) {
          // Removals of counted baskets (exact capacities: a retraction is exact there), late: a removal counts the buffer into the tables.
          const i = Math.floor(r() * truth.length);
          c.remove(truth[i]!);
          truth.splice(i, 1);
        }
      }
      const t = bruteForce(truth);
      expect(c.baskets).toBe(truth.length);
      const minCount = 1 + Math.floor(r() * 6);
      const reported = new Map<string, number>();
      c.forEachPair(minCount, (a, b, n) => reported.set(a < b ? `${a}|${b}` : `${b}|${a}`, n));
      const bound = c.errorBound();
      if (!small) expect(bound).toEqual({ items: 0, pairs: 0, triples: 0 });
      for (const [k, n] of reported) {
        const tn = t.pairs.get(k) ?? 0;
        expect(n, k).toBeGreaterThanOrEqual(tn);
        expect(n, k).toBeLessThanOrEqual(tn + bound.pairs);
      }
      // Nothing frequent above the bound is missed.
      for (const [k, n] of t.pairs) if (n >= minCount && n > bound.pairs) expect(reported.has(k), k).toBe(true);
      for (const [k, n] of t.pairs) {
        const est = c.pair(...(k.split('|') as [string, string]));
        if (est === 0) expect(n).toBeLessThanOrEqual(bound.pairs);
        else expect(est - n).toBeGreaterThanOrEqual(0), expect(est - n).toBeLessThanOrEqual(bound.pairs);
      }
    }
  });

  it('counter - refuses a corrupt v2 snapshot with CM_ERR_SNAPSHOT', () => {
    const c = new ItemsetCounter(roomy);
    c.add(['a', 'b', 'c']);
    const snap = c.snapshot();
    expect(snap.v).toBe(2);
    expect(() => ItemsetCounter.fromSnapshot({ ...snap, buffered: [3, 0, 1] }, roomy)).toThrow(/CM_ERR_SNAPSHOT/);
    expect(() => ItemsetCounter.fromSnapshot({ ...snap, buffered: [2, 0, 7] }, roomy)).toThrow(/CM_ERR_SNAPSHOT/);
    expect(() => ItemsetCounter.fromSnapshot({ ...snap, buffered: undefined }, roomy)).toThrow(/CM_ERR_SNAPSHOT/);
  });

  it('counter - refuses a missing limit and an item capacity beyond the packed-key limit', () => {
    expect(() => new ItemsetCounter({ itemCapacity: 0, pairCapacity: 10, tripleCapacity: 0, maxBasketItems: 5 })).toThrow(/CM_ERR_UNBOUNDED/);
    expect(() => new ItemsetCounter({ itemCapacity: 2 ** 18, pairCapacity: 10, tripleCapacity: 10, maxBasketItems: 5 })).toThrow(/CM_ERR_CONFIG/);
  });
});
