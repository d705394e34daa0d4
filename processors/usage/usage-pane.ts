import { DDSketch, type DDSketchJSON } from '../sketches/dd-sketch';
import { HyperLogLog, type HyperLogLogJSON } from '../sketches/hyper-log-log';
import { SpaceSaving, type SpaceSavingJSON } from '../sketches/space-saving';
import type { PaneOps } from '../../src/pipeline/pane-store';

/** Relative accuracy of the duration / pages-per-session / time-to-complete sketches. */
export const DD_ALPHA = 0.01;
/** Bins per DDSketch (per sign); beyond it the lowest bins collapse. */
export const DD_MAX_BINS = 512;

/** The shopping funnel's steps, in order (each a subset of the one before). */
export const FUNNEL_STEPS = ['product', 'cart', 'checkout', 'purchase'] as const;
export type FunnelStep = (typeof FUNNEL_STEPS)[number];

/**
 * What an ended session adds to its slice (`UsagePane.slices`), by index: sessions, with page views,
 * bounces, converted, page views, revenue in cents, duration in ms, then the four funnel steps.
 */
export const SLICE = { sessions: 0, withPageViews: 1, bounces: 2, converted: 3, pageViews: 4, revenueCents: 5, durationMs: 6, funnel: 7 } as const;
export const SLICE_WIDTH = 11;

/** Index of each event type in `UsagePane.events`. */
export const TYPE_INDEX = { page_view: 0, click: 1, form: 2 } as const;

/** One form's counters within a pane. */
export class FormPane {
  views = 0;
  starts = 0;
  submits = 0;
  abandons = 0;
  /** Field name → abandonments whose last touched field it was. */
  readonly lastFields = new Map<string, number>();
  /** Field name → validation errors. */
  readonly errors = new Map<string, number>();
  /** Seconds from `start` to `submit`. */
  timeToComplete: DDSketch | undefined;
}

export interface FormPaneJSON {
  readonly v: number;
  readonly s: number;
  readonly sub: number;
  readonly ab: number;
  readonly lf: Array<[string, number]>;
  readonly er: Array<[string, number]>;
  readonly ttc: DDSketchJSON | null;
}

/** The usage aggregates of one pane; every field is mergeable (sums, HLL, DDSketch, Space-Saving). */
export class UsagePane {
  pageViews = 0;
  /** Events by type, indexed by TYPE_INDEX. */
  readonly events = new Float64Array(3);
  /** Sessions that started in this pane, net of merges (a bridged session's start is retracted). */
  sessionsStarted = 0;
  /** Of those, sessions of visitors seen before (returning) — the rest are new. */
  returningSessions = 0;
  /** Distinct visitors with an event in this pane. */
  visitors: HyperLogLog | undefined;
  /** Closed sessions whose last event is in this pane (retracted when one re-opens). */
  sessionsEnded = 0;
  /** Of those, sessions with at least one page view (the bounce rate's denominator). */
  sessionsWithViews = 0;
  /** Session durations in seconds (ended sessions). */
  durations: DDSketch | undefined;
  /** Page views per session (ended sessions). */
  pagesPerSession: DDSketch | undefined;
  /** Ended sessions with exactly one page view. */
  bounces = 0;
  /** Ended sessions with at least one purchase. */
  convertedSessions = 0;
  /**
   * The shopping funnel of ended sessions, nested (FUNNEL_STEPS): [0] viewed a product, [1] of those
   * added to cart, [2] of those reached checkout, [3] of those purchased. Allocated on first use.
   */
  funnel: Float64Array | undefined;
  /**
   * Ended sessions by their dimensions (slice key → SLICE counters), bounded per pane (the
   * high-cardinality values fold into `other` past the bound). Allocated on first use.
   */
  slices: Map<string, Float64Array> | undefined;
  /** Named segment id → [entries, exits] at event times in this pane. Allocated on first use. */
  segmentChanges: Map<string, [number, number]> | undefined;
  /** Purchases: form submits with items, at their event time. */
  purchases = 0;
  /** Revenue of the purchases (sum of price × quantity), integer cents: exact sums in any order. */
  revenueCents = 0;
  /** Form id → counters (bounded per pane). */
  readonly forms = new Map<string, FormPane>();
  /** Visitor id → revenue in cents in this pane (Space-Saving: the golden customers). */
  golden: SpaceSaving<string> | undefined;
}

