import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { SessionSignal } from '../../../src/events/enriched-event';
import { createCoreMetrics } from '../../../src/metrics/core-metrics';
import { Sessionizer, type SessionizerSnapshot } from '../../../src/pipeline/sessionizer';
import type { SiteId, VisitorId } from '../../../src/types';
import { click, form, pageView } from '../../helpers/enriched-events';

const MIN = 60_000;
const T0 = 1_700_000_000_000;

function setup(over: { gap?: number; max?: number; lateness?: number; maxVisitors?: number; maxPages?: number } = {}) {
  const registry = new Registry();
  const metrics = createCoreMetrics(registry, { defaultMetrics: false });
  const signals: SessionSignal[] = [];
  const s = new Sessionizer({
    site: 'demo' as SiteId,
    sessionGapMs: over.gap ?? 30 * MIN,
    sessionMaxMs: over.max ?? 12 * 60 * MIN,
    allowedLatenessMs: over.lateness ?? 5 * MIN,
    maxVisitors: over.maxVisitors ?? 1000,
    ...(over.maxPages !== undefined ? { maxPagesPerSession: over.maxPages } : {}),
    metrics,
    onSignal: (x) => signals.push(x),
  });
  const kinds = () => signals.map((x) => x.kind);
  const started = () => signals.filter((x) => x.kind === 'started').length - signals.filter((x) => x.kind === 'merged').length;
  return { s, signals, kinds, started, registry };
}

