import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { RulePublisher } from '../../../../processors/cross-sell/cross-sell-processor';
import { SoloCrossSell } from '../../../helpers/solo-cross-sell';
import { parseCrossSellSettings, type CrossSellSettings } from '../../../../processors/cross-sell/cross-sell-settings';
import type { Rule, RuleSet } from '../../../../processors/cross-sell/rule-set';
import type { EnrichedEvent, SessionSummary } from '../../../../src/events/enriched-event';
import { mulberry32 } from '../../../../src/replay/mulberry32';
import type { LineItem } from '../../../../src/events/event-types';
import { epochMillis, type EpochMillis, type SessionId, type SiteId, type VisitorId } from '../../../../src/types';

const H = 3_600_000;
const T0 = Date.UTC(2026, 0, 5); // a day boundary: panes and windows align with it

function settings(over: Record<string, unknown> = {}): CrossSellSettings {
  const r = parseCrossSellSettings('demo', { windows: ['PT1H', 'P1D'], pane: 'PT5M', recomputeEvery: 'PT1M', minSupport: 0.01, minConfidence: 0, minLift: 0, ...over });
  if (r.kind !== 'ok') throw new Error(r.problems.join('; '));
  return r.settings;
}

function processor(over: Record<string, unknown> = {}, extra: { publisher?: RulePublisher; registry?: Registry; evictions?: Map<string, number> } = {}): SoloCrossSell {
  return new SoloCrossSell({
    site: 'demo' as SiteId,
    settings: settings(over),
    allowedLatenessMs: 5 * 60_000,
    onEvict: (_p, structure, n) => extra.evictions?.set(structure, (extra.evictions.get(structure) ?? 0) + n),
    ...(extra.publisher ? { publisher: extra.publisher } : {}),
    ...(extra.registry ? { registry: extra.registry } : {}),
  });
}

let seq = 0;
function purchase(ts: number, items: Array<string | [string, string]>, visitor = `v${seq}`, session = `s${seq}`, bot = false): EnrichedEvent {
  seq++;
  const lineItems: LineItem[] = items.map((x) => (typeof x === 'string' ? { productId: x, quantity: 1 } : { productId: x[0], category: x[1], quantity: 1 }));
  return {
    site: 'demo' as SiteId,
    id: `e${seq}`,
    type: 'form',
    visitorId: visitor as VisitorId,
    ts: epochMillis(ts),
    receivedAt: epochMillis(ts), seq: 0,
    partition: 0,
    page: '/checkout',
    bot,
    event: { id: `e${seq}`, type: 'form', visitorId: visitor, ts, url: 'https://shop.example/checkout', formId: 'checkout', action: 'submit', items: lineItems },
    session: { id: session as SessionId, start: epochMillis(ts), isNew: false, prevPage: undefined, nextPage: undefined, nextPageTs: Number.NaN as EpochMillis, pageIndex: 0, returningVisitor: false },
  };
}

function summary(id: string, end: number, parts: { viewed?: string[]; carted?: string[]; bought?: string[]; categories?: Record<string, string> }): SessionSummary {
  return {
    site: 'demo' as SiteId, id: id as SessionId, visitorId: `vis-${id}` as VisitorId, start: epochMillis(end - 60_000), end: epochMillis(end),
    events: 3, pageViews: 3, pages: [], viewed: parts.viewed ?? [], viewedFirst: (parts.viewed ?? []).map(() => end - 60_000), viewedLast: (parts.viewed ?? []).map(() => end - 60_000), carted: parts.carted ?? [], bought: parts.bought ?? [], forms: [], landing: undefined, device: 'unknown',
    categories: parts.categories ?? {}, revenue: 0, returningVisitor: false,
  };
}

const key = (r: Rule): string => `${r.level}:${r.kind}:${r.source}:${r.antecedent.join(',')}=>${r.consequent.join(',')}`;
const find = (rs: RuleSet, k: string): Rule | undefined => rs.rules.find((r) => key(r) === k);

