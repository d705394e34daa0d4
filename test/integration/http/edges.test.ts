import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, metricValue, startTestApp } from '../../helpers/collect-client';
import { until } from '../../helpers/until';

/**
 * Loose edges (issue "Lock it down", finding 7), each tried as an attacker would: the CORS preflight
 * must not reflect a disallowed or `null` Origin (before: it reflected any, even on refusals), and
 * every HTML page carries security headers (before: the demo pages had none).
 */
let t: Awaited<ReturnType<typeof startTestApp>>;
beforeAll(async () => {
  t = await startTestApp({ sites: [{ id: 'demo' }, { id: 'shop', allowedOrigins: ['https://shop.example'] }] });
});
afterAll(async () => {
  await t.stop();
});

const preflight = (site: string, origin: string) =>
  fetch(`${t.base}/v1/collect?site=${site}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });

describe('edges', () => {
  it('cors - a preflight from a disallowed or null origin is refused (403, counted) and gets no Access-Control-Allow-Origin; an allowed one is answered', async () => {
    for (const origin of ['https://evil.example', 'null']) {
      const res = await preflight('shop', origin);
      expect([origin, res.status, res.headers.get('access-control-allow-origin')]).toEqual([origin, 403, null]);
    }
    const ok = await preflight('shop', 'https://shop.example');
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    // A refused POST carries no ACAO either, so the attacker's page cannot even read the refusal.
    const post = await fetch(`${t.base}/v1/collect?site=shop`, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'text/plain' }, body: '{}' });
    expect([post.status, post.headers.get('access-control-allow-origin')]).toEqual([403, null]);
    const text = await (await adminFetch(`${t.admin}/metrics`)).text();
    expect(metricValue(text, 'clickstream_events_rejected_total', { site: 'shop', reason: 'origin_not_allowed' })).toBe(3);
  });

  it('headers - every HTML page sends a CSP without unsafe-inline scripts, no framing and nosniff', async () => {
    for (const url of [`${t.base}/demo`, `${t.base}/demo/cart`, `${t.base}/demo/no-such-page`, `${t.admin}/dashboard`]) {
      const res = await fetch(url);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect([url, csp.includes('script-src')]).toEqual([url, true]);
      expect(csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      if (url.startsWith(t.base)) {
        expect(csp).toContain("frame-ancestors 'none'");
        expect(res.headers.get('x-frame-options')).toBe('DENY');
      }
    }
  });
});

describe('edges - WebSocket liveness', () => {
  it('ws - a socket stuck in a half-sent frame (it answers no ping) is dropped after two heartbeats and counted; a live idle client keeps its socket', async () => {
    const app = await startTestApp({ ingest: { wsHeartbeat: 'PT0.2S' } });
    try {
      const { connect } = await import('node:net');
      const { WebSocket } = await import('ws');
      const port = Number(new URL(app.base).port);
      // A raw peer: a valid upgrade, then the first two bytes of a frame and nothing more.
      const raw = connect(port, '127.0.0.1');
      await new Promise<void>((r) => raw.once('connect', () => r()));
      raw.write(`GET /v1/collect?site=demo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      let got = '';
      raw.on('data', (d: Buffer) => (got += d.toString('latin1')));
      await until('the upgrade', () => got.includes('101 Switching Protocols'));
      raw.write(Buffer.from([0x81, 0xfe])); // FIN+text, masked, 16-bit length to follow … never sent
      const closed = new Promise<void>((r) => raw.once('close', () => r()));
      // A real client that sends nothing: it answers the pings on its own.
      const live = new WebSocket(`${app.ws}/v1/collect?site=demo`);
      await new Promise<void>((r) => live.once('open', () => r()));
      await closed;
      const text = await (await adminFetch(`${app.admin}/metrics`)).text();
      expect(metricValue(text, 'clickstream_ws_dropped_total', { endpoint: 'collect', reason: 'unresponsive' })).toBe(1);
      expect(live.readyState).toBe(WebSocket.OPEN);
      live.close();
    } finally {
      await app.stop();
    }
  });
});
