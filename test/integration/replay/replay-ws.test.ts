/**
 * The replay tool against a real server over a real WebSocket: Diginetica item views, shifted to now,
 * into WS /v1/collect with a tight rate limit, so the server answers `retry` and the tool must resend.
 * The expected counts come from the events the tool built, counted here independently.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { buildReplayEvents, parseReplayArgs, replay } from '../../../src/replay/replay-cli';
import { adminFetch, startTestApp } from '../../helpers/collect-client';
import { describeWithData } from '../../helpers/data';

describeWithData('diginetica_sample_train-item-views.csv', 'replay over a WebSocket', (path) => {
  let t: Awaited<ReturnType<typeof startTestApp>>;
  beforeAll(async () => {
    t = await startTestApp({ ingest: { rateLimitPerSecond: 2_000, rateLimitBurst: 600 } });
  });
  afterAll(async () => {
    await t.stop();
  });

  it('replay - every event is acknowledged despite rate-limit retries, and the navigation stats count its sessions', async () => {
    const parsed = parseReplayArgs([path, '--format', 'diginetica', '--url', `${t.ws}/v1/collect?site=demo`, '--rate', '0', '--speed', '200', '--limit', '3000', '--batch', '300', '--quiet']);
    if (parsed.kind !== 'ok') throw new Error('bad arguments');
    const expected = buildReplayEvents(parsed.options, Date.now());
    const sessions = new Set(expected.map((e) => e['sessionId']));
    const summary = await replay(parsed.options);
    expect(summary.events).toBe(3_000);
    expect(summary.accepted).toBe(3_000);
    expect(summary.rejected).toEqual({});
    expect(summary.retries).toBeGreaterThan(0);
    await t.app.pipeline.drain();
    const res = await adminFetch(`${t.admin}/v1/stats/navigation?site=demo&window=PT1H&windows=5&limit=1`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { windows: Array<{ pageViews: number; sessions: number; closed: boolean }> };
    expect(body.windows.reduce((n, w) => n + w.pageViews, 0)).toBe(3_000);
    expect(body.windows.reduce((n, w) => n + w.sessions, 0)).toBe(sessions.size);
    expect(body.windows[0]!.closed).toBe(false);
  });
});

describeWithData('retail.dat', 'replay --backfill over a WebSocket', (path) => {
  let t: Awaited<ReturnType<typeof startTestApp>>;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.stop();
  });

  it('backfill - sends history as fast as the server takes it, every event counted; a rerun is all duplicates and says so; --run-id sends it afresh', async () => {
    const args = [path, '--format', 'retail', '--backfill', '--secret', 'demo-secret', '--url', `${t.ws}/v1/collect?site=demo`, '--limit', '4000', '--quiet'];
    const parsed = parseReplayArgs(args);
    if (parsed.kind !== 'ok') throw new Error('bad arguments');
    expect(parsed.options.rate).toBe(0); // no pacing, no rate cap
    const events = buildReplayEvents(parsed.options, Date.now());
    // The history ends now: every event is in the past.
    expect(Math.max(...events.map((e) => e.ts))).toBeLessThanOrEqual(Date.now());
    const first = await replay(parsed.options);
    expect(first).toMatchObject({ events: 4_000, accepted: 4_000, late: 0, duplicates: 0, rejected: {} });
    await t.app.pipeline.drain();
    const usage = async () => {
      const body = (await (await adminFetch(`${t.admin}/v1/stats/usage?site=demo&window=PT1H&windows=5`)).json()) as { windows: Array<{ purchases: number }> };
      return body.windows.reduce((n, w) => n + w.purchases, 0);
    };
    expect(await usage()).toBe(4_000);

    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      const again = await replay(parsed.options);
      expect(again).toMatchObject({ accepted: 0, duplicates: 4_000 });
    } finally {
      spy.mockRestore();
    }
    expect(written.join('')).toMatch(/4,000 of 4,000 events \(100 %\) were duplicates.*--run-id/);
    expect(await usage()).toBe(4_000); // counted once

    const fresh = parseReplayArgs([...args, '--run-id', 'r2']);
    if (fresh.kind !== 'ok') throw new Error('bad arguments');
    expect(await replay(fresh.options)).toMatchObject({ accepted: 4_000, duplicates: 0 });
    await t.app.pipeline.drain();
    expect(await usage()).toBe(8_000);
  });
});
