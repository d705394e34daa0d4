import { ClickstreamError } from '../../src/errors';
import { DEFAULT_CHANNEL_RULES, type ChannelRules } from './session-dimensions';
import { DEFAULT_RFM_SEGMENTS, type RfmSegmentRule } from './customer-value';
import { parseSegment, type SegmentDefinition } from './segments';

/** What makes a prospect a responder (lifecycle rule). */
export const RESPONDER_SIGNALS = ['ad_click', 'offer_click', 'product_click', 'form_start', 'search'] as const;
export type ResponderSignal = (typeof RESPONDER_SIGNALS)[number];

/**
 * Per-site usage settings (`site.processors.usage` in the config file). Lifecycle and RFM rules use
 * event time only (the processor's watermark), never the wall clock.
 */
export interface UsageSettings {
  /** Visitor profiles kept (LRU), count. */
  readonly maxProfiles: number;
  /** Closed sessions waiting to become final (past gap + allowed lateness), count. */
  readonly maxPendingSessions: number;
  /** Forms tracked per pane, count. */
  readonly maxFormsPerPane: number;
  /** Fields tracked per form and pane (errors, last field before abandonment), count. */
  readonly maxFieldsPerForm: number;
  /** Forms in progress tracked (visitor × form), count. */
  readonly maxOpenForms: number;
  /** Customers kept per pane for the golden-customer top list (Space-Saving capacity), count. */
  readonly goldenCapacity: number;
  /** HyperLogLog precision of the distinct-visitor sketch per pane (error 1.04/√2^p). */
  readonly hllPrecision: number;
  /** Categories kept per visitor profile (interest weights), count. */
  readonly maxInterests: number;
  /** Product ids kept per visitor profile (bought), count. */
  readonly maxBought: number;
  /** Product → category memory (learned from page views and purchases; gives add-to-cart clicks a category), count. */
  readonly maxProducts: number;
  /** Form ids that are the checkout (the funnel's third step; a purchase passes it too). */
  readonly checkoutForms: readonly string[];
  /** Distinct slices (combinations of a session's dimensions) kept per pane, count; past it UTM values fold into `other`. */
  readonly maxSlicesPerPane: number;
  /** How a landing page view maps to a traffic channel (each list replaces the default). */
  readonly channels: ChannelRules;
  /** Named RFM segments, first match wins (replaces the default map). */
  readonly rfmSegments: readonly RfmSegmentRule[];
  /** Horizon of the predicted customer value, days. */
  readonly valueHorizonDays: number;
  /** Named segments defined in the config (the admin API adds and changes more). */
  readonly segments: readonly SegmentDefinition[];
  /** URLs that receive every segment entry and exit (signed with the site's webhookSecret). */
  readonly segmentWebhooks: readonly string[];
  readonly lifecycle: {
    /** Actions that make a prospect a responder. */
    readonly responderOn: readonly ResponderSignal[];
    /** A customer with no purchase for this many days (event time) is a former customer, days. */
    readonly formerAfterDays: number;
  };
  readonly rfm: {
    /** Days since the last purchase at or under which recency scores 5, 4, 3, 2 (else 1); ascending. */
    readonly recencyDays: readonly [number, number, number, number];
    /** Purchases at or above which frequency scores 2, 3, 4, 5 (else 1); ascending. */
    readonly frequency: readonly [number, number, number, number];
    /** Revenue at or above which monetary scores 2, 3, 4, 5 (else 1); ascending. */
    readonly monetary: readonly [number, number, number, number];
  };
}

export const DEFAULT_USAGE_SETTINGS: UsageSettings = Object.freeze({
  maxProfiles: 100_000,
  maxPendingSessions: 100_000,
  maxFormsPerPane: 100,
  maxFieldsPerForm: 50,
  maxOpenForms: 50_000,
  goldenCapacity: 100,
  hllPrecision: 12,
  maxInterests: 20,
  maxBought: 50,
  maxProducts: 50_000,
  checkoutForms: Object.freeze(['checkout']),
  maxSlicesPerPane: 256,
  rfmSegments: DEFAULT_RFM_SEGMENTS,
  valueHorizonDays: 365,
  segments: Object.freeze([]),
  segmentWebhooks: Object.freeze([]),
  channels: DEFAULT_CHANNEL_RULES,
  lifecycle: Object.freeze({ responderOn: ['ad_click', 'offer_click', 'form_start'] as const, formerAfterDays: 90 }),
  rfm: Object.freeze({
    recencyDays: [7, 30, 90, 180] as const,
    frequency: [2, 3, 5, 10] as const,
    monetary: [50, 150, 500, 1500] as const,
  }),
});

