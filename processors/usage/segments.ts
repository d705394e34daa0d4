import type { VisitorProfile } from './visitor-profiles';

/**
 * Named customer segments (issue "Segments and slices"): conditions over profile fields, combined
 * with all/any and nested up to three levels, defined in a site's config (`processors.usage.segments`)
 * or through the admin API. Membership is evaluated against the profiles at the site's event-time
 * "now", so it is exact for the profiles held and changes with time as recency does.
 */

/** Numeric profile fields a condition can compare. */
export const NUMBER_FIELDS = ['purchases', 'revenue', 'sessions', 'predictedValue', 'lastSeenDays', 'lastPurchaseDays'] as const;
/** Text profile fields a condition can test for membership in a list. */
export const TEXT_FIELDS = ['stage', 'segment', 'rfm', 'topInterest'] as const;
type NumberField = (typeof NUMBER_FIELDS)[number];
type TextField = (typeof TEXT_FIELDS)[number];

const NUMBER_OPS = ['>', '>=', '<', '<=', '=', '!='] as const;
type NumberOp = (typeof NUMBER_OPS)[number];

export type Condition =
  | { readonly field: NumberField; readonly op: NumberOp; readonly value: number }
  | { readonly field: TextField; readonly op: 'in' | 'not_in'; readonly value: readonly string[] }
  /** The visitor's category interest holds this category (with at least `min` weight: views 1, carts 3, purchases 5). */
  | { readonly field: 'interest'; readonly op: 'has'; readonly value: string; readonly min?: number };

export interface Group {
  readonly match: 'all' | 'any';
  readonly conditions: ReadonlyArray<Condition | Group>;
}

export interface SegmentDefinition extends Group {
  /** URL-safe id (a-z, 0-9, - and _, up to 64). */
  readonly id: string;
  readonly name: string;
}

const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const MAX_DEPTH = 3;
const MAX_CONDITIONS = 50;

type Raw = Record<string, unknown>;
const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseGroup(raw: unknown, where: string, depth: number, problems: string[], count: { n: number }): Group | undefined {
  if (!isObj(raw)) {
    problems.push(`${where}: expected {match, conditions}`);
    return undefined;
  }
  const match = raw['match'] ?? 'all';
  if (match !== 'all' && match !== 'any') problems.push(`${where}.match: expected "all" or "any"`);
  const list = raw['conditions'];
  if (!Array.isArray(list) || list.length === 0) {
    problems.push(`${where}.conditions: expected a non-empty list`);
    return undefined;
  }
  const conditions: Array<Condition | Group> = [];
  list.forEach((c: unknown, i: number) => {
    const at = `${where}.conditions[${i}]`;
    if (++count.n > MAX_CONDITIONS) {
      if (count.n === MAX_CONDITIONS + 1) problems.push(`${at}: more than ${MAX_CONDITIONS} conditions`);
      return;
    }
    if (isObj(c) && 'conditions' in c) {
      if (depth >= MAX_DEPTH) problems.push(`${at}: groups nest at most ${MAX_DEPTH} deep`);
      else {
        const g = parseGroup(c, at, depth + 1, problems, count);
        if (g !== undefined) conditions.push(g);
      }
      return;
    }
    const cond = parseCondition(c, at, problems);
    if (cond !== undefined) conditions.push(cond);
  });
  return { match: match === 'any' ? 'any' : 'all', conditions };
}

function parseCondition(c: unknown, at: string, problems: string[]): Condition | undefined {
  if (!isObj(c)) {
    problems.push(`${at}: expected {field, op, value}`);
    return undefined;
  }
  const { field, op, value } = c;
  if ((NUMBER_FIELDS as readonly unknown[]).includes(field)) {
    if (!(NUMBER_OPS as readonly unknown[]).includes(op) || typeof value !== 'number' || !Number.isFinite(value)) {
      problems.push(`${at}: ${String(field)} takes ${NUMBER_OPS.join(' ')} and a number`);
      return undefined;
    }
    return { field: field as NumberField, op: op as NumberOp, value };
  }
  if ((TEXT_FIELDS as readonly unknown[]).includes(field)) {
    if ((op !== 'in' && op !== 'not_in') || !Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string')) {
      problems.push(`${at}: ${String(field)} takes in / not_in and a list of strings`);
      return undefined;
    }
    return { field: field as TextField, op, value: value as string[] };
  }
  if (field === 'interest') {
    const min = c['min'];
    if (op !== 'has' || typeof value !== 'string' || value === '' || (min !== undefined && (typeof min !== 'number' || !(min >= 0)))) {
      problems.push(`${at}: interest takes has, a category and an optional min weight`);
      return undefined;
    }
    return min === undefined ? { field, op, value } : { field, op, value, min };
  }
  problems.push(`${at}.field: one of ${[...NUMBER_FIELDS, ...TEXT_FIELDS, 'interest'].join(', ')}`);
  return undefined;
}