export interface UsagePaneJSON {
  readonly pv: number;
  readonly ev: number[];
  readonly ss: number;
  readonly rs: number;
  readonly hll: HyperLogLogJSON | null;
  readonly sf: number;
  readonly sv: number;
  readonly cs: number;
  readonly dur: DDSketchJSON | null;
  readonly pps: DDSketchJSON | null;
  readonly bo: number;
  readonly conv: number;
  /** The funnel (absent: none). */
  readonly fn?: number[];
  /** The slices (absent: none). */
  readonly sl?: Array<[string, number[]]>;
  /** Segment entries and exits (absent: none). */
  readonly sc?: Array<[string, number, number]>;
  readonly rev: number;
  readonly forms: Array<[string, FormPaneJSON]>;
  readonly gold: SpaceSavingJSON<string> | null;
}

export function usagePaneOps(hllPrecision: number, goldenCapacity: number): PaneOps<UsagePane> {
  return {
    create: () => new UsagePane(),
    mergeInto(into: UsagePane, from: UsagePane): void {
      into.pageViews += from.pageViews;
      for (let i = 0; i < 3; i++) into.events[i]! += from.events[i]!;
      into.sessionsStarted += from.sessionsStarted;
      into.returningSessions += from.returningSessions;
      if (from.visitors !== undefined) {
        into.visitors ??= new HyperLogLog(hllPrecision);
        into.visitors.merge(from.visitors);
      }
      into.sessionsEnded += from.sessionsEnded;
      into.sessionsWithViews += from.sessionsWithViews;
      into.convertedSessions += from.convertedSessions;
      if (from.funnel !== undefined) {
        const f = (into.funnel ??= new Float64Array(FUNNEL_STEPS.length));
        for (let i = 0; i < f.length; i++) f[i]! += from.funnel[i]!;
      }
      if (from.segmentChanges !== undefined) {
        const m = (into.segmentChanges ??= new Map());
        for (const [k, [a, b]] of from.segmentChanges) {
          const t = m.get(k);
          if (t === undefined) m.set(k, [a, b]);
          else {
            t[0] += a;
            t[1] += b;
          }
        }
      }
      if (from.slices !== undefined) {
        // A merged window may hold more slices than one pane's bound: the bound is on what is stored.
        const m = (into.slices ??= new Map());
        for (const [k, v] of from.slices) {
          const t = m.get(k);
          if (t === undefined) m.set(k, v.slice());
          else for (let i = 0; i < SLICE_WIDTH; i++) t[i]! += v[i]!;
        }
      }
      if (from.durations !== undefined) {
        into.durations ??= new DDSketch(DD_ALPHA, DD_MAX_BINS);
        into.durations.merge(from.durations);
      }
      if (from.pagesPerSession !== undefined) {
        into.pagesPerSession ??= new DDSketch(DD_ALPHA, DD_MAX_BINS);
        into.pagesPerSession.merge(from.pagesPerSession);
      }
      into.bounces += from.bounces;
      into.purchases += from.purchases;
      into.revenueCents += from.revenueCents;
      for (const [id, f] of from.forms) {
        let t = into.forms.get(id);
        if (t === undefined) {
          // TRICKY: a merged window may hold more forms than one pane's bound: the bound is per pane
          // (what is stored); a window is built on demand and thrown away.
          t = new FormPane();
          into.forms.set(id, t);
        }
        mergeForm(t, f);
      }
      if (from.golden !== undefined) {
        into.golden ??= new SpaceSaving<string>(goldenCapacity);
        into.golden.merge(from.golden);
      }
    },
  };
}

