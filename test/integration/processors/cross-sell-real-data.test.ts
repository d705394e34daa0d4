import { readFileSync } from 'node:fs';
import { FPGrowth, type Itemset } from 'node-fpgrowth';
import { beforeAll, expect, it } from 'vitest';
import { SoloCrossSell } from '../../helpers/solo-cross-sell';
import { parseCrossSellSettings } from '../../../processors/cross-sell/cross-sell-settings';
import type { Rule } from '../../../processors/cross-sell/rule-set';
import type { EnrichedEvent } from '../../../src/events/enriched-event';
import { epochMillis, type EpochMillis, type SessionId, type SiteId, type VisitorId } from '../../../src/types';
import { describeWithData } from '../../helpers/data';

/**
 * Streams a FIMI file through the processor as purchase baskets, with one window spanning the whole
 * file, and compares with a batch FP-Growth (node-fpgrowth, an independent implementation) on the
 * same baskets as sets, plus the facts in shared/data/README.md.
 */
const T0 = Date.UTC(2026, 0, 5);

function readBaskets(path: string): string[][] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => l.trim().split(/\s+/));
}

/** Capacities above the file (exact either way); `over` replaces settings (e.g. the defaults' capacities, or `basketBuffer: 0`). */
const ROOMY = { itemCapacity: 100_000, pairCapacity: 5_000_000, maxBasketItems: 1_000 };

function stream(baskets: readonly string[][], minSupport: number, tripleCapacity = 0, over: Record<string, unknown> = ROOMY): SoloCrossSell {
  const parsed = parseCrossSellSettings('retail', {
    windows: ['P1D'], pane: 'P1D', minSupport, minConfidence: 0, minLift: 0,
    tripleCapacity, maxRules: 100_000,
    sessionBaskets: false, sequential: false, categoryLevel: false, ...over,
  });
  if (parsed.kind !== 'ok') throw new Error(parsed.problems.join('; '));
  const p = new SoloCrossSell({ site: 'retail' as SiteId, settings: parsed.settings, allowedLatenessMs: 0 });
  baskets.forEach((items, i) => {
    const ts = epochMillis(T0 + i);
    const e: EnrichedEvent = {
      site: 'retail' as SiteId, id: `b${i}`, type: 'form', visitorId: `v${i}` as VisitorId, ts, receivedAt: ts, seq: 0, partition: 0, page: '/checkout', bot: false,
      event: { id: `b${i}`, type: 'form', visitorId: `v${i}`, ts, url: '/checkout', formId: 'checkout', action: 'submit', items: items.map((productId) => ({ productId, quantity: 1 })) },
      session: { id: `s${i}` as SessionId, start: ts, isNew: true, prevPage: undefined, nextPage: undefined, nextPageTs: Number.NaN as EpochMillis, pageIndex: 0, returningVisitor: false },
    };
    const outcome = p.onEvent(e, ts);
    if (outcome.kind !== 'ok') throw new Error(`basket ${i}: ${outcome.kind}`);
  });
  p.refresh(T0 + baskets.length);
  return p;
}

/** Each file is streamed once per run and shared by the tests that read it. */
const streamed = new Map<string, SoloCrossSell>();
function streamOnce(path: string, baskets: readonly string[][], minSupport: number): SoloCrossSell {
  const key = `${path}@${minSupport}`;
  let p = streamed.get(key);
  if (p === undefined) streamed.set(key, (p = stream(baskets, minSupport)));
  return p;
}

async function oracle(baskets: readonly string[][], minSupport: number): Promise<Itemset<string>[]> {
  // Baskets as sets: kosarak line 10,102 repeats an item.
  return new FPGrowth<string>(minSupport).exec(baskets.map((b) => [...new Set(b)]));
}

const setKey = (items: readonly string[]): string => [...items].sort().join(' ');

