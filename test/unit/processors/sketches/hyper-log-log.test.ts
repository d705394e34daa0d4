import { describe, expect, it } from 'vitest';
import { HyperLogLog, murmur3String } from '../../../../processors/sketches/hyper-log-log';

describe('HyperLogLog', () => {
  it('hll - a million distinct visitors are counted within 3 standard errors', () => {
    const h = new HyperLogLog(14);
    const n = 1_000_000;
    for (let i = 0; i < n; i++) h.add(`visitor-${i}`);
    expect(h.relativeStandardError).toBeCloseTo(1.04 / 128, 10);
    expect(Math.abs(h.count() - n) / n).toBeLessThan(3 * h.relativeStandardError);
  });

  it('hll - repeats of the same visitors do not raise the count', () => {
    const h = new HyperLogLog(14);
    for (let r = 0; r < 5; r++) for (let i = 0; i < 20_000; i++) h.add(`v${i}`);
    expect(Math.abs(h.count() - 20_000) / 20_000).toBeLessThan(3 * h.relativeStandardError);
  });

  it('hll - small cardinalities are near exact (linear-counting range)', () => {
    const h = new HyperLogLog(14);
    expect(h.count()).toBe(0);
    for (let i = 0; i < 100; i++) h.add(`v${i}`);
    expect(Math.abs(h.count() - 100)).toBeLessThanOrEqual(2);
  });

  it('hll - merging two halves equals the whole within error', () => {
    const a = new HyperLogLog(14);
    const b = new HyperLogLog(14);
    const whole = new HyperLogLog(14);
    const n = 400_000;
    for (let i = 0; i < n; i++) {
      const v = `visitor-${i}`;
      (i % 2 === 0 ? a : b).add(v);
      whole.add(v);
    }
    // Overlap: some visitors in both halves count once.
    for (let i = 0; i < 10_000; i++) b.add(`visitor-${2 * i}`);
    a.merge(b);
    expect(a.count()).toBe(whole.count()); // register-wise max: identical registers
    expect(Math.abs(a.count() - n) / n).toBeLessThan(3 * a.relativeStandardError);
  });

  it('hll - a snapshot round-trips through JSON', () => {
    const h = new HyperLogLog(12);
    for (let i = 0; i < 5000; i++) h.add(`x${i}`);
    const back = HyperLogLog.fromJSON(JSON.parse(JSON.stringify(h)));
    expect(back.count()).toBe(h.count());
    expect(back.precision).toBe(12);
  });

  it('hll - a corrupt snapshot is refused', () => {
    expect(() => HyperLogLog.fromJSON({ p: 12, registers: Buffer.alloc(10).toString('base64') })).toThrow(RangeError);
    expect(() => new HyperLogLog(30)).toThrow(RangeError);
  });

  it('murmur3 - matches the reference Murmur3 x86_32 on UTF-16LE bytes', () => {
    // Reference values of MurmurHash3_x86_32 over the UTF-16LE encoding (computed by an independent
    // byte-wise implementation below).
    for (const s of ['', 'a', 'ab', 'abc', 'visitor-123', 'ünïcødé ✓']) expect(murmur3String(s, 7)).toBe(murmurBytes(Buffer.from(s, 'utf16le'), 7));
  });
});

/** Byte-wise MurmurHash3_x86_32, written from the reference C code, as the oracle. */
function murmurBytes(data: Buffer, seed: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const blocks = Math.floor(data.length / 4);
  for (let b = 0; b < blocks; b++) {
    let k = data.readUInt32LE(b * 4);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }
  const tail = blocks * 4;
  const rem = data.length & 3;
  if (rem > 0) {
    let k = 0;
    if (rem === 3) k ^= data[tail + 2]! << 16;
    if (rem >= 2) k ^= data[tail + 1]! << 8;
    k ^= data[tail]!;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= data.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
