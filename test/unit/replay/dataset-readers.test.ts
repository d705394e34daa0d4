import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  digineticaEvents,
  digineticaSessions,
  kosarakEvents,
  readDigineticaViews,
  readKosarakSessions,
  readNdjsonEvents,
  readRetailBaskets,
  retailEvents,
} from '../../../src/replay/dataset-readers';

const dir = mkdtempSync(join(tmpdir(), 'cm-readers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('dataset readers', () => {
  it('kosarak - one session per line, pages in click order, a few seconds apart, one visitor per line', () => {
    const sessions = readKosarakSessions(file('k.txt', '1 2 3\n7\n2 2\n'));
    expect(sessions).toEqual([['1', '2', '3'], ['7'], ['2', '2']]);
    const events = kosarakEvents(sessions, { startMs: 1_000, clickGapMs: 3_000, sessionSpacingMs: 10 });
    expect(events.map((e) => [e.visitorId, e.ts, e.url])).toEqual([
      ['k0', 1_000, '/page/1'],
      ['k1', 1_010, '/page/7'],
      ['k2', 1_020, '/page/2'],
      ['k0', 4_000, '/page/2'],
      ['k2', 4_020, '/page/2'],
      ['k0', 7_000, '/page/3'],
    ]);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('retail - one purchase per basket line, no final newline needed', () => {
    const baskets = readRetailBaskets(file('r.dat', '1 2\n3'));
    expect(baskets).toEqual([['1', '2'], ['3']]);
    const events = retailEvents(baskets, { startMs: 0, sessionSpacingMs: 5 });
    expect(events[0]).toMatchObject({ type: 'form', action: 'submit', formId: 'checkout', visitorId: 'r0', ts: 0, items: [{ productId: '1', quantity: 1 }, { productId: '2', quantity: 1 }] });
    expect(events[1]!.ts).toBe(5);
  });

  it('diginetica - sessions ordered by (eventdate, session_id), views by timeframe, own timing kept', () => {
    const csv = ['session_id;user_id;item_id;timeframe;eventdate', '10;NA;a;5000;2016-05-02', '10;NA;b;1000;2016-05-02', '2;77;c;0;2016-05-02', '3;NA;d;0;2016-05-01', '2;77;e;60000;2016-05-02', '10;9;f;9000;2016-05-02', ''].join('\n');
    const views = readDigineticaViews(file('d.csv', csv));
    expect(views).toHaveLength(6);
    expect(views[0]).toEqual({ sessionId: '10', userId: undefined, itemId: 'a', timeframe: 5000, eventDate: '2016-05-02' });
    expect(digineticaSessions(views).map((s) => s.map((v) => v.itemId))).toEqual([['d'], ['c', 'e'], ['b', 'a', 'f']]);
    const events = digineticaEvents(views, { startMs: 0, sessionSpacingMs: 100 });
    expect(events.map((e) => [e.ts, e.visitorId, e.sessionId, e.url, e.product?.id])).toEqual([
      [0, 's3', 'd3', '/product/d', 'd'],
      [100, 'u77', 'd2', '/product/c', 'c'],
      // Session 10 names user 9 midway: the whole session is that visitor's.
      [200, 'u9', 'd10', '/product/b', 'b'],
      [4_200, 'u9', 'd10', '/product/a', 'a'],
      [8_200, 'u9', 'd10', '/product/f', 'f'],
      [60_100, 'u77', 'd2', '/product/e', 'e'],
    ]);
  });

  it('readers - malformed rows and unparsable lines are refused with their line number', () => {
    expect(() => readDigineticaViews(file('bad.csv', 'session_id;user_id;item_id;timeframe;eventdate\n1;NA;x;notanumber;2016-01-01\n'))).toThrow(/bad\.csv:2/);
    expect(() => readNdjsonEvents(file('bad.ndjson', '{"a":1}\n{oops\n'))).toThrow(/bad\.ndjson:2/);
    expect(() => readKosarakSessions(join(dir, 'missing.txt'))).toThrow(/CM_ERR_REPLAY/);
  });
});