/** Rules X ⇒ Y of every size from the oracle's itemsets (all splits of each frequent itemset). */
function oracleRules(itemsets: readonly Itemset<string>[], n: number, minConfidence: number) {
  const support = new Map(itemsets.map((s) => [setKey(s.items), s.support]));
  const out: Array<{ x: string[]; y: string[]; count: number; confidence: number; lift: number }> = [];
  for (const s of itemsets) {
    const items = [...s.items].sort();
    const k = items.length;
    if (k < 2) continue;
    for (let mask = 1; mask < (1 << k) - 1; mask++) {
      const x = items.filter((_, i) => mask & (1 << i));
      const y = items.filter((_, i) => !(mask & (1 << i)));
      const confidence = s.support / support.get(setKey(x))!;
      if (confidence < minConfidence) continue;
      out.push({ x, y, count: s.support, confidence, lift: (confidence * n) / support.get(setKey(y))! });
    }
  }
  return out;
}

function compareWithOracle(title: string, file: string, minSupport: number, facts: { itemsets: number; rules50: number }) {
  describeWithData(file, title, (path) => {
    let baskets: string[][];
    let truth: Itemset<string>[];
    let p: SoloCrossSell;
    beforeAll(async () => {
      baskets = readBaskets(path);
      truth = await oracle(baskets, minSupport);
      p = streamOnce(path, baskets, minSupport);
    });

    it(`${file} - the oracle matches the data README: ${facts.itemsets} frequent itemsets, ${facts.rules50} rules at confidence ≥ 0.5`, () => {
      expect(truth).toHaveLength(facts.itemsets);
      expect(oracleRules(truth, baskets.length, 0.5)).toHaveLength(facts.rules50);
    });

    it(`${file} - streamed at ${minSupport * 100} % support: exactly the oracle's frequent items and pairs, with the same counts`, () => {
      const got = p.frequentItemsets({ minSupport });
      expect(got.baskets).toBe(baskets.length);
      expect(got.minCount).toBe(Math.ceil(minSupport * baskets.length));
      expect(got.errorBound).toEqual({ items: 0, pairs: 0, triples: 0 });
      const mine = new Map(got.itemsets.map((s) => [setKey(s.items), s.count]));
      const theirs = new Map(truth.filter((s) => s.items.length <= 2).map((s) => [setKey(s.items), s.support]));
      expect(mine.size).toBe(theirs.size);
      expect([...mine.entries()].sort()).toEqual([...theirs.entries()].sort());
    });

    it(`${file} - single ⇒ single rules equal those computed from the oracle's supports (count, confidence and lift to 1e-9)`, () => {
      const want = oracleRules(truth, baskets.length, 0).filter((r) => r.x.length === 1 && r.y.length === 1);
      const rs = p.current();
      const rules = rs.filter({ kind: 'association', level: 'product' });
      expect(rs.errorBound).toBe(0);
      expect(rules).toHaveLength(want.length);
      const byKey = new Map<string, Rule>(rules.map((r) => [`${r.antecedent[0]}>${r.consequent[0]}`, r]));
      for (const w of want) {
        const r = byKey.get(`${w.x[0]}>${w.y[0]}`);
        expect(r, `${w.x[0]} ⇒ ${w.y[0]}`).toBeDefined();
        expect(r!.count).toBe(w.count);
        expect(r!.support).toBeCloseTo(w.count / baskets.length, 9);
        expect(Math.abs(r!.confidence - w.confidence)).toBeLessThanOrEqual(1e-9);
        expect(Math.abs(r!.lift - w.lift)).toBeLessThanOrEqual(1e-9);
      }
    });
  });
}

compareWithOracle('cross-sell vs FP-Growth on retail.dat', 'retail.dat', 0.01, { itemsets: 159, rules50: 124 });
compareWithOracle('cross-sell vs FP-Growth on kosarak25k.txt', 'kosarak25k.txt', 0.005, { itemsets: 1668, rules50: 4249 });

describeWithData('retail.dat', 'cross-sell on retail.dat: the README rule', (path) => {
  it('retail.dat - the first rule by item order at confidence ≥ 0.5 is 32 ⇒ 39: support 8455, confidence 0.55746, lift 0.96984', () => {
    const p = streamOnce(path, readBaskets(path), 0.01);
    const rules = p.current().filter({ minConfidence: 0.5 }).slice().sort((a, b) => Number(a.antecedent[0]) - Number(b.antecedent[0]) || Number(a.consequent[0]) - Number(b.consequent[0]));
    const first = rules[0]!;
    expect([first.antecedent, first.consequent]).toEqual([['32'], ['39']]);
    expect(first.count).toBe(8455);
    expect(first.confidence).toBeCloseTo(0.55746, 5);
    expect(first.lift).toBeCloseTo(0.96984, 5);
    expect(first.lift).toBeLessThan(1);
  });
});

