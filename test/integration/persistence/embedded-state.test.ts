import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../src/app';
import { ManualClock } from '../../../src/clock';
import { loadConfig } from '../../../src/config';
import { createLogger } from '../../../src/logger';
import { appDigest } from '../../helpers/app-digest';
import { adminFetch, TEST_ADMIN_TOKEN, connectWs, metricValue } from '../../helpers/collect-client';
import { freePort } from '../../helpers/nats-server';
import { until } from '../../helpers/until';

/**
 * Embedded mode is durable (issue "Durable by default", its embedded part): the state snapshots to
 * DATA_DIR atomically, every `persistence.snapshotInterval` and on SIGTERM, and is restored at boot.
 * SIGTERM then start gives the same statistics and rules as a run never stopped; kill -9 loses at
 * most what was acknowledged after the last snapshot; a corrupt or foreign state file is refused,
 * set aside and the server starts fresh.
 */

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const cli = join(root, 'dist', 'cli.js');
const MIN = 60_000;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36';
const dirs: string[] = [];
const procs: ChildProcess[] = [];
const apps: App[] = [];

beforeAll(() => {
  if (!existsSync(cli)) execFileSync(process.execPath, [join(root, 'src', 'scripts', 'build.mjs')], { cwd: root });
});
afterEach(async () => {
  for (const a of apps.splice(0)) await a.stop();
});
afterAll(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cm-state-'));
  dirs.push(d);
  return d;
}

/** A deterministic shop stream: page views, add-to-cart clicks and purchases of 60 visitors. */
function shop(start: number, n: number, offset = 0): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (let i = 0; i < n; i++) {
    const k = i + offset;
    const v = `v${k % 60}`;
    const ts = start + k * 2_000;
    if (k % 7 === 6) out.push({ id: `e${k}`, type: 'form', visitorId: v, ts, url: '/checkout', formId: 'checkout', action: 'submit', items: [{ productId: `p${k % 5}`, quantity: 1, price: 10 }, { productId: `p${(k + 1) % 5}`, quantity: 1, price: 4 }] });
    else out.push({ id: `e${k}`, type: 'page_view', visitorId: v, ts, url: `/product/p${k % 9}`, product: { id: `p${k % 5}`, category: `c${k % 3}` } });
  }
  return out;
}

