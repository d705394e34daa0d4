import { afterEach, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config';
import { sendEventsOverSocket } from '../../../src/replay/replay-cli';
import { adminFetch, metricValue, startTestApp } from '../../helpers/collect-client';
import { pageViews } from '../../helpers/log-producers';
import { startNatsServer } from '../../helpers/nats-server';
import { until } from '../../helpers/until';

/**
 * A gateway-only instance (`INSTANCE_ROLE=gateway`): it collects, writes the log and answers acks, owns
 * no partition, and still answers for the whole site; the processing instance counts every event it
 * took. Real nats-server, two apps, a real WebSocket producer.
 */
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const pageViewsIn = async (admin: string): Promise<number> => {
  const u = (await (await adminFetch(`${admin}/v1/stats/usage?site=demo&window=PT1H&windows=100`)).json()) as { windows: Array<{ events: Record<string, number> }>; partial?: boolean };
  expect(u.partial).toBeUndefined();
  return u.windows.reduce((n, w) => n + (w.events['page_view'] ?? 0), 0);
};
const owned = async (admin: string): Promise<number> => metricValue(await (await adminFetch(`${admin}/metrics`)).text(), 'clickstream_cluster_partitions_owned');

it('a gateway owns no partition, every event it acknowledged is counted by the processing instance, and it answers for the whole site', async () => {
  const nats = await startNatsServer();
  cleanups.push(() => nats.stop());
  const p = await startTestApp({ natsUrl: nats.url, nats: { instanceId: 'p', leaseTtl: 'PT3S' } });
  cleanups.push(() => p.stop());
  const g = await startTestApp({ natsUrl: nats.url, nats: { instanceId: 'g', role: 'gateway', leaseTtl: 'PT3S' } });
  cleanups.push(() => g.stop());

  const events = pageViews('gw', 600);
  const sent = await sendEventsOverSocket(`${g.ws}/v1/collect?site=demo`, events, { batch: 50, rate: 0, pace: false, leadMs: 0, maxInFlight: 4, progress: false, userAgent: 'it', secret: 'demo-secret' });
  expect(sent.accepted).toBe(events.length);
  await until('the processing instance counted every page view the gateway took', async () => (await pageViewsIn(p.admin)) === events.length, 30_000);
  // Partitions: all with p, none with g, after several lease rounds.
  await new Promise((r) => setTimeout(r, 2_000));
  expect(await owned(g.admin)).toBe(0);
  expect(await owned(p.admin)).toBe(16);
  // The gateway answers for the whole site (gathered from p), and its lists name both instances.
  expect(await pageViewsIn(g.admin)).toBe(events.length);
  const recent = (await (await adminFetch(`${g.admin}/v1/events/recent?site=demo&limit=5`)).json()) as { items: unknown[]; instances: string[] };
  expect(recent.instances).toEqual(['g', 'p']);
  expect(recent.items).toHaveLength(5);
}, 120_000);

it('the gateway role fails closed: an unknown role, or a gateway with no one to leave the partitions to, is a config error', () => {
  expect(() => loadConfig({ NATS_URL: 'nats://127.0.0.1:4222', INSTANCE_ID: 'g', INSTANCE_ROLE: 'collector' }, {})).toThrow(/expected "all" or "gateway"/);
  expect(() => loadConfig({ NATS_URL: 'nats://127.0.0.1:4222', INSTANCE_ROLE: 'gateway' }, {})).toThrow(/INSTANCE_ID/);
  expect(() => loadConfig({ INSTANCE_ID: 'g', INSTANCE_ROLE: 'gateway' }, {})).toThrow(/NATS_URL/);
  expect(loadConfig({ NATS_URL: 'nats://127.0.0.1:4222', INSTANCE_ID: 'g', INSTANCE_ROLE: 'gateway' }, {}).nats.role).toBe('gateway');
});
