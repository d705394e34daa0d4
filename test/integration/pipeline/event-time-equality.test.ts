import { afterEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../src/app';
import { ManualClock } from '../../../src/clock';
import { loadConfig } from '../../../src/config';
import { createLogger } from '../../../src/logger';
import { digineticaEvents, kosarakEvents, readDigineticaViews, readKosarakSessions, readRetailBaskets, retailEvents } from '../../../src/replay/dataset-readers';
import { demoShopperEvents } from '../../../src/replay/demo-shoppers';
import { sendEventsOverSocket, type WireEvent } from '../../../src/replay/replay-cli';
import { appDigest, type AppDigest } from '../../helpers/app-digest';
import { dataFile, describeWithData } from '../../helpers/data';
import { mulberry32 } from '../../../src/replay/mulberry32';

/**
 * "Time is a function of the log" (issue: event time that tells the truth). The same real data is
 * sent five ways — (a) in order, (b) as a backlog after the server idled, (c) with batches swapped in
 * transit (different transit times), (d) in random batch sizes with odd pipeline slice sizes, (e)
 * backfilled at full speed over a real WebSocket — and every window of every processor (usage,
 * navigation, content) plus every rule set must hash the same; headline numbers are checked against a
 * brute-force count of the data; the demo shoppers' form events (start, fields, submit or abandon)
 * check that a form's figures follow event time, not arrival order. Each run ends with the same tick
 * record (event time past every session gap), as a quiet stream would.
 */

const MIN = 60_000;
const START = Date.UTC(2026, 10, 30, 9, 0, 0);
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
/**
 * A site whose bounded structures hold these data sets exactly: Space-Saving past its capacity is
 * approximate by design and may differ with arrival order (it says so with `error` and `exact`).
 */
const SITE = {
  id: 'eq',
  secret: 'eq-secret',
  allowedOrigins: ['*'],
  processors: { navigation: { maxTransitions: 500_000, maxPaths: 500_000, maxPages: 100_000 }, 'cross-sell': { recomputeEvery: 'PT5S' } },
};
const config = loadConfig({}, { logLevel: 'silent', sites: [SITE], time: { maxPagesPerSession: 2_000 } });
const site = config.sites.get('eq')!;
const limit = { maxBytes: config.ingest.maxFrameBytes, tooLargeCode: 'frame_too_large' } as const;
/** Event time the closing tick carries past the newest event: every session gap, no pane expires. */
const CLOSE_AFTER_MS = config.time.sessionGapMs + config.time.outOfOrdernessMs + config.time.idleTimeoutMs + 2 * config.time.paneMs;

const apps: App[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.stop();
});


function chunks<T>(xs: readonly T[], sizes: () => number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; ) {
    const n = Math.max(1, sizes());
    out.push(xs.slice(i, i + n));
    i += n;
  }
  return out;
}

const lastTs = (events: readonly WireEvent[]) => events.reduce((m, e) => Math.max(m, e.ts), 0);

/** An app in this process with a manual clock; frames go through the real gateway (decode, validate, dedupe, enrich). */
function inProcessApp(sliceEvents?: number) {
  const clock = new ManualClock(START);
  const app = createApp({ config, clock, logger: createLogger('silent'), ...(sliceEvents === undefined ? {} : { sliceEvents }) });
  apps.push(app);
  let seq = 0;
  const send = async (events: readonly WireEvent[], sentAt: number = clock.now()): Promise<void> => {
    const raw = JSON.stringify({ type: 'batch', seq: ++seq, sentAt, events });
    const r = app.gateway.collectSync(site, { transport: 'nats', raw, limit, client: undefined, userAgent: UA });
    if (r.kind !== 'ack' || r.ack.accepted !== events.length) throw new Error(`batch ${seq} not fully accepted: ${JSON.stringify(r)}`);
    if (app.pipeline.queueDepth > 20_000) await app.pipeline.drain();
  };
  /** In every scenario the newest event arrived in the last batch, so the tick is dated newest + CLOSE_AFTER_MS. */
  const close = async (): Promise<void> => {
    await app.pipeline.drain();
    clock.advance(CLOSE_AFTER_MS);
    app.pipeline.tick();
  };
  return { app, clock, send, close };
}

type Scenario = (events: WireEvent[]) => Promise<App>;