describe('embedded state - in process, a manual clock', () => {
  const config = (dataDir?: string) => loadConfig({}, { logLevel: 'silent', port: 0, adminPort: 0, host: '127.0.0.1', ...(dataDir === undefined ? {} : { dataDir }), persistence: { snapshotInterval: 'PT1H' } });

  async function run(dataDir: string | undefined, clock: ManualClock, events: Array<Record<string, unknown>>): Promise<App> {
    const app = createApp({ config: config(dataDir), clock, logger: createLogger('silent') });
    apps.push(app);
    const site = app.ctx.config.sites.get('demo')!;
    await app.start();
    for (let i = 0; i < events.length; i += 50) {
      const b = events.slice(i, i + 50);
      clock.set(Math.max(clock.now(), ...b.map((e) => e['ts'] as number)));
      const r = app.gateway.collectSync(site, { transport: 'nats', raw: JSON.stringify({ type: 'batch', seq: i, sentAt: clock.now(), events: b }), limit: { maxBytes: 1e7, tooLargeCode: 'frame_too_large' }, client: undefined, userAgent: UA });
      expect(r.kind === 'ack' && r.ack.accepted).toBe(b.length);
    }
    return app;
  }

  it('stop then start - the restored app continues exactly like one that never stopped (every window and rule set hashes the same)', async () => {
    const T0 = Math.floor(Date.UTC(2026, 11, 1, 9) / MIN) * MIN;
    const all = shop(T0, 1_200);
    const [first, second] = [all.slice(0, 700), all.slice(700)];
    const dir = tempDir();

    const clockA = new ManualClock(T0);
    const a1 = await run(dir, clockA, first);
    await a1.stop(); // drains, writes the final snapshot
    apps.splice(apps.indexOf(a1), 1);
    expect(readdirSync(dir)).toContain('state.json.gz');
    const a2 = await run(dir, clockA, second);
    // The dedupe ids survived too: a client's retry of an event acked before the restart is a duplicate.
    const site = a2.ctx.config.sites.get('demo')!;
    const retry = a2.gateway.collectSync(site, { transport: 'nats', raw: JSON.stringify({ type: 'batch', seq: 1, sentAt: clockA.now(), events: [first[600]] }), limit: { maxBytes: 1e7, tooLargeCode: 'frame_too_large' }, client: undefined, userAgent: UA });
    expect(retry.kind === 'ack' && retry.ack.duplicates).toBe(1);
    await a2.pipeline.drain();
    clockA.advance(40 * MIN);
    a2.pipeline.tick();
    await a2.pipeline.drain();

    const clockB = new ManualClock(T0);
    const b = await run(undefined, clockB, all);
    await b.pipeline.drain();
    clockB.advance(40 * MIN);
    b.pipeline.tick();
    await b.pipeline.drain();

    expect(appDigest(a2, 'demo').hash).toBe(appDigest(b, 'demo').hash);
  });

  it('a shutdown whose timeout runs out before the queue drained keeps the queued events: the next start counts them', async () => {
    const dir = tempDir();
    const T0 = Math.floor(Date.UTC(2026, 11, 1, 9) / MIN) * MIN;
    const clock = new ManualClock(T0);
    const cfg = loadConfig({}, { logLevel: 'silent', port: 0, adminPort: 0, host: '127.0.0.1', dataDir: dir, shutdownTimeout: 0, ingest: { queueCapacity: 50_000 } });
    // Tiny slices: the queue needs ~1,200 event-loop turns, far more than a zero shutdown budget allows.
    const a = createApp({ config: cfg, clock, logger: createLogger('silent'), sliceEvents: 5 });
    apps.push(a);
    await a.start();
    const site = cfg.sites.get('demo')!;
    const events = shop(T0, 6_000);
    for (let i = 0; i < events.length; i += 500) {
      const b = events.slice(i, i + 500);
      clock.set(Math.max(clock.now(), ...b.map((e) => e['ts'] as number)));
      const r = a.gateway.collectSync(site, { transport: 'nats', raw: JSON.stringify({ type: 'batch', seq: i, sentAt: clock.now(), events: b }), limit: { maxBytes: 1e7, tooLargeCode: 'frame_too_large' }, client: undefined, userAgent: UA });
      expect(r.kind === 'ack' && r.ack.accepted).toBe(b.length);
    }
    const report = await a.stop(); // no time to drain: what is still queued goes into the snapshot
    apps.splice(apps.indexOf(a), 1);
    const b = createApp({ config: cfg, clock, logger: createLogger('silent') });
    apps.push(b);
    await b.start();
    await b.pipeline.drain();
    const usage = b.pipeline.processor('demo', 'usage') as unknown as { windows: (s: number, n: number) => Array<{ events: Record<string, number> }> };
    const counted = usage.windows(MIN, 1_000).reduce((k, w) => k + (w.events['page_view'] ?? 0) + (w.events['form'] ?? 0), 0);
    expect(counted).toBe(6_000);
    // The report says so: the timeout cut the drain short.
    expect(report.drained).toBe(false);
    expect(report.queued).toBeGreaterThan(0);
  });

  it('a corrupt state file and one from another configuration are refused, set aside, and the server starts fresh', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'state.json.gz'), 'not gzip at all');
    const clock = new ManualClock(Date.UTC(2026, 11, 1, 9));
    const app = await run(dir, clock, shop(clock.now(), 10));
    expect(metricValue(await app.ctx.registry.metrics(), 'clickstream_restore_refused_total')).toBe(1);
    expect(readdirSync(dir).some((f) => f.startsWith('state.refused-'))).toBe(true);
    await app.stop();
    apps.splice(apps.indexOf(app), 1);
    // The same directory under another partition count: refused with its reason, never half-applied.
    const other = createApp({ config: loadConfig({}, { logLevel: 'silent', port: 0, adminPort: 0, host: '127.0.0.1', dataDir: dir, partitions: 8 }), clock, logger: createLogger('silent') });
    apps.push(other);
    await other.start();
    expect(metricValue(await other.ctx.registry.metrics(), 'clickstream_restore_refused_total')).toBe(1);
    const usage = other.pipeline.processor('demo', 'usage') as unknown as { windows: (s: number, n: number) => Array<{ pageViews: number }> };
    expect(usage.windows(MIN, 100).reduce((k, w) => k + w.pageViews, 0)).toBe(0);
  });
});

