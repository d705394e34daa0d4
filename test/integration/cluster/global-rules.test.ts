import { readFileSync } from 'node:fs';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GlobalRules, PARTIALS_BUCKET, type PartialOutcome } from '../../../src/cluster/global-rules';
import { CrossSellProcessor, CrossSellRules } from '../../../processors/cross-sell/cross-sell-processor';
import { parseCrossSellSettings, type CrossSellSettings } from '../../../processors/cross-sell/cross-sell-settings';
import type { EnrichedEvent } from '../../../src/events/enriched-event';
import { createLogger } from '../../../src/logger';
import { VisitorPartitioner } from '../../../src/pipeline/visitor-partitioner';
import { epochMillis, type EpochMillis, type SessionId, type SiteId, type VisitorId } from '../../../src/types';
import { describeWithData } from '../../helpers/data';
import { startNatsServer, type NatsServerHandle } from '../../helpers/nats-server';
import { until } from '../../helpers/until';

/**
 * Global rules pushed by the owners (issue "Scale-out", must have 2), against a real nats-server:
 * four partitions of retail.dat purchase baskets held by two instances, each publishing its changed
 * cross-sell panes to CM_PARTIALS; the role holder merges and mines. The rules must equal those one
 * instance mines over the same four partitions, and the counts of the strongest rules must equal a
 * brute-force count over the baskets. Then: only changed panes travel, a stale owner's partials are
 * refused, panes too large for a KV value go to the Object Store, and a new role holder mines the
 * same rules from what the bucket holds.
 */
const SITE = 'retail' as SiteId;
const T0 = Date.UTC(2026, 0, 5);
const PARTITIONS = 4;
const partitioner = new VisitorPartitioner(PARTITIONS);

function settings(): CrossSellSettings {
  const parsed = parseCrossSellSettings('retail', {
    windows: ['P1D'], pane: 'PT1H', minSupport: 0.01, minConfidence: 0, minLift: 0,
    itemCapacity: 100_000, pairCapacity: 1_000_000, tripleCapacity: 0, maxBasketItems: 1_000, maxRules: 100_000,
    sessionBaskets: false, sequential: false, categoryLevel: false,
  });
  if (parsed.kind !== 'ok') throw new Error(parsed.problems.join('; '));
  return parsed.settings;
}

function purchase(i: number, items: readonly string[]): EnrichedEvent {
  const ts = epochMillis(T0 + i * 10_000); // 10 s apart: a few one-hour panes
  const visitorId = `v${i}` as VisitorId;
  return {
    site: SITE, id: `b${i}`, type: 'form', visitorId, ts, receivedAt: ts, seq: 0, partition: partitioner.partitionOf(visitorId), page: '/checkout', bot: false,
    event: { id: `b${i}`, type: 'form', visitorId, ts, url: '/checkout', formId: 'checkout', action: 'submit', items: items.map((productId) => ({ productId, quantity: 1 })) },
    session: { id: `s${i}` as SessionId, start: ts, isNew: true, prevPage: undefined, nextPage: undefined, nextPageTs: Number.NaN as EpochMillis, pageIndex: 0, returningVisitor: false },
  };
}

const signature = (v: CrossSellRules): string => JSON.stringify(v.snapshot().ruleSets.map(([w, r]) => [w, r.baskets, r.rules]));

