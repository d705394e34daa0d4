import { afterEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../src/app';
import { ManualClock } from '../../../src/clock';
import { loadConfig } from '../../../src/config';
import { createLogger } from '../../../src/logger';
import { adminFetch, TEST_ADMIN_TOKEN, connectWs, metricValue, type TestSocket } from '../../helpers/collect-client';

/**
 * Late, offline and backlogged data over the real servers (WS collect, admin HTTP), with a manual
 * clock the test moves (the server's tick records follow it): what an acknowledgement promises.
 */

const MIN = 60_000;
const NOW = Math.floor(Date.UTC(2026, 11, 1, 12, 0, 0) / MIN) * MIN;
const UA = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36' };
let n = 0;
const id = () => `lo-${++n}`;
const pv = (visitorId: string, ts: number, url = '/p') => ({ id: id(), type: 'page_view', visitorId, ts, url });
const buy = (visitorId: string, ts: number) => ({ id: id(), type: 'form', visitorId, ts, url: '/checkout', formId: 'checkout', action: 'submit', items: [{ productId: 'x', quantity: 1, price: 10 }] });

const running: App[] = [];
afterEach(async () => {
  for (const a of running.splice(0)) await a.stop();
});

async function server(time: Record<string, unknown> = {}) {
  const clock = new ManualClock(NOW);
  const config = loadConfig({}, { port: 0, adminPort: 0, host: '127.0.0.1', logLevel: 'silent', admin: { token: TEST_ADMIN_TOKEN }, ingest: { dedupeCapacity: 10_000 }, time: { pane: 'PT1M', ...time } });
  const app = createApp({ config, clock, logger: createLogger('silent') });
  running.push(app);
  const { port, adminPort } = await app.start();
  const sock = await connectWs(`ws://127.0.0.1:${port}/v1/collect?site=demo`, UA);
  let seq = 0;
  const send = async (s: TestSocket, events: unknown[]): Promise<Record<string, unknown>> => {
    s.send({ type: 'batch', seq: ++seq, sentAt: clock.now(), events });
    return s.next();
  };
  const get = async (path: string) => (await adminFetch(`http://127.0.0.1:${adminPort}${path}`)).json() as Promise<Record<string, unknown>>;
  /** Moves event time past every session gap through a tick record, as a quiet stream would. */
  const quiet = async (ms: number) => {
    await app.pipeline.drain();
    clock.advance(ms);
    app.pipeline.tick();
    await app.pipeline.drain();
  };
  return { app, clock, sock, send: (events: unknown[]) => send(sock, events), get, quiet, metrics: async () => (await adminFetch(`http://127.0.0.1:${adminPort}/metrics`)).text() };
}

type UsageWindow = { start: string; pageViews: number; sessionsStarted: number; purchases: number; conversionRate: number | null; sessions: { ended: number; withPageViews: number; bounces: number; bounceRate: number | null; converted: number } };
type NavWindow = { start: string; sessions: number; sessionsEnded: number; bounces: number; bounceRate: number | null; pageViews: number };

describe('late and offline data over the real servers', () => {
  it('offline - a 30-minute-old queue flushed after the watermark moved on lands in its own panes', async () => {
    const s = await server();
    // Back online: a live page view, then the queue the browser kept for 30 minutes (sentAt = now).
    expect(await s.send([pv('b', NOW)])).toMatchObject({ type: 'ack', accepted: 1, late: 0 });
    await s.quiet(10_000); // the server idles: tick records move every partition to now
    const queued = [0, 1, 2, 3, 4].map((i) => pv('b', NOW - 30 * MIN + i * MIN, `/q${i}`));
    const ack = await s.send(queued);
    expect(ack).toMatchObject({ type: 'ack', accepted: 5, late: 0, duplicates: 0 });
    await s.app.pipeline.drain();
    const u = (await s.get('/v1/stats/usage?site=demo&window=PT1M&windows=100')) as { windows: UsageWindow[] };
    const at = (t: number) => u.windows.find((w) => w.start === new Date(t).toISOString());
    for (let i = 0; i < 5; i++) expect(at(NOW - 30 * MIN + i * MIN)?.pageViews).toBe(1);
    expect(u.windows.reduce((k, w) => k + w.pageViews, 0)).toBe(6); // counted = acknowledged
    const text = await s.metrics();
    expect(metricValue(text, 'clickstream_events_late_total', { site: 'demo', reason: 'older_than_retention' })).toBe(0);
    expect(metricValue(text, 'clickstream_window_revisions_total', { site: 'demo', processor: 'usage' })).toBe(5);
  });

  it('late - an event older than the retained panes is acked as late: 1, listed by GET /v1/late with its reason, counted once', async () => {
    const s = await server({ retentionPanes: 60 }); // one hour retained: the allowed lateness
    await s.send([pv('c', NOW)]);
    const old = pv('c', NOW - 2 * 60 * MIN, '/ancient');
    const ack = await s.send([old, pv('c', NOW - 10 * MIN, '/recent')]);
    expect(ack).toMatchObject({ type: 'ack', accepted: 1, late: 1, rejected: [] });
    const late = (await s.get('/v1/late?site=demo')) as { items: Array<{ id: string; reason: string; page: string; ts: string }> };
    expect(late.items).toEqual([expect.objectContaining({ id: old.id, reason: 'older_than_retention', page: '/ancient', ts: new Date(old.ts).toISOString() })]);
    const text = await s.metrics();
    expect(metricValue(text, 'clickstream_events_late_total', { site: 'demo', reason: 'older_than_retention' })).toBe(1);
    // A resend of the late event is a duplicate: it is reported once, never counted twice.
    expect(await s.send([old])).toMatchObject({ accepted: 0, late: 0, duplicates: 1 });
    await s.quiet(45 * MIN);
    const u = (await s.get('/v1/stats/usage?site=demo&window=PT1H&windows=10')) as { windows: UsageWindow[] };
    expect(u.windows.reduce((k, w) => k + w.pageViews, 0)).toBe(2);
    // The late event made no session: session-end figures never count a session none of whose events counted.
    expect(u.windows.reduce((k, w) => k + w.sessions.ended, 0)).toBe(u.windows.reduce((k, w) => k + w.sessionsStarted, 0));
  });

  it('definitions - a purchase-only session is no bounce; conversion rate is sessions with a purchase over sessions; usage and navigation agree', async () => {
    const s = await server();
    await s.send([buy('p', NOW), pv('q', NOW), pv('r', NOW), pv('r', NOW + 10_000, '/b'), buy('r', NOW + 20_000)]);
    await s.quiet(40 * MIN);
    const u = (await s.get('/v1/stats/usage?site=demo&window=PT1H&windows=5')) as { windows: UsageWindow[] };
    const w = u.windows.find((x) => x.sessions.ended > 0)!;
    // Sessions: p (purchase only), q (one page view), r (two page views and a purchase).
    expect(w.sessions).toMatchObject({ ended: 3, withPageViews: 2, bounces: 1, bounceRate: 0.5, converted: 2 });
    expect(w.purchases).toBe(2);
    expect(w.conversionRate).toBeCloseTo(2 / 3, 12);
    const nav = (await s.get('/v1/stats/navigation?site=demo&window=PT1H&windows=5')) as { windows: NavWindow[] };
    const nw = nav.windows.find((x) => x.sessionsEnded > 0)!;
    expect([nw.sessionsEnded, nw.bounces, nw.bounceRate]).toEqual([2, 1, 0.5]);
  });

  it('backlog - a time-ordered backlog of the last 15 minutes sent after the server idled is counted in full', async () => {
    const s = await server();
    await s.send([pv('warm', NOW)]);
    s.clock.set(NOW + 15 * MIN);
    await s.quiet(10_000); // idle: every partition's watermark is now past the whole backlog
    const backlog = Array.from({ length: 300 }, (_, i) => pv(`v${i % 37}`, NOW + i * 3_000, `/p${i % 11}`));
    let acked = 0;
    for (let i = 0; i < backlog.length; i += 50) {
      const ack = await s.send(backlog.slice(i, i + 50));
      expect(ack).toMatchObject({ late: 0 });
      acked += ack['accepted'] as number;
    }
    await s.app.pipeline.drain();
    const u = (await s.get('/v1/stats/usage?site=demo&window=PT1M&windows=100')) as { windows: UsageWindow[] };
    expect(acked).toBe(300);
    expect(u.windows.reduce((k, x) => k + x.pageViews, 0)).toBe(301); // counted ÷ acknowledged = 1
  });
});