describe('embedded state - the built server, real processes', () => {
  async function start(dataDir: string, extra: Record<string, string> = {}) {
    const [port, adminPort] = [await freePort(), await freePort()];
    const proc = spawn(process.execPath, [cli, 'serve'], {
      cwd: root,
      env: { ...process.env, PORT: String(port), ADMIN_PORT: String(adminPort), HOST: '127.0.0.1', LOG_LEVEL: 'warn', NATS_URL: '', DATA_DIR: dataDir, ADMIN_TOKEN: TEST_ADMIN_TOKEN, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(proc);
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    for (let i = 0; ; i++) {
      try {
        if ((await adminFetch(`http://127.0.0.1:${adminPort}/readyz`)).status === 200) break;
      } catch {
        // not listening yet
      }
      if (i > 400) throw new Error(`server did not become ready: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const admin = async (path: string) => (await adminFetch(`http://127.0.0.1:${adminPort}${path}`)).json() as Promise<Record<string, unknown>>;
    const metrics = async () => (await adminFetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    return { proc, port, admin, metrics, exited, stderr: () => stderr };
  }

  async function send(port: number, events: Array<Record<string, unknown>>): Promise<number> {
    const s = await connectWs(`ws://127.0.0.1:${port}/v1/collect?site=demo`, { 'user-agent': UA });
    let acked = 0;
    for (let i = 0; i < events.length; i += 100) {
      s.send({ type: 'batch', seq: i, sentAt: Date.now(), events: events.slice(i, i + 100) });
      let ack = await s.next();
      while (ack['type'] === 'offer') ack = await s.next(); // offers for this socket's visitors come on it too
      expect(ack['type']).toBe('ack');
      acked += ack['accepted'] as number;
    }
    s.ws.close();
    return acked;
  }

  /** Counts that do not move with the wall clock: event totals, sessions started, transitions, purchase rules. */
  async function counts(admin: (p: string) => Promise<Record<string, unknown>>) {
    const u = (await admin('/v1/stats/usage?site=demo&window=PT1H&windows=10')) as { windows: Array<{ pageViews: number; events: Record<string, number>; sessionsStarted: number; purchases: number; revenue: number }> };
    const n = (await admin('/v1/stats/navigation?site=demo&window=PT1H&windows=10')) as { windows: Array<{ transitions: Array<{ count: number }>; sessions: number }> };
    const sum = <T>(xs: T[], f: (x: T) => number) => xs.reduce((k, x) => k + f(x), 0);
    return {
      pageViews: sum(u.windows, (w) => w.pageViews),
      forms: sum(u.windows, (w) => w.events['form'] ?? 0),
      sessionsStarted: sum(u.windows, (w) => w.sessionsStarted),
      purchases: sum(u.windows, (w) => w.purchases),
      revenue: sum(u.windows, (w) => w.revenue),
      transitions: sum(n.windows, (w) => sum(w.transitions, (t) => t.count)),
      entries: sum(n.windows, (w) => w.sessions),
    };
  }

  it('SIGTERM then start - every acknowledged event is counted after the restart, and the counts are those before it', async () => {
    const dir = tempDir();
    const s1 = await start(dir, { SNAPSHOT_INTERVAL: 'PT1H' });
    const events = shop(Date.now() - 10 * MIN, 600);
    expect(await send(s1.port, events)).toBe(600);
    // Acknowledged means queued: wait (with a deadline) until the processors have all 600.
    const before = await until('all events counted', async () => {
      const c = await counts(s1.admin);
      return c.pageViews + c.forms === 600 ? c : undefined;
    });
    s1.proc.kill('SIGTERM');
    expect(await s1.exited).toBe(0);
    const s2 = await start(dir, { SNAPSHOT_INTERVAL: 'PT1H' });
    expect(await counts(s2.admin)).toEqual(before);
    expect(metricValue(await s2.metrics(), 'clickstream_restore_duration_seconds')).toBeGreaterThan(0);
    s2.proc.kill('SIGTERM');
    expect(await s2.exited).toBe(0);
  }, 60_000);

  it('kill -9 - at most what was acknowledged after the last snapshot is lost; nothing acknowledged before it', async () => {
    const dir = tempDir();
    const s1 = await start(dir, { SNAPSHOT_INTERVAL: 'PT0.5S' });
    const a = shop(Date.now() - 10 * MIN, 300);
    expect(await send(s1.port, a)).toBe(300);
    // Wait for a snapshot written after every event of A was acknowledged.
    const after = metricValue(await s1.metrics(), 'clickstream_snapshots_total', { outcome: 'ok' });
    for (let i = 0; metricValue(await s1.metrics(), 'clickstream_snapshots_total', { outcome: 'ok' }) < after + 2; i++) {
      if (i > 200) throw new Error('no snapshot was written');
      await new Promise((r) => setTimeout(r, 50));
    }
    const b = shop(Date.now() - 10 * MIN, 200, 300);
    expect(await send(s1.port, b)).toBe(200);
    s1.proc.kill('SIGKILL');
    await s1.exited;
    const s2 = await start(dir, { SNAPSHOT_INTERVAL: 'PT1H' });
    const c = await counts(s2.admin);
    const counted = c.pageViews + c.forms;
    // Brute force: all of A was acknowledged before that snapshot; of B, whole batches of 100 at most (acked after it).
    expect(counted).toBeGreaterThanOrEqual(300);
    expect(counted).toBeLessThanOrEqual(500);
    expect(counted % 100).toBe(0);
    s2.proc.kill('SIGTERM');
    expect(await s2.exited).toBe(0);
  }, 60_000);
});
