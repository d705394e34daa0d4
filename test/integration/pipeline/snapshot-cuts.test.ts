import { writeFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { createApp, type App } from '../../../src/app';
import { ManualClock } from '../../../src/clock';
import { loadConfig } from '../../../src/config';
import { createLogger } from '../../../src/logger';
import { configDigest, decodeState, encodeState } from '../../../src/persistence/state-file';
import { digineticaEvents, readDigineticaViews, readRetailBaskets, retailEvents } from '../../../src/replay/dataset-readers';
import { demoShopperEvents } from '../../../src/replay/demo-shoppers';
import type { WireEvent } from '../../../src/replay/replay-cli';
import { appDigest } from '../../helpers/app-digest';
import { describeWithData } from '../../helpers/data';
import { canonical } from '../../helpers/http-digest';

/**
 * A snapshot may be cut anywhere: after a kill -9 the last committed one is restored and the log is
 * read on from its position, so which events fell before the cut follows timing alone. For cuts
 * spread over a stream (the demo shoppers' views, cart clicks, forms, purchases and offers; retail
 * purchases; Diginetica views), a pipeline restored from the cut and fed the rest must end in exactly
 * the state of one never cut — the whole pipeline snapshot (every processor's panes, profiles and
 * their interests, pending sessions, offer state), not only the windows a query shows. Lists are
 * compared as sets: a sketch restored from a snapshot may hold the same keys in other slots. A look-up
 * a processor learned before the cut (a product's category) and left out of its snapshot shows here
 * as a profile that differs after a later cart click. Each cut goes through the state file's encoding,
 * so panes come back as unparsed texts (built on first use) as they do after a restart.
 */

const MIN = 60_000;
const START = Math.floor(Date.UTC(2026, 10, 30, 9) / MIN) * MIN;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const BATCH = 50;
const config = loadConfig(
  {},
  {
    logLevel: 'silent',
    sites: [{ id: 'demo', secret: 'demo-secret', allowedOrigins: ['*'], processors: { 'cross-sell': { recomputeEvery: 'PT5S' }, usage: { goldenCapacity: 10_000 }, navigation: { maxTransitions: 500_000, maxPaths: 500_000, maxPages: 100_000 } } }],
  },
);
const site = config.sites.get('demo')!;
const limit = { maxBytes: config.ingest.maxFrameBytes, tooLargeCode: 'frame_too_large' } as const;

const apps: App[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.stop();
});

function newApp(): { app: App; clock: ManualClock } {
  const clock = new ManualClock(START);
  const app = createApp({ config, clock, logger: createLogger('silent') });
  apps.push(app);
  return { app, clock };
}

/** Sends batches [from, to) through the gateway, the clock following the data as a live stream's would, and drains. */
async function feed(app: App, clock: ManualClock, events: readonly WireEvent[], from: number, to: number): Promise<void> {
  for (let i = from; i < to; i += BATCH) {
    const b = events.slice(i, Math.min(to, i + BATCH));
    clock.set(Math.max(clock.now(), ...b.map((e) => e.ts)));
    const r = app.gateway.collectSync(site, { transport: 'nats', raw: JSON.stringify({ type: 'batch', seq: i, sentAt: clock.now(), events: b }), limit, client: undefined, userAgent: UA });
    if (r.kind !== 'ack' || r.ack.accepted !== b.length) throw new Error(`batch at ${i} not fully accepted: ${JSON.stringify(r)}`);
    await app.pipeline.drain();
  }
}

/** Every session closed, every rule set mined: the tick a quiet stream would bring. */
async function close(app: App, clock: ManualClock): Promise<string> {
  clock.advance(3 * 60 * MIN);
  app.pipeline.tick();
  await app.pipeline.drain();
  const snap = JSON.parse(JSON.stringify(app.pipeline.snapshot())) as { partitions: Array<{ sites: Record<string, { processors: Record<string, Record<string, unknown>> }> }> };
  // The cross-sell panes' counts show in the rules (appDigest). Their snapshot form — which baskets
  // are still buffered, which counted — follows when a buffer last flushed, which a restore moves.
  for (const part of snap.partitions) for (const s of Object.values(part.sites)) delete s.processors['cross-sell']?.['streams'];
  return JSON.stringify(canonical(snap as never));
}

