/**
 * Cross-sell: the whole of retail.dat streamed as purchases through CrossSellProcessor, against the
 * batch miner node-fpgrowth on the same baskets (as sets), in the same run (issue 4).
 * Run: `npx tsx bench/cross-sell.bench.ts` — prints JSON and a line summary, writes bench/results/cross-sell.json.
 *
 * Rows:
 * - processor exact: capacities above the file's 16,470 items / 3.59 M distinct pairs; onEvent for
 *   every basket, then one recompute of the rules (the window spans the file). Equal to FP-Growth.
 * - processor bounded: the default capacities (20 k items, 200 k pairs per pane): Space-Saving with
 *   its error bound, reported beside the frequent-pair agreement with the oracle.
 * - counter only: ItemsetCounter.add per basket (no event decoding, no panes), the hot path alone.
 * - bare Map pair count: Map<number, number> over packed pair keys, the naive ceiling the typed table replaces.
 * - node-fpgrowth: the batch miner, all frequent itemsets at 1 % (it also mines triples and quads,
 *   which the processor does not by default; it cannot slide a window or retract a basket).
 * Not measured: memory, snapshot size, merge cost, sliding windows with many panes.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FPGrowth } from 'node-fpgrowth';
import { SoloCrossSell } from '../test/helpers/solo-cross-sell';
import { parseCrossSellSettings } from '../processors/cross-sell/cross-sell-settings';
import { ItemsetCounter } from '../processors/cross-sell/itemset-counter';
import type { EnrichedEvent } from '../src/events/enriched-event';
import { epochMillis, type EpochMillis, type SessionId, type SiteId, type VisitorId } from '../src/types';

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = process.env['CM_DATA_DIR'] ?? join(here, '..', '..', 'shared', 'data');
const MIN_SUPPORT = 0.01;
const T0 = Date.UTC(2026, 0, 5);

interface Row {
  name: string;
  baskets: number;
  seconds: number;
  basketsPerSecond: number;
  frequentPairs: number;
  errorBound: number;
  note: string;
}

const baskets = readFileSync(join(dataDir, 'retail.dat'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => l.trim().split(/\s+/));
const events: EnrichedEvent[] = baskets.map((items, i) => {
  const ts = epochMillis(T0 + i);
  return {
    site: 'bench' as SiteId, id: `b${i}`, type: 'form', visitorId: `v${i}` as VisitorId, ts, receivedAt: ts, seq: 0, partition: 0, page: '/checkout', bot: false,
    event: { id: `b${i}`, type: 'form', visitorId: `v${i}`, ts, url: '/checkout', formId: 'checkout', action: 'submit', items: items.map((productId) => ({ productId, quantity: 1 })) },
    session: { id: `s${i}` as SessionId, start: ts, isNew: true, prevPage: undefined, nextPage: undefined, nextPageTs: Number.NaN as EpochMillis, pageIndex: 0, returningVisitor: false },
  };
});

function seconds(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function row(name: string, s: number, frequentPairs: number, errorBound: number, note: string): Row {
  return { name, baskets: baskets.length, seconds: Number(s.toFixed(3)), basketsPerSecond: Math.round(baskets.length / s), frequentPairs, errorBound, note };
}

function processor(over: Record<string, unknown>): SoloCrossSell {
  const parsed = parseCrossSellSettings('bench', { windows: ['P1D'], pane: 'P1D', minSupport: MIN_SUPPORT, minConfidence: 0, minLift: 0, maxRules: 100_000, sessionBaskets: false, sequential: false, categoryLevel: false, ...over });
  if (parsed.kind !== 'ok') throw new Error(parsed.problems.join('; '));
  return new SoloCrossSell({ site: 'bench' as SiteId, settings: parsed.settings, allowedLatenessMs: 0 });
}

const rows: Row[] = [];

// The batch oracle first: its frequent pairs are what the streaming rows must find.
let oraclePairs = new Set<string>();
let oracleItemsets = 0;
{
  const sets = baskets.map((b) => [...new Set(b)]);
  let result: Array<{ items: string[]; support: number }> = [];
  const t0 = process.hrtime.bigint();
  await new FPGrowth<string>(MIN_SUPPORT).exec(sets).then((r) => (result = r));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  oracleItemsets = result.length;
  oraclePairs = new Set(result.filter((r) => r.items.length === 2).map((r) => [...r.items].sort().join(' ')));
  rows.push(row('node-fpgrowth batch (all itemset sizes)', s, oraclePairs.size, 0, `${oracleItemsets} frequent itemsets`));
}

function pairsOf(p: SoloCrossSell): Set<string> {
  return new Set(p.frequentItemsets({ minSupport: MIN_SUPPORT }).itemsets.filter((x) => x.items.length === 2).map((x) => [...x.items].sort().join(' ')));
}

for (const [name, over] of [
  ['processor exact (stream + recompute)', { itemCapacity: 100_000, pairCapacity: 5_000_000, maxBasketItems: 1_000 }],
  ['processor bounded, default capacities (stream + recompute)', {}],
] as const) {
  const p = processor(over);
  let streamS = 0;
  const s = seconds(() => {
    streamS = seconds(() => {
      for (const e of events) p.onEvent(e, e.ts);
    });
    p.refresh(T0 + baskets.length);
  });
  const mine = pairsOf(p);
  const agree = [...oraclePairs].filter((k) => mine.has(k)).length;
  rows.push(row(name, s, mine.size, p.current().errorBound, `stream ${streamS.toFixed(3)} s + recompute ${(s - streamS).toFixed(3)} s; ${p.current().rules.length} rules; ${agree}/${oraclePairs.size} oracle pairs found`));
}

{
  const c = new ItemsetCounter({ itemCapacity: 100_000, pairCapacity: 5_000_000, tripleCapacity: 0, maxBasketItems: 1_000 });
  const s = seconds(() => {
    for (const b of baskets) c.add(b);
  });
  rows.push(row('ItemsetCounter.add only (exact)', s, 0, c.errorBound().pairs, `${c.pairCount} distinct pairs`));
}

{
  const s = seconds(() => {
    const ids = new Map<string, number>();
    const pairs = new Map<number, number>();
    for (const b of baskets) {
      const slots = [...new Set(b)].map((x) => {
        let id = ids.get(x);
        if (id === undefined) ids.set(x, (id = ids.size));
        return id;
      });
      slots.sort((u, v) => u - v);
      for (let i = 0; i < slots.length; i++) for (let j = i + 1; j < slots.length; j++) {
        const k = slots[i]! * 2 ** 21 + slots[j]!;
        pairs.set(k, (pairs.get(k) ?? 0) + 1);
      }
    }
  });
  rows.push(row('bare Map<number, number> pair count (naive ceiling)', s, 0, 0, 'no bound, no windows'));
}

// The load average says how shared the machine was: compare rows within one run, not across runs.
const result = { node: process.version, date: new Date().toISOString(), cpus: cpus().length, loadAverage1m: Number(loadavg()[0]!.toFixed(2)), data: 'retail.dat', minSupport: MIN_SUPPORT, rows };
console.log(JSON.stringify(result, null, 2));
const pad = Math.max(...rows.map((r) => r.name.length));
for (const r of rows) console.log(`${r.name.padEnd(pad)}  ${r.seconds.toFixed(3).padStart(7)} s  ${r.basketsPerSecond.toLocaleString('en').padStart(9)} baskets/s  ${r.note}`);
const out = join(here, 'results', 'cross-sell.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
