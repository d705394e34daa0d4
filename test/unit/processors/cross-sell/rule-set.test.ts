import { describe, expect, it } from 'vitest';
import { compareRules, topRules, type Rule } from '../../../../processors/cross-sell/rule-set';
import { mulberry32 } from '../../../../src/replay/mulberry32';

/** Rules drawn from a few values each, so they tie on count, confidence and lift, and often on everything (per-source twins). */
function randomRules(seed: number, n: number): Rule[] {
  const r = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  return Array.from({ length: n }, (_, i) => ({
    antecedent: [pick(['a', 'b', 'c', 'd'])],
    consequent: [pick(['x', 'y', 'z'])],
    level: pick(['product', 'category'] as const),
    kind: pick(['association', 'sequential'] as const),
    count: 1 + Math.floor(r() * 4),
    support: 0.1,
    confidence: pick([0.2, 0.5, 1]),
    lift: pick([1, 2]),
    conviction: null,
    source: pick(['purchase', 'session'] as const),
    // Which of equal rules is which: a stable sort keeps them in input order.
    id: i,
  }) as Rule & { id: number });
}

describe('topRules', () => {
  it('keeps exactly the first k a stable sort by compareRules and a truncation keep, in that order, for any k and ties everywhere', () => {
    for (const [seed, n] of [[1, 0], [2, 1], [3, 7], [4, 100], [5, 1_000], [6, 5_000]] as const) {
      const rules = randomRules(seed, n);
      for (const k of [1, 2, 3, Math.floor(n / 3), n - 1, n, n + 5].filter((x) => x >= 1)) {
        const expected = [...rules].sort(compareRules).slice(0, k).map((x) => (x as Rule & { id: number }).id);
        const got = topRules([...rules], k).map((x) => (x as Rule & { id: number }).id);
        expect(got, `n=${n} k=${k}`).toEqual(expected);
      }
    }
  });
});
