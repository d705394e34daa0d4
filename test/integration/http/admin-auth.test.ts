import { afterEach, describe, expect, it } from 'vitest';
import { metricValue, startTestApp } from '../../helpers/collect-client';

/**
 * The admin API needs a token (issue "Lock it down", finding 1), reproduced as an attacker would:
 * without one every route that reads visitor data or changes behaviour is refused and counted; a read
 * token cannot change the offer catalog; the probes and the dashboard's static page stay open.
 */
const WRITE = 'write-token-0123456789abcdef';
const READ = 'read-token-0123456789abcdef';
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

const catalogPut = (admin: string, headers: Record<string, string>) =>
  fetch(`${admin}/v1/offers/catalog?site=demo`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ id: 'evil', target: { category: 'books' }, text: 'ATTACKER: 99 % off, pay at https://evil.example', discount: 99 }),
  });

describe('admin API tokens', () => {
  it('auth - without a token the stats, visitors, quarantine, late events, metrics and the catalog are refused (401, counted); probes and the dashboard page stay open', async () => {
    const t = await startTestApp({ admin: { token: WRITE, readToken: READ } });
    stops.push(t.stop);
    const refused = ['/v1/stats/usage?site=demo', '/v1/visitors/v1?site=demo', '/v1/quarantine?site=demo', '/v1/late?site=demo', '/v1/rules?site=demo', '/v1/offers/recent?site=demo', '/metrics', '/v1/sites',
      // Visitor data added with the dashboard, slices and segments.
      '/v1/events/recent?site=demo', '/v1/customers?site=demo', '/v1/customers/segments?site=demo', '/v1/segments?site=demo', '/v1/segments/x/visitors?site=demo', '/v1/segments/changes?site=demo', '/v1/stats/navigation/flow?site=demo&page=%2F', '/v1/rules/history?site=demo&antecedent=a&consequent=b'];
    for (const p of refused) {
      const res = await fetch(`${t.admin}${p}`);
      expect([p, res.status]).toEqual([p, 401]);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    expect((await fetch(`${t.admin}/v1/stats/usage?site=demo`, { headers: { authorization: 'Bearer wrong-wrong-wrong-wrong' } })).status).toBe(401);
    expect((await catalogPut(t.admin, {})).status).toBe(401);
    for (const p of ['/healthz', '/readyz', '/dashboard', '/dashboard.js']) expect([p, (await fetch(`${t.admin}${p}`)).status]).toEqual([p, 200]);
    const text = await (await fetch(`${t.admin}/metrics`, { headers: { authorization: `Bearer ${READ}` } })).text();
    expect(metricValue(text, 'clickstream_admin_refused_total', { reason: 'unauthorized' })).toBe(refused.length + 2);
  });

  it('auth - a read token reads but cannot change the offer catalog (403, counted); the admin token can', async () => {
    const t = await startTestApp({ admin: { token: WRITE, readToken: READ } });
    stops.push(t.stop);
    expect((await fetch(`${t.admin}/v1/stats/usage?site=demo`, { headers: { authorization: `Bearer ${READ}` } })).status).toBe(200);
    const denied = await catalogPut(t.admin, { authorization: `Bearer ${READ}` });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe('insufficient_scope');
    const list = async () => ((await (await fetch(`${t.admin}/v1/offers/catalog?site=demo`, { headers: { authorization: `Bearer ${READ}` } })).json()) as { offers: Array<{ id: string }> }).offers.map((o) => o.id);
    expect(await list()).not.toContain('evil');
    expect((await catalogPut(t.admin, { authorization: `Bearer ${WRITE}` })).status).toBe(201);
    expect(await list()).toContain('evil');
    // Segment definitions change behaviour (offer eligibility, webhooks): the read token may not write them either.
    const segment = (token: string) => fetch(`${t.admin}/v1/segments?site=demo`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'vip', match: 'all', conditions: [{ field: 'revenue', op: '>', value: 1 }] }) });
    expect((await segment(READ)).status).toBe(403);
    expect((await segment(WRITE)).status).toBe(201);
    const text = await (await fetch(`${t.admin}/metrics`, { headers: { authorization: `Bearer ${WRITE}` } })).text();
    expect(metricValue(text, 'clickstream_admin_refused_total', { reason: 'insufficient_scope' })).toBe(2);
  });

  it('auth - a subscriber token is minted only with the admin (write) token: none 401, the read token 403', async () => {
    const t = await startTestApp({ admin: { token: WRITE, readToken: READ }, offers: { allowQueryToken: true } });
    stops.push(t.stop);
    const mint = (headers: Record<string, string>) => fetch(`${t.admin}/v1/offers/token?site=demo&ttlSeconds=60`, { method: 'POST', headers });
    expect((await mint({})).status).toBe(401);
    expect((await mint({ authorization: `Bearer ${READ}` })).status).toBe(403);
    const ok = await mint({ authorization: `Bearer ${WRITE}` });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { token: string }).token).toMatch(/^st1\.\d+\./);
  });

  it('auth - /metrics can be opened to a scraper by config; a server without a configured token generates one', async () => {
    const t = await startTestApp({ admin: { openMetrics: true } });
    stops.push(t.stop);
    expect((await fetch(`${t.admin}/metrics`)).status).toBe(200);
    expect((await fetch(`${t.admin}/v1/stats/usage?site=demo`)).status).toBe(401);
    expect(t.app.adminTokenGenerated).toBe(true);
    expect(t.app.adminToken.length).toBeGreaterThanOrEqual(32);
    expect((await fetch(`${t.admin}/v1/stats/usage?site=demo`, { headers: { authorization: `Bearer ${t.app.adminToken}` } })).status).toBe(200);
  });
});

describe('admin API - names and guessing', () => {
  it('auth - a request naming a foreign host (DNS rebinding) is refused, probes included (421, counted)', async () => {
    const t = await startTestApp({ admin: { token: WRITE } });
    stops.push(t.stop);
    const { request } = await import('node:http');
    const port = Number(new URL(t.admin).port);
    const status = (host: string, path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, headers: { host, authorization: `Bearer ${WRITE}` } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await status(`evil.example:${port}`, '/v1/stats/usage?site=demo')).toBe(421);
    expect(await status('evil.example', '/healthz')).toBe(421);
    expect(await status(`localhost:${port}`, '/v1/stats/usage?site=demo')).toBe(200);
    expect(await status(`127.0.0.1:${port}`, '/healthz')).toBe(200);
    const text = await (await fetch(`${t.admin}/metrics`, { headers: { authorization: `Bearer ${WRITE}` } })).text();
    expect(metricValue(text, 'clickstream_admin_refused_total', { reason: 'host_not_allowed' })).toBe(2);
  });

  it('auth - an address guessing tokens is throttled for a minute after 20 wrong ones (429, counted), even with the right token', async () => {
    const t = await startTestApp({ admin: { token: WRITE, readToken: READ } });
    stops.push(t.stop);
    const get = (token: string) => fetch(`${t.admin}/v1/stats/usage?site=demo`, { headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 20; i++) expect((await get(`guess-${i}-0123456789abcdef`)).status).toBe(401);
    const blocked = await get('guess-21-0123456789abcdef');
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('60');
    expect((await get(WRITE)).status).toBe(429);
    expect(metricValue(await t.app.ctx.registry.metrics(), 'clickstream_admin_refused_total', { reason: 'throttled' })).toBe(2);
  });
});