/** A new app restored from `from`'s pipeline snapshot as a restart reads it: encoded as a state file is, decoded again. */
async function restoredFrom(from: { app: App; clock: ManualClock }): Promise<{ app: App; clock: ManualClock }> {
  const digest = configDigest(config);
  const decoded = await decodeState<ReturnType<App['pipeline']['snapshot']>>(await encodeState(digest, from.clock.now(), from.app.pipeline.snapshot()), digest);
  if (decoded.kind !== 'ok') throw new Error(decoded.reason);
  const resumed = newApp();
  resumed.clock.set(from.clock.now());
  resumed.app.pipeline.restore(decoded.envelope.state);
  return resumed;
}

/** Restores from cuts at these fractions of the stream (batch boundaries) and compares each resumed run with the uncut one. */
async function expectEveryCutEqual(events: readonly WireEvent[]): Promise<void> {
  const whole = newApp();
  await feed(whole.app, whole.clock, events, 0, events.length);
  const expected = await close(whole.app, whole.clock);
  const expectedDigest = appDigest(whole.app, 'demo').hash;

  const batches = Math.ceil(events.length / BATCH);
  for (const k of [1, Math.floor(batches / 5), Math.floor(batches / 3), Math.floor(batches / 2), Math.floor((2 * batches) / 3), batches - 2]) {
    const cut = k * BATCH;
    const first = newApp();
    await feed(first.app, first.clock, events, 0, cut);
    let resumed = await restoredFrom(first);
    // The middle cut is cut once more on the way: a snapshot of a restored pipeline writes the panes
    // it has not used since as the texts it restored them from.
    const again = k === Math.floor(batches / 2) ? cut + Math.floor((batches - k) / 2) * BATCH : events.length;
    await feed(resumed.app, resumed.clock, events, cut, again);
    if (again < events.length) {
      resumed = await restoredFrom(resumed);
      await feed(resumed.app, resumed.clock, events, again, events.length);
    }
    const got = await close(resumed.app, resumed.clock);
    expect(appDigest(resumed.app, 'demo').hash, `windows and rules after a cut at event ${cut}`).toBe(expectedDigest);
    const dump = process.env['CM_DIGEST_DUMP'];
    if (dump !== undefined && got !== expected) {
      writeFileSync(`${dump}-cut-expected.json`, expected);
      writeFileSync(`${dump}-cut-${cut}.json`, got);
    }
    expect(got === expected, `the whole pipeline state after a cut at event ${cut}`).toBe(true);
  }
}

it('snapshot cuts - restored from a cut anywhere in the demo shoppers, the pipeline ends in the state of a run never cut (whole snapshot, not just windows)', async () => {
  const events = demoShopperEvents({ seed: 11, shoppers: 400, startMs: START, runId: 'cut' }) as unknown as WireEvent[];
  // The stream holds what the processors learn from one event and use at a later one.
  expect(events.some((e) => e.type === 'click' && (e['target'] as { kind?: string } | undefined)?.kind === 'button')).toBe(true);
  expect(events.some((e) => e.type === 'form' && e['action'] === 'submit')).toBe(true);
  await expectEveryCutEqual(events);
}, 120_000);

describeWithData('retail.dat', 'snapshot cuts - retail purchases (baskets, visitor sequences)', (path) => {
  it('restored from any cut, the whole pipeline state equals a run never cut', async () => {
    // 300 visitors buy in turn, five times each: visitor purchase sequences span the cuts.
    const events = retailEvents(readRetailBaskets(path).slice(0, 1_500), { startMs: START, sessionSpacingMs: 1_000 }).map((e, i) => ({ ...e, visitorId: `r-v${i % 300}` })) as unknown as WireEvent[];
    await expectEveryCutEqual(events);
  }, 120_000);
});

describeWithData('diginetica_sample_train-item-views.csv', 'snapshot cuts - Diginetica item views (navigation, content, view sequences)', (path) => {
  it('restored from any cut, the whole pipeline state equals a run never cut', async () => {
    const events = digineticaEvents(readDigineticaViews(path).slice(0, 3_000), { startMs: START }) as unknown as WireEvent[];
    await expectEveryCutEqual(events);
  }, 120_000);
});
