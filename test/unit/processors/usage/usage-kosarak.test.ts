import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { UsageProcessor, UsageView } from '../../../../processors/usage/usage-processor';
import { loadConfig } from '../../../../src/config';
import type { EnrichedEvent } from '../../../../src/events/enriched-event';
import { describeWithData } from '../../../helpers/data';
import { pageView } from '../../../helpers/enriched-events';
import { replayThroughPipeline } from '../../../helpers/pipeline-replay';

const MIN = 60_000;
const GAP = 30 * MIN;
const MAX = 12 * 60 * MIN;
const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);
const VISITORS = 2_000;

/**
 * kosarak25k.txt: one line = one session of page views in click order. Line i is replayed for visitor
 * `k(i mod 2000)` starting at T0 + i seconds, one page per second; a visitor's next line comes
 * 2000 s later, so long lines (over 200 pages) run within 30 minutes of the next one and merge with
 * it — the sessionizer is checked against a brute-force gap sessionization of the same stream.
 */
describeWithData('kosarak25k.txt', 'usage on kosarak25k sessions', (path) => {
  it('sessions - session counts, page views and pages per session match a brute-force sessionization', () => {
    const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBe(25_000);
    const events: EnrichedEvent[] = [];
    lines.forEach((line, i) => {
      const pages = line.trim().split(/\s+/);
      pages.forEach((p, j) => events.push(pageView(`k${i % VISITORS}`, T0 + i * 1_000 + j * 1_000, `/page/${p}`, { id: `${i}.${j}` })));
    });
    events.sort((a, b) => a.ts - b.ts);

    // Brute force: per visitor in time order, a new session when the gap reaches 30 min or the span would exceed 12 h.
    const sessions: Array<{ start: number; pages: number }> = [];
    const open = new Map<string, { start: number; end: number; pages: number }>();
    for (const e of events) {
      const s = open.get(e.visitorId);
      if (s === undefined || e.ts - s.end >= GAP || e.ts - s.start > MAX) {
        const n = { start: e.ts, end: e.ts, pages: 1 };
        open.set(e.visitorId, n);
        sessions.push(n);
      } else {
        s.end = e.ts;
        s.pages++;
      }
    }
    expect(sessions.length).toBeLessThan(25_000); // some lines merged: the test exercises the gap

    const config = loadConfig({}, { partitions: 4, time: { pane: 'PT1M', outOfOrderness: 0, sessionGap: 'PT30M', sessionMax: 'PT12H', maxVisitors: 10_000 } });
    const pipeline = replayThroughPipeline(config, (site) => [new UsageProcessor({ site, time: config.time })], events, 5_000);
    const usage = pipeline.processor('demo', 'usage') as UsageView;

    const hour = 60 * MIN;
    const windows = usage.windows(hour, 100);
    const byHour = new Map<number, number>();
    for (const s of sessions) byHour.set(s.start - (s.start % hour), (byHour.get(s.start - (s.start % hour)) ?? 0) + 1);
    expect(new Map(windows.map((w) => [w.start as number, w.sessionsStarted]))).toEqual(byHour);
    expect(windows.reduce((n, w) => n + w.sessions.ended, 0)).toBe(sessions.length);
    expect(windows.reduce((n, w) => n + w.pageViews, 0)).toBe(events.length);

    const day = usage.windows(24 * hour, 1)[0]!;
    const sorted = sessions.map((s) => s.pages).sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.99]) {
      const r = q * (sorted.length - 1);
      const got = day.sessions.pagesPerSession?.[q === 0.5 ? 'p50' : q === 0.9 ? 'p90' : 'p99'];
      expect(got).toBeGreaterThanOrEqual(sorted[Math.floor(r)]! * 0.99);
      expect(got).toBeLessThanOrEqual(sorted[Math.ceil(r)]! * 1.01);
    }
    expect(day.sessions.bounceRate).toBeCloseTo(sorted.filter((n) => n <= 1).length / sorted.length, 12);
  });
});