const INT_KEYS = ['valueHorizonDays', 'maxSlicesPerPane', 'maxProfiles', 'maxPendingSessions', 'maxFormsPerPane', 'maxFieldsPerForm', 'maxOpenForms', 'goldenCapacity', 'maxInterests', 'maxBought', 'maxProducts'] as const;

type Raw = Record<string, unknown>;
const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

function quad(problems: string[], raw: Raw, key: string, dflt: readonly [number, number, number, number]): readonly [number, number, number, number] {
  const v = raw[key];
  if (v === undefined) return dflt;
  if (!Array.isArray(v) || v.length !== 4 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0) || !v.every((x, i) => i === 0 || x > v[i - 1])) {
    problems.push(`rfm.${key}: expected 4 ascending non-negative numbers, got ${JSON.stringify(v)}`);
    return dflt;
  }
  return Object.freeze([v[0], v[1], v[2], v[3]] as [number, number, number, number]);
}

/** Validates the raw site settings; every bad key is reported at once (CM_ERR_CONFIG). */
export function parseUsageSettings(raw: unknown, site: string): UsageSettings {
  if (raw === undefined) return DEFAULT_USAGE_SETTINGS;
  const where = `sites[${site}].processors.usage`;
  if (!isObj(raw)) throw new ClickstreamError('CM_ERR_CONFIG', `${where}: expected an object`);
  const problems: string[] = [];
  const known = new Set<string>([...INT_KEYS, 'hllPrecision', 'checkoutForms', 'channels', 'rfmSegments', 'segments', 'segmentWebhooks', 'lifecycle', 'rfm']);
  for (const k of Object.keys(raw)) if (!known.has(k)) problems.push(`${k}: unknown key`);
  const ints: Record<string, number> = {};
  for (const k of INT_KEYS) {
    const v = raw[k];
    if (v === undefined) ints[k] = DEFAULT_USAGE_SETTINGS[k];
    else if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 10_000_000) {
      problems.push(`${k}: expected an integer in [1, 10000000], got ${JSON.stringify(v)}`);
      ints[k] = DEFAULT_USAGE_SETTINGS[k];
    } else ints[k] = v;
  }
  let hllPrecision = DEFAULT_USAGE_SETTINGS.hllPrecision;
  if (raw['hllPrecision'] !== undefined) {
    const v = raw['hllPrecision'];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 4 || v > 16) problems.push(`hllPrecision: expected an integer in [4, 16], got ${JSON.stringify(v)}`);
    else hllPrecision = v;
  }
  let checkoutForms = DEFAULT_USAGE_SETTINGS.checkoutForms;
  if (raw['checkoutForms'] !== undefined) {
    const v = raw['checkoutForms'];
    if (!Array.isArray(v) || v.length === 0 || v.length > 20 || !v.every((x) => typeof x === 'string' && x !== '')) problems.push(`checkoutForms: expected 1 to 20 form ids, got ${JSON.stringify(v)}`);
    else checkoutForms = Object.freeze([...(v as string[])]);
  }
  let channels = DEFAULT_USAGE_SETTINGS.channels;
  if (raw['channels'] !== undefined) {
    const c = raw['channels'];
    if (!isObj(c)) problems.push('channels: expected an object');
    else {
      const out: Record<string, readonly string[]> = { ...DEFAULT_CHANNEL_RULES };
      for (const [k, v] of Object.entries(c)) {
        if (!(k in DEFAULT_CHANNEL_RULES)) problems.push(`channels.${k}: unknown key (expected one of ${Object.keys(DEFAULT_CHANNEL_RULES).join(', ')})`);
        else if (!Array.isArray(v) || v.length > 1_000 || !v.every((x) => typeof x === 'string' && x !== '' && x.length <= 253)) problems.push(`channels.${k}: expected a list of up to 1000 non-empty strings`);
        else out[k] = Object.freeze(v.map((x: string) => x.toLowerCase()));
      }
      channels = Object.freeze(out) as unknown as ChannelRules;
    }
  }
  let rfmSegments = DEFAULT_USAGE_SETTINGS.rfmSegments;
  if (raw['rfmSegments'] !== undefined) {
    const v = raw['rfmSegments'];
    const range = (x: unknown): x is [number, number] => Array.isArray(x) && x.length === 2 && x.every((n) => Number.isInteger(n) && n >= 1 && n <= 5) && x[0] <= x[1];
    if (!Array.isArray(v) || v.length === 0 || v.length > 50 || !v.every((r) => isObj(r) && typeof r['name'] === 'string' && /^[a-z][a-z0-9_]{0,31}$/.test(r['name']) && range(r['r']) && range(r['f']) && Object.keys(r).every((k) => k === 'name' || k === 'r' || k === 'f'))) {
      problems.push('rfmSegments: expected 1 to 50 {name (a-z0-9_), r: [min, max], f: [min, max]} with scores 1–5');
    } else rfmSegments = Object.freeze(v.map((r: Raw) => Object.freeze({ name: r['name'] as string, r: r['r'] as [number, number], f: r['f'] as [number, number] })));
  }
  let segments = DEFAULT_USAGE_SETTINGS.segments;
  if (raw['segments'] !== undefined) {
    const v = raw['segments'];
    if (!Array.isArray(v) || v.length > 100) problems.push('segments: expected a list of at most 100 segment definitions');
    else {
      const out: SegmentDefinition[] = [];
      v.forEach((d: unknown, i: number) => {
        const r = parseSegment(d);
        if (r.kind === 'invalid') for (const p of r.problems) problems.push(`segments[${i}]: ${p}`);
        else if (out.some((x) => x.id === r.segment.id)) problems.push(`segments[${i}].id: ${r.segment.id} is defined twice`);
        else out.push(r.segment);
      });
      segments = Object.freeze(out);
    }
  }
  let segmentWebhooks = DEFAULT_USAGE_SETTINGS.segmentWebhooks;
  if (raw['segmentWebhooks'] !== undefined) {
    const v = raw['segmentWebhooks'];
    const http = (u: unknown): boolean => {
      try {
        return typeof u === 'string' && ['http:', 'https:'].includes(new URL(u).protocol);
      } catch {
        return false;
      }
    };
    if (!Array.isArray(v) || v.length > 16 || !v.every(http)) problems.push('segmentWebhooks: expected at most 16 http(s) URLs');
    else segmentWebhooks = Object.freeze([...(v as string[])]);
  }
  let lifecycle = DEFAULT_USAGE_SETTINGS.lifecycle;
  if (raw['lifecycle'] !== undefined) {
    const l = raw['lifecycle'];
    if (!isObj(l)) problems.push('lifecycle: expected an object');
    else {
      let responderOn = lifecycle.responderOn;
      const r = l['responderOn'];
      if (r !== undefined) {
        if (!Array.isArray(r) || !r.every((x) => (RESPONDER_SIGNALS as readonly unknown[]).includes(x))) {
          problems.push(`lifecycle.responderOn: expected a list of ${RESPONDER_SIGNALS.join(', ')}`);
        } else responderOn = Object.freeze([...(r as ResponderSignal[])]);
      }
      let formerAfterDays = lifecycle.formerAfterDays;
      const f = l['formerAfterDays'];
      if (f !== undefined) {
        if (typeof f !== 'number' || !(f > 0)) problems.push(`lifecycle.formerAfterDays: expected a positive number of days, got ${JSON.stringify(f)}`);
        else formerAfterDays = f;
      }
      for (const k of Object.keys(l)) if (k !== 'responderOn' && k !== 'formerAfterDays') problems.push(`lifecycle.${k}: unknown key`);
      lifecycle = Object.freeze({ responderOn, formerAfterDays });
    }
  }
  let rfm = DEFAULT_USAGE_SETTINGS.rfm;
  if (raw['rfm'] !== undefined) {
    const r = raw['rfm'];
    if (!isObj(r)) problems.push('rfm: expected an object');
    else {
      rfm = Object.freeze({
        recencyDays: quad(problems, r, 'recencyDays', rfm.recencyDays),
        frequency: quad(problems, r, 'frequency', rfm.frequency),
        monetary: quad(problems, r, 'monetary', rfm.monetary),
      });
      for (const k of Object.keys(r)) if (k !== 'recencyDays' && k !== 'frequency' && k !== 'monetary') problems.push(`rfm.${k}: unknown key`);
    }
  }
  if (problems.length > 0) throw new ClickstreamError('CM_ERR_CONFIG', `${where}:\n  ${problems.join('\n  ')}`);
  return Object.freeze({
    maxProfiles: ints['maxProfiles']!,
    maxPendingSessions: ints['maxPendingSessions']!,
    maxFormsPerPane: ints['maxFormsPerPane']!,
    maxFieldsPerForm: ints['maxFieldsPerForm']!,
    maxOpenForms: ints['maxOpenForms']!,
    goldenCapacity: ints['goldenCapacity']!,
    hllPrecision,
    maxInterests: ints['maxInterests']!,
    maxBought: ints['maxBought']!,
    maxProducts: ints['maxProducts']!,
    checkoutForms,
    channels,
    maxSlicesPerPane: ints['maxSlicesPerPane']!,
    rfmSegments,
    valueHorizonDays: ints['valueHorizonDays']!,
    segments,
    segmentWebhooks,
    lifecycle,
    rfm,
  });
}
