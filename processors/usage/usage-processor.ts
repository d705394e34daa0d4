import { BoundedLru } from '../../src/bounded-lru';
import type { Config, SiteConfig } from '../../src/config';
import type { CoreMetrics } from '../../src/metrics/core-metrics';
import { ClickstreamError } from '../../src/errors';
import type { EnrichedEvent, SessionSignal, SessionSummary } from '../../src/events/enriched-event';
import type { FormEvent } from '../../src/events/event-types';
import { PaneStore } from '../../src/pipeline/pane-store';
import { epochMillis, type EpochMillis, type SiteId } from '../../src/types';
import { LATE, OK, REVISION, lowestWatermark, type EventOutcome, type PartitionSets, type Processor, type SiteView } from '../processor';
import { DDSketch } from '../sketches/dd-sketch';
import { HyperLogLog } from '../sketches/hyper-log-log';
import { SpaceSaving } from '../sketches/space-saving';
import { inSegment, parseSegment, type SegmentChange, type SegmentDefinition } from './segments';
import { boundedSliceKey, sessionDimensions, sliceTable, UNSLICED, type SliceQuery, type SliceTable } from './session-dimensions';
import { DD_ALPHA, DD_MAX_BINS, FUNNEL_STEPS, SLICE, SLICE_WIDTH, FormPane, TYPE_INDEX, type FunnelStep, UsagePane, paneFromJSON, paneToJSON, usagePaneOps, type UsagePaneJSON } from './usage-pane';
import { parseUsageSettings, type ResponderSignal, type UsageSettings } from './usage-settings';
import { INTEREST_WEIGHTS, LIFECYCLE_STAGES, VisitorProfiles, type LifecycleStage, type ProfileJSON, type ProfileState, type VisitorProfile } from './visitor-profiles';

export type { LifecycleStage, RfmScore, VisitorProfile } from './visitor-profiles';
export { LIFECYCLE_STAGES } from './visitor-profiles';
export type { UsageSettings } from './usage-settings';

const NAME = 'usage';
/** 3: pane revenue and golden-customer revenue in integer cents; 4: product categories, forms as trails of steps. */
const SNAPSHOT_VERSION = 4;

/** Quantiles of a distribution (from a DDSketch: relative error ≤ 1 %; integer figures rounded). */
export interface Quantiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  /** Exact. */
  readonly mean: number;
  /** Within the relative error, like the quantiles. */
  readonly max: number;
  /** Number of values summarised. */
  readonly count: number;
}

/** Form analytics of one form in one window. */
export interface FormStats {
  readonly formId: string;
  readonly views: number;
  readonly starts: number;
  readonly submits: number;
  /** Abandonments: explicit (the snippet reports them on pagehide) or implicit (started, then the session ended without a submit). */
  readonly abandons: number;
  /** abandons / starts (null without starts). */
  readonly abandonmentRate: number | null;
  /** The last field touched before each abandonment, counted, most frequent first. */
  readonly lastFieldBeforeAbandon: ReadonlyArray<{ readonly field: string; readonly count: number }>;
  /** Validation errors per field, most frequent first. */
  readonly errors: ReadonlyArray<{ readonly field: string; readonly count: number }>;
  /** Seconds from start to submit. */
  readonly timeToCompleteSeconds: Quantiles | null;
}

/**
 * The shopping funnel of ended sessions: each step's sessions are a subset of the step before
 * (viewed a product → also added to cart → also reached checkout → also purchased). Steps are nested,
 * not ordered in time, so late or reordered events give the same figures.
 */
export interface Funnel {
  /** Sessions that ended in the window (the first step's denominator). */
  readonly sessions: number;
  readonly steps: ReadonlyArray<{
    readonly step: FunnelStep;
    readonly sessions: number;
    /** sessions / the step before's (for the first: / all ended sessions); null without a denominator. */
    readonly rate: number | null;
    /** 1 − rate: the share lost at this step. */
    readonly dropOff: number | null;
  }>;
}

function renderFunnel(ended: number, f: Float64Array | undefined): Funnel {
  let before = ended;
  const steps = FUNNEL_STEPS.map((step, i) => {
    const n = f?.[i] ?? 0;
    const rate = before > 0 ? n / before : null;
    before = n;
    return { step, sessions: n, rate, dropOff: rate === null ? null : 1 - rate };
  });
  return { sessions: ended, steps };
}

/** Usage statistics of one window (GET /v1/stats/usage, DESIGN.md §3). Times are epoch ms here; the route renders ISO-8601. */
export interface UsageWindowStats {
  readonly start: EpochMillis;
  readonly end: EpochMillis;
  /** True once the watermark passed the window end (late events may still revise it within the allowed lateness). */
  readonly closed: boolean;
  readonly pageViews: number;
  readonly events: { readonly page_view: number; readonly click: number; readonly form: number };
  /** Sessions that started in the window (net of merges of bridged sessions). */
  readonly sessionsStarted: number;
  /** Of those, sessions of new visitors (no earlier session known). */
  readonly newSessions: number;
  /** Of those, sessions of returning visitors. */
  readonly returningSessions: number;
  /** Distinct visitors with an event in the window (HyperLogLog estimate). */
  readonly visitors: number;
  /** Relative standard error of `visitors`. */
  readonly visitorsRelativeError: number;
  /**
   * Session-end figures: sessions that closed (watermark past their last event + gap) with their last
   * event in the window. Counted on close, retracted if a late event re-opens the session (then
   * counted again on the next close), so they always describe sessions as counted.
   */
  readonly sessions: {
    /** Closed sessions that ended in the window. */
    readonly ended: number;
    /** Of those, sessions with at least one page view. */
    readonly withPageViews: number;
    /** Of those, sessions with exactly one page view. */
    readonly bounces: number;
    /** bounces / withPageViews (0..1; null without such sessions) — the same definition as navigation's. */
    readonly bounceRate: number | null;
    /** Session durations in seconds (first to last event). */
    readonly durationSeconds: Quantiles | null;
    readonly pagesPerSession: Quantiles | null;
    /** Ended sessions with at least one purchase. */
    readonly converted: number;
  };
  /** Purchases (form submits with items), at their event time. */
  readonly purchases: number;
  /** sessions.converted / sessions.ended (0..1; null without ended sessions): sessions with a purchase ÷ sessions. */
  readonly conversionRate: number | null;
  /** The shopping funnel of the sessions that ended in the window (as `sessions`: counted on close). */
  readonly funnel: Funnel;
  /** Revenue of the purchases (sum of price × quantity). */
  readonly revenue: number;
  /** Per form, most viewed first. */
  readonly forms: readonly FormStats[];
  /** Top customers by revenue in the window (Space-Saving: `error` bounds the over-estimate). */
  readonly goldenCustomers: ReadonlyArray<{ readonly visitorId: string; readonly revenue: number; readonly error: number }>;
  /** Visitors entering and leaving each named segment in the window (at the event times that changed membership). */
  readonly segmentChanges: ReadonlyArray<{ readonly segment: string; readonly entered: number; readonly exited: number }>;
  /** The window's ended sessions grouped by their dimensions, when asked for (`by`, `where`). */
  readonly slices?: SliceTable;
}

