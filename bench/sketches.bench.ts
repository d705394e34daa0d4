/**
 * Sketch throughput against npm peers, in the same run (issue 3: "measure it").
 * Run: `npx tsx bench/sketches.bench.ts` — prints a table and writes bench/results/sketches.json.
 *
 * - HyperLogLog (ours, precision 14) vs `bloom-filters` HyperLogLog (2^14 registers), same visitor ids.
 * - DDSketch (ours, α = 1 %) vs `@datadog/sketches-js` DDSketch (α = 1 %), same values.
 * - Space-Saving (ours, capacity 1000) vs `bloom-filters` TopK (k = 1000), same Zipf-like keys;
 *   and a bare `Map` count of the same keys as the ceiling for exact counting.
 * Not measured: memory, merge cost, serialisation.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DDSketch as DatadogDDSketch } from '@datadog/sketches-js';
import bloomFilters from 'bloom-filters';
import { DDSketch } from '../processors/sketches/dd-sketch';
import { HyperLogLog } from '../processors/sketches/hyper-log-log';
import { SpaceSaving } from '../processors/sketches/space-saving';

// TRICKY: bloom-filters is CommonJS; its named exports are not visible to ESM, only the default.
const { HyperLogLog: BfHyperLogLog, TopK: BfTopK } = bloomFilters;

interface Row {
  name: string;
  ops: number;
  opsPerSecond: number;
  note: string;
}

function time(name: string, ops: number, fn: () => void, note = ''): Row {
  const t0 = process.hrtime.bigint();
  fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { name, ops, opsPerSecond: Math.round(ops / s), note };
}

const rows: Row[] = [];
const ids: string[] = [];
for (let i = 0; i < 1_000_000; i++) ids.push(`visitor-${i}`);

const ours = new HyperLogLog(14);
rows.push(time('hll ours add', ids.length, () => { for (const id of ids) ours.add(id); }));
rows[rows.length - 1]!.note = `estimate ${ours.count()} of ${ids.length}`;
const bfIds = ids.slice(0, 20_000);
const bf = new BfHyperLogLog(2 ** 14);
rows.push(time('hll bloom-filters update', bfIds.length, () => { for (const id of bfIds) bf.update(id); }));
rows[rows.length - 1]!.note = `estimate ${Math.round(bf.count())} of ${bfIds.length}`;

let x = 12345;
const zipf: string[] = [];
const values: number[] = [];
for (let i = 0; i < 1_000_000; i++) {
  x = (Math.imul(x, 1103515245) + 12345) >>> 0;
  const u = (x >>> 8) / 2 ** 24;
  zipf.push(`/page/${Math.floor(100_000 ** u)}`);
  values.push(Math.exp(u * 12));
}
const ss = new SpaceSaving(1000);
rows.push(time('space-saving ours add (cap 1000)', zipf.length, () => { for (const k of zipf) ss.add(k); }, ''));
rows[rows.length - 1]!.note = `evictions ${ss.evictions}, maxError ${ss.maxError()}`;
const ssBig = new SpaceSaving(200_000);
rows.push(time('space-saving ours add (cap 200k, exact)', zipf.length, () => { for (const k of zipf) ssBig.add(k); }, ''));
const map = new Map<string, number>();
rows.push(time('bare Map count (ceiling)', zipf.length, () => { for (const k of zipf) map.set(k, (map.get(k) ?? 0) + 1); }));
const topkKeys = zipf.slice(0, 50_000);
const bfTop = new BfTopK(1000, 0.001, 0.99);
rows.push(time('topk bloom-filters add (k 1000)', topkKeys.length, () => { for (const k of topkKeys) bfTop.add(k); }));

const dd = new DDSketch(0.01);
rows.push(time('ddsketch ours add', values.length, () => { for (const v of values) dd.add(v); }));
const ddd = new DatadogDDSketch({ relativeAccuracy: 0.01 });
rows.push(time('ddsketch @datadog/sketches-js accept', values.length, () => { for (const v of values) ddd.accept(v); }));

const pad = Math.max(...rows.map((r) => r.name.length));
for (const r of rows) console.log(`${r.name.padEnd(pad)}  ${r.opsPerSecond.toLocaleString('en').padStart(14)} ops/s  ${r.note}`);
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'sketches.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ node: process.version, date: new Date().toISOString(), rows }, null, 2) + '\n');