describeWithData('retail.dat', 'cross-sell on retail.dat: buffered baskets and counted tables', (path) => {
  let baskets: string[][];
  let truth: Map<string, number>;
  beforeAll(async () => {
    baskets = readBaskets(path);
    truth = new Map((await oracle(baskets, 0.01)).filter((x) => x.items.length <= 2).map((x) => [setKey(x.items), x.support]));
  });
  const frequent = (p: SoloCrossSell) => {
    const got = p.frequentItemsets({ minSupport: 0.01 });
    return { errorBound: got.errorBound, itemsets: new Map(got.itemsets.map((x) => [setKey(x.items), x.count])) };
  };

  it('retail.dat - with the default capacities (200 k pairs, 20 k items) the whole file stays in the basket buffer: every frequent pair exact', () => {
    // The counted table would be approximate here (3.59 M distinct pairs in one pane): error bound > 0.
    const got = frequent(stream(baskets, 0.01, 0, {}));
    expect(got.errorBound).toEqual({ items: 0, pairs: 0, triples: 0 });
    expect([...got.itemsets].sort()).toEqual([...truth].sort());
  });

  it('retail.dat - pairs counted as they come (basketBuffer 0) give the same exact counts', () => {
    const got = frequent(stream(baskets, 0.01, 0, { ...ROOMY, basketBuffer: 0 }));
    expect(got.errorBound).toEqual({ items: 0, pairs: 0, triples: 0 });
    expect([...got.itemsets].sort()).toEqual([...truth].sort());
  });

  it('retail.dat - the default capacities without the buffer are approximate, within their reported bound', () => {
    const got = frequent(stream(baskets, 0.01, 0, { basketBuffer: 0 }));
    expect(got.errorBound.pairs).toBeGreaterThan(0);
    for (const [k, n] of truth) {
      const est = got.itemsets.get(k);
      expect(est, k).toBeDefined();
      expect(est!).toBeGreaterThanOrEqual(n);
      expect(est!).toBeLessThanOrEqual(n + got.errorBound.pairs);
    }
  });
});

describeWithData('mushroom.dat', 'cross-sell with triples vs FP-Growth on mushroom.dat', (path) => {
  // Dense data (23 items per basket, 119 items): all 1.77 k triples per basket are counted, exactly.
  const minSupport = 0.4;
  let baskets: string[][];
  let truth: Itemset<string>[];
  let p: SoloCrossSell;
  beforeAll(async () => {
    baskets = readBaskets(path);
    truth = await oracle(baskets, minSupport);
    p = stream(baskets, minSupport, 300_000);
  });

  it('mushroom.dat - at 40 % support: exactly the oracle\'s frequent items, pairs and triples', () => {
    const got = p.frequentItemsets({ minSupport });
    expect(got.errorBound).toEqual({ items: 0, pairs: 0, triples: 0 });
    const mine = [...got.itemsets.map((s) => [setKey(s.items), s.count] as const)].sort();
    const theirs = truth.filter((s) => s.items.length <= 3).map((s) => [setKey(s.items), s.support] as const).sort();
    expect(theirs.length).toBeGreaterThan(100);
    expect(mine).toEqual(theirs);
  });

  it('mushroom.dat - single ⇒ single and pair ⇒ single rules equal those from the oracle\'s supports', () => {
    const want = oracleRules(truth, baskets.length, 0).filter((r) => r.y.length === 1 && r.x.length <= 2);
    const rules = p.current().filter({ kind: 'association', level: 'product' });
    expect(rules).toHaveLength(want.length);
    const byKey = new Map<string, Rule>(rules.map((r) => [`${setKey(r.antecedent)}>${r.consequent[0]}`, r]));
    for (const w of want) {
      const r = byKey.get(`${setKey(w.x)}>${w.y[0]}`);
      expect(r, `${w.x.join(',')} ⇒ ${w.y[0]}`).toBeDefined();
      expect(r!.count).toBe(w.count);
      expect(Math.abs(r!.confidence - w.confidence)).toBeLessThanOrEqual(1e-9);
      expect(Math.abs(r!.lift - w.lift)).toBeLessThanOrEqual(1e-9);
    }
  });
});
