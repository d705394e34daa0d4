/**
 * Event → offer latency while the app is under ingest load (issue "A lean hot path": p99 ≤ 5 ms must,
 * ≤ 2 ms goal, with 50 k ev/s coming in from another process).
 *
 * Three processes on 127.0.0.1: this one runs the real app (embedded mode, demo site, rules A ⇒ B
 * seeded by baskets) and measures its event-loop delay; a load process sends page views of products
 * without rules over 4 WebSockets at the target rate (frames of 200, at most 8 unacknowledged frames
 * per socket, a frame told to retry is sent again later); a probe process sends one page view of
 * product A every 20 ms as a fresh visitor and times it to the `{"type":"offer"}` on its own socket.
 * Bounded: BENCH_SECONDS (default 20) of load, then everything stops.
 * Run: `npx tsx bench/offers-under-load.bench.ts` (BENCH_RATE=events/s, default 50 000) — prints a
 * table, writes bench/results/offers-under-load.json.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import type { RawData } from 'ws';
import { createApp } from '../src/app';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/logger';
import { frame, open, seedRules, shopper } from './offer-shoppers';

const ROLE = process.env['BENCH_ROLE'];
const RATE = Number(process.env['BENCH_RATE'] ?? 50_000);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 20);
const PER_FRAME = 200;
const SOCKETS = 4;
const WINDOW = 8;
const PROBE_EVERY_MS = 20;

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

/** The load process: RATE events/s over SOCKETS sockets for SECONDS, acks awaited per window. */
async function load(base: string): Promise<void> {
  const framesPerSecond = RATE / PER_FRAME;
  const stopAt = Date.now() + SECONDS * 1_000;
  let sent = 0;
  let acked = 0;
  let retried = 0;
  const reasons: Record<string, number> = {};
  let n = 0;
  const t0 = nowMs();
  await Promise.all(
    Array.from({ length: SOCKETS }, async (_, s) => {
      const ws = await open(`${base}/v1/collect?site=demo`);
      const frames = new Map<number, string>();
      let inFlight = 0;
      let seq = 0;
      let due = nowMs();
      const interval = (1_000 * SOCKETS) / framesPerSecond;
      await new Promise<void>((resolve) => {
        ws.on('message', (d: RawData) => {
          const m = JSON.parse(String(d)) as { type: string; seq: number; reason?: string };
          if (m.type === 'retry') {
            retried++;
            reasons[m.reason ?? '?'] = (reasons[m.reason ?? '?'] ?? 0) + 1;
            setTimeout(() => ws.send(frames.get(m.seq)!), 50);
            return;
          }
          if (m.type !== 'ack') return;
          acked += PER_FRAME;
          frames.delete(m.seq);
          inFlight--;
          if (Date.now() >= stopAt && inFlight === 0) resolve();
        });
        const pump = (): void => {
          if (Date.now() >= stopAt) {
            if (inFlight === 0) resolve();
            return;
          }
          while (inFlight < WINDOW && nowMs() >= due) {
            const now = Date.now();
            const events = Array.from({ length: PER_FRAME }, () => {
              const i = n++;
              const p = i % 500;
              return { id: `l${s}-${i}`, type: 'page_view', visitorId: `load-${i % 20_000}`, ts: now, url: `https://shop.example/product/p${p}`, product: { id: `p${p}`, category: `c${p % 20}` } };
            });
            const f = frame(++seq, events);
            frames.set(seq, f);
            ws.send(f);
            sent += PER_FRAME;
            inFlight++;
            due += interval;
          }
          setTimeout(pump, 1);
        };
        pump();
      });
      ws.close();
    }),
  );
  const seconds = (nowMs() - t0) / 1000;
  process.stdout.write(`${JSON.stringify({ sent, acked, retried, retryReasons: reasons, seconds, ackedPerSecond: acked / seconds })}\n`);
}

/** The probe process: a fresh visitor's page view of A every PROBE_EVERY_MS, timed to its offer. */
async function probe(base: string): Promise<void> {
  const ws = await open(`${base}/v1/collect?site=demo`);
  const started = new Map<string, number>();
  const ms: number[] = [];
  let missed = 0;
  ws.on('message', (d: RawData) => {
    const m = JSON.parse(String(d)) as { type: string; visitorId?: string };
    if (m.type !== 'offer' || m.visitorId === undefined) return;
    const t = started.get(m.visitorId);
    if (t === undefined) return;
    ms.push(nowMs() - t);
    started.delete(m.visitorId);
  });
  const stopAt = Date.now() + SECONDS * 1_000;
  for (let i = 0; Date.now() < stopAt; i++) {
    const { vk, visitorId } = shopper();
    started.set(visitorId, nowMs());
    ws.send(frame(i + 1, [{ id: `pr-${i}`, type: 'page_view', visitorId, ts: Date.now(), url: 'https://shop.example/product/A', product: { id: 'A' } }], vk));
    await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
  }
  await new Promise((r) => setTimeout(r, 2_000));
  missed = started.size;
  ws.close();
  process.stdout.write(`${JSON.stringify({ ms, missed })}\n`);
}

