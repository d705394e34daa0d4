import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock';
import { loadConfig } from '../../../src/config';
import type { EnrichedEvent } from '../../../src/events/enriched-event';
import { CollectGateway, type CollectRequest, type PipelineSink } from '../../../src/ingest/collect-gateway';
import { Quarantine, UNKNOWN_SITE } from '../../../src/ingest/quarantine';
import { createLogger } from '../../../src/logger';
import { createCoreMetrics, type CoreMetrics } from '../../../src/metrics/core-metrics';

const NOW = 1_700_000_000_000;
const config = loadConfig({}, {
  ingest: { maxBatchEvents: 5, maxFrameBytes: 4096, rateLimitPerSecond: 10, rateLimitBurst: 8, dedupeCapacity: 1000, rateLimitMaxClients: 100 },
  sites: [{ id: 'demo' }, { id: 'shop', allowedOrigins: ['https://shop.example'], secret: 's' }],
});
const demo = config.sites.get('demo');
if (demo === undefined) throw new Error('demo site missing');

class FakePipeline implements PipelineSink {
  full = false;
  readonly got: EnrichedEvent[] = [];
  offer(events: EnrichedEvent[]) {
    if (this.full) return { kind: 'overloaded' } as const;
    this.got.push(...events);
    return { kind: 'accepted', late: 0 } as const;
  }
}

const pv = (id: string, ts = NOW) => ({ id, type: 'page_view', visitorId: 'v1', ts, url: '/p' });
const frame = (events: unknown[], seq = 1) => JSON.stringify({ type: 'batch', seq, sentAt: NOW, events });

let clock: ManualClock;
let metrics: CoreMetrics;
let pipeline: FakePipeline;
let gateway: CollectGateway;
const req = (raw: string, client?: string): CollectRequest => ({ transport: 'ws', raw, limit: { maxBytes: 4096, tooLargeCode: 'frame_too_large' }, client, userAgent: undefined });

async function count(name: 'eventsRejected' | 'eventsReceived' | 'eventsDuplicate' | 'overloaded', labels: Record<string, string>): Promise<number> {
  const v = (await metrics[name].get()).values.find((x) => Object.entries(labels).every(([k, val]) => (x.labels as Record<string, unknown>)[k] === val));
  return v?.value ?? 0;
}

beforeEach(() => {
  clock = new ManualClock(NOW);
  metrics = createCoreMetrics(new Registry(), { defaultMetrics: false });
  pipeline = new FakePipeline();
  const quarantine = new Quarantine({ capacityPerSite: 50, clock, sites: config.sites.keys(), onEvict: () => undefined });
  gateway = new CollectGateway({ config, clock, metrics, logger: createLogger('silent'), pipeline, quarantine });
});

