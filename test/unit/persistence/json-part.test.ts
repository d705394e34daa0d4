import { describe, expect, it } from 'vitest';
import { decodeParts, encodeParts, JsonPart } from '../../../src/persistence/json-part';
import { decodeState, encodeState } from '../../../src/persistence/state-file';

describe('JsonPart', () => {
  const root = () => ({
    a: 1,
    list: [[10, JsonPart.of({ x: 'p0', y: [1, 2] })], [20, JsonPart.of({ x: 'p1' })], [30, { x: 'inline' }]],
    nested: { deep: { part: JsonPart.of(['p2', '"quoted"', '\u001f']) }, skip: null },
  });

  it('encodeParts - parts follow the head as raw bytes; decoding puts unparsed parts back at their places, reading as the plain JSON', () => {
    const buf = encodeParts(root());
    expect(buf.subarray(0, 4).toString()).toBe('CMP1');
    // Each part's text stands in the file as it is, not as an escaped JSON string.
    expect(buf.includes(Buffer.from('{"x":"p0","y":[1,2]}'))).toBe(true);
    const back = decodeParts(buf) as ReturnType<typeof root>;
    expect(back.list[0]![1]).toBeInstanceOf(JsonPart);
    expect(back.nested.deep.part).toBeInstanceOf(JsonPart);
    expect(back.list[2]![1]).toEqual({ x: 'inline' });
    expect('parts' in back).toBe(false);
    expect(JSON.parse(JSON.stringify(back))).toEqual(JSON.parse(JSON.stringify(root())));
    expect(JSON.parse(JSON.stringify(root()))).toEqual({ a: 1, list: [[10, { x: 'p0', y: [1, 2] }], [20, { x: 'p1' }], [30, { x: 'inline' }]], nested: { deep: { part: ['p2', '"quoted"', '\u001f'] }, skip: null } });
    // A decoded part written again is the same bytes.
    expect(encodeParts(back).equals(buf)).toBe(true);
  });

  it('encodeParts - without parts a file is plain JSON, and plain JSON (the format before parts) decodes', () => {
    const plain = { a: [1, { b: 'c' }] };
    expect(encodeParts(plain).toString()).toBe(JSON.stringify(plain));
    expect(decodeParts(Buffer.from(JSON.stringify(plain)))).toEqual(plain);
  });

  it('decodeParts - a truncated or tampered file throws with a reason; a state file of it is refused, not half-applied', async () => {
    const buf = encodeParts(root());
    expect(() => decodeParts(buf.subarray(0, buf.length - 3))).toThrow(/out of bounds/);
    expect(() => decodeParts(Buffer.concat([buf, Buffer.from('x')]))).toThrow(/trailing/);
    expect(() => decodeParts(buf.subarray(0, 12))).toThrow(/truncated head/);
    const moved = Buffer.from(buf.toString('latin1').replace('"paths":[["list",0,1]', '"paths":[["list",2,1]'), 'latin1');
    expect(() => decodeParts(moved)).toThrow(/no place/);
    const file = await encodeState('d', 1, root());
    const ok = await decodeState<ReturnType<typeof root>>(file, 'd');
    expect(ok.kind === 'ok' && ok.envelope.state.nested.deep.part instanceof JsonPart).toBe(true);
    const { gzipSync, gunzipSync } = await import('node:zlib');
    const cut = gunzipSync(file);
    const refused = await decodeState(gzipSync(cut.subarray(0, cut.length - 1)), 'd');
    expect(refused).toEqual({ kind: 'refused', reason: expect.stringMatching(/^unreadable \(part \d+ out of bounds\)$/) });
  });

  it('value - a read-back part is parsed afresh on each ask (callers keep what they build)', () => {
    const back = decodeParts(encodeParts({ p: JsonPart.of({ n: 1 }) })) as { p: JsonPart<{ n: number }> };
    const v1 = back.p.value();
    v1.n = 99;
    expect(back.p.value()).toEqual({ n: 1 });
  });
});
