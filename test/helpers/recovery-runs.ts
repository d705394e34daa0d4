/**
 * What the recovery and scale-out tests share: spawned servers fed a data set over WebSocket, with
 * late events and a closing marker appended, a storefront watching offers, and the wait until the
 * statistics settle (every session closed, everything read back, two reads a tick apart agreeing).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { sendEventsOverSocket, type DeliveryCounts, type WireEvent } from '../../src/replay/replay-cli';
import { httpDigest, type HttpDigest } from './http-digest';
import type { SpawnedServer } from './spawned-server';
import { until } from './until';

export const MIN = 60_000;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
/** The data sits well inside the retained day and ends over an hour before the closing marker. */
export const DATA_START = Math.floor((Date.now() - 3 * 60 * MIN) / (5 * MIN)) * (5 * MIN);
/** Events appended far too late to count. */
export const LATE = 5;

/**
 * A config file for the demo site with bounded structures that hold these data sets exactly:
 * Space-Saving past its capacity is approximate by design (it says so with `error` and `exact`), and
 * its approximation depends on the order partitions interleave, which a restart changes.
 */
export function exactConfigFile(nextBestOffer: Record<string, unknown> = {}): { readonly file: string; readonly remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cm-runs-'));
  const file = join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({
      sites: [{ id: 'demo', processors: { 'cross-sell': { recomputeEvery: 'PT5S' }, 'next-best-offer': nextBestOffer, usage: { goldenCapacity: 10_000 }, navigation: { maxTransitions: 500_000, maxPaths: 500_000, maxPages: 100_000 } } }],
    }),
  );
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Appends the late events (older than any pane a watermark past the data keeps) and the closing marker. */
export function withLateAndMarker(events: WireEvent[]): { all: WireEvent[]; markerTs: number } {
  const late: WireEvent[] = [];
  for (let i = 0; i < LATE; i++) {
    const v = events[i * 7]!;
    late.push({ id: `late-${i}`, type: 'page_view', visitorId: String(v['visitorId']), ts: DATA_START - 26 * 60 * MIN, url: '/late' });
  }
  const markerTs = Date.now();
  return { all: [...events, ...late, { id: 'marker', type: 'page_view', visitorId: 'marker-visitor', ts: markerTs, url: '/marker' }], markerTs };
}

/** Sends over the server's collect socket as the snippet does: reconnects and resends what was not acknowledged. */
export function send(server: SpawnedServer, events: readonly WireEvent[]): Promise<DeliveryCounts> {
  return sendEventsOverSocket(server.collectUrl, events, { batch: 50, rate: 0, pace: false, leadMs: 0, maxInFlight: 4, progress: false, userAgent: UA, secret: 'demo-secret' });
}

/** A storefront subscribed to WS /v1/offers that reconnects whenever the server comes back; records every trigger id. */
export function offerWatcher(server: SpawnedServer): { ids: string[]; close: () => void } {
  const ids: string[] = [];
  let closed = false;
  let ws: WebSocket | undefined;
  const open = (): void => {
    if (closed) return;
    ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/offers?site=demo`, { headers: { authorization: 'Bearer demo-subscriber-secret' } });
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { type?: string; triggerId?: string };
      if (m.type === 'offer' && typeof m.triggerId === 'string') ids.push(m.triggerId);
    });
    ws.on('error', () => undefined);
    ws.on('close', () => setTimeout(open, 200));
  };
  open();
  return {
    ids,
    close: () => {
      closed = true;
      ws?.terminate();
    },
  };
}

/** Waits until event time is past every session of the data, everything is read back, and two reads a tick apart agree. */
export async function settle(server: SpawnedServer, lastDataTs: number): Promise<HttpDigest> {
  await until(
    'the watermark past the data and every session gap',
    async () => (await httpDigest(server, lastDataTs + 1)).watermark > lastDataTs + 40 * MIN && (await server.metric('clickstream_log_consumer_lag_messages')) === 0,
    60_000,
  );
  let prev = await httpDigest(server, lastDataTs + 1);
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 1_500));
    const next = await httpDigest(server, lastDataTs + 1);
    if (next.hash === prev.hash && next.events === prev.events) return next;
    prev = next;
  }
  return prev;
}