describe('CollectGateway', () => {
  it('gateway - a mixed batch: good events accepted, each bad one refused with its own reason, counted and quarantined', async () => {
    const events = [
      pv('a'),
      { ...pv('b'), url: 42 },
      { ...pv('c'), type: 'scroll' },
      pv('d', NOW + 3_600_000),
      pv('e', NOW - 30 * 86_400_000),
    ];
    const r = gateway.collectSync(demo, req(frame(events)));
    expect(r.kind).toBe('ack');
    if (r.kind !== 'ack') return;
    expect(r.frameRejected).toBeUndefined();
    expect(r.ack).toMatchObject({ type: 'ack', seq: 1, accepted: 1, duplicates: 0 });
    expect(r.ack.rejected.map((x) => [x.index, x.code])).toEqual([
      [1, 'schema_violation'],
      [2, 'unknown_event_type'],
      [3, 'future_timestamp'],
      [4, 'ancient_timestamp'],
    ]);
    expect(pipeline.got.map((e) => e.id)).toEqual(['a']);
    for (const reason of ['schema_violation', 'unknown_event_type', 'future_timestamp', 'ancient_timestamp']) {
      expect(await count('eventsRejected', { site: 'demo', reason })).toBe(1);
    }
    expect(await count('eventsReceived', { site: 'demo', type: 'page_view' })).toBe(1);
    expect(gateway.quarantine.list('demo')?.map((q) => q.reason).sort()).toEqual(['ancient_timestamp', 'future_timestamp', 'schema_violation', 'unknown_event_type']);
    expect(gateway.quarantine.list('demo')?.find((q) => q.reason === 'schema_violation')?.sample).toContain('"id":"b"');
  });

  it('gateway - a forbidden key refuses its event only', async () => {
    const raw = `{"type":"batch","seq":2,"sentAt":${NOW},"events":[${JSON.stringify(pv('a'))},{"id":"x","__proto__":{"polluted":1}}]}`;
    const r = gateway.collectSync(demo, req(raw));
    expect(r.kind === 'ack' && r.ack).toMatchObject({ accepted: 1, rejected: [{ index: 1, code: 'forbidden_key' }] });
    expect(await count('eventsRejected', { site: 'demo', reason: 'forbidden_key' })).toBe(1);
  });

  it('gateway - whole-frame refusals are acked with index -1 and the frame reason', async () => {
    const cases: Array<[string, string]> = [
      ['{oops', 'invalid_json'],
      [JSON.stringify({ type: 'batch', seq: 1, events: [] }), 'invalid_batch'],
      [frame([pv('1'), pv('2'), pv('3'), pv('4'), pv('5'), pv('6')]), 'batch_too_large'],
      [frame([{ ...pv('1'), title: 'x'.repeat(5000) }]), 'frame_too_large'],
    ];
    for (const [raw, code] of cases) {
      const r = gateway.collectSync(demo, req(raw));
      expect(r.kind === 'ack' && r.frameRejected).toBe(code);
      expect(r.kind === 'ack' && r.ack.rejected).toEqual([{ index: -1, code, message: expect.any(String) }]);
      expect(await count('eventsRejected', { site: 'demo', reason: code })).toBe(1);
    }
    expect(pipeline.got).toEqual([]);
  });

  it('gateway - a resent batch is counted as duplicates, and an id repeated inside one batch once', async () => {
    gateway.collectSync(demo, req(frame([pv('a'), pv('b')])));
    const again = gateway.collectSync(demo, req(frame([pv('a'), pv('b'), pv('c'), pv('c')])));
    expect(again.kind === 'ack' && again.ack).toMatchObject({ accepted: 1, duplicates: 3, rejected: [] });
    expect(pipeline.got.map((e) => e.id)).toEqual(['a', 'b', 'c']);
    expect(await count('eventsDuplicate', { site: 'demo' })).toBe(3);
  });

  it('gateway - when the pipeline is full nothing is acked, counted or remembered, and the resend is accepted', async () => {
    pipeline.full = true;
    const r = gateway.collectSync(demo, req(frame([pv('a'), { ...pv('b'), url: 1 }], 9)));
    expect(r).toEqual({ kind: 'retry', seq: 9, retryAfterMs: 1000, reason: 'overloaded' });
    expect(await count('overloaded', { site: 'demo' })).toBe(1);
    expect(await count('eventsReceived', { site: 'demo', type: 'page_view' })).toBe(0);
    expect(await count('eventsRejected', { site: 'demo', reason: 'schema_violation' })).toBe(0);
    pipeline.full = false;
    const again = gateway.collectSync(demo, req(frame([pv('a'), { ...pv('b'), url: 1 }], 9)));
    expect(again.kind === 'ack' && again.ack).toMatchObject({ accepted: 1, duplicates: 0, rejected: [{ index: 1, code: 'schema_violation' }] });
  });

  it('gateway - a client over its rate is told to retry and counted as rate_limited', async () => {
    let n = 0;
    const five = () => frame(Array.from({ length: 5 }, () => pv(`r${n++}`)));
    expect(gateway.collectSync(demo, req(five(), 'ws:1')).kind).toBe('ack'); // 8 - 5 = 3 tokens left
    const r = gateway.collectSync(demo, req(five(), 'ws:1'));
    expect(r).toMatchObject({ kind: 'retry', reason: 'rate_limited' });
    expect(await count('eventsRejected', { site: 'demo', reason: 'rate_limited' })).toBe(1);
    expect(gateway.collectSync(demo, req(five(), 'ws:2')).kind).toBe('ack');
    clock.advance(200); // +2 tokens → 5
    expect(gateway.collectSync(demo, req(five(), 'ws:1')).kind).toBe('ack');
  });

  it('gateway - an unknown site, a disallowed or missing origin and a wrong public key are refused, counted and quarantined', async () => {
    expect(gateway.admit('nope', 'http', { origin: undefined })).toMatchObject({ kind: 'refused', code: 'unknown_site' });
    expect(gateway.admit('shop', 'ws', { origin: 'https://evil.example' })).toMatchObject({ kind: 'refused', code: 'origin_not_allowed' });
    expect(gateway.admit('shop', 'ws', { origin: 'https://shop.example' })).toMatchObject({ kind: 'admitted', trusted: false });
    // No Origin: not a browser; without the site secret that is refused for a site that lists its origins.
    expect(gateway.admit('shop', 'http', { origin: undefined })).toMatchObject({ kind: 'refused', code: 'origin_not_allowed' });
    expect(gateway.admit('shop', 'http', { origin: undefined, authorization: 'Bearer s' })).toMatchObject({ kind: 'admitted', trusted: true });
    expect(gateway.admit('shop', 'nats', { origin: undefined, trusted: true }).kind).toBe('admitted');
    expect(gateway.admit('shop', 'ws', { origin: 'https://shop.example', key: 'shop-public-key' }).kind).toBe('admitted');
    expect(gateway.admit('shop', 'ws', { origin: 'https://shop.example', key: 'guessed' })).toMatchObject({ kind: 'refused', code: 'invalid_public_key' });
    expect(gateway.admit('demo', 'ws', { origin: 'https://anything.example' }).kind).toBe('admitted');
    expect(await count('eventsRejected', { site: UNKNOWN_SITE, reason: 'unknown_site' })).toBe(1);
    expect(await count('eventsRejected', { site: 'shop', reason: 'origin_not_allowed' })).toBe(2);
    expect(await count('eventsRejected', { site: 'shop', reason: 'invalid_public_key' })).toBe(1);
    expect(gateway.quarantine.list(UNKNOWN_SITE)?.[0]?.sample).toBe('nope');
  });

  it('gateway - after stopAccepting every frame is told to retry', () => {
    gateway.stopAccepting();
    expect(gateway.collectSync(demo, req(frame([pv('a')])))).toMatchObject({ kind: 'retry', reason: 'shutting_down' });
    expect(pipeline.got).toEqual([]);
  });
});
