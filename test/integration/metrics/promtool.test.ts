import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, batch, connectWs, metricValue, pageView, startTestApp } from '../../helpers/collect-client';

let t: Awaited<ReturnType<typeof startTestApp>>;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.stop();
});

describe('GET /metrics', () => {
  it('metrics - promtool check metrics reports nothing on the exposition after real traffic', async () => {
    const s = await connectWs(`${t.ws}/v1/collect?site=demo`);
    s.send(batch([pageView(), pageView({ url: '' }), { ...pageView(), type: 'click', target: { kind: 'ad', adId: 'a1' } }]));
    await s.next();
    s.send('garbage');
    await s.next();
    const res = await adminFetch(`${t.admin}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    // The names DESIGN.md §3 promises are present.
    for (const name of ['clickstream_events_received_total', 'clickstream_events_rejected_total', 'clickstream_events_late_total', 'clickstream_watermark_lag_seconds', 'clickstream_active_sessions', 'clickstream_ws_connections', 'process_cpu_seconds_total']) {
      expect(text, name).toContain(`# TYPE ${name} `);
    }
    expect(metricValue(text, 'clickstream_events_received_total', { site: 'demo', type: 'click' })).toBe(1);
    expect(metricValue(text, 'clickstream_ws_connections', { endpoint: 'collect' })).toBe(1);
    // promtool must be installed (src/scripts/ensure-system-deps.sh, run by `npm test`'s pretest).
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.error, 'promtool not found: run bash src/scripts/ensure-system-deps.sh').toBeUndefined();
    expect(`${check.stdout}${check.stderr}`).toBe('');
    expect(check.status).toBe(0);
    s.ws.close();
  });
});