/** Which windows to list and whether to slice them. */
export interface WindowOptions {
  /** A window start from a previous page: continue further back. */
  readonly before?: number;
  /** Hopping windows: the slide, ms. */
  readonly slideMs?: number;
  readonly slices?: SliceQuery;
}

const SLICE_LAYOUT = { width: SLICE_WIDTH, ...SLICE } as const;

export interface UsageSnapshot {
  readonly v: number;
  /** Last watermark (null: none yet; JSON has no −Infinity). */
  readonly watermark: number | null;
  /** Latest event time seen (null: none). */
  readonly maxTs?: number | null;
  readonly panes: Array<[number, UsagePaneJSON]>;
  readonly profiles: Array<[string, ProfileJSON]>;
  /** Closed sessions as counted (for retraction on re-open): [key, end, duration ms, pageViews, converted, due, abandons, funnel depth, slice key, revenue cents]. */
  readonly closed?: Array<[string, number, number, number, boolean, number, Array<[string, string]>, number?, string?, number?]>;
  /** Each visitor's form events kept until they can no longer be joined by an earlier one: [visitorId, formId, steps]. */
  readonly openForms?: FormTrailJSON[];
  /** Product → category as learned from views and purchases (a later cart click's interest needs it), least recently used first. */
  readonly categories: Array<[string, string]>;
}

export interface UsageProcessorOptions {
  readonly site: SiteConfig;
  /** The `time` section of the config (panes, retention, lateness, session gap). */
  readonly time: Config['time'];
  /** Counts evictions from bounded state (processor and structure names are closed label sets). */
  readonly onEvict?: (processor: string, structure: string, n: number) => void;
  /** Overrides `site.processors.usage` (tests). */
  readonly settings?: UsageSettings;
  /** Where the stated error bounds of the usage sketches are exported. */
  readonly metrics?: Pick<CoreMetrics, 'sketchErrorBound'>;
  /** The site's named segments (its view's: config and admin API); without it, no entries and exits are tracked. */
  readonly segments?: () => readonly SegmentDefinition[];
  /** Receives every entry and exit (the app publishes them on cm.segments.<site>). */
  readonly onSegmentChange?: (c: SegmentChange) => void;
}

/** The attempt at a form in progress: from its first start or field event to a submit or an abandon. */
interface OpenForm {
  /** Event time of the start (or first field event), epoch ms. */
  start: number;
  /** The field of the newest field-bearing event by (time, seq). */
  lastField: string | undefined;
  /** True when a `start` was seen (only started forms can be abandoned implicitly). */
  started: boolean;
}

const STEP_START = 0;
const STEP_FIELD = 1; // a field or an error event
const STEP_SUBMIT = 2;
const STEP_ABANDON = 3;
type StepAction = typeof STEP_START | typeof STEP_FIELD | typeof STEP_SUBMIT | typeof STEP_ABANDON;

/** One form event of a visitor: event time, page-load seq, what it did, its field. */
type FormStep = readonly [ts: number, seq: number, action: StepAction, field: string | null];

/**
 * A visitor's events of one form, in (time, seq) order, and the attempt they leave open. What an
 * attempt's end counts beyond the plain counts — its time to complete, the last field before an
 * explicit abandon, an implicit abandon — is a function of these steps in that order, not of the
 * order they arrived in: a step that arrives before one it follows (a batch resent after a lost
 * ack, a retry overtaken) takes back what the steps counted and counts them again in order.
 */
interface FormTrail {
  readonly formId: string;
  readonly steps: FormStep[];
  open: OpenForm | undefined;
}

/** What an attempt's end counted in its pane: a time to complete (submit) or the last field before an explicit abandon. */
type FormOutcome = { readonly ts: number; readonly ttcMs: number; readonly field?: undefined } | { readonly ts: number; readonly field: string; readonly ttcMs?: undefined };

function compareSteps(a: FormStep, b: FormStep): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || ((a[3] ?? '') < (b[3] ?? '') ? -1 : (a[3] ?? '') > (b[3] ?? '') ? 1 : 0);
}

/** The attempt after `step`, given the one before it; an ended attempt's outcome goes to `out`. */
function advance(open: OpenForm | undefined, step: FormStep, out: FormOutcome[] | undefined): OpenForm | undefined {
  const [ts, , action, field] = step;
  switch (action) {
    case STEP_START:
    case STEP_FIELD:
      if (open === undefined) return { start: ts, lastField: field ?? undefined, started: action === STEP_START };
      if (action === STEP_START) open.started = true;
      if (field !== null) open.lastField = field;
      return open;
    case STEP_SUBMIT:
      if (open !== undefined) out?.push({ ts, ttcMs: ts - open.start });
      return undefined;
    case STEP_ABANDON:
      out?.push({ ts, field: field ?? open?.lastField ?? '(none)' });
      return undefined;
    default: {
      const _exhaustive: never = action;
      return _exhaustive;
    }
  }
}

/** The steps replayed in order: the attempt left open, and every outcome when `out` is given. */
function replaySteps(steps: readonly FormStep[], out: FormOutcome[] | undefined): OpenForm | undefined {
  let open: OpenForm | undefined;
  for (const st of steps) open = advance(open, st, out);
  return open;
}

/** A visitor's form events in a snapshot: visitor, form, steps in order. */
type FormTrailJSON = [string, string, FormStep[]];

/** Steps kept per form of a visitor; beyond it the oldest ended attempt is forgotten (its counts stay). */
const MAX_FORM_STEPS = 64;

/** Forms in progress kept per visitor, count. */
const MAX_OPEN_FORMS_PER_VISITOR = 16;

/** What a closed session added to its end pane, kept until it can no longer re-open, so a re-open retracts exactly that. */
interface ClosedSession {
  readonly key: string;
  readonly visitorId: string;
  /** Last event time (the pane it counted in), epoch ms. */
  readonly end: number;
  /** Last − first event time, ms (integers keep the sketches' sums exact in any order). */
  readonly durationMs: number;
  readonly pageViews: number;
  readonly converted: boolean;
  /** How many FUNNEL_STEPS the session went through, nested (0: viewed no product). */
  readonly funnel: number;
  /** The slice key it was counted under (its dimensions, folded if the pane's slices were full). */
  readonly slice: string;
  /** Revenue of its purchases, integer cents. */
  readonly revenueCents: number;
  /** Event time from which it can no longer re-open: end + gap + allowed lateness. */
  readonly due: number;
  /** Forms counted as implicitly abandoned: [formId, last field]. */
  readonly abandons: ReadonlyArray<readonly [string, string]>;
}

/**
 * The usage processor (DESIGN.md §5): per window page views, events by type, sessions (count, new vs
 * returning, duration and pages-per-session quantiles, bounce), distinct visitors (HyperLogLog),
 * purchases, converted sessions and revenue, form analytics, golden customers (Space-Saving); per
 * visitor a bounded profile with the lifecycle stage and RFM scores.
 *
 * Windowing: panes of `time.paneMs` in a PaneStore. Events and session starts count in the pane of
 * their event time; session-end figures (ended, bounces, durations, pages per session, converted,
 * implicit form abandonment) on the `closed` signal in the pane of the session's last event — the
 * same pane navigation counts exits and bounces in — and are retracted exactly on `reopened`.
 */