function feed(p: SoloCrossSell, events: EnrichedEvent[]): void {
  for (const e of events) expect(p.onEvent(e, e.ts).kind).toBe('ok');
}

describe('SoloCrossSell', () => {
  it('history - the lift of a rule at each of the last panes equals a brute force over the window at that time', () => {
    const p = processor();
    const PANE = 5 * 60_000;
    const rnd = mulberry32(5);
    const all: Array<{ ts: number; items: string[] }> = [];
    for (let k = 0; k < 16; k++) {
      for (let i = 0; i < 12; i++) {
        const items = ['a', 'b', 'c', 'd'].filter((x) => rnd() < (x === 'a' ? 0.5 : x === 'b' ? (k < 8 ? 0.6 : 0.2) : 0.3));
        if (items.length === 0) continue;
        const ts = T0 + k * PANE + i * 1_000;
        all.push({ ts, items });
        feed(p, [purchase(ts, items)]);
      }
      p.refresh(T0 + (k + 1) * PANE - 1);
    }
    const points = p.rules.history({ antecedent: ['a'], consequent: ['b'], level: 'product', kind: 'association' });
    expect(points.length).toBe(16);
    for (const pt of points) {
      const inWindow = all.filter((b) => b.ts >= pt.end - H && b.ts < pt.end);
      const n = inWindow.length;
      const nA = inWindow.filter((b) => b.items.includes('a')).length;
      const nB = inWindow.filter((b) => b.items.includes('b')).length;
      const nAB = inWindow.filter((b) => b.items.includes('a') && b.items.includes('b')).length;
      expect(pt.rule?.count).toBe(nAB);
      expect(pt.rule?.lift).toBeCloseTo(nAB / nA / (nB / n), 9);
    }
    // b became rarer after pane 8: the lift moved, and the oldest baskets left the hour.
    expect(new Set(points.map((x) => x.rule?.lift.toFixed(6))).size).toBeGreaterThan(3);
  });

  it('cross-sell - purchase baskets give product and category rules with brute-force counts', () => {
    const p = processor();
    const t = T0 + 10 * 60_000;
    feed(p, [
      purchase(t, [['a', 'games'], ['b', 'books'], ['a', 'games']]),
      purchase(t + 1, [['a', 'games'], ['c', 'books']]),
      purchase(t + 2, [['b', 'books']]),
      purchase(t + 3, [['a', 'games'], ['b', 'books']]),
    ]);
    p.refresh(t + 4);
    const rs = p.current();
    expect(rs.baskets.purchase).toBe(4);
    // Baskets as sets: {a,b} {a,c} {b} {a,b} → c(a)=3, c(b)=3, c(ab)=2, N=4.
    const ab = find(rs, 'product:association:purchase:a=>b')!;
    expect(ab.count).toBe(2);
    expect(ab.support).toBeCloseTo(0.5, 12);
    expect(ab.confidence).toBeCloseTo(2 / 3, 12);
    expect(ab.lift).toBeCloseTo((2 / 3) / (3 / 4), 12);
    // Categories: {games,books} {games,books} {books} {games,books} → c(games)=3, c(books)=4, c(both)=3.
    const gb = find(rs, 'category:association:purchase:games=>books')!;
    expect([gb.count, gb.confidence, gb.lift, gb.conviction]).toEqual([3, 1, 1, null]);
    expect(rs.window.end - rs.window.start).toBe(H);
    expect(p.current('P1D').window.end - p.current('P1D').window.start).toBe(24 * H);
  });

  it('cross-sell - bot purchases are not counted', () => {
    const p = processor();
    feed(p, [purchase(T0, ['a', 'b'], 'bot', 'bs', true)]);
    p.refresh(T0 + 1);
    expect(p.current().baskets.purchase).toBe(0);
  });

  it('cross-sell - baskets leave the sliding window once it has moved past their pane', () => {
    const p = processor();
    feed(p, [purchase(T0 + 60_000, ['a', 'b']), purchase(T0 + 61_000, ['a', 'b'])]);
    p.refresh(T0 + 30 * 60_000);
    expect(p.current().baskets.purchase).toBe(2);
    expect(p.current().rules.length).toBeGreaterThan(0);
    p.refresh(T0 + H + 5 * 60_000); // the hour window is now [T0+10min, T0+1h10min)
    expect(p.current().baskets.purchase).toBe(0);
    expect(p.current().rules).toHaveLength(0);
    expect(p.current('P1D').baskets.purchase).toBe(2);
  });

  it('cross-sell - each rule carries its change against the previous window of the same length', () => {
    const p = processor();
    // Previous hour [T0, T0+1h): {a,b} {a} {c} {c} → support(ab)=1/4, conf(a⇒b)=1/2, lift=(1·4)/(2·1)=2.
    feed(p, [purchase(T0 + 1_000, ['a', 'b']), purchase(T0 + 2_000, ['a']), purchase(T0 + 3_000, ['c']), purchase(T0 + 4_000, ['c'])]);
    // This hour [T0+1h, T0+2h): {a,b} {a,b} {b} → support 2/3, conf 1, lift 1/(3/3)=1.
    const t1 = T0 + H + 1_000;
    feed(p, [purchase(t1, ['a', 'b']), purchase(t1 + 1, ['a', 'b']), purchase(t1 + 2, ['b'])]);
    p.refresh(T0 + 2 * H - 1);
    const ab = find(p.current(), 'product:association:purchase:a=>b')!;
    expect(ab.change!.support).toBeCloseTo(2 / 3 - 1 / 4, 12);
    expect(ab.change!.confidence).toBeCloseTo(1 - 1 / 2, 12);
    expect(ab.change!.lift).toBeCloseTo(1 - 2, 12);
  });

  it('cross-sell - a closed session counts the products whose weighted score reaches the threshold; a re-opened one is retracted', () => {
    const p = processor({ sessionWeights: { viewed: 1, carted: 2, bought: 3, threshold: 2 } });
    const end = T0 + 20 * 60_000;
    const s1 = summary('s1', end, { viewed: ['x', 'y', 'z'], carted: ['y'], bought: ['z'], categories: { x: 'c1', y: 'c2', z: 'c3' } });
    const s2 = summary('s2', end, { viewed: ['x', 'y'], carted: ['x', 'y'], categories: { x: 'c1', y: 'c2' } });
    p.onSession({ kind: 'closed', session: s1 }, epochMillis(end + 30 * 60_000));
    p.onSession({ kind: 'closed', session: s2 }, epochMillis(end + 30 * 60_000));
    p.refresh(end + 1);
    let rs = p.current();
    // s1 basket {y, z} (x only viewed: score 1 < 2); s2 basket {x, y}.
    expect(rs.baskets.session).toBe(2);
    expect(find(rs, 'product:association:session:y=>z')!.count).toBe(1);
    expect(find(rs, 'product:association:session:x=>y')!.count).toBe(1);
    expect(find(rs, 'product:association:session:x=>z')).toBeUndefined();
    expect(find(rs, 'category:association:session:c2=>c3')!.count).toBe(1);
    p.onSession({ kind: 'reopened', session: s1 }, epochMillis(end + 31 * 60_000));
    p.refresh(end + 2);
    rs = p.current();
    expect(rs.baskets.session).toBe(1);
    expect(find(rs, 'product:association:session:y=>z')).toBeUndefined();
    expect(find(rs, 'product:association:session:x=>y')!.confidence).toBe(1);
  });

  it('cross-sell - a closed session absorbed by a merge is retracted; tracked sessions are bounded and evictions counted', () => {
    const evictions = new Map<string, number>();
    const p = processor({ maxTrackedSessions: 2 }, { evictions });
    const end = T0 + 20 * 60_000;
    const a = summary('a', end, { viewed: ['x', 'y'] });
    const b = summary('b', end, { viewed: ['x', 'z'] });
    p.onSession({ kind: 'closed', session: a }, epochMillis(end));
    p.onSession({ kind: 'closed', session: b }, epochMillis(end));
    p.onSession({ kind: 'merged', absorbed: a, into: b }, epochMillis(end));
    p.refresh(end + 1);
    expect(p.current().baskets.session).toBe(1);
    expect(find(p.current(), 'product:association:session:x=>y')).toBeUndefined();
    for (const id of ['c', 'd', 'e']) p.onSession({ kind: 'closed', session: summary(id, end, { viewed: ['q'] }) }, epochMillis(end));
    expect(evictions.get('sessions')).toBe(2);
  });

  it('cross-sell - sequential rules: bought A in an earlier session, later bought B, within the horizon', () => {
    const p = processor({ sequentialHorizon: 'PT2H', minSupport: 0 });
    const t = T0 + 60_000;
    feed(p, [
      purchase(t, [['a', 'games']], 'v1', 's1'),
      purchase(t + 10 * 60_000, [['b', 'books']], 'v1', 's2'), // a ⇒ b
      purchase(t, [['a', 'games']], 'v2', 's3'),
      purchase(t + 1_000, [['b', 'books']], 'v2', 's3'), // same session: not sequential
      purchase(t, [['a', 'games']], 'v3', 's4'),
      purchase(t + 20 * 60_000, [['c', 'books']], 'v3', 's5'), // a ⇒ c
    ]);
    p.refresh(t + 21 * 60_000);
    let rs = p.current();
    // One sequence per visitor: v1 <a,b>, v2 <{a,b}> (one session: no order), v3 <a,c>. N = 3;
    // sup(a) = 3, sup(b) = 2 (v1, v2), sup(c) = 1; a ⇒ b held by v1 only.
    expect(rs.baskets.sequential).toBe(3);
    const ab = find(rs, 'product:sequential:purchase:a=>b')!;
    expect(ab.count).toBe(1);
    expect(ab.confidence).toBeCloseTo(1 / 3, 12);
    expect(ab.lift).toBeCloseTo(1 / 3 / (2 / 3), 12);
    const ac = find(rs, 'product:sequential:purchase:a=>c')!;
    expect([ac.count, ac.confidence, ac.lift]).toEqual([1, 1 / 3, 1]);
    // Categories: games then books for v1 and v3; sup(games) = 3, sup(books) = 3.
    const gb = find(rs, 'category:sequential:purchase:games=>books')!;
    expect(gb.count).toBe(2);
    expect(gb.confidence).toBeCloseTo(2 / 3, 12);
    expect(rs.filter({ kind: 'sequential', level: 'product' }).map(key).sort()).toEqual(['product:sequential:purchase:a=>b', 'product:sequential:purchase:a=>c']);
    // Beyond the 2 h horizon an earlier purchase is no antecedent.
    feed(p, [purchase(t + 3 * H, [['d', 'toys']], 'v1', 's6')]);
    p.refresh(t + 3 * H + 1);
    rs = p.current('P1D');
    expect(rs.rules.filter((r) => r.kind === 'sequential' && r.consequent[0] === 'd')).toHaveLength(0);
  });

  it('cross-sell - sequential rules: one shopper buying a then b over and over counts once', () => {
    const p = processor({ sequentialHorizon: 'P7D', minSupport: 0 });
    const t = T0 + 60_000;
    const events: EnrichedEvent[] = [];
    for (let i = 0; i < 10; i++) events.push(purchase(t + i * 60_000, [i % 2 === 0 ? 'a' : 'b'], 'loyal', `s${i}`));
    events.push(purchase(t, ['a'], 'once', 'o1'), purchase(t + 5 * 60_000, ['c'], 'once', 'o2'));
    feed(p, events);
    p.refresh(t + 15 * 60_000);
    const rs = p.current();
    // Sequences: loyal <a,b,a,b,…> (holds a⇒b and b⇒a), once <a,c>. N = 2, sup(a) = 2, sup(b) = 1.
    expect(rs.baskets.sequential).toBe(2);
    expect(find(rs, 'product:sequential:purchase:a=>b')!.count).toBe(1);
    expect(find(rs, 'product:sequential:purchase:b=>a')!.count).toBe(1);
    expect(find(rs, 'product:sequential:purchase:a=>c')!.confidence).toBeCloseTo(1 / 2, 12);
  });

  it('cross-sell - sequential rules do not depend on the order purchases arrive in', () => {
    const mk = (order: number[]) => {
      const p = processor({ sequentialHorizon: 'P7D', minSupport: 0 });
      const t = T0 + 60_000;
      const all = [purchase(t, ['a'], 'v', 's1'), purchase(t + 60_000, ['b'], 'v', 's2'), purchase(t + 120_000, ['c'], 'v', 's3'), purchase(t + 30_000, ['b'], 'w', 's4'), purchase(t + 90_000, ['a'], 'w', 's5')];
      for (const i of order) expect(p.onEvent(all[i]!, epochMillis(0)).kind).toBe('ok');
      p.refresh(t + 10 * 60_000);
      return p.current().rules.map((r) => `${key(r)}#${r.count}/${r.confidence}`).sort();
    };
    const inOrder = mk([0, 1, 2, 3, 4]);
    expect(mk([4, 2, 0, 3, 1])).toEqual(inOrder);
    expect(mk([2, 1, 0, 4, 3])).toEqual(inOrder);
    // By hand: v <a,b,c>, w <b,a>: a⇒b (v), a⇒c (v), b⇒c (v), b⇒a (w).
    expect(inOrder.filter((k) => k.startsWith('product:sequential')).map((k) => k.split('#')[0])).toEqual([
      'product:sequential:purchase:a=>b',
      'product:sequential:purchase:a=>c',
      'product:sequential:purchase:b=>a',
      'product:sequential:purchase:b=>c',
    ]);
  });

  it('cross-sell - view sequences: viewed A, then B later in the same visit, one count per session', () => {
    const p = processor({ minSupport: 0 });
    const t = T0 + 30 * 60_000;
    const view = (id: string, end: number, items: Array<[string, number, number]>): SessionSummary => ({
      ...summary(id, end, {}),
      viewed: items.map((x) => x[0]),
      viewedFirst: items.map((x) => x[1]),
      viewedLast: items.map((x) => x[2]),
    });
    // s1: a (t), b (t+1m), a again (t+2m): a⇒b and b⇒a (a's second view follows b). s2: b then c. s3: c only.
    p.onSession({ kind: 'closed', session: view('s1', t + 120_000, [['a', t, t + 120_000], ['b', t + 60_000, t + 60_000]]) }, epochMillis(t));
    p.onSession({ kind: 'closed', session: view('s2', t + 60_000, [['b', t, t], ['c', t + 60_000, t + 60_000]]) }, epochMillis(t));
    p.onSession({ kind: 'closed', session: view('s3', t, [['c', t, t]]) }, epochMillis(t));
    p.refresh(t + 5 * 60_000);
    const rs = p.current();
    expect(rs.baskets.viewSequential).toBe(3);
    const r = (k: string) => rs.filter({ source: 'session', kind: 'sequential' }).find((x) => key(x) === k);
    expect(r('product:sequential:session:a=>b')?.count).toBe(1);
    expect(r('product:sequential:session:b=>a')?.count).toBe(1);
    const bc = r('product:sequential:session:b=>c')!;
    // sup(b) = 2 (s1, s2), sup(c) = 2 (s2, s3): confidence 1/2, lift (1/2)/(2/3).
    expect([bc.count, bc.confidence]).toEqual([1, 0.5]);
    expect(bc.lift).toBeCloseTo(0.5 / (2 / 3), 12);
    expect(r('product:sequential:session:c=>b')).toBeUndefined();
    // Re-opening s2 retracts its sequence.
    p.onSession({ kind: 'reopened', session: view('s2', t + 60_000, [['b', t, t], ['c', t + 60_000, t + 60_000]]) }, epochMillis(t));
    p.refresh(t + 6 * 60_000);
    expect(p.current().baskets.viewSequential).toBe(2);
  });

  it('cross-sell - a rule mined from purchases and from sessions is listed once, with both sources named', () => {
    const p = processor({ minSupport: 0 });
    const t = T0 + 30 * 60_000;
    feed(p, [purchase(t, ['a', 'b']), purchase(t + 1, ['a', 'b']), purchase(t + 2, ['a'])]);
    p.onSession({ kind: 'closed', session: summary('x1', t + 60_000, { bought: ['a', 'b'] }) }, epochMillis(t));
    p.refresh(t + 5 * 60_000);
    const rs = p.current();
    const ab = rs.rules.filter((r) => r.kind === 'association' && r.level === 'product' && r.antecedent.join() === 'a' && r.consequent.join() === 'b');
    expect(ab).toHaveLength(1);
    expect(ab[0]!.sources).toEqual(['purchase', 'session']);
    expect(ab[0]!.count).toBe(2); // the purchase baskets' statistics
    expect(ab[0]!.bySource?.session?.count).toBe(1);
    const keys = rs.rules.map((r) => `${r.level}|${r.kind}|${r.antecedent.join(',')}|${r.consequent.join(',')}`);
    expect(new Set(keys).size).toBe(keys.length);
    // `source=session` lists the session baskets' own rules.
    expect(rs.filter({ source: 'session' }).find((r) => r.kind === 'association' && r.antecedent.join() === 'a' && r.consequent.join() === 'b')?.count).toBe(1);
  });

  it('cross-sell - a purchase later than the allowed lateness is late, within it a revision', () => {
    const p = processor();
    const wm = epochMillis(T0 + H);
    // Allowed lateness 5 min, measured from the pane end.
    expect(p.onEvent(purchase(T0 + H - 3 * 60_000, ['a', 'b']), wm).kind).toBe('revision'); // pane ended at H, 0 min ago
    expect(p.onEvent(purchase(T0 + H - 6 * 60_000, ['a', 'b']), wm).kind).toBe('late'); // pane ended at H−5min, 5 min ago
    p.refresh(wm);
    expect(p.current().baskets.purchase).toBe(1);
  });

  it('cross-sell - versions bump only on change; listeners and the cm.rules publisher get each new version', () => {
    const published: Array<{ subject: string; body: { version: number; rules: unknown[] } }> = [];
    const p = processor({}, { publisher: { publish: (subject, data) => published.push({ subject, body: JSON.parse(new TextDecoder().decode(data)) }) } });
    const seen: number[] = [];
    p.onRuleSetChange((rs) => seen.push(rs.version));
    feed(p, [purchase(T0 + 1_000, ['a', 'b'])]);
    p.onWatermark(epochMillis(T0 + 2_000));
    const v1 = p.current().version;
    expect(v1).toBe(1);
    p.onWatermark(epochMillis(T0 + 30_000)); // throttled: less than recomputeEvery (1 min) later
    p.refresh(T0 + 70_000); // same pane, same baskets: no change
    expect(p.current().version).toBe(v1);
    feed(p, [purchase(T0 + 80_000, ['a', 'b'])]);
    p.onWatermark(epochMillis(T0 + 90_000)); // throttled (last recompute at 70 s)
    expect(p.current().version).toBe(v1);
    p.onWatermark(epochMillis(T0 + 140_000));
    expect(p.current().version).toBe(v1 + 1);
    expect(seen).toEqual([1, 2]);
    expect(published.map((x) => x.subject)).toEqual(['cm.rules.demo', 'cm.rules.demo']);
    expect(published[1]!.body.version).toBe(2);
    expect(published[1]!.body.rules.length).toBe(p.current().rules.length);
  });

  it('cross-sell - snapshot/restore and merging two partitions equal a single run', () => {
    const events: EnrichedEvent[] = [];
    const pick = ['a', 'b', 'c', 'd', 'e'];
    for (let i = 0; i < 200; i++) {
      const items = pick.filter((_, j) => (i * 7 + j * 3) % (j + 2) === 0).map((x) => [x, x < 'c' ? 'low' : 'high'] as [string, string]);
      if (items.length > 0) events.push(purchase(T0 + i * 30_000, items, `v${i % 13}`, `s${Math.floor(i / 4)}`));
    }
    const wm = T0 + 200 * 30_000;
    const single = processor();
    const left = processor();
    const right = processor();
    events.forEach((e, i) => {
      single.onEvent(e, e.ts);
      (e.visitorId.length % 2 === 0 ? left : right).onEvent(e, e.ts);
      void i;
    });
    single.refresh(wm);
    left.merge(JSON.parse(JSON.stringify(right.snapshot())));
    left.refresh(wm);
    const restored = processor();
    restored.restore(JSON.parse(JSON.stringify(single.snapshot())));
    restored.refresh(wm);
    for (const w of ['PT1H', 'P1D']) {
      const want = single.current(w);
      expect(want.rules.length).toBeGreaterThan(0);
      for (const got of [left.current(w), restored.current(w)]) {
        expect(got.baskets).toEqual(want.baskets);
        expect(got.rules.map((r) => [key(r), r.count, r.confidence, r.lift])).toEqual(want.rules.map((r) => [key(r), r.count, r.confidence, r.lift]));
      }
    }
  });

  it('cross-sell - metrics report the rule-set size and the error bound on the injected registry', async () => {
    const registry = new Registry();
    const p = processor({}, { registry });
    processor({}, { registry }); // a second site's processor shares the metrics
    feed(p, [purchase(T0 + 1_000, ['a', 'b'])]);
    p.refresh(T0 + 2_000);
    const text = await registry.metrics();
    expect(text).toContain(`clickstream_cross_sell_rules{site="demo",window="PT1H"} ${p.current().rules.length}`);
    expect(text).toContain('clickstream_cross_sell_error_bound_ratio{site="demo",window="PT1H"} 0');
    expect(text).toContain('clickstream_cross_sell_baskets_total{site="demo",source="purchase"} 1');
  });

  it('cross-sell - bounded counting evicts, counts evictions and reports a non-zero error bound', () => {
    const evictions = new Map<string, number>();
    const p = processor({ itemCapacity: 20, pairCapacity: 30, maxBasketItems: 4, minSupport: 0 }, { evictions });
    for (let i = 0; i < 300; i++) p.onEvent(purchase(T0 + i, [`p${i % 97}`, `p${(i * 7) % 89}`, 'hot']), epochMillis(T0 + i));
    p.refresh(T0 + 400);
    expect(evictions.get('items') ?? 0).toBeGreaterThan(0);
    expect(p.current().errorBound).toBeGreaterThan(0);
    // 'hot' is in every basket: held and counted at least its true count.
    expect(p.current().rules.some((r) => r.antecedent[0] === 'hot')).toBe(true);
  });
});