function child(role: string, base: string): Promise<string> {
  const p = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], { env: { ...process.env, BENCH_ROLE: role, BENCH_BASE: base }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => p.on('exit', (code) => (code === 0 ? resolve(out.trim().split('\n').pop() ?? '') : reject(new Error(`${role} exited ${String(code)}`)))));
}

if (ROLE === 'load') {
  await load(process.env['BENCH_BASE']!);
  process.exit(0);
}
if (ROLE === 'probe') {
  await probe(process.env['BENCH_BASE']!);
  process.exit(0);
}

const config = loadConfig({}, {
  port: 0,
  adminPort: 0,
  host: '127.0.0.1',
  time: { outOfOrderness: 'PT1S', idleTimeout: 'PT1S', tick: 100 },
  // One load process on one IP: every rate limit above what it sends (overload is the queue's to say).
  ingest: { rateLimitPerSecond: 10_000_000, rateLimitBurst: 10_000_000, rateLimitPerIpPerSecond: 10_000_000, rateLimitPerIpBurst: 10_000_000, rateLimitBytesPerSecond: 10_000_000_000, rateLimitBytesBurst: 10_000_000_000 },
  sites: [{ id: 'demo', secret: 'demo-secret', processors: { 'cross-sell': { recomputeEvery: 'PT1S' } } }],
});
const registry = new Registry();
const app = createApp({ config, logger: createLogger('silent'), registry });
const { port } = await app.start();
const base = `ws://127.0.0.1:${port}`;
// Rules A ⇒ B (40 × {A,B}, 40 × {C,D}, 20 × {A,C}), then wait until a visitor of A gets an offer.
{
  await seedRules(base);
  const warm = await open(`${base}/v1/collect?site=demo`);
  const deadline = Date.now() + 8_000;
  for (let i = 0; ; i++) {
    if (Date.now() > deadline) {
      const lines = (await registry.metrics()).split('\n').filter((x) => /offers_|cross_sell_rules|binding|rejected/.test(x) && !x.startsWith('#'));
      throw new Error(`no offer within 8 s: ${lines.join('; ')}`);
    }
    const got = new Promise<boolean>((resolve) => {
      const onMsg = (d: RawData) => {
        if ((JSON.parse(String(d)) as { type: string }).type === 'offer') {
          warm.off('message', onMsg);
          resolve(true);
        }
      };
      warm.on('message', onMsg);
      setTimeout(() => {
        warm.off('message', onMsg);
        resolve(false);
      }, 500).unref();
    });
    const { vk, visitorId } = shopper();
    warm.send(frame(i + 1, [{ id: `w-${i}`, type: 'page_view', visitorId, ts: Date.now(), url: 'https://shop.example/product/A', product: { id: 'A' } }], vk));
    if (await got) break;
  }
  warm.close();
}

const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
const [loadOut, probeOut] = await Promise.all([child('load', base), child('probe', base)]);
loop.disable();
await app.stop();
const l = JSON.parse(loadOut) as { sent: number; acked: number; retried: number; retryReasons: Record<string, number>; seconds: number; ackedPerSecond: number };
const p = JSON.parse(probeOut) as { ms: number[]; missed: number };
const sorted = p.ms.slice().sort((a, b) => a - b);
const result = {
  at: new Date().toISOString(),
  node: process.version,
  cores: cpus().length,
  targetRate: RATE,
  seconds: SECONDS,
  load: { ...l, ackedPerSecond: Math.round(l.ackedPerSecond), seconds: round(l.seconds) },
  probe: { offers: p.ms.length, missed: p.missed, p50Ms: round(quantile(sorted, 0.5)), p99Ms: round(quantile(sorted, 0.99)), maxMs: round(sorted[sorted.length - 1] ?? Number.NaN) },
  eventLoopDelay: { p50Ms: round(loop.percentile(50) / 1e6), p99Ms: round(loop.percentile(99) / 1e6), maxMs: round(loop.max / 1e6) },
};
console.log(JSON.stringify(result, null, 2));
const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'offers-under-load.json'), `${JSON.stringify(result, null, 2)}\n`);
process.exit(0);
