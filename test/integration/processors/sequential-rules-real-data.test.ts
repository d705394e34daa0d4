import { expect, it } from 'vitest';
import { CrossSellProcessor, CrossSellRules } from '../../../processors/cross-sell/cross-sell-processor';
import { loadConfig } from '../../../src/config';
import { digineticaEvents, digineticaSessions, readDigineticaViews } from '../../../src/replay/dataset-readers';
import { describeWithData } from '../../helpers/data';
import { pageView } from '../../helpers/enriched-events';
import { replayThroughPipeline } from '../../helpers/pipeline-replay';

const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

/**
 * "Viewed A, then B later in the same visit" on Diginetica, against a brute force of the definition:
 * one sequence per session (the data's session id, views in `timeframe` order); it holds A ⇒ B when
 * some view of A is strictly earlier than some view of B (A ≠ B); support counts sessions, repeats in a
 * session once; confidence = sup(A ⇒ B) / sup(A). Replayed through the real sessionizer and cross-sell.
 */
describeWithData('diginetica_sample_train-item-views.csv', 'sequential view rules on diginetica', (path) => {
  it('view sequences - every rule\'s count, confidence and lift equal a brute force over the sessions, and no frequent sequence is missing', () => {
    const views = readDigineticaViews(path);
    const raw = digineticaEvents(views, { startMs: T0 });
    const events = raw.map((e) => pageView(e.visitorId, e.ts, e.url, { sessionId: e.sessionId ?? '', id: e.id, product: { id: e.product?.id ?? '' } }));
    const site = { id: 'dg', allowedOrigins: ['*'], processors: { 'cross-sell': { windows: ['P1D'], minSupport: 0.001, minConfidence: 0, minLift: 0, recomputeEvery: 'PT1M', maxRules: 1_000_000 } } };
    const config = loadConfig({}, { partitions: 4, sites: [site], time: { pane: 'PT1M', outOfOrderness: 'PT1S' } });
    for (const e of events) (e as { site: string }).site = 'dg';
    const pipeline = replayThroughPipeline(config, (s) => [CrossSellProcessor.forSite(s, { config })], events, 1_000);
    const cross = pipeline.processor('dg', 'cross-sell') as CrossSellRules;
    const rs = cross.current('P1D');

    // Brute force from the raw rows.
    const sessions = digineticaSessions(views);
    const sup = new Map<string, number>();
    const pair = new Map<string, number>();
    for (const s of sessions) {
      const first = new Map<string, number>();
      const last = new Map<string, number>();
      for (const v of s) {
        if (!first.has(v.itemId) || v.timeframe < first.get(v.itemId)!) first.set(v.itemId, v.timeframe);
        if (!last.has(v.itemId) || v.timeframe > last.get(v.itemId)!) last.set(v.itemId, v.timeframe);
      }
      for (const x of first.keys()) sup.set(x, (sup.get(x) ?? 0) + 1);
      for (const [x, fx] of first) for (const [y, ly] of last) if (x !== y && fx < ly) pair.set(`${x}>${y}`, (pair.get(`${x}>${y}`) ?? 0) + 1);
    }
    const n = sessions.length;
    expect(n).toBe(2_986);
    expect(rs.baskets.viewSequential).toBe(n);
    const minCount = Math.ceil(0.001 * n);
    const expected = [...pair].filter(([, c]) => c >= minCount);
    expect(expected.length).toBeGreaterThan(10);
    const mined = rs.filter({ source: 'session', kind: 'sequential', level: 'product' });
    expect(mined.map((r) => `${r.antecedent[0]}>${r.consequent[0]}`).sort()).toEqual(expected.map(([k]) => k).sort());
    for (const r of mined) {
      const x = r.antecedent[0]!;
      const y = r.consequent[0]!;
      const c = pair.get(`${x}>${y}`)!;
      expect(r.count).toBe(c);
      expect(r.confidence).toBeCloseTo(c / sup.get(x)!, 12);
      expect(r.lift).toBeCloseTo(c / sup.get(x)! / (sup.get(y)! / n), 9);
    }
  }, 120_000);
});
