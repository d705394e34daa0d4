import { describe, expect, it } from 'vitest';
import { UNSESSIONIZED } from '../../../src/events/event-enricher';
import type { LogRecord } from '../../../src/events/enriched-event';
import { decodeLogMessage, encodeLogMessage } from '../../../src/log/event-log';
import { epochMillis } from '../../../src/types';
import { click, form, pageView } from '../../helpers/enriched-events';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const bytes = (s: string) => new TextEncoder().encode(s);

describe('log messages', () => {
  it('format 2 - every record comes back as written (the session context is the processing side\'s), the site and partition from the message and its subject', () => {
    const records: LogRecord[] = [
      { ...pageView('v1', T0, '/a', { product: { id: 'p1', category: 'games' } }), partition: 3 },
      { ...click('v1', T0 + 1, { kind: 'link', href: '/b' }), partition: 3 },
      { ...form('v1', T0 + 2, 'checkout', 'submit', { items: [{ productId: 'p1', quantity: 2 }] }), partition: 3 },
      { type: 'tick', site: 'demo', ts: epochMillis(T0 + 5), at: epochMillis(T0 + 9), partition: 3 },
    ].map((r) => ({ ...r, site: 'demo' }) as LogRecord);
    const text = encodeLogMessage(records);
    const d = decodeLogMessage(bytes(text), 3);
    expect(d.kind).toBe('ok');
    const want = records.map((r) => (r.type === 'tick' ? r : { ...r, session: UNSESSIONIZED }));
    expect(d.kind === 'ok' ? d.records : []).toEqual(want);
    // Smaller than repeating every field per record (format 1).
    const v1 = `{"v":1,"r":[${records.map((r) => JSON.stringify(r.type === 'tick' ? r : { ...r, session: undefined })).join(',')}]}`;
    expect(text.length).toBeLessThan(v1.length);
    expect(decodeLogMessage(bytes(v1), 3)).toEqual(d);
  });

  it('format 2 - an event record is what JSON.stringify gives it without its id, type, visitor, partition and session (another site kept, no device left out)', () => {
    const records = [
      { ...pageView('v1', T0, '/a', { product: { id: 'p1', category: 'games' } }), partition: 3, site: 'demo', device: 'mobile' },
      { ...click('v2', T0 + 1, { kind: 'link', href: '/b?q="x"' }), partition: 3, site: 'other', device: undefined },
      { ...form('v1', T0 + 2, 'checkout', 'submit', { items: [{ productId: 'p1', quantity: 2 }] }), partition: 3, site: 'demo', seq: 7, bot: true },
    ] as unknown as LogRecord[];
    const plain = records.map((r) => {
      const { session: _s, site, id: _i, type: _t, visitorId: _v, partition: _p, ...input } = r as unknown as Record<string, unknown>;
      return JSON.stringify(site === 'demo' ? input : { ...input, site });
    });
    const text = encodeLogMessage(records);
    expect(JSON.parse(text)).toEqual(JSON.parse(`{"v":2,"s":"demo","r":[${plain.join(',')}]}`));
    expect(text).not.toContain('"device":undefined');
  });

  it('bad input - not JSON, another version, a record without its event or ts: a reason, never a throw', () => {
    const reasons = [
      'nope',
      '{"v":9,"r":[]}',
      '{"v":2,"r":[]}',
      '{"v":2,"s":"demo","r":[{"ts":1}]}',
      '{"v":2,"s":"demo","r":[{"ts":1,"event":{"id":"x","type":"page_view"}}]}',
      '{"v":2,"s":"demo","r":[{"event":{"id":"x","type":"page_view","visitorId":"v"}}]}',
      '{"v":2,"s":"demo","r":[null]}',
    ].map((t) => decodeLogMessage(bytes(t), 0));
    for (const r of reasons) expect(r.kind).toBe('bad');
    expect(reasons.map((r) => (r.kind === 'bad' ? r.reason : ''))).toEqual([
      expect.stringMatching(/^not JSON/),
      'not a version 1 or 2 log message',
      'a message without its site',
      'a record without its event',
      'a record without its event',
      'a record without ts',
      'a record without ts',
    ]);
  });
});