export class UsageProcessor implements Processor<UsageSnapshot> {
  readonly name = NAME;
  readonly site: SiteId;
  readonly settings: UsageSettings;
  readonly #time: Config['time'];
  readonly #store: PaneStore<UsagePane>;
  readonly #profiles: VisitorProfiles;
  /** Visitor → its forms' trails (FormTrail), oldest first: a visitor holds a few, so a list, not a Map. */
  readonly #openForms: BoundedLru<string, FormTrail[]>;
  /** Closed sessions by visitor+session key, as counted, while they can still re-open. */
  readonly #pending = new Map<string, ClosedSession>();
  /**
   * The same entries in closing order (nearly due order), as a queue with a moving head.
   * TRICKY: not a Map used as a queue — deleting from the front of a V8 Map leaves holes that every
   * later iteration from the start walks over (quadratic); entries superseded by a re-open are
   * skipped here by identity instead.
   */
  #queue: ClosedSession[] = [];
  #queueHead = 0;
  readonly #onEvict: (processor: string, structure: string, n: number) => void;
  readonly #responder: ReadonlySet<ResponderSignal>;
  readonly #segmentDefs: (() => readonly SegmentDefinition[]) | undefined;
  readonly #onSegmentChange: ((c: SegmentChange) => void) | undefined;
  readonly #checkoutForms: ReadonlySet<string>;
  /** Product id → category, so an add-to-cart click (which carries only the product id) adds interest. */
  readonly #productCategory: BoundedLru<string, string>;
  #watermark = Number.NEGATIVE_INFINITY;
  /** Latest event time seen: "now" in event time before the first watermark. */
  #maxTs = Number.NEGATIVE_INFINITY;

