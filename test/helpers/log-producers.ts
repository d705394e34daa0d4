/**
 * Producers that resend until acknowledged, as clients of an outage must, and a reader of what the
 * event log stored: what the NATS-restart and cluster node-fault tests share.
 */
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { whenPlaced } from '../../src/cluster/when-placed';
import { decodeLogMessage, EVENTS_STREAM } from '../../src/log/event-log';
import type { WireEvent } from '../../src/replay/replay-cli';
import { batch } from './collect-client';

export const BATCH = 25;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a producer saw: the ids acknowledged, and how often it had to resend. */
export interface ProducerStats {
  readonly acked: Set<string>;
  retries: number;
  /** Answers other than an ack, by HTTP status or reply type. */
  readonly refusals: Map<string, number>;
}

export const producerStats = (): ProducerStats => ({ acked: new Set(), retries: 0, refusals: new Map() });

/** `n` page views, 10 ms apart, over 97 visitors, ids `<prefix>-<i>`. */
export function pageViews(prefix: string, n: number): WireEvent[] {
  const t0 = Date.now() - 60_000;
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, type: 'page_view', visitorId: `${prefix}-v${i % 97}`, ts: t0 + i * 10, url: `/p/${i % 13}` }));
}

/** Posts batches to /v1/collect, resending on anything but 200 (503 + Retry-After while the log is away). */
export async function httpProducer(base: string, evs: readonly WireEvent[], stats: ProducerStats, maxAttempts = 400): Promise<void> {
  for (let i = 0; i < evs.length; i += BATCH) {
    const b = evs.slice(i, i + BATCH);
    for (let attempt = 0; ; attempt++) {
      if (attempt > maxAttempts) throw new Error('HTTP batch never acknowledged');
      const res = await fetch(`${base}/v1/collect?site=demo`, { method: 'POST', headers: { authorization: 'Bearer demo-secret' }, body: JSON.stringify(batch(b, i)) }).catch(() => undefined);
      if (res?.status === 200) {
        await res.json();
        for (const e of b) stats.acked.add(e.id as string);
        break;
      }
      const why = res === undefined ? 'no answer' : String(res.status);
      await res?.arrayBuffer().catch(() => undefined);
      stats.refusals.set(why, (stats.refusals.get(why) ?? 0) + 1);
      stats.retries++;
      await sleep(100);
    }
  }
}

/** Requests on cm.ingest.demo from its own connection, resending on a retry reply, a timeout or no responders. */
export async function natsProducer(url: string, evs: readonly WireEvent[], stats: ProducerStats, maxAttempts = 400): Promise<void> {
  const nc = await connect({ servers: url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  try {
    for (let i = 0; i < evs.length; i += BATCH) {
      const b = evs.slice(i, i + BATCH);
      for (let attempt = 0; ; attempt++) {
        if (attempt > maxAttempts) throw new Error('NATS batch never acknowledged');
        const reply = await nc.request('cm.ingest.demo', JSON.stringify(batch(b, i)), { timeout: 8_000 }).catch(() => undefined);
        const body = reply === undefined ? undefined : (JSON.parse(new TextDecoder().decode(reply.data)) as { type?: string });
        if (body?.type === 'ack') {
          for (const e of b) stats.acked.add(e.id as string);
          break;
        }
        const why = body?.type ?? 'no answer';
        stats.refusals.set(why, (stats.refusals.get(why) ?? 0) + 1);
        stats.retries++;
        await sleep(100);
      }
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Every event id in CM_EVENTS with how often it is stored. */
export async function storedIds(url: string): Promise<Map<string, number>> {
  const nc = await connect({ servers: url.split(',') });
  try {
    const js = jetstream(nc);
    // Right after a cluster node came back the stream may still be electing a leader.
    const c = await whenPlaced(() => js.consumers.get(EVENTS_STREAM, { deliver_policy: DeliverPolicy.All }));
    const out = new Map<string, number>();
    for (;;) {
      const m = await c.next({ expires: 1_000 });
      if (m === null) break;
      const d = decodeLogMessage(m.data, Number(m.subject.slice(m.subject.lastIndexOf('.') + 1)));
      if (d.kind !== 'ok') throw new Error(`unreadable log message at ${m.seq}`);
      for (const r of d.records) if (r.type !== 'tick') out.set(r.id, (out.get(r.id) ?? 0) + 1);
      if (m.info.pending === 0) break;
    }
    return out;
  } finally {
    await nc.close();
  }
}
