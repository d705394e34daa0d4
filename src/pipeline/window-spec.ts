import { Duration } from '@js-joda/core';

/**
 * Window specifications (DESIGN.md §4), parsed once from ISO-8601 text with @js-joda/core, used in the
 * hot path as plain epoch-millisecond numbers:
 *
 * - `PT5M`              tumbling: [k·size, (k+1)·size), epoch-aligned
 * - `PT1H/PT5M`         hopping: size PT1H every PT5M (built from panes, so an event touches one pane)
 * - `session:PT30M`     session: inactivity gap (optional `/PT12H` maximum length)
 * - `P1D` (`P7D` …)     calendar days in the site's time zone (23 or 25 hours across DST changes)
 *
 * Windows are `[start, end)`: an event exactly at a window end belongs to the next window.
 */
export type WindowSpec =
  | { readonly kind: 'tumbling'; readonly sizeMs: number }
  | { readonly kind: 'hopping'; readonly sizeMs: number; readonly slideMs: number }
  | { readonly kind: 'session'; readonly gapMs: number; readonly maxMs: number | undefined }
  | { readonly kind: 'day'; readonly days: number };

export type WindowSpecResult = { readonly kind: 'ok'; readonly spec: WindowSpec } | { readonly kind: 'error'; readonly message: string };

function durationMs(text: string): number | undefined {
  try {
    const ms = Duration.parse(text).toMillis();
    return ms > 0 ? ms : undefined;
  } catch {
    return undefined;
  }
}

/** Parses a window specification; `paneMs`, when given, must divide tumbling and hopping sizes. */
export function parseWindowSpec(text: string, paneMs?: number): WindowSpecResult {
  const t = text.trim();
  const err = (message: string): WindowSpecResult => ({ kind: 'error', message: `${JSON.stringify(text)}: ${message}` });
  const day = /^P(\d+)D$/.exec(t);
  if (day !== null) {
    const days = Number(day[1]);
    return days >= 1 && days <= 366 ? { kind: 'ok', spec: { kind: 'day', days } } : err('day windows span 1 to 366 days');
  }
  if (t.startsWith('session:')) {
    const [gapText = '', maxText] = t.slice('session:'.length).split('/');
    const gapMs = durationMs(gapText);
    if (gapMs === undefined) return err('the session gap must be a positive ISO-8601 duration, e.g. session:PT30M');
    let maxMs: number | undefined;
    if (maxText !== undefined) {
      maxMs = durationMs(maxText);
      if (maxMs === undefined || maxMs < gapMs) return err('the maximum session length must be a duration no shorter than the gap');
    }
    return { kind: 'ok', spec: { kind: 'session', gapMs, maxMs } };
  }
  const parts = t.split('/');
  if (parts.length > 2) return err('expected SIZE or SIZE/SLIDE');
  const sizeMs = durationMs(parts[0] ?? '');
  if (sizeMs === undefined) return err('the size must be a positive ISO-8601 duration, e.g. PT5M');
  const slideMs = parts[1] === undefined ? sizeMs : durationMs(parts[1]);
  if (slideMs === undefined || slideMs > sizeMs) return err('the slide must be a positive duration no longer than the size');
  if (paneMs !== undefined && (sizeMs % paneMs !== 0 || slideMs % paneMs !== 0)) return err(`size and slide must be multiples of the pane (${paneMs} ms)`);
  return { kind: 'ok', spec: slideMs === sizeMs ? { kind: 'tumbling', sizeMs } : { kind: 'hopping', sizeMs, slideMs } };
}

/** Start of the epoch-aligned window of `sizeMs` holding `ts` (correct for negative times too). */
export function windowStart(ts: number, sizeMs: number): number {
  return ts - (((ts % sizeMs) + sizeMs) % sizeMs);
}

/**
 * Starts of every hopping window (size, slide) that holds `ts`, newest first, written into `out`;
 * returns how many (size / slide of them when the slide divides the size). No allocation.
 */
