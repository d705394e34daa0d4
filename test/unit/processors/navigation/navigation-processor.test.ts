import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DEMO_SITE, type SiteConfig } from '../../../../src/config';
import type { EnrichedEvent, SessionContext, SessionSignal, SessionSummary } from '../../../../src/events/enriched-event';
import { createCoreMetrics } from '../../../../src/metrics/core-metrics';
import { Sessionizer } from '../../../../src/pipeline/sessionizer';
import type { EpochMillis, SessionId, SiteId, VisitorId } from '../../../../src/types';
import { NavigationProcessor, type NavigationWindow } from '../../../../processors/navigation/navigation-processor';
import { DEFAULT_NAVIGATION_SETTINGS, parseNavigationSettings } from '../../../../processors/navigation/navigation-settings';
import { click, pageView } from '../../../helpers/enriched-events';

const MIN = 60_000;
const T0 = 1_700_000_040_000 - (1_700_000_040_000 % (60 * MIN)); // an hour boundary
const TIME = { paneMs: MIN, retentionPanes: 600, allowedLatenessMs: 5 * MIN, outOfOrdernessMs: 5_000 };
const wm = (n: number) => n as EpochMillis;

function make(opts: { settings?: typeof DEFAULT_NAVIGATION_SETTINGS; evictions?: Map<string, number>; site?: SiteConfig } = {}) {
  const evictions = opts.evictions ?? new Map<string, number>();
  return new NavigationProcessor({
    site: opts.site ?? DEMO_SITE,
    time: TIME,
    context: { site: 'demo' as SiteId, onEvict: (p, s, n) => evictions.set(`${p}/${s}`, (evictions.get(`${p}/${s}`) ?? 0) + n) },
    ...(opts.settings === undefined ? {} : { settings: opts.settings }),
  });
}

function ctx(prevPage: string | undefined, nextPage?: string, nextPageTs = Number.NaN, pageIndex = prevPage === undefined ? 0 : 1): SessionContext {
  return { id: 's' as SessionId, start: wm(0), isNew: pageIndex === 0, prevPage, nextPage, nextPageTs: wm(nextPageTs), pageIndex, returningVisitor: false };
}

/** A page view as the sessionizer hands it over: `next` (with its time `nextTs`) set when it arrived out of order. */
function pv(ts: number, page: string, prev: string | undefined, next?: string, extra: { ads?: string[] } = {}, nextTs = Number.NaN): EnrichedEvent {
  const e = pageView('v1', ts, page, extra);
  e.session = ctx(prev, next, nextTs);
  return e;
}

function summary(pages: string[], start: number, end: number, over: Partial<SessionSummary> = {}): SessionSummary {
  return {
    site: 'demo' as SiteId,
    id: 's' as SessionId,
    visitorId: 'v1' as VisitorId,
    start: wm(start),
    end: wm(end),
    events: pages.length,
    pageViews: pages.length,
    pages,
    viewed: [],
    viewedFirst: [],
    viewedLast: [],
    carted: [],
    bought: [],
    forms: [],
    landing: undefined,
    device: 'unknown',
    categories: {},
    revenue: 0,
    returningVisitor: false,
    ...over,
  };
}

/** One window spanning everything retained (an hour from T0). */
function hour(p: NavigationProcessor, watermark = T0 + 2 * 60 * MIN): NavigationWindow {
  const w = p.windows(60 * MIN, 1, { watermark });
  expect(w).toHaveLength(1);
  return w[0]!;
}

const pairs = (w: NavigationWindow) => Object.fromEntries(w.transitions.map((t) => [`${t.from}>${t.to}`, t.count]));
const pages = (l: ReadonlyArray<{ page: string; count: number }>) => Object.fromEntries(l.map((x) => [x.page, x.count]));