const scenarios: Record<string, Scenario> = {
  '(a) in order': async (events) => {
    const { app, clock, send, close } = inProcessApp();
    for (const b of chunks(events, () => 200)) {
      clock.set(Math.max(clock.now(), lastTs(b)));
      await send(b);
    }
    await close();
    return app;
  },
  '(b) backlog after the server idled': async (events) => {
    const { app, clock, send, close } = inProcessApp();
    const [first, ...rest] = chunks(events, () => 200);
    clock.set(lastTs(first!));
    await send(first!);
    await app.pipeline.drain();
    // Quiet for longer than the data spans: ticks move every partition past all of the rest.
    clock.set(lastTs(events) + 15 * MIN);
    app.pipeline.tick();
    clock.advance(10_000);
    app.pipeline.tick();
    for (const b of rest) await send(b);
    await close();
    return app;
  },
  '(c) batches swapped in transit': async (events) => {
    const { app, clock, send, close } = inProcessApp();
    const r = mulberry32(7);
    const bs = chunks(events, () => 200);
    for (let i = 0; i < bs.length; i += 2) {
      const pair = i + 1 < bs.length ? [bs[i + 1]!, bs[i]!] : [bs[i]!];
      clock.set(Math.max(clock.now(), lastTs(bs[i + 1] ?? bs[i]!)) + 3_000);
      // Each batch took its own transit time (0–4 s): per-batch skew correction would shift them differently.
      for (const b of pair) await send(b, clock.now() - Math.floor(r() * 4_000));
    }
    await close();
    return app;
  },
  '(d) random batch and slice sizes': async (events) => {
    const { app, clock, send, close } = inProcessApp(7);
    const r = mulberry32(11);
    for (const b of chunks(events, () => 1 + Math.floor(r() * 500))) {
      clock.set(Math.max(clock.now(), lastTs(b)));
      await send(b);
      if (r() < 0.1) await app.pipeline.drain();
    }
    await close();
    return app;
  },
  '(e) backfilled at full speed over a WebSocket': async (events) => {
    // A real server on loopback; its clock stands at the end of the data while the backfill runs.
    const clock = new ManualClock(lastTs(events) + 1_000);
    const app = createApp({ config: loadConfig({}, { logLevel: 'silent', port: 0, adminPort: 0, host: '127.0.0.1', sites: [SITE], time: { maxPagesPerSession: 2_000 } }), clock, logger: createLogger('silent') });
    apps.push(app);
    const { port } = await app.start();
    const counts = await sendEventsOverSocket(`ws://127.0.0.1:${port}/v1/collect?site=eq`, events, {
      batch: 200,
      rate: 0,
      pace: false,
      leadMs: 0,
      progress: false,
      userAgent: UA,
      secret: site.secret,
      maxInFlight: 16,
      clock, // the sender's clock agrees with the server's: no skew to correct
    });
    expect(counts.accepted).toBe(events.length);
    await app.pipeline.drain();
    clock.advance(CLOSE_AFTER_MS);
    app.pipeline.tick();
    await app.pipeline.drain();
    return app;
  },
};

async function hashesOf(events: WireEvent[]) {
  const out: Record<string, AppDigest> = {};
  for (const [name, run] of Object.entries(scenarios)) {
    const app = await run(events.map((e) => ({ ...e })));
    out[name] = appDigest(app, 'eq');
    await app.stop();
  }
  return out;
}

function expectAllEqual(d: Record<string, AppDigest>): void {
  const hashes = Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v.hash]));
  const first = Object.values(hashes)[0];
  expect(hashes).toEqual(Object.fromEntries(Object.keys(hashes).map((k) => [k, first])));
}