describe('Sessionizer', () => {
  it('sessions - past the page-list bound the most recent pages are kept, so the previous page stays exact', () => {
    const { s } = setup({ maxPages: 3 });
    const views = ['/a', '/b', '/c', '/d', '/e'].map((p, i) => pageView('v1', T0 + i * MIN, p));
    for (const e of views) s.assign(e);
    // Worked by hand: each view's previous page is the one before it, its index its position.
    expect(views.map((e) => [e.session.pageIndex, e.session.prevPage ?? null])).toEqual([
      [0, null],
      [1, '/a'],
      [2, '/b'],
      [3, '/c'],
      [4, '/d'],
    ]);
    // Out of order inside the kept pages (/c /d /e): between /d and /e.
    const late = pageView('v1', T0 + 3.5 * MIN, '/x');
    s.assign(late);
    expect([late.session.pageIndex, late.session.prevPage, late.session.nextPage]).toEqual([4, '/d', '/e']);
  });

  it('sessions - a 31-minute gap starts a new session', () => {
    const { s, started } = setup();
    const a = pageView('v1', T0, '/a');
    const b = pageView('v1', T0 + 10 * MIN, '/b');
    const c = pageView('v1', T0 + 41 * MIN, '/c'); // 31 min after /b
    s.assign(a);
    s.assign(b);
    s.assign(c);
    expect(a.session.isNew).toBe(true);
    expect(b.session.isNew).toBe(false);
    expect(b.session.id).toBe(a.session.id);
    expect(c.session.isNew).toBe(true);
    expect(c.session.id).not.toBe(a.session.id);
    expect(c.session.pageIndex).toBe(0);
    expect(c.session.returningVisitor).toBe(true);
    expect(a.session.returningVisitor).toBe(false);
    expect(started()).toBe(2);
  });

  it('sessions - a 29-minute gap stays in the session, exactly 30 minutes splits ([start, end) gap)', () => {
    const { s } = setup();
    const a = pageView('v1', T0, '/a');
    const b = pageView('v1', T0 + 29 * MIN, '/b');
    const c = pageView('v1', T0 + 59 * MIN, '/c'); // exactly 30 min after /b
    for (const e of [a, b, c]) s.assign(e);
    expect(b.session.id).toBe(a.session.id);
    expect(c.session.isNew).toBe(true);
  });

  it('sessions - a late event that bridges two sessions merges them, the later one absorbed', () => {
    const { s, signals, kinds, started } = setup();
    const a = pageView('v1', T0, '/a');
    const c = pageView('v1', T0 + 40 * MIN, '/c');
    s.assign(a);
    s.assign(c);
    expect(started()).toBe(2);
    const b = pageView('v1', T0 + 20 * MIN, '/b'); // within 30 min of both
    s.assign(b);
    expect(kinds()).toEqual(['started', 'started', 'merged']);
    const merged = signals[2];
    if (merged?.kind !== 'merged') throw new Error('expected merged');
    expect(merged.absorbed.start).toBe(T0 + 40 * MIN);
    expect(merged.into.start).toBe(T0);
    expect(merged.into.end).toBe(T0 + 40 * MIN);
    // The merge is reported before the bridging event is added to the merged session.
    expect(merged.into.pages).toEqual(['/a', '/c']);
    expect(s.sessionsOf('v1').map((x) => x.pages)).toEqual([['/a', '/b', '/c']]);
    expect(b.session.id).toBe(a.session.id);
    expect(b.session.pageIndex).toBe(1);
    expect(b.session.prevPage).toBe('/a');
    expect(b.session.nextPage).toBe('/c');
    expect(started()).toBe(1);
    expect(s.activeSessions).toBe(1);
  });

  it('sessions - a session longer than the maximum length is split', () => {
    const { s, started } = setup({ gap: 30 * MIN, max: 60 * MIN });
    const evs = [0, 10, 20, 30, 40, 50, 60, 70].map((m) => pageView('v1', T0 + m * MIN, `/p${m}`));
    for (const e of evs) s.assign(e);
    // By hand: 0..60 spans exactly 60 min (allowed); 70 would span 70 min → new session.
    expect(evs[6]!.session.id).toBe(evs[0]!.session.id);
    expect(evs[7]!.session.isNew).toBe(true);
    expect(started()).toBe(2);
  });

  it('sessions - pages are ordered by event time when events arrive out of order', () => {
    const { s } = setup();
    const a = pageView('v1', T0, '/a');
    const c = pageView('v1', T0 + 20_000, '/c');
    const b = pageView('v1', T0 + 10_000, '/b');
    for (const e of [a, c, b]) s.assign(e);
    expect(c.session.pageIndex).toBe(1);
    expect(c.session.prevPage).toBe('/a');
    expect(b.session.pageIndex).toBe(1);
    expect(b.session.prevPage).toBe('/a');
    expect(b.session.nextPage).toBe('/c');
    expect(s.sessionsOf('v1')[0]?.pages).toEqual(['/a', '/b', '/c']);
  });

  it('sessions - close when the watermark reaches end + gap, not before', () => {
    const { s, kinds } = setup();
    s.assign(pageView('v1', T0, '/a'));
    s.advance(T0 + 30 * MIN - 1);
    expect(kinds()).toEqual(['started']);
    expect(s.activeSessions).toBe(1);
    s.advance(T0 + 30 * MIN);
    expect(kinds()).toEqual(['started', 'closed']);
    expect(s.activeSessions).toBe(0);
  });

  it('sessions - a late event within the allowed lateness re-opens a closed session, which closes again', () => {
    const { s, kinds } = setup({ lateness: 5 * MIN });
    const a = pageView('v1', T0, '/a');
    s.assign(a);
    s.advance(T0 + 33 * MIN); // closed at +30, kept until +35
    const late = pageView('v1', T0 + 1 * MIN, '/b');
    s.assign(late);
    expect(late.session.id).toBe(a.session.id);
    expect(kinds()).toEqual(['started', 'closed', 'reopened']);
    s.advance(T0 + 34 * MIN); // end is now +1 min: due at +31 min
    expect(kinds()).toEqual(['started', 'closed', 'reopened', 'closed']);
  });

  it('sessions - a late event beyond the allowed lateness starts a session of its own', () => {
    const { s, kinds } = setup({ lateness: 5 * MIN });
    const a = pageView('v1', T0, '/a');
    s.assign(a);
    s.advance(T0 + 35 * MIN); // closed at +30, forgotten at +35
    const late = pageView('v1', T0 + 1 * MIN, '/b');
    s.assign(late);
    expect(late.session.isNew).toBe(true);
    expect(kinds()).toEqual(['started', 'closed', 'started']);
  });

  it('sessions - the client session id is used when present', () => {
    const { s } = setup();
    const a = pageView('v1', T0, '/a', { sessionId: 'client-s1' });
    const b = pageView('v1', T0 + 10 * MIN, '/b', { sessionId: 'client-s2' });
    s.assign(a);
    s.assign(b);
    expect(a.session.id).toBe('client-s1');
    expect(b.session.id).toBe('client-s2');
    expect(b.session.isNew).toBe(true);
  });

  it('sessions - the summary lists viewed, carted and bought products and the revenue', () => {
    const { s, signals } = setup();
    s.assign(pageView('v1', T0, '/product/p1', { product: { id: 'p1', category: 'games' } }));
    s.assign(click('v1', T0 + 1_000, { kind: 'button', productId: 'p1' }));
    s.assign(click('v1', T0 + 2_000, { kind: 'link', href: '/x' }));
    s.assign(form('v1', T0 + 3_000, 'checkout', 'submit', { items: [{ productId: 'p1', quantity: 2, price: 10.5 }, { productId: 'p2', category: 'books', quantity: 1, price: 4 }] }));
    s.advance(T0 + 3_000 + 30 * MIN);
    const closed = signals.find((x) => x.kind === 'closed');
    if (closed?.kind !== 'closed') throw new Error('expected closed');
    expect(closed.session.viewed).toEqual(['p1']);
    expect(closed.session.carted).toEqual(['p1']);
    expect(closed.session.bought).toEqual(['p1', 'p2']);
    expect(closed.session.categories).toEqual({ p1: 'games', p2: 'books' });
    expect(closed.session.revenue).toBe(25);
    expect(closed.session.events).toBe(4);
    expect(closed.session.pageViews).toBe(1);
  });

  it('sessions - pages and viewed products keep their order and times whatever the arrival order, and through a snapshot', () => {
    // A small LCG so the sequence is the same on every run.
    let x = 4242;
    const rand = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const { s } = setup();
    const views: Array<{ ts: number; id: string }> = [];
    for (let i = 0; i < 60; i++) {
      // Within 20 minutes of T0, in random order: the start moves back whenever an earlier one arrives.
      const ts = T0 + Math.floor(rand() * 20 * MIN);
      const id = `p${Math.floor(rand() * 12)}`;
      views.push({ ts, id });
      s.assign(pageView('v1', ts, `/product/${id}`, { product: { id } }));
    }
    // Brute force: distinct ids in arrival order of their first view, min and max time of each.
    const ids = [...new Set(views.map((v) => v.id))];
    const first = ids.map((id) => Math.min(...views.filter((v) => v.id === id).map((v) => v.ts)));
    const last = ids.map((id) => Math.max(...views.filter((v) => v.id === id).map((v) => v.ts)));
    const [one] = s.sessionsOf('v1' as VisitorId);
    expect([one?.start, one?.viewed, one?.viewedFirst, one?.viewedLast]).toEqual([Math.min(...views.map((v) => v.ts)), ids, first, last]);
    // The pages in event-time order, equal times in arrival order (a stable sort).
    expect(one?.pages).toEqual([...views].sort((a, b) => a.ts - b.ts).map((v) => `/product/${v.id}`));
    // A click lands on the page view at or before it, wherever the start has moved since.
    const latest = [...views].sort((a, b) => a.ts - b.ts).findLast((v) => v.ts <= T0 + 10 * MIN);
    const c = click('v1', T0 + 10 * MIN, { kind: 'link', href: '/x' });
    s.assign(c);
    expect(c.session.prevPage).toBe(`/product/${latest?.id}`);
    const copy = setup().s;
    copy.restore(JSON.parse(JSON.stringify(s.snapshot())) as SessionizerSnapshot);
    expect(copy.sessionsOf('v1' as VisitorId)).toEqual(s.sessionsOf('v1' as VisitorId));
  });

  it('sessions - a late event bridging two sessions merges their viewed products and times', () => {
    const { s } = setup();
    s.assign(pageView('v1', T0 + 2 * MIN, '/product/a', { product: { id: 'a' } }));
    s.assign(pageView('v1', T0 + 3 * MIN, '/product/b', { product: { id: 'b' } }));
    s.assign(pageView('v1', T0 + 50 * MIN, '/product/b', { product: { id: 'b' } }));
    s.assign(pageView('v1', T0 + 52 * MIN, '/product/c', { product: { id: 'c' } }));
    expect(s.sessionsOf('v1' as VisitorId)).toHaveLength(2);
    // 26 min after the first session's end and 24 before the second's start: one session now.
    s.assign(pageView('v1', T0 + 29 * MIN, '/product/a', { product: { id: 'a' } }));
    const all = s.sessionsOf('v1' as VisitorId);
    expect(all).toHaveLength(1);
    // Worked by hand: the earlier session's products first, then the later one's new ones.
    expect([all[0]?.viewed, all[0]?.viewedFirst, all[0]?.viewedLast]).toEqual([
      ['a', 'b', 'c'],
      [T0 + 2 * MIN, T0 + 3 * MIN, T0 + 52 * MIN],
      [T0 + 29 * MIN, T0 + 50 * MIN, T0 + 52 * MIN],
    ]);
  });

  it('state - visitors beyond the bound are evicted, counted, and their open sessions closed', async () => {
    const { s, kinds, registry } = setup({ maxVisitors: 2 });
    s.assign(pageView('v1', T0, '/a'));
    s.assign(pageView('v2', T0, '/a'));
    s.assign(pageView('v3', T0, '/a'));
    expect(s.visitors).toBe(2);
    expect(kinds()).toEqual(['started', 'started', 'closed', 'started']);
    s.flushMetrics(); // metric updates are batched until the next watermark advance
    const text = await registry.metrics();
    expect(text).toMatch(/clickstream_state_evictions_total\{component="sessionizer",structure="visitors"\} 1/);
    expect(text).toMatch(/clickstream_active_sessions 2/);
  });
});
