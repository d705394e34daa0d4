import { SpaceSaving, type SpaceSavingJSON } from '../sketches/space-saving';
import { bySessionsThenKey, groupKey, groupSlices, involvesUtm, type Dimension, type SliceQuery, type SliceTable } from './session-dimensions';

/** Separates a slice key from the rest of a sketch key (slice keys and page keys never contain it). */
export const SLICE_SEP = '\u001f';

/** A key's count within one slice (or a group of slices): `rest` is the key without its slice. */
export interface SlicedCount {
  readonly rest: string;
  count: number;
  error: number;
}

export interface SliceSketchesJSON {
  readonly c: Array<[string, number[]]>;
  readonly s: Record<string, SpaceSavingJSON<string>>;
}

/**
 * A pane's ended sessions by slice (their dimensions, see session-dimensions): exact counters per
 * slice (`width` numbers each) and, per named field, one Space-Saving over (slice, key) — one summary
 * per pane and field, not one per slice, so a pane with few sessions costs little. Navigation counts
 * entry pages, exit pages and transitions this way, content the products and categories viewed.
 */
export class SliceSketches<F extends string> {
  readonly counts = new Map<string, Float64Array>();
  readonly sketches: Readonly<Record<F, SpaceSaving<string>>>;
  readonly #width: number;

  constructor(width: number, capacities: Readonly<Record<F, number>>, evict?: Readonly<Partial<Record<F, () => void>>>) {
    this.#width = width;
    const sketches = {} as Record<F, SpaceSaving<string>>;
    for (const f of Object.keys(capacities) as F[]) sketches[f] = new SpaceSaving(capacities[f], evict?.[f]);
    this.sketches = sketches;
  }

  /** The counters of a slice, created on first use. */
  row(slice: string): Float64Array {
    let r = this.counts.get(slice);
    if (r === undefined) this.counts.set(slice, (r = new Float64Array(this.#width)));
    return r;
  }

  /** Counts (sign 1) or takes back (−1) `key` of `field` within `slice`. */
  change(field: F, slice: string, key: string, sign: 1 | -1): void {
    const k = slice + SLICE_SEP + key;
    if (sign === 1) this.sketches[field].add(k);
    else this.sketches[field].remove(k);
  }

  mergeFrom(o: SliceSketches<F>): void {
    for (const [k, v] of o.counts) {
      const r = this.row(k);
      for (let i = 0; i < this.#width; i++) r[i]! += v[i]!;
    }
    for (const f of Object.keys(this.sketches) as F[]) this.sketches[f].merge(o.sketches[f]);
  }

  toJSON(): SliceSketchesJSON {
    const s: Record<string, SpaceSavingJSON<string>> = {};
    for (const f of Object.keys(this.sketches) as F[]) s[f] = this.sketches[f].toJSON();
    return { c: [...this.counts].map(([k, v]) => [k, Array.from(v)]), s };
  }

  /** Adds a snapshot's counters and summaries (a field it lacks stays empty). */
  mergeJSON(j: SliceSketchesJSON): void {
    for (const [k, v] of j.c) {
      const r = this.row(k);
      for (let i = 0; i < this.#width; i++) r[i]! += v[i] ?? 0;
    }
    for (const f of Object.keys(this.sketches) as F[]) {
      const x = j.s[f];
      if (x !== undefined) this.sketches[f].mergeJSON(x);
    }
  }

  /**
   * The slices `q.where` accepts whose counter `live` is positive, grouped by `q.by`: each group's
   * summed counters and, per field, its keys summed over its slices (counts and errors add), most
   * first. `exact`: no summary evicted; `folded`: a slice had its UTM values folded into `other`.
   */
  groups(q: SliceQuery, live: number): { rows: Array<SliceGroup<F>>; exact: boolean; exactGroups: boolean } {
    const alive = [...this.counts].filter(([, r]) => r[live]! > 0).map(([k]) => [k, k] as const);
    const { groups, folded } = groupSlices(alive, q);
    const fields = Object.keys(this.sketches) as F[];
    const bySlice = {} as Record<F, Map<string, SlicedCount[]>>;
    let exact = true;
    for (const f of fields) {
      bySlice[f] = splitBySlice(this.sketches[f]);
      exact &&= this.sketches[f].exact;
    }
    const rows = groups.map(({ values, members }) => {
      const sums = new Float64Array(this.#width);
      for (const k of members) {
        const r = this.counts.get(k)!;
        for (let i = 0; i < this.#width; i++) sums[i]! += r[i]!;
      }
      const lists = {} as Record<F, SlicedCount[]>;
      for (const f of fields) lists[f] = sumOver(members.map((k) => bySlice[f].get(k)));
      return { key: groupKey(q, values), sums, lists };
    });
    return { rows, exact, exactGroups: !(folded && involvesUtm(q)) };
  }
}

/** One group of slices: its dimension values, its summed counters and, per field, its keys summed. */
export interface SliceGroup<F extends string> {
  readonly key: Readonly<Partial<Record<Dimension, string>>>;
  readonly sums: Float64Array;
  readonly lists: Record<F, SlicedCount[]>;
}

/**
 * A window's ended sessions grouped by `q.by` over the slices `q.where` accepts (none: no rows), each
 * group made a row by `toRow` (told whether the summaries are exact), rows by sessions then key.
 */
export function sketchedSliceTable<F extends string, Row extends { readonly key: object; readonly sessions: number }>(sl: SliceSketches<F> | undefined, q: SliceQuery, live: number, toRow: (g: SliceGroup<F>, sketchesExact: boolean) => Row): SliceTable<Row> {
  if (sl === undefined) return { by: q.by, where: q.where, rows: [], exact: true };
  const { rows: groups, exact, exactGroups } = sl.groups(q, live);
  const rows = groups.map((g) => toRow(g, exact));
  rows.sort(bySessionsThenKey);
  return { by: q.by, where: q.where, rows, exact: exactGroups };
}

/** A sliced summary's entries by slice: slice → the rest of each key with its count and error. */
function splitBySlice(ss: SpaceSaving<string>): Map<string, SlicedCount[]> {
  const out = new Map<string, SlicedCount[]>();
  for (const x of ss.entries()) {
    const i = x.key.indexOf(SLICE_SEP);
    const slice = x.key.slice(0, i);
    let list = out.get(slice);
    if (list === undefined) out.set(slice, (list = []));
    list.push({ rest: x.key.slice(i + 1), count: x.count, error: x.error });
  }
  return out;
}

/** The listed slices' counts summed per key, most first, then by key. */
function sumOver(lists: ReadonlyArray<readonly SlicedCount[] | undefined>): SlicedCount[] {
  const m = new Map<string, SlicedCount>();
  for (const list of lists) {
    for (const x of list ?? []) {
      const t = m.get(x.rest);
      if (t === undefined) m.set(x.rest, { ...x });
      else {
        t.count += x.count;
        t.error += x.error;
      }
    }
  }
  return [...m.values()].filter((x) => x.count > 0).sort((a, b) => b.count - a.count || (a.rest < b.rest ? -1 : a.rest > b.rest ? 1 : 0));
}