function mergeForm(into: FormPane, from: FormPane): void {
  into.views += from.views;
  into.starts += from.starts;
  into.submits += from.submits;
  into.abandons += from.abandons;
  for (const [k, n] of from.lastFields) into.lastFields.set(k, (into.lastFields.get(k) ?? 0) + n);
  for (const [k, n] of from.errors) into.errors.set(k, (into.errors.get(k) ?? 0) + n);
  if (from.timeToComplete !== undefined) {
    into.timeToComplete ??= new DDSketch(DD_ALPHA, DD_MAX_BINS);
    into.timeToComplete.merge(from.timeToComplete);
  }
}

export function paneToJSON(p: UsagePane): UsagePaneJSON {
  return {
    pv: p.pageViews,
    ev: Array.from(p.events),
    ss: p.sessionsStarted,
    rs: p.returningSessions,
    hll: p.visitors?.toJSON() ?? null,
    sf: p.sessionsEnded,
    sv: p.sessionsWithViews,
    cs: p.convertedSessions,
    dur: p.durations?.toJSON() ?? null,
    pps: p.pagesPerSession?.toJSON() ?? null,
    bo: p.bounces,
    conv: p.purchases,
    ...(p.funnel === undefined ? {} : { fn: Array.from(p.funnel) }),
    ...(p.segmentChanges === undefined ? {} : { sc: [...p.segmentChanges].map(([k, [a, b]]): [string, number, number] => [k, a, b]) }),
    ...(p.slices === undefined ? {} : { sl: [...p.slices].map(([k, v]): [string, number[]] => [k, Array.from(v)]) }),
    rev: p.revenueCents,
    forms: [...p.forms].map(([id, f]) => [
      id,
      { v: f.views, s: f.starts, sub: f.submits, ab: f.abandons, lf: [...f.lastFields], er: [...f.errors], ttc: f.timeToComplete?.toJSON() ?? null },
    ]),
    gold: p.golden?.toJSON() ?? null,
  };
}

export function paneFromJSON(j: UsagePaneJSON, goldenCapacity: number): UsagePane {
  const p = new UsagePane();
  p.pageViews = j.pv;
  for (let i = 0; i < 3; i++) p.events[i] = j.ev[i] ?? 0;
  p.sessionsStarted = j.ss;
  p.returningSessions = j.rs;
  if (j.hll !== null) p.visitors = HyperLogLog.fromJSON(j.hll);
  p.sessionsEnded = j.sf;
  p.sessionsWithViews = j.sv;
  p.convertedSessions = j.cs;
  if (j.dur !== null) p.durations = DDSketch.fromJSON(j.dur);
  if (j.pps !== null) p.pagesPerSession = DDSketch.fromJSON(j.pps);
  p.bounces = j.bo;
  p.purchases = j.conv;
  if (j.fn !== undefined) p.funnel = Float64Array.from(FUNNEL_STEPS, (_, i) => j.fn?.[i] ?? 0);
  if (j.sc !== undefined) p.segmentChanges = new Map(j.sc.map(([k, a, b]) => [k, [a, b]]));
  if (j.sl !== undefined) p.slices = new Map(j.sl.map(([k, v]) => [k, Float64Array.from({ length: SLICE_WIDTH }, (_, i) => v[i] ?? 0)]));
  p.revenueCents = j.rev;
  for (const [id, f] of j.forms) {
    const fp = new FormPane();
    fp.views = f.v;
    fp.starts = f.s;
    fp.submits = f.sub;
    fp.abandons = f.ab;
    for (const [k, n] of f.lf) fp.lastFields.set(k, n);
    for (const [k, n] of f.er) fp.errors.set(k, n);
    if (f.ttc !== null) fp.timeToComplete = DDSketch.fromJSON(f.ttc);
    p.forms.set(id, fp);
  }
  if (j.gold !== null) p.golden = SpaceSaving.fromJSON(j.gold, goldenCapacity);
  return p;
}
