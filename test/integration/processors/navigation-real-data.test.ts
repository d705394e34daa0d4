/**
 * Real data through the real pipeline (sessionizer, watermarks, panes): kosarak25k as sessions of page
 * views and Diginetica's item views with their own timing. Expected values come from a brute-force
 * count over the files written here, independently of the processors.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ContentProcessor, ContentView } from '../../../processors/content/content-processor';
import { NavigationProcessor, NavigationView, type NavigationWindow } from '../../../processors/navigation/navigation-processor';
import { ManualClock } from '../../../src/clock';
import { loadConfig, type Config, type SiteConfig } from '../../../src/config';
import type { EnrichedEvent } from '../../../src/events/enriched-event';
import { EventEnricher } from '../../../src/events/event-enricher';
import type { CollectEvent } from '../../../src/events/event-types';
import { createLogger } from '../../../src/logger';
import { createCoreMetrics } from '../../../src/metrics/core-metrics';
import { Pipeline } from '../../../src/pipeline/pipeline';
import { DEFAULT_MAX_SESSION_PAGES } from '../../../src/config';
import { digineticaEvents, kosarakEvents, readDigineticaViews, readKosarakSessions } from '../../../src/replay/dataset-readers';
import { describeWithData } from '../../helpers/data';
import { defaultViews } from '../../../processors/site-processors';

const DAY = 86_400_000;
/** The replay starts an hour into a UTC day, so a one-day window holds all of it. */
const START = Date.UTC(2026, 0, 5, 1, 0, 0);

type Counts = Map<string, number>;
const inc = (m: Counts, k: string, n = 1) => m.set(k, (m.get(k) ?? 0) + n);

/** The brute-force oracle: walks each session's pages in order. */
function bruteForce(sessions: ReadonlyArray<readonly string[]>) {
  const transitions: Counts = new Map();
  const entries: Counts = new Map();
  const exits: Counts = new Map();
  const pages: Counts = new Map();
  let bounces = 0;
  let sessionCount = 0;
  for (const s of sessions) {
    if (s.length === 0) continue;
    sessionCount++;
    inc(entries, s[0]!);
    inc(exits, s[s.length - 1]!);
    if (s.length === 1) bounces++;
    for (let i = 0; i < s.length; i++) {
      inc(pages, s[i]!);
      if (i > 0) inc(transitions, `${s[i - 1]!} ${s[i]!}`);
    }
  }
  return { transitions, entries, exits, pages, bounces, sessionCount };
}

