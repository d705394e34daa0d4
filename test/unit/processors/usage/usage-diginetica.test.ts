import { expect, it } from 'vitest';
import { UsageProcessor, UsageView } from '../../../../processors/usage/usage-processor';
import { loadConfig } from '../../../../src/config';
import { digineticaEvents, readDigineticaViews } from '../../../../src/replay/dataset-readers';
import { describeWithData } from '../../../helpers/data';
import { pageView } from '../../../helpers/enriched-events';
import { replayThroughPipeline } from '../../../helpers/pipeline-replay';

const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);
const DAY = 86_400_000;

/**
 * Diginetica item views with their own timing (timeframe within each session), each session under its
 * client session id. Oracle: shared/data/README.md — 12,391 views in 2,986 sessions.
 */
describeWithData('diginetica_sample_train-item-views.csv', 'usage on diginetica sessions', (path) => {
  it('sessions - client session ids give the README counts: 2,986 sessions, 12,391 page views', () => {
    const raw = digineticaEvents(readDigineticaViews(path), { startMs: T0 });
    const events = raw.map((e) => pageView(e.visitorId, e.ts, e.url, { sessionId: e.sessionId ?? '', id: e.id, product: { id: e.product?.id ?? '' } }));
    const config = loadConfig({}, { partitions: 4, time: { pane: 'PT1M', outOfOrderness: 'PT1S' } });
    const pipeline = replayThroughPipeline(config, (site) => [new UsageProcessor({ site, time: config.time })], events, 1_000);
    const usage = pipeline.processor('demo', 'usage') as UsageView;
    const day = usage.windows(DAY, 2);
    expect(day.reduce((n, w) => n + w.pageViews, 0)).toBe(12_391);
    expect(day.reduce((n, w) => n + w.sessionsStarted, 0)).toBe(2_986);
    expect(day.reduce((n, w) => n + w.sessions.ended, 0)).toBe(2_986);
    // Distinct visitors, brute force over the same stream (HLL precision 12: within 3σ).
    const visitors = new Set(raw.map((e) => e.visitorId)).size;
    expect(day.length).toBe(1);
    expect(Math.abs(day[0]!.visitors - visitors)).toBeLessThanOrEqual(3 * 0.0163 * visitors);
  });
});