/** Validates a segment definition; every problem is reported at once. */
export function parseSegment(raw: unknown): { kind: 'ok'; segment: SegmentDefinition } | { kind: 'invalid'; problems: string[] } {
  const problems: string[] = [];
  if (!isObj(raw)) return { kind: 'invalid', problems: ['expected {id, name, match, conditions}'] };
  const id = raw['id'];
  if (typeof id !== 'string' || !ID.test(id)) problems.push('id: 1 to 64 of a-z, 0-9, - and _');
  const name = raw['name'] ?? id;
  if (typeof name !== 'string' || name === '' || name.length > 128) problems.push('name: 1 to 128 characters');
  for (const k of Object.keys(raw)) if (!['id', 'name', 'match', 'conditions'].includes(k)) problems.push(`${k}: unknown key`);
  const group = parseGroup(raw, 'segment', 1, problems, { n: 0 });
  if (problems.length > 0 || group === undefined) return { kind: 'invalid', problems };
  return { kind: 'ok', segment: { id: id as string, name: name as string, ...group } };
}

const DAY_MS = 86_400_000;

function numberOf(p: VisitorProfile, field: NumberField, asOf: number): number {
  switch (field) {
    case 'purchases':
      return p.purchases;
    case 'revenue':
      return p.revenue;
    case 'sessions':
      return p.sessions;
    case 'predictedValue':
      return p.value.predicted;
    case 'lastSeenDays':
      return (asOf - p.lastSeen) / DAY_MS;
    case 'lastPurchaseDays':
      return p.lastPurchase === null ? Number.POSITIVE_INFINITY : (asOf - p.lastPurchase) / DAY_MS;
  }
}

function textOf(p: VisitorProfile, field: TextField): string {
  switch (field) {
    case 'stage':
      return p.stage;
    case 'segment':
      return p.segment;
    case 'rfm':
      return p.rfm.score;
    case 'topInterest': {
      let top = '';
      let best = Number.NEGATIVE_INFINITY;
      for (const [k, w] of Object.entries(p.categoryInterest)) if (w > best || (w === best && k < top)) [top, best] = [k, w];
      return top;
    }
  }
}

function holds(p: VisitorProfile, c: Condition | Group, asOf: number): boolean {
  if ('conditions' in c) return c.match === 'all' ? c.conditions.every((x) => holds(p, x, asOf)) : c.conditions.some((x) => holds(p, x, asOf));
  switch (c.field) {
    case 'interest':
      return (p.categoryInterest[c.value] ?? 0) >= (c.min ?? Number.MIN_VALUE);
    case 'stage':
    case 'segment':
    case 'rfm':
    case 'topInterest': {
      const inList = (c.value as readonly string[]).includes(textOf(p, c.field));
      return c.op === 'in' ? inList : !inList;
    }
    default: {
      const v = numberOf(p, c.field, asOf);
      const t = c.value as number;
      switch (c.op as NumberOp) {
        case '>':
          return v > t;
        case '>=':
          return v >= t;
        case '<':
          return v < t;
        case '<=':
          return v <= t;
        case '=':
          return v === t;
        case '!=':
          return v !== t;
      }
    }
  }
}

/** Whether a visitor's profile (at event time `asOf`) is in the segment. */
export function inSegment(p: VisitorProfile, s: Group, asOf: number): boolean {
  return holds(p, s, asOf);
}

/** A visitor entering or leaving a named segment, at the event time of the event that changed it. */
export interface SegmentChange {
  readonly site: string;
  readonly segment: string;
  readonly visitorId: string;
  readonly kind: 'entered' | 'exited';
  /** Event time of the event after which membership changed, epoch ms. */
  readonly ts: number;
}