/** Runs events through the enricher and the Pipeline on a manual clock that follows event time. */
function runPipeline(events: readonly CollectEvent[], navSettings: Record<string, number> = {}) {
  const config: Config = loadConfig(
    {},
    {
      sites: [{ id: 'data', allowedOrigins: ['*'], urlRules: { groups: [], keepParams: [] }, processors: { navigation: { maxTransitions: 100_000, maxPages: 20_000, maxPaths: 200_000, ...navSettings }, content: { maxPages: 20_000, maxProducts: 20_000 } } }],
      time: { pane: 'PT1M', retentionPanes: 2_000 },
    },
  );
  const site = config.sites.get('data') as SiteConfig;
  const registry = new Registry();
  const metrics = createCoreMetrics(registry, { defaultMetrics: false });
  const clock = new ManualClock(START);
  const evictions = new Map<string, number>();
  const onEvict = (p: string, s: string, n: number) => evictions.set(`${p}/${s}`, (evictions.get(`${p}/${s}`) ?? 0) + n);
  const pipeline = new Pipeline({
    config,
    clock,
    metrics,
    logger: createLogger('silent'),
    viewsFor: defaultViews,
    processorsFor: (s) => [
      new NavigationProcessor({ site: s, time: config.time, context: { site: s.id, onEvict } }),
      new ContentProcessor({ site: s, time: config.time, context: { site: s.id, onEvict } }),
    ],
  });
  const enricher = new EventEnricher(config);
  const late: string[] = [];
  pipeline.onLate((e) => late.push(`${e.reason}:${e.id}`));
  const BATCH = 500;
  for (let i = 0; i < events.length; i += BATCH) {
    const slice = events.slice(i, i + BATCH);
    const last = slice[slice.length - 1]!.ts;
    clock.set(last);
    const ctx = enricher.batchContext(clock.now(), last, undefined);
    const enriched: EnrichedEvent[] = [];
    for (const ev of slice) {
      const r = enricher.enrich(ev, site, ctx);
      if (r.kind !== 'enriched') throw new Error(`${ev.id} refused: ${r.message}`);
      enriched.push(r.event);
    }
    pipeline.processNow(enriched);
  }
  // Let every session close (gap) and the day window fire: a tick record dated past the day's end.
  clock.set(Math.floor(START / DAY) * DAY + DAY + config.time.outOfOrdernessMs + config.time.idleTimeoutMs + 60_000);
  pipeline.tick();
  const nav = pipeline.processor('data', 'navigation') as NavigationView;
  const content = pipeline.processor('data', 'content') as ContentView;
  const wins = nav.windows(DAY, 5, { watermark: pipeline.watermark() });
  expect(wins).toHaveLength(1);
  return { nav: wins[0]!, content: content.windows(DAY, 1, { watermark: pipeline.watermark() })[0]!, late, evictions };
}

function asMaps(w: NavigationWindow, prefix: string) {
  const strip = (p: string) => p.slice(prefix.length);
  return {
    transitions: new Map(w.transitions.map((t) => [`${strip(t.from)} ${strip(t.to)}`, t.count])),
    entries: new Map(w.entryPages.map((t) => [strip(t.page), t.count])),
    exits: new Map(w.exitPages.map((t) => [strip(t.page), t.count])),
    pages: new Map(w.topPages.map((t) => [strip(t.page), t.count])),
  };
}

