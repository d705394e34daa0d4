import { describe, expect, it } from 'vitest';
import { Instant, LocalDate, ZoneId } from '@js-joda/core';
import '@js-joda/timezone';
import { mulberry32 } from '../../../src/replay/mulberry32';
import { ZonedDays, hoppingStarts, parseWindowSpec, windowStart } from '../../../src/pipeline/window-spec';

const MIN = 60_000;
const H = 60 * MIN;

describe('window specs', () => {
  it('parse - tumbling, hopping, session and day windows from ISO-8601', () => {
    expect(parseWindowSpec('PT5M')).toEqual({ kind: 'ok', spec: { kind: 'tumbling', sizeMs: 5 * MIN } });
    expect(parseWindowSpec('PT1H/PT5M')).toEqual({ kind: 'ok', spec: { kind: 'hopping', sizeMs: H, slideMs: 5 * MIN } });
    expect(parseWindowSpec('session:PT30M/PT12H')).toEqual({ kind: 'ok', spec: { kind: 'session', gapMs: 30 * MIN, maxMs: 12 * H } });
    expect(parseWindowSpec('P1D')).toEqual({ kind: 'ok', spec: { kind: 'day', days: 1 } });
  });

  it('parse - refuses nonsense with a reason', () => {
    for (const bad of ['', '5 minutes', 'PT0S', 'PT5M/PT10M', 'session:', 'session:PT30M/PT1M', 'P0D', 'PT1M/PT1M/PT1M']) {
      expect(parseWindowSpec(bad).kind).toBe('error');
    }
    expect(parseWindowSpec('PT90S', MIN).kind).toBe('error');
  });

  it('tumbling - an event exactly at a window end starts the next window', () => {
    expect(windowStart(10 * MIN - 1, 5 * MIN)).toBe(5 * MIN);
    expect(windowStart(10 * MIN, 5 * MIN)).toBe(10 * MIN);
    expect(windowStart(-1, 5 * MIN)).toBe(-5 * MIN);
  });

  it('hopping - an event belongs to size/slide windows', () => {
    const out = new Float64Array(16);
    // PT15M every PT5M; ts = 12:07 → windows starting 12:05, 12:00, 11:55.
    const ts = 12 * H + 7 * MIN;
    const n = hoppingStarts(ts, 15 * MIN, 5 * MIN, out);
    expect(Array.from(out.subarray(0, n))).toEqual([12 * H + 5 * MIN, 12 * H, 11 * H + 55 * MIN]);
    // Exactly at 12:10 → 12:10, 12:05, 12:00 (11:55's window ends at 12:10, exclusive).
    const m = hoppingStarts(12 * H + 10 * MIN, 15 * MIN, 5 * MIN, out);
    expect(Array.from(out.subarray(0, m))).toEqual([12 * H + 10 * MIN, 12 * H + 5 * MIN, 12 * H]);
  });

  it('day windows - honour the site time zone, including 23-hour DST days', () => {
    const berlin = new ZonedDays('Europe/Berlin');
    // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST. Local midnight = 2026-03-28T23:00Z; next midnight 2026-03-29T22:00Z.
    const noon = Date.UTC(2026, 2, 29, 10, 0);
    expect(berlin.dayStart(noon)).toBe(Date.UTC(2026, 2, 28, 23, 0));
    expect(berlin.dayEnd(noon)).toBe(Date.UTC(2026, 2, 29, 22, 0));
    expect(berlin.dayEnd(noon) - berlin.dayStart(noon)).toBe(23 * H);
    // Just before local midnight on the 28th belongs to the 28th.
    expect(berlin.dayStart(Date.UTC(2026, 2, 28, 22, 59, 59, 999))).toBe(Date.UTC(2026, 2, 27, 23, 0));
    const ny = new ZonedDays('America/New_York');
    // 2026-11-01: 25-hour day in New York (EDT → EST).
    const t = Date.UTC(2026, 10, 1, 15, 0);
    expect(ny.dayEnd(t) - ny.dayStart(t)).toBe(25 * H);
    expect(ny.dayStart(t)).toBe(Date.UTC(2026, 10, 1, 4, 0));
  });

  it('day windows - multi-day windows align to local days since the epoch', () => {
    const utc = new ZonedDays('UTC');
    const w = utc.window(Date.UTC(1970, 0, 9, 12), 7);
    expect(w).toEqual({ start: Date.UTC(1970, 0, 8), end: Date.UTC(1970, 0, 15) });
  });

  it('day windows - equal java.time semantics (js-joda with its tz database) across zones with DST gaps and overlaps at midnight, half-hour rules and a skipped day', () => {
    const zones = ['Europe/Berlin', 'America/New_York', 'America/Santiago', 'America/Havana', 'Asia/Beirut', 'America/Sao_Paulo', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'Pacific/Apia', 'Africa/Casablanca', 'UTC'];
    const rnd = mulberry32(3);
    for (const zone of zones) {
      const ours = new ZonedDays(zone);
      const id = ZoneId.of(zone);
      for (let i = 0; i < 300; i++) {
        // 1995..2024: both tz databases agree on the past.
        const ts = Date.UTC(1995, 0, 1) + Math.floor(rnd() * 30 * 365.25 * 86_400_000);
        const date = Instant.ofEpochMilli(ts).atZone(id).toLocalDate();
        const start = date.atStartOfDay(id).toInstant().toEpochMilli();
        const end = date.plusDays(1).atStartOfDay(id).toInstant().toEpochMilli();
        expect([zone, ours.dayStart(ts), ours.dayEnd(ts)]).toEqual([zone, start, end]);
        const epochDay = date.toEpochDay();
        const first = LocalDate.ofEpochDay(epochDay - (epochDay % 7));
        expect(ours.window(ts, 7)).toEqual({ start: first.atStartOfDay(id).toInstant().toEpochMilli(), end: first.plusDays(7).atStartOfDay(id).toInstant().toEpochMilli() });
      }
    }
    // Days around each zone's transitions are where it goes wrong: every midnight of 2011-2012 in the zones with midnight changes.
    for (const zone of ['America/Santiago', 'America/Havana', 'Asia/Beirut', 'America/Sao_Paulo', 'Pacific/Apia']) {
      const ours = new ZonedDays(zone);
      const id = ZoneId.of(zone);
      for (let d = LocalDate.of(2011, 1, 1); d.isBefore(LocalDate.of(2013, 1, 1)); d = d.plusDays(1)) {
        const start = d.atStartOfDay(id).toInstant().toEpochMilli();
        const inDay = start + 1;
        const date = Instant.ofEpochMilli(inDay).atZone(id).toLocalDate();
        expect([zone, date.toString(), ours.dayStart(inDay)]).toEqual([zone, date.toString(), date.atStartOfDay(id).toInstant().toEpochMilli()]);
      }
    }
  });
});
