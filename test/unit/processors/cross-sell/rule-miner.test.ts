import { describe, expect, it } from 'vitest';
import { ItemsetCounter } from '../../../../processors/cross-sell/itemset-counter';
import { frequentItemsets, minCountFor, mineRules } from '../../../../processors/cross-sell/rule-miner';
import { RuleSet, type Rule } from '../../../../processors/cross-sell/rule-set';
import { epochMillis } from '../../../../src/types';

const opts = { itemCapacity: 100, pairCapacity: 1_000, tripleCapacity: 1_000, maxBasketItems: 10 };
// The textbook example (also node-fpgrowth's README); counts worked out by hand below.
const BASKETS = [['1', '3', '4'], ['2', '3', '5'], ['1', '2', '3', '5'], ['2', '5'], ['1', '2', '3', '5']];

function counter(bs: string[][]): ItemsetCounter {
  const c = new ItemsetCounter(opts);
  for (const b of bs) c.add(b);
  return c;
}

const key = (r: Rule): string => `${r.antecedent.join(',')}=>${r.consequent.join(',')}`;

describe('rule miner', () => {
  it('rules - the absolute minimum support is ceil(minSupport × N)', () => {
    expect(minCountFor(0.01, 88_162)).toBe(882);
    expect(minCountFor(0.005, 25_000)).toBe(125);
    expect(minCountFor(0.07, 100)).toBe(7);
    expect(minCountFor(0.5, 0)).toBe(1);
  });

  it('rules - frequent itemsets of the textbook baskets at 50 % support', () => {
    const sets = frequentItemsets(counter(BASKETS), minCountFor(0.5, 5)).map((s) => `${s.items.join(',')}:${s.count}`).sort();
    // minCount 3: items 1:3 2:4 3:4 5:4; pairs {1,3}:3 {2,3}:3 {2,5}:4 {3,5}:3; triple {2,3,5}:3.
    expect(sets).toEqual(['1,3:3', '1:3', '2,3,5:3', '2,3:3', '2,5:4', '2:4', '3,5:3', '3:4', '5:4'].sort());
  });

  it('rules - support, confidence, lift and conviction of single and pair antecedents, worked by hand', () => {
    const rules = mineRules({ current: counter(BASKETS), previous: undefined, thresholds: { minSupport: 0.5, minConfidence: 0, minLift: 0 }, level: 'product', kind: 'association', source: 'purchase' });
    const byKey = new Map(rules.map((r) => [key(r), r]));
    expect(rules).toHaveLength(8 + 3);
    const r13 = byKey.get('1=>3')!;
    expect([r13.count, r13.support, r13.confidence, r13.lift, r13.conviction]).toEqual([3, 0.6, 1, 1.25, null]);
    const r31 = byKey.get('3=>1')!;
    expect(r31.confidence).toBeCloseTo(0.75, 12);
    expect(r31.lift).toBeCloseTo(1.25, 12);
    expect(r31.conviction).toBeCloseTo(1.6, 12); // (1 − 3/5) / (1 − 0.75)
    const r23 = byKey.get('2=>3')!;
    expect(r23.lift).toBeCloseTo(0.9375, 12);
    expect(r23.conviction).toBeCloseTo(0.8, 12);
    const r235 = byKey.get('2,3=>5')!;
    expect([r235.count, r235.confidence, r235.lift]).toEqual([3, 1, 1.25]);
    expect(byKey.get('2,5=>3')!.confidence).toBeCloseTo(0.75, 12);
    expect(r13.change).toBeUndefined();
  });

  it('rules - minimum confidence and lift drop the rules below them', () => {
    const rules = mineRules({ current: counter(BASKETS), previous: undefined, thresholds: { minSupport: 0.5, minConfidence: 0.8, minLift: 1.01 }, level: 'product', kind: 'association', source: 'purchase' });
    expect(rules.map(key).sort()).toEqual(['1=>3', '2,3=>5', '2=>5', '3,5=>2', '5=>2']);
  });

  it('rules - the change against the previous window is this window minus that one for the same itemsets', () => {
    const prev = counter([['1', '3'], ['1'], ['1', '2'], ['3']]); // N=4: c1=3, c3=2, c13=1
    const rules = mineRules({ current: counter(BASKETS), previous: prev, thresholds: { minSupport: 0.5, minConfidence: 0, minLift: 0 }, level: 'product', kind: 'association', source: 'purchase' });
    const r13 = rules.find((r) => key(r) === '1=>3')!;
    // previous: support 1/4, confidence 1/3, lift (1·4)/(3·2) = 2/3.
    expect(r13.change!.support).toBeCloseTo(0.6 - 0.25, 12);
    expect(r13.change!.confidence).toBeCloseTo(1 - 1 / 3, 12);
    expect(r13.change!.lift).toBeCloseTo(1.25 - 2 / 3, 12);
    const r25 = rules.find((r) => key(r) === '2=>5')!;
    // 5 never seen before: previous confidence and lift 0.
    expect(r25.change).toEqual({ support: 0.8, confidence: 1, lift: 1.25 });
  });

  it('rules - a sequential counter yields only before ⇒ after rules between different items, without prefixes', () => {
    // Five sequences as counted: `>x` for every item held, `<x` where x starts a pair:
    // <a then b>, <a then b, c>, <c then a>, <b>, <a, a again> (a repeat makes no pair).
    const c = counter([['<a', '>a', '>b'], ['<a', '>a', '>b', '>c'], ['<c', '>c', '>a'], ['>b'], ['>a']]);
    const rules = mineRules({ current: c, previous: undefined, thresholds: { minSupport: 0.2, minConfidence: 0, minLift: 0 }, level: 'product', kind: 'sequential', source: 'purchase' });
    // sup(a) = 4 (>a), sup(b) = 3, N = 5: a ⇒ b in 2 sequences → conf 2/4, lift (2/4)/(3/5); a ⇒ c and c ⇒ a count 1.
    const ab = rules.find((r) => key(r) === 'a=>b')!;
    expect(ab.kind).toBe('sequential');
    expect(ab.count).toBe(2);
    expect(ab.confidence).toBeCloseTo(2 / 4, 12);
    expect(ab.lift).toBeCloseTo(2 / 4 / (3 / 5), 12);
    expect(rules.map(key).sort()).toEqual(['a=>b', 'a=>c', 'c=>a']);
  });
});