describeWithData('kosarak25k.txt', 'navigation on kosarak25k (real pipeline vs brute force)', (path) => {
  const all = readKosarakSessions(path);
  // Every session, including the 49 longer than the sessionizer's page list (DEFAULT_MAX_SESSION_PAGES,
  // likely crawlers): the list keeps the most recent pages, so in-order transitions and exits stay exact.
  const sessions = all;
  expect(Math.max(...all.map((s) => s.length))).toBeGreaterThan(DEFAULT_MAX_SESSION_PAGES);
  const oracle = bruteForce(sessions);
  const events = kosarakEvents(sessions, { startMs: START });

  it('navigation (kosarak) - transitions, entry and exit pages, bounces, sessions and top pages equal the brute-force count', () => {
    const { nav, content, late } = runPipeline(events);
    expect(late).toEqual([]);
    expect(nav.closed).toBe(true);
    // Transitions, entries, exits and pages are exact; the paths of the sessions longer than the
    // kept page list are not, and the window says so.
    expect(nav.truncatedSessions).toBe(all.filter((s) => s.length > DEFAULT_MAX_SESSION_PAGES).length);
    expect(nav.exact).toBe(false);
    expect([nav.capacity.transitions.exact, nav.capacity.entryPages.exact, nav.capacity.exitPages.exact, nav.capacity.topPages.exact]).toEqual([true, true, true, true]);
    expect(nav.transitions.every((t) => t.exact)).toBe(true);
    const got = asMaps(nav, '/page/');
    expect(all.length).toBe(25_000);
    expect(oracle.sessionCount).toBe(25_000);
    expect(nav.sessions).toBe(oracle.sessionCount);
    expect(nav.sessionsEnded).toBe(oracle.sessionCount);
    expect(nav.bounces).toBe(oracle.bounces);
    expect(nav.bounceRate).toBeCloseTo(oracle.bounces / oracle.sessionCount, 12);
    expect(nav.pageViews).toBe(201_062);
    expect(nav.pageViews).toBe([...oracle.pages.values()].reduce((a, b) => a + b, 0));
    expect(got.transitions).toEqual(oracle.transitions);
    expect(got.entries).toEqual(oracle.entries);
    expect(got.exits).toEqual(oracle.exits);
    expect(got.pages).toEqual(oracle.pages);
    // P(next | page) sums to 1 over each page's outgoing transitions.
    const out = new Map<string, number>();
    for (const t of nav.transitions) out.set(t.from, (out.get(t.from) ?? 0) + t.probability);
    for (const sum of out.values()) expect(sum).toBeCloseTo(1, 9);
    // Content sees the same page views.
    expect(new Map(content.topPages.map((t) => [t.page.slice('/page/'.length), t.count]))).toEqual(oracle.pages);
  });

  it('navigation (kosarak) - over capacity the heavy transitions keep their counts within the Space-Saving bound, evictions counted', () => {
    const { nav, evictions } = runPipeline(events, { maxTransitions: 2_000 });
    expect(nav.exact).toBe(false);
    // The list says it was cut, and by how much; each probability says it is approximate.
    expect(nav.capacity.transitions.exact).toBe(false);
    expect(nav.capacity.transitions.evictedKeys).toBeGreaterThan(0);
    expect(nav.capacity.transitions.maxError).toBeGreaterThan(0);
    expect(nav.transitions.every((t) => !t.exact)).toBe(true);
    expect(evictions.get('navigation/transitions') ?? 0).toBeGreaterThan(0);
    const truth = oracle.transitions;
    const strip = (p: string) => p.slice('/page/'.length);
    // The 20 heaviest true transitions are all present, and every reported count brackets the truth.
    const heavy = [...truth].sort((a, b) => b[1] - a[1]).slice(0, 20);
    const reported = new Map(nav.transitions.map((t) => [`${strip(t.from)} ${strip(t.to)}`, t]));
    for (const [k] of heavy) expect(reported.has(k)).toBe(true);
    for (const [k, t] of reported) {
      const c = truth.get(k) ?? 0;
      expect(c).toBeLessThanOrEqual(t.count);
      expect(c).toBeGreaterThanOrEqual(t.count - t.error);
    }
  });
});

describeWithData('diginetica_sample_train-item-views.csv', 'navigation on Diginetica item views with their own timing', (path) => {
  it('navigation (diginetica) - product-page transitions, entries, exits, bounces and sessions equal the brute-force count', () => {
    const views = readDigineticaViews(path);
    // Oracle: group rows by session id, order each by timeframe (ms since the session's first event).
    const bySession = new Map<string, Array<{ t: number; item: string }>>();
    for (const v of views) {
      let l = bySession.get(v.sessionId);
      if (l === undefined) bySession.set(v.sessionId, (l = []));
      l.push({ t: v.timeframe, item: v.itemId });
    }
    const sessions = [...bySession.values()].map((l) => l.sort((a, b) => a.t - b.t).map((x) => x.item));
    const oracle = bruteForce(sessions);
    expect(oracle.sessionCount).toBe(2_986);
    const { nav, content, late } = runPipeline(digineticaEvents(views, { startMs: START }));
    expect(late).toEqual([]);
    const got = asMaps(nav, '/product/');
    expect(nav.sessions).toBe(oracle.sessionCount);
    expect(nav.sessionsEnded).toBe(oracle.sessionCount);
    expect(nav.bounces).toBe(oracle.bounces);
    expect(got.transitions).toEqual(oracle.transitions);
    expect(got.entries).toEqual(oracle.entries);
    expect(got.exits).toEqual(oracle.exits);
    expect(got.pages).toEqual(oracle.pages);
    expect(nav.pageViews).toBe(12_391);
    expect(new Map(content.topProducts.map((t) => [t.id, t.count]))).toEqual(oracle.pages);
  });
});