describeWithData('retail.dat', 'global rules from pushed pane partials (real nats-server)', (path) => {
  const s = settings();
  const baskets = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').slice(0, 4_000).map((l) => l.trim().split(/\s+/));
  const procs = Array.from({ length: PARTITIONS }, () => new CrossSellProcessor({ site: SITE, settings: s, allowedLatenessMs: 0 }));
  let watermark = Number.NEGATIVE_INFINITY;
  /** Feeds baskets [from, to) to their partitions' processors (only those of `onlyPartitions`, when given); returns those fed. */
  const feed = (from: number, to: number, onlyPartitions?: ReadonlySet<number>): string[][] => {
    const fed: string[][] = [];
    for (let i = from; i < to; i++) {
      const e = purchase(i, baskets[i]!);
      if (onlyPartitions !== undefined && !onlyPartitions.has(e.partition)) continue;
      if (procs[e.partition]!.onEvent(e, epochMillis(watermark)).kind !== 'ok') throw new Error(`basket ${i} not counted`);
      watermark = Math.max(watermark, e.ts);
      fed.push(baskets[i]!);
    }
    return fed;
  };
  const counted: string[][] = [];
  /** One instance over the same four partitions (what a single instance mines). */
  const reference = (): CrossSellRules => {
    // Copies: a view attaches to its parts, and these processors are the owners' live ones.
    const copies = procs.map((p) => {
      const copy = new CrossSellProcessor({ site: SITE, settings: s, allowedLatenessMs: 0 });
      copy.restore(p.snapshot());
      return copy;
    });
    const v = new CrossSellRules({ site: SITE, settings: s, parts: () => copies, allowedLatenessMs: 0 });
    v.refresh(watermark);
    return v;
  };

  let nats: NatsServerHandle;
  const conns: NatsConnection[] = [];
  const instances: Array<{ rules: GlobalRules; view: CrossSellRules; outcomes: Map<PartialOutcome, number>; role: { epoch: number | undefined } }> = [];
  const start = async (id: string, held: ReadonlyMap<number, number>, role: number | undefined, opts: { inlineMaxBytes?: number; procs?: readonly CrossSellProcessor[] } = {}) => {
    const nc = await connect({ servers: nats.url });
    conns.push(nc);
    const view = new CrossSellRules({ site: SITE, settings: s, parts: () => [], allowedLatenessMs: 0, adoptsRules: true });
    const outcomes = new Map<PartialOutcome, number>();
    const roleHeld = { epoch: role };
    const own = opts.procs ?? procs;
    const rules = new GlobalRules({
      instanceId: id,
      sites: [SITE],
      partitions: PARTITIONS,
      local: { ready: () => held, processor: (_site, p) => own[p], watermark: () => watermark },
      tenure: (p) => held.get(p),
      roleEpoch: () => roleHeld.epoch,
      rulesView: () => view,
      view: (_site, _name, parts) => new CrossSellRules({ site: SITE, settings: s, parts: () => parts.of<CrossSellProcessor>('cross-sell'), allowedLatenessMs: 0 }),
      replicas: 1,
      intervalMs: 150,
      inlineMaxBytes: opts.inlineMaxBytes ?? 512 * 1024,
      counted: (o) => outcomes.set(o, (outcomes.get(o) ?? 0) + 1),
      logger: createLogger(process.env['CM_TEST_LOG'] ?? 'silent'),
    });
    await rules.start(nc, jetstream(nc));
    const inst = { rules, view, outcomes, role: roleHeld };
    instances.push(inst);
    return inst;
  };

  beforeAll(async () => {
    nats = await startNatsServer();
    counted.push(...feed(0, 3_000));
  }, 30_000);
  afterAll(async () => {
    for (const i of instances) await i.rules.stop();
    for (const c of conns) await c.close();
    await nats?.stop();
  });

  it('rules mined from two owners\' pushed panes equal one instance\'s, and their counts a brute-force count', async () => {
    const a = await start('a', new Map([[0, 3], [1, 3]]), 3);
    const b = await start('b', new Map([[2, 5], [3, 5]]), undefined, { inlineMaxBytes: 1 });
    const expected = signature(reference());
    await until('both instances adopt the mined rules', () => signature(a.view) === expected && signature(b.view) === expected, 30_000);

    const rules = a.view.current().rules;
    expect(rules.length).toBeGreaterThan(10);
    const sets = counted.map((b) => new Set(b));
    for (const r of rules.slice(0, 5)) {
      const items = [...r.antecedent, ...r.consequent];
      expect(r.count).toBe(sets.filter((b) => items.every((x) => b.has(x))).length);
    }
    expect(a.view.current().baskets).toMatchObject({ purchase: counted.length });
    // b's panes were all too large for its 1-byte limit: every one went to the Object Store.
    expect(b.outcomes.get('object') ?? 0).toBeGreaterThan(0);
    expect(b.outcomes.get('inline') ?? 0).toBe(0);
    expect(a.outcomes.get('inline') ?? 0).toBeGreaterThan(0);
    const nc = conns[0]!;
    const objects = await (await new Objm(jetstream(nc)).open(PARTIALS_BUCKET)).list();
    expect(objects.filter((o) => o.name.startsWith(`x.${SITE}.2.5.`) || o.name.startsWith(`x.${SITE}.3.5.`)).length).toBe(b.outcomes.get('object'));
  }, 60_000);

  it('only changed panes travel: new baskets in a\'s partitions leave b publishing nothing, and the rules follow', async () => {
    const [a, b] = instances as [(typeof instances)[0], (typeof instances)[0]];
    const bBefore = b.outcomes.get('object') ?? 0;
    const aBefore = a.outcomes.get('inline') ?? 0;
    counted.push(...feed(3_000, 3_600, new Set([0, 1])));
    const expected = signature(reference());
    await until('the rules count the new baskets', () => signature(a.view) === expected && signature(b.view) === expected, 30_000);
    expect(a.view.current().baskets).toMatchObject({ purchase: counted.length });
    // 600 baskets 10 s apart span two or three one-hour panes per partition, not every pane held.
    const aSent = (a.outcomes.get('inline') ?? 0) - aBefore;
    expect(aSent).toBeGreaterThan(0);
    expect(aSent).toBeLessThanOrEqual(2 * 3);
    expect(b.outcomes.get('object') ?? 0).toBe(bBefore);
  }, 60_000);

  it('a stale owner\'s partials are refused and leave the rules as they are', async () => {
    const [a] = instances as [(typeof instances)[0]];
    const before = signature(a.view);
    // c still believes it holds partition 2 at epoch 1 (b took it at 5), with counts of baskets nobody sent.
    const wrong = Array.from({ length: PARTITIONS }, () => new CrossSellProcessor({ site: SITE, settings: s, allowedLatenessMs: 0 }));
    for (let i = 0; i < 200; i++) wrong[2]!.onEvent(purchase(i, ['39', '48', '41']), epochMillis(Number.NEGATIVE_INFINITY));
    const c = await start('c', new Map([[2, 1]]), undefined, { procs: wrong });
    await until('c\'s manifest is refused', () => (c.outcomes.get('refused_stale') ?? 0) > 0, 30_000);
    await until('the role holder passes over c\'s panes', () => (a.outcomes.get('ignored_stale') ?? 0) > 0, 30_000);
    const kv = await new Kvm(jetstream(conns[0]!)).open(PARTIALS_BUCKET);
    expect(JSON.parse((await kv.get(`m.${SITE}.2`))!.string()).epoch).toBe(5);
    // Another full round of a's after it saw c's writes.
    const seen = a.outcomes.get('ignored_stale') ?? 0;
    counted.push(...feed(3_600, 3_700, new Set([0])));
    const expected = signature(reference());
    await until('a mines again', () => signature(a.view) === expected, 30_000);
    expect(signature(a.view)).not.toBe(before);
    expect(a.outcomes.get('ignored_stale')).toBeGreaterThanOrEqual(seen);
    expect(a.view.current().baskets).toMatchObject({ purchase: counted.length });
  }, 60_000);

  it('a new role holder mines the same rules from what the bucket holds', async () => {
    const [a, b] = instances as [(typeof instances)[0], (typeof instances)[0]];
    a.role.epoch = undefined;
    b.role.epoch = 9;
    counted.push(...feed(3_700, 3_800, new Set([2, 3])));
    const expected = signature(reference());
    await until('b mines and both adopt', () => signature(a.view) === expected && signature(b.view) === expected, 30_000);
    expect(b.view.current().baskets).toMatchObject({ purchase: counted.length });
  }, 60_000);
});
