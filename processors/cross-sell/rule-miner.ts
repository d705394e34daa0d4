import type { ItemsetCounter } from './itemset-counter';
import type { BasketSource, Rule, RuleChange, RuleKind, RuleLevel } from './rule-set';

/** Rule thresholds (from site config; GET /v1/rules filters further). */
export interface RuleThresholds {
  /** Least support, a fraction of the window's baskets; the absolute floor is ceil(minSupport × N). */
  readonly minSupport: number;
  /** Least confidence, 0..1. */
  readonly minConfidence: number;
  /** Least lift (1 = independence). */
  readonly minLift: number;
}

/** A frequent itemset with its (estimated) count. Items are sorted. */
export interface FrequentItemset {
  readonly items: readonly string[];
  readonly count: number;
}

/** Prefixes of a sequential basket: `<x` = x bought in an earlier session, `>y` = y bought now. */
export const SEQ_BEFORE = '<';
export const SEQ_AFTER = '>';

/**
 * Absolute minimum support: ceil(minSupport × N), at least 1 (shared/data/README.md). The epsilon
 * keeps float noise (0.07 × 100 = 7.000000000000001) from adding a basket.
 */
export function minCountFor(minSupport: number, baskets: number): number {
  return Math.max(1, Math.ceil(minSupport * baskets - 1e-9));
}

/** The frequent items, pairs and triples (when counted) of a counter at `minCount`: for tests and the API. */
export function frequentItemsets(counter: ItemsetCounter, minCount: number): FrequentItemset[] {
  const out: FrequentItemset[] = [];
  counter.forEachItem((name, count) => {
    if (count >= minCount) out.push({ items: [name], count });
  });
  counter.forEachPair(minCount, (a, b, count) => out.push({ items: a < b ? [a, b] : [b, a], count }));
  counter.forEachTriple(minCount, (a, b, c, count) => out.push({ items: [a, b, c].sort(), count }));
  return out;
}

export interface MineOptions {
  readonly current: ItemsetCounter;
  /** The previous window (same length, just before), for each rule's change; undefined or empty: no change. */
  readonly previous: ItemsetCounter | undefined;
  readonly thresholds: RuleThresholds;
  readonly level: RuleLevel;
  readonly kind: RuleKind;
  readonly source: BasketSource;
}

/**
 * Association rules X ⇒ Y from the counts: single ⇒ single from frequent pairs, pair ⇒ single from
 * frequent triples (when counted). Sequential counters hold `<x` / `>y` items; their rules are
 * `<x ⇒ >y` only (x ≠ y), reported without the prefixes.
 *
 * support = c(XY)/N, confidence = c(XY)/c(X), lift = confidence / (c(Y)/N),
 * conviction = (1 − c(Y)/N) / (1 − confidence), null when confidence = 1.
 */
export function mineRules(o: MineOptions): Rule[] {
  const cur = o.current;
  const n = cur.baskets;
  const out: Rule[] = [];
  if (n === 0) return out;
  const minCount = minCountFor(o.thresholds.minSupport, n);
  const items = new Map<string, number>();
  cur.forEachItem((name, count) => {
    if (count >= minCount) items.set(name, count);
  });
  const prev = o.previous !== undefined && o.previous.baskets > 0 ? o.previous : undefined;
  const sequential = o.kind === 'sequential';
  const emit = (x: readonly string[], y: string, cXY: number, cX: number, prevXY: (p: ItemsetCounter) => number, prevX: (p: ItemsetCounter) => number): void => {
    const cY = items.get(y);
    if (cY === undefined || cX <= 0) return;
    const confidence = cXY / cX;
    const supportY = cY / n;
    const lift = confidence / supportY;
    if (confidence < o.thresholds.minConfidence || lift < o.thresholds.minLift) return;
    const support = cXY / n;
    let change: RuleChange | undefined;
    if (prev !== undefined) {
      const pn = prev.baskets;
      const pXY = prevXY(prev);
      const pX = prevX(prev);
      const pY = prev.item(y);
      const pConf = pX > 0 ? pXY / pX : 0;
      const pLift = pX > 0 && pY > 0 ? (pXY * pn) / (pX * pY) : 0;
      change = { support: support - pXY / pn, confidence: confidence - pConf, lift: lift - pLift };
    }
    const rule: Rule = {
      antecedent: sequential ? x.map(unprefix) : x,
      consequent: [sequential ? unprefix(y) : y],
      level: o.level,
      kind: o.kind,
      count: cXY,
      support,
      confidence,
      lift,
      conviction: confidence >= 1 ? null : (1 - supportY) / (1 - confidence),
      source: o.source,
    };
    out.push(change === undefined ? rule : { ...rule, change });
  };

  cur.forEachPair(minCount, (a, b, count) => {
    const ca = items.get(a);
    const cb = items.get(b);
    if (ca === undefined || cb === undefined) return;
    if (sequential) {
      // Only "before ⇒ after", never a repeat purchase of the same item.
      const [x, y] = a[0] === SEQ_BEFORE ? [a, b] : [b, a];
      if (x[0] !== SEQ_BEFORE || y[0] !== SEQ_AFTER || x.slice(1) === y.slice(1)) return;
      // The support of x: the sequences holding it at all, counted as `>x` (`<x` counts only those where it starts a pair).
      const ax = SEQ_AFTER + x.slice(1);
      const cx = items.get(ax) ?? cur.item(ax);
      emit([x], y, count, cx, (p) => p.pair(x, y), (p) => p.item(ax));
      return;
    }
    emit([a], b, count, ca, (p) => p.pair(a, b), (p) => p.item(a));
    emit([b], a, count, cb, (p) => p.pair(a, b), (p) => p.item(b));
  });

  if (!sequential && cur.triplesEnabled) {
    cur.forEachTriple(minCount, (a, b, c, count) => {
      const sorted = [a, b, c].sort() as [string, string, string];
      for (let i = 0; i < 3; i++) {
        const y = sorted[i]!;
        const x = sorted.filter((_, j) => j !== i) as [string, string];
        const cX = cur.pair(x[0], x[1]);
        if (cX < minCount) continue;
        emit(x, y, count, cX, (p) => p.triple(a, b, c), (p) => p.pair(x[0], x[1]));
      }
    });
  }
  return out;
}

function unprefix(s: string): string {
  return s.slice(1);
}