describe('RuleSet', () => {
  const rules = mineRules({ current: counter(BASKETS), previous: undefined, thresholds: { minSupport: 0.5, minConfidence: 0, minLift: 0 }, level: 'product', kind: 'association', source: 'purchase' });
  const rs = new RuleSet({ site: 'demo', version: 3, windowName: 'PT1H', window: { start: epochMillis(0), end: epochMillis(3_600_000) }, baskets: { purchase: 5, session: 0, sequential: 0, viewSequential: 0 }, errorBound: 0, rules });

  it('rule set - is frozen, sorted by count, and indexes rules by each antecedent item', () => {
    expect(Object.isFrozen(rs)).toBe(true);
    expect(Object.isFrozen(rs.rules)).toBe(true);
    expect(Object.isFrozen(rs.rules[0])).toBe(true);
    expect(() => (rs.rules as Rule[]).push(rs.rules[0]!)).toThrow();
    const counts = rs.rules.map((r) => r.count);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    expect(rs.byAntecedent('1').map(key).sort()).toEqual(['1=>3']);
    expect(rs.byAntecedent('3').map(key).sort()).toEqual(['2,3=>5', '3,5=>2', '3=>1', '3=>2', '3=>5']);
    expect(rs.byAntecedent('nope')).toEqual([]);
  });

  it('rule set - filter applies every threshold and the limit', () => {
    expect(rs.filter({ minLift: 1.1 }).every((r) => r.lift >= 1.1)).toBe(true);
    expect(rs.filter({ minLift: 1.1 })).toHaveLength(6);
    expect(rs.filter({ minConfidence: 1, minSupport: 0.7 }).map(key).sort()).toEqual(['2=>5', '5=>2']);
    expect(rs.filter({ limit: 2 })).toHaveLength(2);
    expect(rs.filter({ kind: 'sequential' })).toHaveLength(0);
    expect(rs.toJSON().window).toEqual({ start: '1970-01-01T00:00:00.000Z', end: '1970-01-01T01:00:00.000Z' });
  });
});
