import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, startTestApp } from '../../helpers/collect-client';

let t: Awaited<ReturnType<typeof startTestApp>>;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.stop();
});

describe('admin server', () => {
  it('admin - /healthz and /readyz answer while the app runs', async () => {
    expect(await (await adminFetch(`${t.admin}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await adminFetch(`${t.admin}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('admin - /openapi.json lists the admin routes, including ones other components registered', async () => {
    const doc = (await (await adminFetch(`${t.admin}/openapi.json`)).json()) as { openapi: string; paths: Record<string, Record<string, { summary: string; parameters: Array<{ name: string; in: string; required: boolean }> }>> };
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of ['/metrics', '/healthz', '/readyz', '/v1/quarantine', '/openapi.json']) expect(Object.keys(doc.paths)).toContain(p);
    expect(doc.paths['/v1/quarantine']?.['get']?.parameters).toContainEqual(expect.objectContaining({ name: 'site', in: 'query', required: true }));
    // every path an admin route registered is documented, not only the spine's own
    expect(Object.keys(doc.paths).length).toBeGreaterThan(5);
  });

  it('admin - errors are JSON {error:{code,message}}: unknown route, missing parameter', async () => {
    const nf = await adminFetch(`${t.admin}/no/such/route`);
    expect(nf.status).toBe(404);
    expect(await nf.json()).toMatchObject({ error: { code: 'not_found', message: expect.any(String) } });
    const bad = await adminFetch(`${t.admin}/v1/quarantine`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: expect.any(String), message: expect.stringContaining('site') } });
  });

  it('admin - after stop every frame is told to retry and the admin port is closed', async () => {
    const other = await startTestApp();
    const stopped = other.app.stop();
    await stopped;
    // after stop the servers are closed; the gateway refuses with a retry
    const site = other.config.sites.get('demo');
    if (site === undefined) throw new Error('no demo');
    expect(other.app.gateway.collectSync(site, { transport: 'http', raw: '{}', limit: { maxBytes: 1024, tooLargeCode: 'body_too_large' }, client: undefined, userAgent: undefined })).toMatchObject({ kind: 'retry', reason: 'shutting_down' });
    await expect(fetch(`${other.admin}/readyz`)).rejects.toThrow();
  });
});
