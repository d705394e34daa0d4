import { describe, expect, it } from 'vitest';
import { BatchDecoder, findForbiddenKey, type FrameLimit } from '../../../src/events/batch-decoder';
import { EventValidator } from '../../../src/events/event-validator';

const decoder = new BatchDecoder(new EventValidator(), { maxBatchEvents: 3 });
const WS: FrameLimit = { maxBytes: 2048, tooLargeCode: 'frame_too_large' };
const HTTP: FrameLimit = { maxBytes: 2048, tooLargeCode: 'body_too_large' };
const ev = (id: string) => ({ id, type: 'page_view', visitorId: 'v', ts: 1, url: '/' });
const batch = (events: unknown[], extra: Record<string, unknown> = {}) => JSON.stringify({ type: 'batch', seq: 7, sentAt: 1, events, ...extra });

describe('BatchDecoder', () => {
  it('decoder - a good batch yields its seq, sentAt and its events as parsed, from a string or a Buffer', () => {
    for (const raw of [batch([ev('a'), ev('b')]), Buffer.from(batch([ev('a'), ev('b')]))]) {
      const r = decoder.decode(raw, WS);
      expect(r).toEqual({ kind: 'batch', seq: 7, sentAt: 1, vk: undefined, events: [ev('a'), ev('b')], forbidden: undefined });
    }
  });

  it('decoder - a frame over the byte limit is frame_too_large on WS and body_too_large on HTTP', () => {
    const raw = batch([{ ...ev('a'), title: 'é'.repeat(1100) }]); // 2 bytes per é: over 2048 bytes, under 2048 chars
    expect(raw.length).toBeLessThan(2048 + 200);
    expect(decoder.decode(raw, WS)).toMatchObject({ kind: 'rejected', code: 'frame_too_large', seq: null });
    expect(decoder.decode(raw, HTTP)).toMatchObject({ kind: 'rejected', code: 'body_too_large' });
  });

  it('decoder - unparsable JSON is invalid_json', () => {
    for (const raw of ['{"type":"batch",', '', 'not json', Buffer.from([0xff, 0xfe])]) {
      expect(decoder.decode(raw, WS)).toMatchObject({ kind: 'rejected', code: 'invalid_json', seq: null });
    }
  });

  it('decoder - a bad envelope is invalid_batch and keeps a readable seq', () => {
    expect(decoder.decode(JSON.stringify({ type: 'batch', seq: 4, events: [] }), WS)).toMatchObject({ kind: 'rejected', code: 'invalid_batch', seq: 4 });
    expect(decoder.decode('[1,2]', WS)).toMatchObject({ kind: 'rejected', code: 'invalid_batch', seq: null });
    expect(decoder.decode('"batch"', WS)).toMatchObject({ kind: 'rejected', code: 'invalid_batch' });
  });

  it('decoder - more events than the limit is batch_too_large for the whole batch', () => {
    expect(decoder.decode(batch([ev('a'), ev('b'), ev('c'), ev('d')]), WS)).toMatchObject({ kind: 'rejected', code: 'batch_too_large', seq: 7 });
    expect(decoder.decode(batch([ev('a'), ev('b'), ev('c')]), WS).kind).toBe('batch');
  });

  it('decoder - a forbidden key inside one event refuses only that event, naming its path', () => {
    const raw = `{"type":"batch","seq":1,"sentAt":1,"events":[${JSON.stringify(ev('a'))},{"id":"b","props":{"__proto__":{"admin":true}}},{"id":"c","target":{"constructor":1}}]}`;
    const r = decoder.decode(raw, WS);
    expect(r.kind).toBe('batch');
    if (r.kind !== 'batch') return;
    expect(r.events[0]).toEqual(ev('a'));
    expect(r.forbidden?.[0]).toBeUndefined();
    expect(r.forbidden?.[1]).toMatch(/^\/props\/__proto__:/);
    expect(r.forbidden?.[2]).toMatch(/^\/target\/constructor:/);
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
  });

  it('decoder - a unicode-escaped __proto__ key is still found', () => {
    const raw = `{"type":"batch","seq":1,"sentAt":1,"events":[{"id":"b","props":{"\\u005f_proto__":1}}]}`;
    const r = decoder.decode(raw, WS);
    expect(r.kind === 'batch' && r.forbidden?.[0]).toMatch(/^\/props\/__proto__: forbidden key/);
  });

  it('decoder - a forbidden key in the envelope refuses the whole batch', () => {
    const raw = `{"type":"batch","seq":3,"sentAt":1,"events":[],"prototype":{}}`;
    expect(decoder.decode(raw, WS)).toMatchObject({ kind: 'rejected', code: 'forbidden_key', seq: 3 });
  });

  it('decoder - the word constructor as a value is not a forbidden key', () => {
    const raw = batch([{ ...ev('a'), title: '"constructor"' }]);
    expect(decoder.decode(raw, WS)).toMatchObject({ kind: 'batch', events: [{ id: 'a' }], forbidden: undefined });
  });

  it('decoder - forbidden keys are found under deep nesting without overflowing the stack', () => {
    let deep: unknown = { prototype: 1 };
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findForbiddenKey(deep)).toMatch(/\/prototype$/);
  });

  it('decoder - refuses to be built without a batch limit', () => {
    expect(() => new BatchDecoder(new EventValidator(), { maxBatchEvents: 0 })).toThrow(/CM_ERR_UNBOUNDED/);
  });
});