describe('event time - the same input, sent differently, gives identical windows and rules', () => {
  describeWithData('kosarak25k.txt', 'kosarak page views', (path) => {
    it('kosarak - every window and rule set hashes the same in all five scenarios, equal to a brute-force count', async () => {
      const sessions = readKosarakSessions(path).slice(0, 2_000);
      const events = kosarakEvents(sessions, { startMs: START }) as unknown as WireEvent[];
      const d = await hashesOf(events);
      expectAllEqual(d);
      // Brute force over the data: one session per line (3 s between clicks, far below the gap).
      const x = d['(a) in order']!;
      const days = x.usage.windows(24 * 60 * MIN, 10);
      expect(days.reduce((n, w) => n + w.pageViews, 0)).toBe(events.length);
      expect(days.reduce((n, w) => n + w.sessionsStarted, 0)).toBe(sessions.length);
      expect(days.reduce((n, w) => n + w.sessions.ended, 0)).toBe(sessions.length);
      expect(days.reduce((n, w) => n + w.sessions.bounces, 0)).toBe(sessions.filter((s) => s.length === 1).length);
      const navDays = x.nav.windows(24 * 60 * MIN, 10, { watermark: Number.POSITIVE_INFINITY });
      const transitions = navDays.reduce((n, w) => n + w.transitions.reduce((m, t) => m + t.count, 0), 0);
      expect(transitions).toBe(sessions.reduce((n, s) => n + s.length - 1, 0));
    }, 240_000);
  });

  describeWithData('diginetica_sample_train-item-views.csv', 'diginetica item views', (path) => {
    it('diginetica - every window and rule set hashes the same in all five scenarios; 12,391 views in 2,986 sessions', async () => {
      const events = digineticaEvents(readDigineticaViews(path), { startMs: START }) as unknown as WireEvent[];
      const d = await hashesOf(events);
      expectAllEqual(d);
      const days = d['(a) in order']!.usage.windows(24 * 60 * MIN, 10);
      expect(days.reduce((n, w) => n + w.pageViews, 0)).toBe(12_391);
      expect(days.reduce((n, w) => n + w.sessionsStarted, 0)).toBe(2_986);
      expect(days.reduce((n, w) => n + w.sessions.ended, 0)).toBe(2_986);
    }, 240_000);
  });

  describeWithData('retail.dat', 'retail purchases', (path) => {
    it('retail - every window and rule set hashes the same in all five scenarios; rule counts equal a brute-force basket count', async () => {
      const baskets = readRetailBaskets(path).slice(0, 3_000);
      const events = retailEvents(baskets, { startMs: START }) as unknown as WireEvent[];
      const d = await hashesOf(events);
      expectAllEqual(d);
      const rs = d['(a) in order']!.cross.current();
      const purchase = rs.rules.filter((r) => r.kind === 'association' && r.level === 'product' && r.source === 'purchase');
      expect(purchase.length).toBeGreaterThan(0);
      const sets = baskets.map((b) => new Set(b));
      for (const r of purchase) {
        const items = [...r.antecedent, ...r.consequent];
        expect(r.count).toBe(sets.filter((s) => items.every((i) => s.has(i))).length);
      }
      expect(rs.baskets.purchase).toBe(baskets.length);
    }, 240_000);
  });
});

describe('event time - form events in any arrival order', () => {
  it('demo shoppers - forms (start, fields, submit or abandon) hash the same in all five scenarios; abandons, their last fields and times to complete equal a brute force over the events in time order', async () => {
    const events = demoShopperEvents({ seed: 5, shoppers: 600, startMs: START, runId: 'eq' }) as unknown as WireEvent[];
    const d = await hashesOf(events);
    expectAllEqual(d);
    // Brute force: each visitor's checkout events in (time, seq) order; an abandon's last field is the
    // newest field event before it, a submit's time to complete runs from the first start or field.
    const byVisitor = new Map<string, WireEvent[]>();
    for (const e of events) if (e.type === 'form' && e['formId'] === 'checkout') byVisitor.set(String(e['visitorId']), [...(byVisitor.get(String(e['visitorId'])) ?? []), e]);
    const lastFields = new Map<string, number>();
    let ttcSumMs = 0;
    let submits = 0;
    for (const list of byVisitor.values()) {
      list.sort((a, b) => a.ts - b.ts || Number(a['seq'] ?? 0) - Number(b['seq'] ?? 0));
      let start: number | undefined;
      let last: string | undefined;
      for (const e of list) {
        const action = e['action'];
        if (action === 'start' || action === 'field') {
          start ??= e.ts;
          if (typeof e['field'] === 'string') last = e['field'];
        } else if (action === 'submit' && start !== undefined) {
          ttcSumMs += e.ts - start;
          submits++;
          start = last = undefined;
        } else if (action === 'abandon') {
          const f = typeof e['field'] === 'string' ? e['field'] : (last ?? '(none)');
          lastFields.set(f, (lastFields.get(f) ?? 0) + 1);
          start = last = undefined;
        }
      }
    }
    expect(submits).toBeGreaterThan(0);
    expect([...lastFields.values()].reduce((n, c) => n + c, 0)).toBeGreaterThan(0);
    const forms = d['(a) in order']!.usage.windows(24 * 60 * MIN, 10).flatMap((w) => w.forms.filter((f) => f.formId === 'checkout'));
    const got = new Map<string, number>();
    for (const f of forms) for (const { field, count } of f.lastFieldBeforeAbandon) got.set(field, (got.get(field) ?? 0) + count);
    expect(Object.fromEntries([...got].sort())).toEqual(Object.fromEntries([...lastFields].sort()));
    const ttc = forms.map((f) => f.timeToCompleteSeconds).filter((q) => q !== null);
    expect(ttc.reduce((n, q) => n + q!.count, 0)).toBe(submits);
    expect(ttc.reduce((n, q) => n + q!.mean * q!.count, 0)).toBeCloseTo(ttcSumMs / 1000, 6);
  }, 240_000);
});

describe('event time - data present', () => {
  it('has the three data sets (or skips above with their names)', () => {
    expect(['kosarak25k.txt', 'diginetica_sample_train-item-views.csv', 'retail.dat'].map((f) => dataFile(f) !== undefined || process.env['CM_REQUIRE_DATA'] !== '1')).toEqual([true, true, true]);
  });
});