  constructor(opts: UsageProcessorOptions) {
    this.site = opts.site.id;
    this.settings = opts.settings ?? parseUsageSettings(opts.site.processors[NAME], opts.site.id);
    this.#time = opts.time;
    this.#onEvict = opts.onEvict ?? (() => undefined);
    const s = this.settings;
    this.#store = new PaneStore<UsagePane>({
      paneMs: opts.time.paneMs,
      // Retention follows the watermark (expire); the cap only binds when partitions drift far apart.
      maxPanes: 2 * opts.time.retentionPanes,
      allowedLatenessMs: opts.time.allowedLatenessMs,
      retainMs: opts.time.paneMs * opts.time.retentionPanes,
      ops: usagePaneOps(s.hllPrecision, s.goldenCapacity),
      onEvict: (n) => this.#onEvict(NAME, 'panes', n),
    });
    this.#profiles = new VisitorProfiles(s, (n) => this.#onEvict(NAME, 'profiles', n));
    this.#openForms = new BoundedLru<string, FormTrail[]>({
      max: s.maxOpenForms,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') this.#onEvict(NAME, 'open_forms', 1);
      },
    });
    this.#responder = new Set(s.lifecycle.responderOn);
    this.#segmentDefs = opts.segments;
    this.#onSegmentChange = opts.onSegmentChange;
    this.#checkoutForms = new Set(s.checkoutForms);
    this.#productCategory = new BoundedLru<string, string>({
      max: s.maxProducts,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') this.#onEvict(NAME, 'product_categories', 1);
      },
    });
    if (opts.metrics !== undefined) {
      const g = opts.metrics.sketchErrorBound;
      // HLL: relative standard error 1.04/√m; DDSketch: relative accuracy α of every quantile;
      // Space-Saving: over-estimate ≤ total / capacity.
      g.set({ sketch: 'usage_visitors' }, this.visitorsRelativeError);
      g.set({ sketch: 'usage_durations' }, DD_ALPHA);
      g.set({ sketch: 'usage_golden_customers' }, 1 / s.goldenCapacity);
    }
  }

  /** Relative standard error of the distinct-visitor estimate (exported as a metric by the app). */
  get visitorsRelativeError(): number {
    return 1.04 / Math.sqrt(2 ** this.settings.hllPrecision);
  }

  onEvent(e: EnrichedEvent, watermark: EpochMillis): EventOutcome {
    const ts = e.ts as number;
    if (ts > this.#maxTs) this.#maxTs = ts;
    const profile = this.#profiles.touch(e.visitorId, ts);
    const loc = this.#store.locate(ts, watermark);
    const pane = loc.kind === 'late' ? undefined : loc.pane;
    if (pane !== undefined) {
      pane.events[TYPE_INDEX[e.type]]! += 1;
      (pane.visitors ??= new HyperLogLog(this.settings.hllPrecision)).add(e.visitorId);
    }
    const ev = e.event;
    switch (ev.type) {
      case 'page_view': {
        if (pane !== undefined) pane.pageViews++;
        if (ev.product?.category !== undefined) {
          this.#profiles.addInterest(profile, ev.product.category, INTEREST_WEIGHTS.view);
          if (this.#productCategory.peek(ev.product.id) !== ev.product.category) this.#productCategory.set(ev.product.id, ev.product.category);
        }
        if (ev.search !== undefined && this.#responder.has('search')) profile.responded = true;
        break;
      }
      case 'click': {
        const kind = ev.target.kind;
        if ((kind === 'ad' && this.#responder.has('ad_click')) || (kind === 'offer' && (ev.target.action ?? 'click') === 'click' && this.#responder.has('offer_click')) || (kind === 'product' && this.#responder.has('product_click'))) {
          profile.responded = true;
        }
        if (kind === 'button' && ev.target.productId !== undefined) {
          const category = this.#productCategory.get(ev.target.productId);
          if (category !== undefined) this.#profiles.addInterest(profile, category, INTEREST_WEIGHTS.cart);
        }
        break;
      }
      case 'form':
        this.#form(e, ev, ts, pane, profile);
        break;
      default: {
        const _exhaustive: never = ev;
        return _exhaustive;
      }
    }
    if (this.#segmentDefs !== undefined) this.#segmentsAfter(e.visitorId, profile, ts, pane);
    return loc.kind === 'ok' ? OK : loc.kind === 'revision' ? REVISION : LATE;
  }

  /**
   * Entries and exits: after each event of a visitor, its membership of every named segment at the
   * event's time (in the partition's log order, so a replay reports the same changes). A visitor who
   * lapses by time alone (a recency condition) leaves at its next event; GET /v1/segments/:id/visitors
   * always evaluates at the current event time.
   */
  #segmentsAfter(visitorId: string, state: ProfileState, ts: number, pane: UsagePane | undefined): void {
    const defs = this.#segmentDefs?.() ?? [];
    if (defs.length === 0 && state.segments === undefined) return;
    const view = this.#profiles.view(visitorId, ts);
    if (view === undefined) return;
    const before = state.segments ?? [];
    let now: string[] | undefined;
    for (const d of defs) if (inSegment(view, d, ts)) (now ??= []).push(d.id);
    const after = now ?? [];
    if (after.length === before.length && after.every((id, i) => before[i] === id)) return;
    state.segments = now;
    const changed = (segment: string, kind: 'entered' | 'exited'): void => {
      if (pane !== undefined) {
        const m = (pane.segmentChanges ??= new Map());
        let c = m.get(segment);
        if (c === undefined) m.set(segment, (c = [0, 0]));
        c[kind === 'entered' ? 0 : 1]++;
      }
      this.#onSegmentChange?.({ site: this.site, segment, visitorId, kind, ts });
    };
    for (const id of after) if (!before.includes(id)) changed(id, 'entered');
    // A removed definition's members leave without an exit event: the segment is gone.
    for (const id of before) if (!after.includes(id) && defs.some((d) => d.id === id)) changed(id, 'exited');
  }

  #form(e: EnrichedEvent, ev: FormEvent, ts: number, pane: UsagePane | undefined, profile: ReturnType<VisitorProfiles['touch']>): void {
    const vid = e.visitorId as string;
    const formId = ev.formId;
    const f = pane === undefined ? undefined : this.#formPane(pane, formId);
    switch (ev.action) {
      case 'view':
        if (f !== undefined) f.views++;
        break;
      case 'start': {
        if (f !== undefined) f.starts++;
        this.#step(vid, formId, [ts, e.seq, STEP_START, ev.field ?? null], f);
        if (this.#responder.has('form_start')) profile.responded = true;
        break;
      }
      case 'field':
      case 'error': {
        if (ev.action === 'error' && f !== undefined) this.#bump(f.errors, ev.field ?? '(form)');
        this.#step(vid, formId, [ts, e.seq, STEP_FIELD, ev.field ?? null], f);
        break;
      }
      case 'submit': {
        if (f !== undefined) f.submits++;
        this.#step(vid, formId, [ts, e.seq, STEP_SUBMIT, null], f);
        if (ev.items !== undefined && ev.items.length > 0) this.#purchase(e, ev, ts, pane, profile);
        break;
      }
      case 'abandon': {
        if (f !== undefined) f.abandons++;
        this.#step(vid, formId, [ts, e.seq, STEP_ABANDON, ev.field ?? null], f);
        break;
      }
      default: {
        const _exhaustive: never = ev.action;
        return _exhaustive;
      }
    }
  }

  /**
   * Adds a form event to its visitor's trail. In order (the usual case) it moves the open attempt on
   * and counts what it ends in `f`, its own pane's form; out of order, the trail's outcomes are taken
   * back and counted again with the step in its place.
   */
  #step(visitorId: string, formId: string, step: FormStep, f: FormPane | undefined): void {
    const trail = this.#trail(visitorId, formId);
    const steps = trail.steps;
    const last = steps[steps.length - 1];
    if (last === undefined || compareSteps(last, step) <= 0) {
      steps.push(step);
      const out: FormOutcome[] = [];
      trail.open = advance(trail.open, step, out);
      if (f !== undefined) for (const o of out) this.#countOutcome(f, o, 1);
    } else {
      const before: FormOutcome[] = [];
      replaySteps(steps, before);
      for (const o of before) this.#outcomeAt(formId, o, -1);
      let i = steps.length;
      while (i > 0 && compareSteps(steps[i - 1]!, step) > 0) i--;
      steps.splice(i, 0, step);
      const after: FormOutcome[] = [];
      trail.open = replaySteps(steps, after);
      for (const o of after) this.#outcomeAt(formId, o, 1);
    }
    if (steps.length > MAX_FORM_STEPS) {
      // Forget the oldest ended attempt (or, with none, the oldest step): what it counted stays.
      const end = steps.findIndex((st) => st[2] === STEP_SUBMIT || st[2] === STEP_ABANDON);
      steps.splice(0, end >= 0 && end < steps.length - 1 ? end + 1 : 1);
      this.#onEvict(NAME, 'form_steps', 1);
    }
  }

  /**
   * Counts (sign 1) or takes back (−1) an outcome in its form's pane at its event time: the one its
   * event's submit or abandon was counted in (none: that pane was late, expired or had no room).
   */
  #outcomeAt(formId: string, o: FormOutcome, sign: 1 | -1): void {
    const f = this.#store.peek(o.ts)?.forms.get(formId);
    if (f !== undefined) this.#countOutcome(f, o, sign);
  }

  #countOutcome(f: FormPane, o: FormOutcome, sign: 1 | -1): void {
    if (o.ttcMs !== undefined) {
      if (sign === 1) (f.timeToComplete ??= new DDSketch(DD_ALPHA, DD_MAX_BINS)).add(o.ttcMs);
      else f.timeToComplete?.remove(o.ttcMs);
    } else if (sign === 1) this.#bump(f.lastFields, o.field);
    else this.#unbump(f.lastFields, o.field);
  }

  #unbump(m: Map<string, number>, key: string): void {
    const n = m.get(key);
    if (n === undefined) return;
    if (n <= 1) m.delete(key);
    else m.set(key, n - 1);
  }

  /** The visitor's trail of a form, created empty when there is none (a visitor keeps at most MAX_OPEN_FORMS_PER_VISITOR). */
  #trail(visitorId: string, formId: string): FormTrail {
    const list = this.#openForms.get(visitorId);
    if (list !== undefined) for (const t of list) if (t.formId === formId) return t;
    const trail: FormTrail = { formId, steps: [], open: undefined };
    if (list === undefined) this.#openForms.set(visitorId, [trail]);
    else {
      if (list.length >= MAX_OPEN_FORMS_PER_VISITOR) {
        list.shift();
        this.#onEvict(NAME, 'open_forms', 1);
      }
      list.push(trail);
    }
    return trail;
  }

  /**
   * Implicit abandonment: forms started in a session that closed without a submit or an explicit
   * abandon (the browser never sent one: closed tab, crash) count as abandoned, with the last field
   * touched, in the pane of the session's last event; returns what was counted. The open form stays
   * until the session can no longer re-open, so a re-open retracts the count (#retractAbandons) and
   * the next close counts it again.
   */
  #abandonOpenForms(visitorId: string, start: number, end: number, pane: UsagePane | undefined): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    const list = this.#openForms.peek(visitorId);
    if (list === undefined || pane === undefined) return out;
    for (const { formId, open } of list) {
      if (open === undefined || !open.started || open.start < start || open.start > end) continue;
      const f = this.#formPane(pane, formId);
      if (f === undefined) continue;
      const field = open.lastField ?? '(none)';
      f.abandons++;
      this.#bump(f.lastFields, field);
      out.push([formId, field]);
    }
    return out;
  }

  /** Takes back the implicit abandonments a closed session counted. */
  #retractAbandons(pane: UsagePane, counted: ReadonlyArray<readonly [string, string]>): void {
    for (const [formId, field] of counted) {
      const f = pane.forms.get(formId);
      if (f === undefined) continue;
      f.abandons--;
      this.#unbump(f.lastFields, field);
    }
  }

  /**
   * Once a closed session can no longer re-open, no event can join what it holds: forgets the forms
   * it abandoned, and of every other form of the visitor the attempts that ended within it.
   */
  #dropAbandoned(c: ClosedSession): void {
    const list = this.#openForms.peek(c.visitorId);
    if (list === undefined) return;
    // In place, so the visitor keeps its place in the LRU.
    for (let j = list.length - 1; j >= 0; j--) {
      const trail = list[j]!;
      const steps = trail.steps;
      let cut = 0;
      for (let i = 0; i < steps.length && steps[i]![0] <= c.end; i++) if (steps[i]![2] === STEP_SUBMIT || steps[i]![2] === STEP_ABANDON) cut = i + 1;
      if (cut > 0) steps.splice(0, cut);
      if (steps.length === 0 || c.abandons.some(([formId]) => formId === trail.formId)) list.splice(j, 1);
    }
    if (list.length === 0) this.#openForms.delete(c.visitorId);
  }

  #purchase(e: EnrichedEvent, ev: FormEvent, ts: number, pane: UsagePane | undefined, profile: ReturnType<VisitorProfiles['touch']>): void {
    // Integer cents: sums are exact and do not depend on the order purchases are added in.
    let cents = 0;
    for (const item of ev.items ?? []) {
      if (item.price !== undefined) cents += Math.round(item.price * 100) * item.quantity;
      this.#profiles.addBought(profile, item.productId);
      const category = item.category ?? this.#productCategory.get(item.productId);
      if (category !== undefined) {
        this.#profiles.addInterest(profile, category, INTEREST_WEIGHTS.purchase);
        if (item.category !== undefined && this.#productCategory.peek(item.productId) !== item.category) this.#productCategory.set(item.productId, item.category);
      }
    }
    profile.purchases++;
    profile.revenue += cents / 100;
    if (ts > profile.lastPurchase) profile.lastPurchase = ts;
    if (pane !== undefined) {
      pane.purchases++;
      pane.revenueCents += cents;
      if (cents > 0) (pane.golden ??= new SpaceSaving<string>(this.settings.goldenCapacity)).add(e.visitorId, cents);
    }
  }

  #formPane(pane: UsagePane, formId: string): FormPane | undefined {
    let f = pane.forms.get(formId);
    if (f === undefined) {
      if (pane.forms.size >= this.settings.maxFormsPerPane) {
        this.#onEvict(NAME, 'forms', 1);
        return undefined;
      }
      f = new FormPane();
      pane.forms.set(formId, f);
    }
    return f;
  }

  #bump(m: Map<string, number>, key: string): void {
    const n = m.get(key);
    if (n !== undefined) m.set(key, n + 1);
    else if (m.size < this.settings.maxFieldsPerForm) m.set(key, 1);
    else this.#onEvict(NAME, 'form_fields', 1);
  }

  onSession(signal: SessionSignal, watermark: EpochMillis): void {
    switch (signal.kind) {
      case 'started': {
        const s = signal.session;
        const p = this.#profiles.touch(s.visitorId, s.start);
        p.sessions++;
        const loc = this.#store.locate(s.start, watermark);
        if (loc.kind !== 'late') {
          loc.pane.sessionsStarted++;
          if (s.returningVisitor) loc.pane.returningSessions++;
        }
        break;
      }
      case 'revised': {
        // Move the start (and its returning flag) to where the session now begins.
        const before = this.#store.paneAt(signal.previousStart);
        if (before !== undefined) {
          before.sessionsStarted--;
          if (signal.previousReturning) before.returningSessions--;
        }
        const s = signal.session;
        const after = this.#store.paneAt(s.start);
        if (after !== undefined) {
          after.sessionsStarted++;
          if (s.returningVisitor) after.returningSessions++;
        }
        break;
      }
      case 'merged': {
        const s = signal.absorbed;
        const p = this.#profiles.peek(s.visitorId);
        if (p !== undefined) p.sessions--;
        const loc = this.#store.locate(s.start, watermark);
        if (loc.kind !== 'late') {
          loc.pane.sessionsStarted--;
          if (s.returningVisitor) loc.pane.returningSessions--;
        }
        break;
      }
      case 'closed': {
        const s = signal.session;
        const key = pendingKey(s);
        // A session closed twice without a re-open in between is counted once (the later summary wins).
        const before = this.#pending.get(key);
        if (before !== undefined) this.#countEnd(before, this.#store.peek(before.end), -1);
        const pane = this.#store.paneAt(s.end);
        const entry: ClosedSession = {
          key,
          visitorId: s.visitorId,
          end: s.end,
          durationMs: s.end - s.start,
          pageViews: s.pageViews,
          converted: s.bought.length > 0,
          funnel: this.#funnelDepth(s),
          slice: this.#sliceFor(s, pane),
          revenueCents: Math.round(s.revenue * 100),
          due: s.end + this.#time.sessionGapMs + this.#time.allowedLatenessMs,
          abandons: this.#abandonOpenForms(s.visitorId, s.start, s.end, pane),
        };
        this.#countEnd(entry, pane, 1);
        this.#pending.set(key, entry);
        this.#queue.push(entry);
        if (this.#pending.size > this.settings.maxPendingSessions) {
          // Bounded: forget the oldest (its counts stay; a re-open of it can no longer retract them).
          const oldest = this.#shift();
          if (oldest !== undefined) {
            this.#dropAbandoned(oldest);
            this.#onEvict(NAME, 'pending_sessions', 1);
          }
        }
        break;
      }
      case 'reopened': {
        const key = pendingKey(signal.session);
        const entry = this.#pending.get(key);
        if (entry !== undefined) {
          this.#pending.delete(key);
          this.#countEnd(entry, this.#store.peek(entry.end), -1);
        }
        break;
      }
      default: {
        const _exhaustive: never = signal;
        return _exhaustive;
      }
    }
  }

  onWatermark(watermark: EpochMillis, retention: EpochMillis = watermark): void {
    if (watermark > this.#watermark) this.#watermark = watermark;
    // Closed sessions that can no longer re-open are forgotten. Closing order is nearly due order:
    // stopping at the first entry not yet due delays a few by at most the sessionizer's bucket.
    for (;;) {
      const head = this.#peekLive();
      if (head === undefined || head.due > watermark) break;
      this.#shift();
      this.#dropAbandoned(head);
    }
    this.#store.expire(retention);
  }

  /** The oldest live pending entry (skipping superseded ones), without removing it. */
  #peekLive(): ClosedSession | undefined {
    while (this.#queueHead < this.#queue.length) {
      const e = this.#queue[this.#queueHead]!;
      if (this.#pending.get(e.key) === e) return e;
      this.#queueHead++;
    }
    this.#compact();
    return undefined;
  }

  /** Removes and returns the oldest live pending entry. */
  #shift(): ClosedSession | undefined {
    const e = this.#peekLive();
    if (e === undefined) return undefined;
    this.#queueHead++;
    this.#pending.delete(e.key);
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) this.#compact();
    return e;
  }

  #compact(): void {
    if (this.#queueHead === 0) return;
    this.#queue = this.#queue.slice(this.#queueHead);
    this.#queueHead = 0;
  }

  /**
   * Adds (sign 1) or takes back (−1) what a closed session counts in `pane`, the pane of its last
   * event (undefined: beyond retention, nothing to change). Implicit abandonments are counted by the
   * caller on close (they need the open forms) and taken back here.
   */
  #countEnd(c: ClosedSession, pane: UsagePane | undefined, sign: 1 | -1): void {
    if (pane === undefined) return;
    if (sign === -1) this.#retractAbandons(pane, c.abandons);
    pane.sessionsEnded += sign;
    if (c.pageViews >= 1) pane.sessionsWithViews += sign;
    if (c.pageViews === 1) pane.bounces += sign;
    if (c.converted) pane.convertedSessions += sign;
    if (c.funnel > 0) {
      const f = (pane.funnel ??= new Float64Array(FUNNEL_STEPS.length));
      for (let i = 0; i < c.funnel; i++) f[i]! += sign;
    }
    const slices = (pane.slices ??= new Map());
    let row = slices.get(c.slice);
    if (row === undefined) slices.set(c.slice, (row = new Float64Array(SLICE_WIDTH)));
    row[SLICE.sessions]! += sign;
    if (c.pageViews >= 1) row[SLICE.withPageViews]! += sign;
    if (c.pageViews === 1) row[SLICE.bounces]! += sign;
    if (c.converted) row[SLICE.converted]! += sign;
    row[SLICE.pageViews]! += sign * c.pageViews;
    row[SLICE.revenueCents]! += sign * c.revenueCents;
    row[SLICE.durationMs]! += sign * c.durationMs;
    for (let i = 0; i < c.funnel; i++) row[SLICE.funnel + i]! += sign;
    if (sign === 1) {
      (pane.durations ??= new DDSketch(DD_ALPHA, DD_MAX_BINS)).add(c.durationMs);
      (pane.pagesPerSession ??= new DDSketch(DD_ALPHA, DD_MAX_BINS)).add(c.pageViews);
    } else {
      pane.durations?.remove(c.durationMs);
      pane.pagesPerSession?.remove(c.pageViews);
    }
  }

  /**
   * The slice key a closing session counts under in `pane`: its dimensions, or — when the pane holds
   * `maxSlicesPerPane` keys and not this one — the same with its UTM values folded into `other`
   * (counted as an eviction of `slices`), so channel, device and visitor type stay exact.
   */
  #sliceFor(s: SessionSummary, pane: UsagePane | undefined): string {
    return boundedSliceKey(sessionDimensions(s, this.settings.channels), pane?.slices, this.settings.maxSlicesPerPane, () => this.#onEvict(NAME, 'slices', 1));
  }

  /**
   * How far down the shopping funnel a session went, nested: a product view, then (also) an add to
   * cart, then a checkout form (settings.checkoutForms) or a purchase, then a purchase. Steps are
   * nested, not ordered in time, so the figure does not depend on the order events arrive in.
   */
  #funnelDepth(s: SessionSummary): number {
    if (s.viewed.length === 0) return 0;
    if (s.carted.length === 0) return 1;
    const bought = s.bought.length > 0;
    if (!bought && !s.forms.some((f) => this.#checkoutForms.has(f))) return 2;
    return bought ? 4 : 3;
  }

  /** The processor's event-time "now": the watermark, or the latest event time before any watermark. */
  #asOf(): number {
    return Number.isFinite(this.#watermark) ? Math.max(this.#watermark, Number.isFinite(this.#maxTs) ? this.#maxTs : this.#watermark) : this.#maxTs;
  }

  /** A visitor's profile with stage and RFM at the current event time, or undefined when unknown / evicted. */
  visitor(visitorId: string): VisitorProfile | undefined {
    return this.#profiles.view(visitorId, this.#asOf());
  }

  /** Visitors per lifecycle stage over the profiles held. */
  stages(): Record<LifecycleStage, number> {
    return this.#profiles.stageCounts(this.#asOf());
  }

  /** The last watermark seen. */
  watermark(): EpochMillis {
    return epochMillis(this.#watermark);
  }

  /**
   * Windows of `windowMs` (a multiple of the pane), newest first, the open one included; `before`
   * (a window start from a previous page) continues further back. Hopping windows with `slideMs`.
   */
  windows(windowMs: number, limit: number, opts: WindowOptions = {}): UsageWindowStats[] {
    return UsageProcessor.windowsOf([this], windowMs, limit, opts);
  }

  /** `windows` over the processors of several partitions (same settings): each window merges all their panes. */
  static windowsOf(parts: readonly UsageProcessor[], windowMs: number, limit: number, opts: WindowOptions = {}): UsageWindowStats[] {
    const first = parts[0];
    if (first === undefined) return [];
    const views = PaneStore.windowsAcross(parts.map((p) => p.#store), windowMs, UsageProcessor.#watermarkOf(parts), limit, opts);
    return views.map((w) => first.#render(w.start, w.end, w.closed, w.value, opts.slices));
  }

  /** `windowsIn` over the processors of several partitions. */
  static windowsInOf(parts: readonly UsageProcessor[], ranges: ReadonlyArray<readonly [number, number]>, slices?: SliceQuery): UsageWindowStats[] {
    const first = parts[0];
    const out: UsageWindowStats[] = [];
    if (first === undefined) return out;
    const stores = parts.map((p) => p.#store);
    const wm = UsageProcessor.#watermarkOf(parts);
    for (const [start, end] of ranges) {
      const value = PaneStore.rangeAcross(stores, start, end);
      if (value !== undefined) out.push(first.#render(epochMillis(start), epochMillis(end), end <= wm, value, slices));
    }
    return out;
  }

  /** Visitors per lifecycle stage over the profiles of several partitions, at their common event-time "now". */
  static stagesOf(parts: readonly UsageProcessor[]): Record<LifecycleStage, number> {
    const asOf = UsageProcessor.asOfAll(parts);
    const out: Record<LifecycleStage, number> = { prospect: 0, responder: 0, active_customer: 0, former_customer: 0 };
    for (const p of parts) {
      const c = p.#profiles.stageCounts(asOf);
      for (const k of LIFECYCLE_STAGES) out[k] += c[k];
    }
    return out;
  }

  /** The event-time "now" of several partitions: the latest of theirs. */
  static asOfAll(parts: readonly UsageProcessor[]): number {
    let asOf = Number.NEGATIVE_INFINITY;
    for (const p of parts) asOf = Math.max(asOf, p.#asOf());
    return asOf;
  }

  /** A visitor's profile at event time `asOf` (a site view's common "now"). */
  visitorAt(visitorId: string, asOf: number): VisitorProfile | undefined {
    return this.#profiles.view(visitorId, asOf);
  }

  /** Every profile held (`customersOnly`: that bought something) at event time `asOf`, for customer lists and segments. */
  *profilesAt(asOf: number, customersOnly: boolean): Generator<VisitorProfile> {
    for (const [id, state] of this.#profiles.states()) {
      if (customersOnly && state.purchases === 0) continue;
      const v = this.#profiles.view(id, asOf);
      if (v !== undefined) yield v;
    }
  }

  /** The site watermark of several partitions (windows closed in all of them show closed). */
  static #watermarkOf(parts: readonly UsageProcessor[]): number {
    return lowestWatermark(parts.map((p) => p.#watermark));
  }

  /**
   * Windows over explicit [start, end) ranges (e.g. zoned calendar days from ZonedDays), in the
   * order given; ranges without any retained pane are skipped.
   */
  windowsIn(ranges: ReadonlyArray<readonly [number, number]>, slices?: SliceQuery): UsageWindowStats[] {
    return UsageProcessor.windowsInOf([this], ranges, slices);
  }

  /** The latest event time seen (−Infinity before any event). */
  newestEventTime(): EpochMillis {
    return epochMillis(this.#maxTs);
  }

  #render(start: EpochMillis, end: EpochMillis, closed: boolean, p: UsagePane, slices?: SliceQuery): UsageWindowStats {
    const forms: FormStats[] = [];
    for (const [formId, f] of p.forms) {
      forms.push({
        formId,
        views: f.views,
        starts: f.starts,
        submits: f.submits,
        abandons: f.abandons,
        abandonmentRate: f.starts > 0 ? Math.min(1, f.abandons / f.starts) : null,
        lastFieldBeforeAbandon: sortedCounts(f.lastFields),
        errors: sortedCounts(f.errors),
        timeToCompleteSeconds: quantiles(f.timeToComplete, 1000),
      });
    }
    forms.sort((a, b) => b.views - a.views || b.starts - a.starts || (a.formId < b.formId ? -1 : 1));
    const golden = p.golden?.top(this.settings.goldenCapacity).map((g) => ({ visitorId: g.key, revenue: g.count / 100, error: g.error / 100 })) ?? [];
    return {
      start,
      end,
      closed,
      pageViews: p.pageViews,
      events: { page_view: p.events[0]!, click: p.events[1]!, form: p.events[2]! },
      sessionsStarted: p.sessionsStarted,
      newSessions: p.sessionsStarted - p.returningSessions,
      returningSessions: p.returningSessions,
      visitors: p.visitors?.count() ?? 0,
      visitorsRelativeError: this.visitorsRelativeError,
      sessions: {
        ended: p.sessionsEnded,
        withPageViews: p.sessionsWithViews,
        bounces: p.bounces,
        bounceRate: p.sessionsWithViews > 0 ? p.bounces / p.sessionsWithViews : null,
        durationSeconds: quantiles(p.durations, 1000),
        pagesPerSession: quantiles(p.pagesPerSession, 1, true),
        converted: p.convertedSessions,
      },
      purchases: p.purchases,
      conversionRate: p.sessionsEnded > 0 ? p.convertedSessions / p.sessionsEnded : null,
      funnel: renderFunnel(p.sessionsEnded, p.funnel),
      revenue: p.revenueCents / 100,
      forms,
      goldenCustomers: golden,
      segmentChanges: [...(p.segmentChanges ?? [])].map(([segment, [entered, exited]]) => ({ segment, entered, exited })).sort((a, b) => (a.segment < b.segment ? -1 : 1)),
      ...(slices === undefined ? {} : { slices: sliceTable(p.slices, slices, SLICE_LAYOUT) }),
    };
  }

  snapshot(): UsageSnapshot {
    return {
      v: SNAPSHOT_VERSION,
      watermark: Number.isFinite(this.#watermark) ? this.#watermark : null,
      maxTs: Number.isFinite(this.#maxTs) ? this.#maxTs : null,
      panes: this.#store.entries().map(([start, p]) => [start, paneToJSON(p)]),
      profiles: this.#profiles.toJSON(),
      closed: this.#queue
        .slice(this.#queueHead)
        .filter((e) => this.#pending.get(e.key) === e)
        .map((e) => [e.key, e.end, e.durationMs, e.pageViews, e.converted, e.due, e.abandons.map(([f, l]): [string, string] => [f, l]), e.funnel, e.slice, e.revenueCents]),
      openForms: [...this.#openForms.rkeys()].flatMap((vid) => (this.#openForms.peek(vid) ?? []).map((t): FormTrailJSON => [vid, t.formId, t.steps.slice()])),
      categories: [...this.#productCategory.rentries()],
    };
  }

  restore(snapshot: UsageSnapshot): void {
    if (snapshot.v !== SNAPSHOT_VERSION) throw new ClickstreamError('CM_ERR_SNAPSHOT', `usage snapshot version ${snapshot.v}, expected ${SNAPSHOT_VERSION}`);
    this.#store.clear();
    this.#profiles.clear();
    this.#pending.clear();
    this.#queue = [];
    this.#queueHead = 0;
    this.#openForms.clear();
    this.#productCategory.clear();
    this.#watermark = Number.NEGATIVE_INFINITY;
    this.#maxTs = Number.NEGATIVE_INFINITY;
    this.merge(snapshot);
  }

  merge(partial: UsageSnapshot): void {
    if (partial.v !== SNAPSHOT_VERSION) throw new ClickstreamError('CM_ERR_SNAPSHOT', `usage snapshot version ${partial.v}, expected ${SNAPSHOT_VERSION}`);
    for (const [start, pj] of partial.panes) this.#store.mergePane(start, paneFromJSON(pj, this.settings.goldenCapacity));
    this.#profiles.load(partial.profiles);
    for (const [key, end, durationMs, pageViews, converted, due, abandons, funnel, slice, revenueCents] of partial.closed ?? []) {
      const entry: ClosedSession = { key, visitorId: visitorOfKey(key), end, durationMs, pageViews, converted, funnel: funnel ?? 0, slice: slice ?? UNSLICED, revenueCents: revenueCents ?? 0, due, abandons };
      this.#pending.set(key, entry);
      this.#queue.push(entry);
    }
    for (const [vid, formId, steps] of partial.openForms ?? []) {
      const trail = this.#trail(vid, formId);
      for (const st of steps) trail.steps.push(st); // read-only tuples: shared, never changed
      trail.steps.sort(compareSteps);
      trail.open = replaySteps(trail.steps, undefined); // what they counted is in the panes already
    }
    for (const [product, category] of partial.categories) if (!this.#productCategory.has(product)) this.#productCategory.set(product, category);
    if (typeof partial.maxTs === 'number' && partial.maxTs > this.#maxTs) this.#maxTs = partial.maxTs;
    // TRICKY: JSON turns −Infinity into null; a partial without a watermark must not lower ours.
    if (typeof partial.watermark === 'number' && partial.watermark > this.#watermark) this.#watermark = partial.watermark;
  }
}

/**
 * Key of a pending session. Server-derived ids already start with the visitor id (unique per site);
 * client ids get the visitor prefixed, so two visitors' equal client ids never collide.
 * TRICKY: reusing the id string itself keeps its cached hash: no new string per signal.
 */
function pendingKey(s: SessionSummary): string {
  return s.id.startsWith(s.visitorId) && s.id.charCodeAt(s.visitorId.length) === 47 /* '/' */ ? s.id : `${s.visitorId}\u0000${s.id}`;
}

/** The visitor id of a pendingKey. */
function visitorOfKey(key: string): string {
  const nul = key.indexOf('\u0000');
  return nul >= 0 ? key.slice(0, nul) : key.slice(0, key.lastIndexOf('/'));
}

/**
 * Quantiles of a sketch, its values divided by `unit` (sketches hold integer ms; the API speaks
 * seconds), `round` for integer-valued figures (pages). Bin representatives (within α) and the exact
 * mean: functions of the counts alone, so a window revised by re-opened sessions reads the same as one
 * that never was.
 */
function quantiles(s: DDSketch | undefined, unit = 1, round = false): Quantiles | null {
  if (s === undefined || s.count === 0) return null;
  const f = (v: number): number => (round ? Math.round(v) : v / unit);
  return { p50: f(s.binQuantile(0.5)), p90: f(s.binQuantile(0.9)), p99: f(s.binQuantile(0.99)), mean: s.sum / s.count / unit, max: f(s.binMax()), count: s.count };
}

function sortedCounts(m: ReadonlyMap<string, number>): Array<{ field: string; count: number }> {
  return [...m].map(([field, count]) => ({ field, count })).sort((a, b) => b.count - a.count || (a.field < b.field ? -1 : 1));
}

/** What a group of visitors is worth: revenue so far, predicted value (sum) and its distribution over the group. */
export interface ValueSummary {
  readonly historic: number;
  readonly predicted: number;
  readonly predictedQuantiles: { readonly p50: number; readonly p90: number; readonly max: number };
}

function valueSummary(list: readonly VisitorProfile[]): ValueSummary {
  const values = list.map((c) => c.value.predicted).sort((a, b) => a - b);
  const q = (f: number): number => values[Math.min(values.length - 1, Math.floor(f * values.length))] ?? 0;
  return {
    historic: list.reduce((n, c) => n + c.value.historic, 0),
    predicted: values.reduce((n, v) => n + v, 0),
    predictedQuantiles: { p50: q(0.5), p90: q(0.9), max: values[values.length - 1] ?? 0 },
  };
}

/** Segments a site may have (config and admin API together). */
export const MAX_SEGMENTS = 100;

/**
 * A site's usage statistics and visitor profiles over all its partitions
 * (`Pipeline.processor(site, 'usage')`): windows merge every partition's panes; a visitor's profile
 * comes from its own partition; stages are counted at the site's event-time "now".
 */
export class UsageView implements SiteView {
  readonly name = NAME;
  readonly #parts: PartitionSets;

  constructor(parts: PartitionSets) {
    this.#parts = parts;
  }

  #all(): readonly UsageProcessor[] {
    return this.#parts.of<UsageProcessor>(NAME);
  }

  get settings(): UsageSettings | undefined {
    return this.#all()[0]?.settings;
  }

  windows(windowMs: number, limit: number, opts: WindowOptions = {}): UsageWindowStats[] {
    return UsageProcessor.windowsOf(this.#all(), windowMs, limit, opts);
  }

  windowsIn(ranges: ReadonlyArray<readonly [number, number]>, slices?: SliceQuery): UsageWindowStats[] {
    return UsageProcessor.windowsInOf(this.#all(), ranges, slices);
  }

  visitor(visitorId: string): VisitorProfile | undefined {
    return this.#parts.forVisitor<UsageProcessor>(NAME, visitorId)?.visitorAt(visitorId, UsageProcessor.asOfAll(this.#all()));
  }

  stages(): Record<LifecycleStage, number> {
    return UsageProcessor.stagesOf(this.#all());
  }

  /** Customers (visitors who bought) of every partition held, at the site's event-time "now". */
  #customers(): VisitorProfile[] {
    return this.#profiles(true).profiles;
  }

  #profiles(customersOnly: boolean): { asOf: number; profiles: VisitorProfile[] } {
    const parts = this.#all();
    const asOf = UsageProcessor.asOfAll(parts);
    const profiles: VisitorProfile[] = [];
    for (const p of parts) for (const v of p.profilesAt(asOf, customersOnly)) profiles.push(v);
    return { asOf, profiles };
  }

  // ── segments ──────────────────────────────────────────────────────────────────────────────

  /** The site's segments: from the config, then as the admin API changed them (kept in the site snapshot). */
  #segments: Map<string, SegmentDefinition> | undefined;
  /** `#segments` as a list, built once per change: every partition reads it after every event. */
  #segmentList: readonly SegmentDefinition[] | undefined;

  #segmentMap(): Map<string, SegmentDefinition> {
    this.#segments ??= this.#configSegments();
    return this.#segments;
  }

  #configSegments(): Map<string, SegmentDefinition> {
    return new Map((this.settings?.segments ?? []).map((d) => [d.id, d]));
  }

  segmentDefinitions(): readonly SegmentDefinition[] {
    this.#segmentList ??= [...this.#segmentMap().values()];
    return this.#segmentList;
  }

  segment(id: string): SegmentDefinition | undefined {
    return this.#segmentMap().get(id);
  }

  /** Adds or replaces a segment; returns whether one was replaced. */
  putSegment(d: SegmentDefinition): boolean {
    const m = this.#segmentMap();
    const replaced = m.has(d.id);
    if (!replaced && m.size >= MAX_SEGMENTS) throw new ClickstreamError('CM_ERR_CONFIG', `a site has at most ${MAX_SEGMENTS} segments`);
    m.set(d.id, d);
    this.#segmentList = undefined;
    return replaced;
  }

  removeSegment(id: string): boolean {
    this.#segmentList = undefined;
    return this.#segmentMap().delete(id);
  }

  /** Members of a segment now, newest activity first (then id), paged; `total`: how many there are. */
  members(id: string, opts: { readonly offset: number; readonly limit: number }): { total: number; visitors: VisitorProfile[] } | undefined {
    const d = this.segment(id);
    if (d === undefined) return undefined;
    const { asOf, profiles } = this.#profiles(false);
    const in_ = profiles.filter((p) => inSegment(p, d, asOf));
    in_.sort((a, b) => b.lastSeen - a.lastSeen || (a.visitorId < b.visitorId ? -1 : 1));
    return { total: in_.length, visitors: in_.slice(opts.offset, opts.offset + opts.limit) };
  }

  /** Every segment's current size, and what its members are worth (historic revenue, predicted value and its distribution). */
  segmentSizes(): Array<{ id: string; name: string; size: number; value: ValueSummary }> {
    const { asOf, profiles } = this.#profiles(false);
    return this.segmentDefinitions().map((d) => {
      const members = profiles.filter((p) => inSegment(p, d, asOf));
      return { id: d.id, name: d.name, size: members.length, value: valueSummary(members) };
    });
  }

  snapshot(): { v: 1; segments: readonly SegmentDefinition[] } {
    return { v: 1, segments: this.segmentDefinitions() };
  }

  restore(raw: unknown): void {
    const snap = raw as { v?: unknown; segments?: unknown };
    if (snap?.v !== 1 || !Array.isArray(snap.segments)) throw new ClickstreamError('CM_ERR_SNAPSHOT', 'usage view snapshot: expected version 1 with segments');
    const m = this.#configSegments();
    for (const raw of snap.segments) {
      const r = parseSegment(raw);
      if (r.kind === 'ok') m.set(r.segment.id, r.segment);
    }
    this.#segments = m;
    this.#segmentList = undefined;
  }

  /**
   * The golden customers: customers ranked by predicted value (then historic revenue, then id),
   * optionally of one RFM segment; `total` is how many there are.
   */
  customers(opts: { readonly segment?: string; readonly offset: number; readonly limit: number }): { total: number; customers: VisitorProfile[] } {
    const all = this.#customers().filter((c) => opts.segment === undefined || c.segment === opts.segment);
    all.sort((a, b) => b.value.predicted - a.value.predicted || b.value.historic - a.value.historic || (a.visitorId < b.visitorId ? -1 : 1));
    return { total: all.length, customers: all.slice(opts.offset, opts.offset + opts.limit) };
  }

  /** Per RFM segment: how many customers, what they spent, and the distribution of their predicted value. */
  valueBySegment(): Array<{ segment: string; customers: number } & ValueSummary> {
    const by = new Map<string, VisitorProfile[]>();
    for (const c of this.#customers()) {
      const list = by.get(c.segment);
      if (list === undefined) by.set(c.segment, [c]);
      else list.push(c);
    }
    return [...by]
      .map(([segment, list]) => ({ segment, customers: list.length, ...valueSummary(list) }))
      .sort((a, b) => b.predicted - a.predicted || (a.segment < b.segment ? -1 : 1));
  }

  /** The latest event time seen in any partition (−Infinity before any event). */
  newestEventTime(): EpochMillis {
    let t = Number.NEGATIVE_INFINITY;
    for (const p of this.#all()) t = Math.max(t, p.newestEventTime());
    return epochMillis(t);
  }
}