describe('NavigationProcessor', () => {
  it('navigation - transitions, entry pages and P(next | page) from page views in session order', () => {
    const p = make();
    // Session 1: / → /a → /b ; session 2: / → /a → /c ; session 3: /a → /b
    const t = T0 + 1000;
    p.onEvent(pv(t, '/', undefined), wm(t));
    p.onEvent(pv(t + 1, '/a', '/'), wm(t));
    p.onEvent(pv(t + 2, '/b', '/a'), wm(t));
    p.onEvent(pv(t + 3, '/', undefined), wm(t));
    p.onEvent(pv(t + 4, '/a', '/'), wm(t));
    p.onEvent(pv(t + 5, '/c', '/a'), wm(t));
    p.onEvent(pv(t + 6, '/a', undefined), wm(t));
    p.onEvent(pv(t + 7, '/b', '/a'), wm(t));
    const w = hour(p, t + 10);
    expect(w.closed).toBe(false);
    expect(pairs(w)).toEqual({ '/>/a': 2, '/a>/b': 2, '/a>/c': 1 });
    const pr = Object.fromEntries(w.transitions.map((x) => [`${x.from}>${x.to}`, x.probability]));
    expect(pr['/a>/b']).toBeCloseTo(2 / 3, 12);
    expect(pr['/a>/c']).toBeCloseTo(1 / 3, 12);
    expect(pr['/>/a']).toBe(1);
    expect(pages(w.entryPages)).toEqual({ '/': 2, '/a': 1 });
    expect(w.sessions).toBe(3);
    expect(w.pageViews).toBe(8);
    expect(w.transitions[0]!.count).toBeGreaterThanOrEqual(w.transitions[w.transitions.length - 1]!.count);
    expect(w.exact).toBe(true);
  });

  it('navigation - a page view arriving out of order splits the edge it falls into', () => {
    const p = make();
    const t = T0 + 5 * MIN;
    p.onEvent(pv(t, '/a', undefined), wm(t));
    p.onEvent(pv(t + 2000, '/c', '/a'), wm(t));
    // /b happened between /a and /c but arrives last: the sessionizer reports prev=/a next=/c.
    p.onEvent(pv(t + 1000, '/b', '/a', '/c', {}, t + 2000), wm(t));
    expect(pairs(hour(p))).toEqual({ '/a>/b': 1, '/b>/c': 1 });
    // An earlier first page arriving late takes over the entry.
    p.onEvent(pv(t - 3000, '/home', undefined, '/a', {}, t), wm(t));
    const w = hour(p);
    expect(pages(w.entryPages)).toEqual({ '/home': 1 });
    expect(pairs(w)).toEqual({ '/home>/a': 1, '/a>/b': 1, '/b>/c': 1 });
    expect(w.sessions).toBe(1);
  });

  it('navigation - closed sessions give exit pages, bounces and paths; re-opening retracts them', () => {
    const p = make();
    const t = T0 + 10 * MIN;
    const closed = (s: SessionSummary): SessionSignal => ({ kind: 'closed', session: s });
    const long = summary(['/', '/a', '/b', '/c'], t, t + 3000);
    const bounce = summary(['/x'], t, t);
    p.onSession(closed(long), wm(t + 40 * MIN));
    p.onSession(closed(bounce), wm(t + 40 * MIN));
    p.onSession(closed(summary(['/', '/a'], t, t + 1000)), wm(t + 40 * MIN));
    let w = hour(p);
    expect(w.sessionsEnded).toBe(3);
    expect(w.bounces).toBe(1);
    expect(w.bounceRate).toBeCloseTo(1 / 3, 12);
    expect(pages(w.exitPages)).toEqual({ '/c': 1, '/x': 1, '/a': 1 });
    expect(Object.fromEntries(w.paths.map((x) => [x.pages.join(' '), x.count]))).toEqual({ '/ /a /b': 1, '/a /b /c': 1, '/x': 1, '/ /a': 1 });
    p.onSession({ kind: 'reopened', session: bounce }, wm(t + 41 * MIN));
    w = hour(p);
    expect(w.sessionsEnded).toBe(2);
    expect(w.bounces).toBe(0);
    expect(pages(w.exitPages)).toEqual({ '/c': 1, '/a': 1 });
  });

  it('navigation - a merge turns the absorbed session entry into a transition from the earlier session', () => {
    const p = make();
    const t = T0 + 5 * MIN;
    p.onEvent(pv(t, '/a', undefined), wm(t));
    p.onEvent(pv(t + 40 * MIN, '/b', undefined), wm(t + 40 * MIN)); // a second session after a gap
    expect(pages(hour(p).entryPages)).toEqual({ '/a': 1, '/b': 1 });
    p.onSession({ kind: 'merged', absorbed: summary(['/b'], t + 40 * MIN, t + 40 * MIN), into: summary(['/a', '/b'], t, t + 40 * MIN) }, wm(t + 40 * MIN));
    const w = hour(p);
    expect(pages(w.entryPages)).toEqual({ '/a': 1 });
    expect(pairs(w)).toEqual({ '/a>/b': 1 });
    expect(w.sessions).toBe(1);
  });

  it('navigation - ad and link click-through: impressions from page views, clicks from click targets', () => {
    const p = make();
    const t = T0 + 30 * MIN;
    for (let i = 0; i < 4; i++) p.onEvent(pv(t + i, '/home', undefined, undefined, { ads: ['ad-1', 'ad-2'] }), wm(t));
    p.onEvent(click('v1', t + 10, { kind: 'ad', adId: 'ad-1' }, { page: '/home' }), wm(t));
    p.onEvent(click('v1', t + 11, { kind: 'link', href: '/sale' }, { page: '/home' }), wm(t));
    p.onEvent(click('v1', t + 12, { kind: 'link', href: '/sale' }, { page: '/home' }), wm(t));
    p.onEvent(click('v1', t + 13, { kind: 'product', productId: 'p1' }, { page: '/home' }), wm(t));
    const ct = hour(p).clickThrough;
    expect(ct).toEqual([
      { id: '/sale', kind: 'link', page: '/home', impressions: 4, clicks: 2, rate: 0.5, exact: true },
      { id: 'ad-1', kind: 'ad', page: undefined, impressions: 4, clicks: 1, rate: 0.25, exact: true },
      { id: 'ad-2', kind: 'ad', page: undefined, impressions: 4, clicks: 0, rate: 0, exact: true },
    ]);
  });

  it('navigation - over capacity the maps turn into Space-Saving summaries and evictions are counted', () => {
    const evictions = new Map<string, number>();
    const p = make({ settings: { ...DEFAULT_NAVIGATION_SETTINGS, maxTransitions: 3 }, evictions });
    const t = T0 + 40 * MIN;
    for (let i = 0; i < 10; i++) p.onEvent(pv(t + i, `/p${i}`, '/from'), wm(t));
    for (let i = 0; i < 5; i++) p.onEvent(pv(t + 20 + i, '/p9', '/from'), wm(t));
    const w = hour(p);
    expect(w.exact).toBe(false);
    expect(w.transitions.length).toBe(3);
    expect(evictions.get('navigation/transitions')).toBe(7);
    // The heavy hitter keeps its true count within [count − error, count].
    const top = w.transitions[0]!;
    expect(top.to).toBe('/p9');
    expect(top.count - top.error).toBeLessThanOrEqual(6);
    expect(top.count).toBeGreaterThanOrEqual(6);
  });

  it('navigation - events beyond the allowed lateness are late, within it a revision', () => {
    const p = make();
    const t = T0 + 50 * MIN;
    expect(p.onEvent(pv(t, '/a', undefined), wm(t)).kind).toBe('ok');
    expect(p.onEvent(pv(t - 2 * MIN, '/b', undefined), wm(t)).kind).toBe('revision');
    expect(p.onEvent(pv(t - 10 * MIN, '/c', undefined), wm(t)).kind).toBe('late');
    expect(pages(hour(p).entryPages)).toEqual({ '/a': 1, '/b': 1 });
  });

  it('navigation - windows come newest first with the open one, and closed flags follow the watermark', () => {
    const p = make();
    p.onEvent(pv(T0 + 1000, '/a', undefined), wm(T0));
    p.onEvent(pv(T0 + 6 * MIN, '/b', undefined), wm(T0 + 6 * MIN));
    const ws = p.windows(5 * MIN, 10, { watermark: T0 + 6 * MIN });
    expect(ws.map((w) => [w.start - T0, w.closed, w.pageViews])).toEqual([
      [5 * MIN, false, 1],
      [0, true, 1],
    ]);
  });

  it('navigation - snapshot/restore round-trips and merging two partitions equals one processor over both', () => {
    const a = make();
    const b = make();
    const both = make();
    const t = T0 + 3 * MIN;
    const evs = [pv(t, '/', undefined), pv(t + 1, '/a', '/'), pv(t + 2, '/', undefined), pv(t + 3, '/b', '/', undefined, { ads: ['x'] })];
    evs.forEach((e, i) => {
      (i < 2 ? a : b).onEvent(e, wm(t));
      both.onEvent(e, wm(t));
    });
    const closedSig: SessionSignal = { kind: 'closed', session: summary(['/', '/b'], t + 2, t + 3) };
    b.onSession(closedSig, wm(t));
    both.onSession(closedSig, wm(t));
    a.merge(JSON.parse(JSON.stringify(b.snapshot())));
    expect(hour(a)).toEqual(hour(both));
    const restored = make();
    restored.restore(JSON.parse(JSON.stringify(both.snapshot())));
    expect(hour(restored)).toEqual(hour(both));
    expect(() => restored.restore({ v: 99, panes: [] })).toThrow(/CM_ERR_SNAPSHOT/);
  });

  it('navigation - site settings are validated, every bad key reported', () => {
    expect(parseNavigationSettings(undefined, 'demo')).toEqual(DEFAULT_NAVIGATION_SETTINGS);
    expect(parseNavigationSettings({ maxPaths: 10 }, 'demo').maxPaths).toBe(10);
    expect(() => parseNavigationSettings({ maxPaths: 0, maxPages: 'x', nope: 1 }, 'demo')).toThrow(/maxPaths[\s\S]*maxPages[\s\S]*nope/);
  });
});