describe('cross-sell settings', () => {
  it('settings - every bad key is reported at once', () => {
    const r = parseCrossSellSettings('shop', { windows: ['PT7M'], pane: 'PT5M', minSupport: 2, bogus: 1, sessionWeights: { threshold: 'x' }, basketBuffer: -1 });
    expect(r.kind).toBe('invalid');
    const problems = r.kind === 'invalid' ? r.problems.join('\n') : '';
    expect(problems).toMatch(/basketBuffer: expected an integer/);
    expect(problems).toMatch(/windows\[0\]/);
    expect(problems).toMatch(/minSupport/);
    expect(problems).toMatch(/bogus: unknown setting/);
    expect(problems).toMatch(/sessionWeights\.threshold/);
  });

  it('settings - defaults: last hour and last day, 5-minute panes', () => {
    const r = parseCrossSellSettings('demo', undefined);
    expect(r.kind === 'ok' && r.settings.windowsMs).toEqual([H, 24 * H]);
    // The basket buffer follows pairCapacity unless set; 0 is allowed (count pairs as they come).
    expect(r.kind === 'ok' && r.settings.basketBuffer).toBeUndefined();
    const zero = parseCrossSellSettings('demo', { basketBuffer: 0 });
    expect(zero.kind === 'ok' && zero.settings.basketBuffer).toBe(0);
  });
});

