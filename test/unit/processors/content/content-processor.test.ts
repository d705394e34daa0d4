import { describe, expect, it } from 'vitest';
import { DEMO_SITE } from '../../../../src/config';
import type { EnrichedEvent } from '../../../../src/events/enriched-event';
import type { CollectEvent } from '../../../../src/events/event-types';
import type { EpochMillis, SiteId } from '../../../../src/types';
import { ContentProcessor, type ContentWindow } from '../../../../processors/content/content-processor';
import { DEFAULT_CONTENT_SETTINGS, parseContentSettings, type ContentSettings } from '../../../../processors/content/content-settings';
import { click, pageView } from '../../../helpers/enriched-events';

const MIN = 60_000;
const T0 = 1_700_000_040_000 - (1_700_000_040_000 % (60 * MIN));
const TIME = { paneMs: MIN, retentionPanes: 600, allowedLatenessMs: 5 * MIN };
const wm = (n: number) => n as EpochMillis;

function make(settings?: ContentSettings, evictions = new Map<string, number>()) {
  return new ContentProcessor({
    site: DEMO_SITE,
    time: TIME,
    context: { site: 'demo' as SiteId, onEvict: (p, s, n) => evictions.set(`${p}/${s}`, (evictions.get(`${p}/${s}`) ?? 0) + n) },
    ...(settings === undefined ? {} : { settings }),
  });
}

function search(ts: number, query: string, results?: number): EnrichedEvent {
  const e = pageView('v', ts, '/search');
  const ev = e.event as Extract<CollectEvent, { type: 'page_view' }>;
  ev.search = results === undefined ? { query } : { query, results };
  return e;
}

function urlSearch(ts: number, url: string): EnrichedEvent {
  const e = pageView('v', ts, '/search');
  (e.event as { url: string }).url = url;
  return e;
}

const byId = (l: ReadonlyArray<{ id: string; count: number }>) => Object.fromEntries(l.map((x) => [x.id, x.count]));

