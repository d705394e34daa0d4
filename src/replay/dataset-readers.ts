/**
 * The public data sets of ../shared/data (README there) read and turned into v1 events, on a
 * timeline that starts at `startMs`. Shared by the replay tool, the real-data tests and the benchmarks,
 * so all three see the same events.
 *
 * - kosarak: one line = one session of page views (`/page/<id>`), one visitor per line, `clickGapMs`
 *   between clicks, a new session every `sessionSpacingMs` (sessions overlap like concurrent traffic;
 *   different visitors never merge).
 * - diginetica: item views with their own timing: sessions in the order (eventdate, session_id), one
 *   every `sessionSpacingMs`, each view at session start + its `timeframe`; product pages
 *   `/product/<item>` with `product.id`; the data's session id is sent as the client `sessionId`, the
 *   visitor is the session's first user id (else one per session).
 * - retail: one line = one purchase basket, a `form` submit with `items` (quantity 1 per line item).
 * - ndjson: one v1 event per line, sent as is (timestamps shifted by the caller).
 */
import { readFileSync } from 'node:fs';
import { ClickstreamError } from '../errors';
import type { FormEvent, PageViewEvent } from '../events/event-types';

export const DATASET_FORMATS = ['kosarak', 'diginetica', 'retail', 'ndjson'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** One row of Diginetica's train-item-views file. */
export interface DigineticaView {
  readonly sessionId: string;
  /** Undefined where the file says NA. */
  readonly userId: string | undefined;
  readonly itemId: string;
  /** Milliseconds since the session's first event. */
  readonly timeframe: number;
  /** YYYY-MM-DD. */
  readonly eventDate: string;
}

export interface TimelineOptions {
  /** Event time of the first event, epoch ms. */
  readonly startMs: number;
  /** Between consecutive clicks of a kosarak session, ms. */
  readonly clickGapMs?: number;
  /** Between the starts of consecutive sessions (kosarak, diginetica) or baskets (retail), ms. */
  readonly sessionSpacingMs?: number;
}

export const DEFAULT_CLICK_GAP_MS = 3_000;
export const DEFAULT_SESSION_SPACING_MS: Readonly<Record<Exclude<DatasetFormat, 'ndjson'>, number>> = {
  kosarak: 10,
  diginetica: 200,
  retail: 10,
};

function lines(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ClickstreamError('CM_ERR_REPLAY', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const out = text.split('\n');
  if (out.length > 0 && out[out.length - 1] === '') out.pop(); // a final newline is not a record
  return out;
}

/** kosarak: page ids per session, in click order (a repeated id stays: it is a page view). */
export function readKosarakSessions(path: string): string[][] {
  return lines(path).map((l) => l.trim().split(/\s+/).filter((x) => x !== ''));
}

/** retail.dat: item ids per basket as written (a repeated id stays; baskets are sets downstream). */
export function readRetailBaskets(path: string): string[][] {
  return lines(path).map((l) => l.trim().split(/\s+/).filter((x) => x !== ''));
}

/** Diginetica item views, in file order; the header line is skipped, malformed rows refused. */
export function readDigineticaViews(path: string): DigineticaView[] {
  const rows = lines(path);
  const out: DigineticaView[] = [];
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!.trim();
    if (row === '' || (i === 0 && row.startsWith('session_id'))) continue;
    const f = row.split(';');
    const timeframe = Number(f[3]);
    if (f.length !== 5 || !Number.isFinite(timeframe) || !/^\d{4}-\d{2}-\d{2}$/.test(f[4]!)) {
      throw new ClickstreamError('CM_ERR_REPLAY', `${path}:${i + 1}: expected session_id;user_id;item_id;timeframe;eventdate, got ${JSON.stringify(row.slice(0, 100))}`);
    }
    out.push({ sessionId: f[0]!, userId: f[1] === 'NA' || f[1] === '' ? undefined : f[1]!, itemId: f[2]!, timeframe, eventDate: f[4]! });
  }
  return out;
}

/** ndjson: one JSON value per non-empty line; unparsable lines are refused with their line number. */
export function readNdjsonEvents(path: string): unknown[] {
  const out: unknown[] = [];
  lines(path).forEach((l, i) => {
    if (l.trim() === '') return;
    try {
      out.push(JSON.parse(l));
    } catch (err) {
      throw new ClickstreamError('CM_ERR_REPLAY', `${path}:${i + 1}: not JSON: ${(err as Error).message}`, { cause: err });
    }
  });
  return out;
}

/** Page views of kosarak sessions, sorted by event time (ties keep session order). */
export function kosarakEvents(sessions: readonly (readonly string[])[], opts: TimelineOptions): PageViewEvent[] {
  const gap = opts.clickGapMs ?? DEFAULT_CLICK_GAP_MS;
  const spacing = opts.sessionSpacingMs ?? DEFAULT_SESSION_SPACING_MS.kosarak;
  const out: PageViewEvent[] = [];
  sessions.forEach((pages, line) => {
    const start = opts.startMs + line * spacing;
    pages.forEach((page, i) => {
      out.push({ id: `k${line}-${i}`, type: 'page_view', visitorId: `k${line}`, ts: start + i * gap, url: `/page/${page}` });
    });
  });
  return sortByTs(out);
}

/** Diginetica's sessions in (eventdate, session_id) order with their own timing. */
export function digineticaSessions(views: readonly DigineticaView[]): DigineticaView[][] {
  const bySession = new Map<string, DigineticaView[]>();
  for (const v of views) {
    let list = bySession.get(v.sessionId);
    if (list === undefined) bySession.set(v.sessionId, (list = []));
    list.push(v);
  }
  const sessions = [...bySession.values()];
  for (const s of sessions) s.sort((a, b) => a.timeframe - b.timeframe || cmp(a.eventDate, b.eventDate));
  const firstDate = (s: DigineticaView[]) => s.reduce((d, v) => (v.eventDate < d ? v.eventDate : d), s[0]!.eventDate);
  sessions.sort((a, b) => cmp(firstDate(a), firstDate(b)) || Number(a[0]!.sessionId) - Number(b[0]!.sessionId) || cmp(a[0]!.sessionId, b[0]!.sessionId));
  return sessions;
}

/** Product page views of Diginetica sessions, sorted by event time. */
export function digineticaEvents(views: readonly DigineticaView[], opts: TimelineOptions): PageViewEvent[] {
  const spacing = opts.sessionSpacingMs ?? DEFAULT_SESSION_SPACING_MS.diginetica;
  const out: PageViewEvent[] = [];
  digineticaSessions(views).forEach((s, k) => {
    const start = opts.startMs + k * spacing;
    const t0 = s[0]!.timeframe;
    // TRICKY: a few sessions change user_id midway (NA → 4, or 1328 → 45970); one session is one
    // visitor, the first user id it names.
    const user = s.find((v) => v.userId !== undefined)?.userId;
    const visitorId = user !== undefined ? `u${user}` : `s${s[0]!.sessionId}`;
    s.forEach((v, i) => {
      out.push({
        id: `d${v.sessionId}-${i}`,
        type: 'page_view',
        visitorId,
        sessionId: `d${v.sessionId}`,
        ts: start + (v.timeframe - t0),
        url: `/product/${v.itemId}`,
        product: { id: v.itemId },
      });
    });
  });
  return sortByTs(out);
}

/** retail baskets as purchases: one checkout `form` submit with its items per line. */
export function retailEvents(baskets: readonly (readonly string[])[], opts: TimelineOptions): FormEvent[] {
  const spacing = opts.sessionSpacingMs ?? DEFAULT_SESSION_SPACING_MS.retail;
  return baskets.map((items, line) => ({
    id: `r${line}`,
    type: 'form',
    visitorId: `r${line}`,
    ts: opts.startMs + line * spacing,
    url: '/checkout',
    formId: 'checkout',
    action: 'submit',
    // TRICKY: the schema caps items at 100 per event; retail's largest basket has fewer.
    items: items.map((productId) => ({ productId, quantity: 1 })),
  }));
}

/** Events of an ndjson file: objects with a numeric `ts` are kept (others are sent as is for the server to judge). */
export function ndjsonEvents(values: readonly unknown[]): Array<Record<string, unknown>> {
  return values.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v));
}

function sortByTs<T extends { ts: number }>(events: T[]): T[] {
  // Array.prototype.sort is stable: equal times keep their construction order.
  return events.sort((a, b) => a.ts - b.ts);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
