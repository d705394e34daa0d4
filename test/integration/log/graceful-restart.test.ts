import { afterEach, describe, expect, it } from 'vitest';
import { kosarakEvents, readKosarakSessions } from '../../../src/replay/dataset-readers';
import { sendEventsOverSocket, type WireEvent } from '../../../src/replay/replay-cli';
import { appDigest } from '../../helpers/app-digest';
import { startTestApp } from '../../helpers/collect-client';
import { describeWithData } from '../../helpers/data';
import { startNatsServer } from '../../helpers/nats-server';
import { until } from '../../helpers/until';
import { UsageView } from '../../../processors/usage/usage-processor';

/**
 * NATS mode, SIGTERM then start (in process, a real nats-server): the stopped app's final snapshot
 * plus the log give the new app exactly the state the old one stopped with — every window of every
 * processor and every rule set hashes the same — and its first batches are counted on top.
 */
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describeWithData('kosarak25k.txt', 'NATS mode: graceful restart', (path) => {
  it('stop then start - the restored app holds exactly the state the stopped one had', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.stop());
    const overrides = { natsUrl: nats.url, ingest: { dedupeCapacity: 100_000 }, sites: [{ id: 'demo', processors: { navigation: { maxTransitions: 500_000, maxPaths: 500_000, maxPages: 100_000 } } }] };
    const a = await startTestApp(overrides);
    const events = kosarakEvents(readKosarakSessions(path).slice(0, 1_000), { startMs: Date.now() - 2 * 3_600_000, sessionSpacingMs: 2_000 }) as unknown as WireEvent[];
    const counts = await sendEventsOverSocket(`${a.ws}/v1/collect?site=demo`, events, { batch: 100, rate: 0, pace: false, leadMs: 0, maxInFlight: 4, progress: false, userAgent: 'it', secret: 'demo-secret' });
    expect(counts.accepted).toBe(events.length);
    const usage = (app: typeof a.app) => (app.pipeline.processor('demo', 'usage') as UsageView).windows(3_600_000, 48).reduce((s, w) => s + w.events.page_view, 0);
    await until('everything processed', () => usage(a.app) === events.length, 30_000);
    await a.stop();
    const before = appDigest(a.app, 'demo').hash;

    const b = await startTestApp(overrides);
    cleanups.push(() => b.stop());
    expect(usage(b.app)).toBe(events.length);
    expect(JSON.parse(appDigest(b.app, 'demo').hash)).toEqual(JSON.parse(before));
  }, 120_000);
});