describe('ContentProcessor', () => {
  it('content - top pages, products and categories are counted from page views', () => {
    const p = make();
    const t = T0 + MIN;
    p.onEvent(pageView('a', t, '/product/:id', { product: { id: 'p1', category: 'books' } }), wm(t));
    p.onEvent(pageView('b', t + 1, '/product/:id', { product: { id: 'p1', category: 'books' } }), wm(t));
    p.onEvent(pageView('c', t + 2, '/product/:id', { product: { id: 'p2', category: 'games' } }), wm(t));
    p.onEvent(pageView('c', t + 3, '/product/:id', { product: { id: 'p3' } }), wm(t));
    p.onEvent(pageView('d', t + 4, '/'), wm(t));
    p.onEvent(click('d', t + 5, { kind: 'link', href: '/x' }), wm(t)); // not a view
    const w = p.windows(5 * MIN, 1, { watermark: t })[0]!;
    expect(w.pageViews).toBe(5);
    expect(w.topPages).toEqual([
      { page: '/product/:id', count: 4, error: 0 },
      { page: '/', count: 1, error: 0 },
    ]);
    expect(byId(w.topProducts)).toEqual({ p1: 2, p2: 1, p3: 1 });
    expect(w.topProducts[0]!.id).toBe('p1');
    expect(byId(w.topCategories)).toEqual({ books: 2, games: 1 });
    expect(w.exact).toBe(true);
  });

  it('content - site searches from the search field or the URL parameter, with zero-result counts', () => {
    const p = make();
    const t = T0 + 2 * MIN;
    p.onEvent(search(t, 'Red  Shoes ', 12), wm(t));
    p.onEvent(search(t + 1, 'red shoes', 0), wm(t));
    p.onEvent(search(t + 2, 'unicorn', 0), wm(t));
    p.onEvent(urlSearch(t + 3, 'https://shop.test/search?q=Red+Shoes&page=2'), wm(t));
    p.onEvent(urlSearch(t + 4, 'https://shop.test/search?x=1'), wm(t));
    const w = p.windows(5 * MIN, 1, { watermark: t })[0]!;
    expect(w.searches).toEqual([
      { query: 'red shoes', count: 3, zeroResults: 1 },
      { query: 'unicorn', count: 1, zeroResults: 1 },
    ]);
    expect(w.zeroResultSearches).toEqual([
      { query: 'red shoes', count: 1 },
      { query: 'unicorn', count: 1 },
    ]);
    expect(w.searchCount).toBe(4);
  });

  it('content - trending ranks growth against the EWMA baseline, not raw volume', () => {
    const p = make({ ...DEFAULT_CONTENT_SETTINGS, trendingHistory: 3, trendingAlpha: 0.5 });
    // Windows of 5 min. /steady: 100 views in each of 4 windows. /rising: 0, 0, 2 then 20.
    const views: Array<[number, string, number]> = [
      [0, '/steady', 100],
      [1, '/steady', 100],
      [2, '/steady', 100],
      [3, '/steady', 100],
      [2, '/rising', 2],
      [3, '/rising', 20],
    ];
    for (const [win, page, n] of views) for (let i = 0; i < n; i++) p.onEvent(pageView('v', T0 + win * 5 * MIN + i, page), wm(T0));
    const w = p.windows(5 * MIN, 1, { watermark: T0 + 20 * MIN })[0]!;
    expect(w.closed).toBe(true);
    // Baselines by hand: EWMA(α=0.5) over the 3 earlier windows, oldest first.
    //   /rising: 0 → 0.5·0+0.5·0 = 0 → 0.5·2+0.5·0 = 1;  score = (20 − 1)/√2
    //   /steady: 100 → 100 → 100;                       score = 0 (not trending)
    const pages = w.trending.filter((x) => x.kind === 'page');
    expect(pages.map((x) => x.id)).toEqual(['/rising']);
    expect(pages[0]!.baseline).toBeCloseTo(1, 12);
    expect(pages[0]!.score).toBeCloseTo(19 / Math.SQRT2, 12);
    expect(pages[0]!.isNew).toBe(false); // it had 2 views two windows ago
    expect(w.topPages[0]!.page).toBe('/steady');
  });

  it('content - a key with no earlier occurrence trends as new, its score being only its count', () => {
    const p = make({ ...DEFAULT_CONTENT_SETTINGS, trendingHistory: 1, trendingMinCount: 1 });
    for (let i = 0; i < 10; i++) p.onEvent(pageView('v', T0 + i, '/old'), wm(T0));
    for (let i = 0; i < 10; i++) p.onEvent(pageView('v', T0 + 5 * MIN + i, '/old'), wm(T0));
    for (let i = 0; i < 3; i++) p.onEvent(pageView('v', T0 + 5 * MIN + i, '/fresh'), wm(T0));
    const w = p.windows(5 * MIN, 1, { watermark: T0 + 10 * MIN })[0]!;
    const fresh = w.trending.find((x) => x.id === '/fresh')!;
    expect([fresh.isNew, fresh.baseline, fresh.score]).toEqual([true, 0, 3]);
    expect(w.trending.find((x) => x.id === '/old')).toBeUndefined(); // 10 vs a baseline of 10
  });

  it('content - an open window is compared with the baseline scaled to its elapsed share', () => {
    const p = make({ ...DEFAULT_CONTENT_SETTINGS, trendingHistory: 1, trendingMinCount: 1 });
    for (let i = 0; i < 40; i++) p.onEvent(pageView('v', T0 + i * 1000, '/a'), wm(T0)); // 40 in window 0
    // Window 1 is a quarter through (events up to T0 + 5 min + 75 s): 20 views vs 40 × 0.25 = 10 expected.
    for (let i = 0; i < 20; i++) p.onEvent(pageView('v', T0 + 5 * MIN + i * 3750 + 1, '/a'), wm(T0 + 5 * MIN));
    const w = p.windows(5 * MIN, 1, { watermark: T0 + 5 * MIN })[0]!;
    expect(w.closed).toBe(false);
    const a = w.trending.find((x) => x.id === '/a')!;
    const elapsed = (T0 + 5 * MIN + 19 * 3750 + 1 - (T0 + 5 * MIN)) / (5 * MIN);
    expect(a.baseline).toBeCloseTo(40 * elapsed, 9);
    expect(a.score).toBeCloseTo((20 - 40 * elapsed) / Math.sqrt(40 * elapsed + 1), 9);
  });

  it('content - bounded: over capacity evictions are counted and the window is not exact', () => {
    const evictions = new Map<string, number>();
    const p = make({ ...DEFAULT_CONTENT_SETTINGS, maxPages: 2 }, evictions);
    for (let i = 0; i < 5; i++) p.onEvent(pageView('v', T0 + i, `/p${i}`), wm(T0));
    const w = p.windows(5 * MIN, 1, { watermark: T0 })[0]!;
    expect(w.exact).toBe(false);
    expect(w.topPages).toHaveLength(2);
    expect(evictions.get('content/pages')).toBe(3);
  });

  it('content - late events are refused, partials merge like one processor', () => {
    const a = make();
    const b = make();
    const both = make();
    const t = T0 + 10 * MIN;
    expect(a.onEvent(pageView('v', t - 20 * MIN, '/old'), wm(t)).kind).toBe('late');
    for (let i = 0; i < 6; i++) {
      const e = pageView('v', t + i, `/p${i % 3}`, { product: { id: `x${i % 2}` } });
      (i % 2 === 0 ? a : b).onEvent(e, wm(t));
      both.onEvent(e, wm(t));
    }
    a.merge(JSON.parse(JSON.stringify(b.snapshot())));
    const get = (p: ContentProcessor): ContentWindow => p.windows(5 * MIN, 1, { watermark: t })[0]!;
    expect(get(a)).toEqual(get(both));
    const r = make();
    r.restore(JSON.parse(JSON.stringify(both.snapshot())));
    expect(get(r)).toEqual(get(both));
  });

  it('content - site settings are validated, every bad key reported', () => {
    expect(parseContentSettings({ trendingAlpha: 0.5 }, 'demo').trendingAlpha).toBe(0.5);
    expect(() => parseContentSettings({ trendingAlpha: 2, maxPages: -1 }, 'demo')).toThrow(/trendingAlpha[\s\S]*maxPages/);
  });
});