describe('NavigationProcessor with the real sessionizer', () => {
  it('navigation - shuffled arrival within the out-of-orderness gives the brute-force counts of the ordered sessions', () => {
    // Random sessions of 1–6 pages from a 6-page site; each visitor one session; events arrive in a
    // locally shuffled order. The oracle counts the same sessions in time order, independently.
    let x = 99;
    const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) / 2 ** 24;
    const sessions: Array<Array<{ ts: number; page: string }>> = [];
    for (let v = 0; v < 300; v++) {
      const n = 1 + Math.floor(rnd() * 6);
      const start = T0 + Math.floor(rnd() * 20 * MIN);
      sessions.push(Array.from({ length: n }, (_, i) => ({ ts: start + i * 700 + Math.floor(rnd() * 500), page: `/p${Math.floor(rnd() * 6)}` })));
    }
    const expectTrans = new Map<string, number>();
    const expectEntry = new Map<string, number>();
    const expectExit = new Map<string, number>();
    let expectBounces = 0;
    const inc = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
    for (const s of sessions) {
      inc(expectEntry, s[0]!.page);
      inc(expectExit, s[s.length - 1]!.page);
      if (s.length === 1) expectBounces++;
      for (let i = 1; i < s.length; i++) inc(expectTrans, `${s[i - 1]!.page}>${s[i]!.page}`);
    }
    const events = sessions.flatMap((s, v) => s.map((e) => pageView(`visitor-${v}`, e.ts, e.page)));
    // Arrival order: by time plus up to 3 s of jitter (within the 5 s out-of-orderness).
    const arrival = events.map((e) => ({ e, key: (e.ts as number) + rnd() * 3000 })).sort((a, b) => a.key - b.key).map((a) => a.e);
    const p = make();
    const registry = new Registry();
    const metrics = createCoreMetrics(registry, { defaultMetrics: false });
    let watermark = wm(0);
    const sz = new Sessionizer({
      site: 'demo' as SiteId,
      sessionGapMs: 30 * MIN,
      sessionMaxMs: 12 * 60 * MIN,
      allowedLatenessMs: TIME.allowedLatenessMs,
      maxVisitors: 10_000,
      metrics,
      onSignal: (s) => p.onSession(s, watermark),
    });
    let maxTs = 0;
    for (const e of arrival) {
      maxTs = Math.max(maxTs, e.ts);
      watermark = wm(maxTs - TIME.outOfOrdernessMs);
      sz.assign(e);
      expect(p.onEvent(e, watermark).kind).toBe('ok');
      sz.advance(watermark);
    }
    watermark = wm(maxTs + 2 * 60 * MIN);
    sz.advance(watermark);
    p.onWatermark(watermark);
    const w = p.windows(4 * 60 * MIN, 1, { watermark })[0]!;
    expect(new Map(w.transitions.map((t) => [`${t.from}>${t.to}`, t.count]))).toEqual(expectTrans);
    expect(new Map(w.entryPages.map((t) => [t.page, t.count]))).toEqual(expectEntry);
    expect(new Map(w.exitPages.map((t) => [t.page, t.count]))).toEqual(expectExit);
    expect(w.sessions).toBe(sessions.length);
    expect(w.sessionsEnded).toBe(sessions.length);
    expect(w.bounces).toBe(expectBounces);
    expect(w.pageViews).toBe(events.length);
  });
});