export function hoppingStarts(ts: number, sizeMs: number, slideMs: number, out: Float64Array): number {
  let n = 0;
  for (let s = windowStart(ts, slideMs); s > ts - sizeMs && n < out.length; s -= slideMs) out[n++] = s;
  return n;
}

/**
 * Calendar days in one IANA time zone, from the ICU time-zone data Node already carries (Intl): no tz
 * database loaded a second time (js-joda's `@js-joda/timezone` costs ~32 MB of RSS). Zoned day
 * boundaries are computed once per day (two cached days, since out-of-order events straddle
 * midnight), never per event. Where local midnight does not exist (a DST change at 00:00), the day
 * starts at its first instant, as java.time's `atStartOfDay(zone)` does.
 */
export class ZonedDays {
  readonly zone: string;
  readonly #fmt: Intl.DateTimeFormat;
  #aStart = Number.NaN;
  #aEnd = Number.NaN;
  #bStart = Number.NaN;
  #bEnd = Number.NaN;

  constructor(zone: string) {
    this.zone = zone;
    // Throws a RangeError for an unknown zone: config validates it first.
    this.#fmt = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
  }

  /** Start (local midnight) of the day holding `ts`, epoch ms. */
  dayStart(ts: number): number {
    if (ts >= this.#aStart && ts < this.#aEnd) return this.#aStart;
    if (ts >= this.#bStart && ts < this.#bEnd) return this.#bStart;
    const day = this.#epochDay(ts);
    const start = this.#midnight(day);
    const end = this.#midnight(day + 1);
    // Keep the most recent lookup in slot a, the one before in slot b.
    this.#bStart = this.#aStart;
    this.#bEnd = this.#aEnd;
    this.#aStart = start;
    this.#aEnd = end;
    return start;
  }

  /** End (next local midnight) of the day holding `ts`, epoch ms. */
  dayEnd(ts: number): number {
    const start = this.dayStart(ts);
    return start === this.#aStart ? this.#aEnd : this.#bEnd;
  }

  /** The window [start, end) of `days` calendar days holding `ts`, aligned to local days since 1970-01-01. */
  window(ts: number, days: number): { start: number; end: number } {
    const epochDay = this.#epochDay(ts);
    const first = epochDay - (((epochDay % days) + days) % days);
    return { start: this.#midnight(first), end: this.#midnight(first + days) };
  }

  /** The local wall time at `ts` read as if it were UTC, epoch ms (whole seconds). */
  #wall(ts: number): number {
    let y = 0;
    let mo = 0;
    let d = 0;
    let h = 0;
    let mi = 0;
    let se = 0;
    for (const p of this.#fmt.formatToParts(ts)) {
      const v = Number(p.value);
      if (p.type === 'year') y = v;
      else if (p.type === 'month') mo = v;
      else if (p.type === 'day') d = v;
      else if (p.type === 'hour') h = v;
      else if (p.type === 'minute') mi = v;
      else if (p.type === 'second') se = v;
    }
    return Date.UTC(y, mo - 1, d, h, mi, se);
  }

  /** The local calendar day of `ts`, as days since 1970-01-01. */
  #epochDay(ts: number): number {
    return Math.floor(this.#wall(ts) / DAY_MS);
  }

  /** The first instant of local day `epochDay`, epoch ms. */
  #midnight(epochDay: number): number {
    const wallMidnight = epochDay * DAY_MS;
    // The instant whose wall time is midnight: the offset at a guess, corrected once by the offset there.
    let t = wallMidnight - this.#offset(wallMidnight);
    t = wallMidnight - this.#offset(t);
    // Usual case: midnight exists once, and the millisecond before is the day before.
    if (this.#wall(t) === wallMidnight && this.#epochDay(t - 1) < epochDay) return t;
    // Midnight skipped (a DST gap at 00:00) or repeated (an overlap): the first instant of the day.
    let lo = t - 6 * HOUR_MS;
    let hi = t + 6 * HOUR_MS;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.#epochDay(mid) >= epochDay) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  /** Local offset from UTC at `ts`, ms. */
  #offset(ts: number): number {
    const whole = Math.floor(ts / 1000) * 1000;
    return this.#wall(whole) - whole;
  }
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
