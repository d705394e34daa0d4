import { connect as netConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
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
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('strict-origin-when-cross-origin');
      if (url.startsWith(t.base)) expect(csp).toContain("frame-ancestors 'none'");
    }
  });

  it("protocol refusals - an invalid WebSocket frame (bad UTF-8: close 1007) and a request Node's parser refuses (431) are counted", async () => {
    const metric = async (name: string, labels: Record<string, string>) => metricValue(await (await adminFetch(`${t.admin}/metrics`)).text(), name, labels);
    const before = await metric('clickstream_ws_dropped_total', { endpoint: 'collect', reason: 'protocol_error' });
    const ws = new WebSocket(`${t.ws}/v1/collect?site=demo`);
    await new Promise((r) => ws.once('open', r));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    // A text frame whose payload is not UTF-8: written raw on the socket (the client library would refuse to).
    const socket = (ws as unknown as { _socket: Socket })._socket;
    const payload = Buffer.from([0xc3, 0x28]);
    const mask = Buffer.from([1, 2, 3, 4]);
    socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]));
    expect(await closed).toBe(1007);
    await until('the protocol error counted', async () => (await metric('clickstream_ws_dropped_total', { endpoint: 'collect', reason: 'protocol_error' })) === before + 1);

    const huge = await new Promise<string>((resolve, reject) => {
      const c = netConnect(Number(new URL(t.base).port), '127.0.0.1', () => c.write(`GET /demo HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`));
      let out = '';
      c.on('data', (d) => (out += d.toString()));
      c.on('close', () => resolve(out));
      c.on('error', reject);
    });
    expect(huge).toMatch(/^HTTP\/1.1 431/);
    expect(await metric('clickstream_http_refused_total', { reason: 'header_overflow' })).toBe(1);
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
