import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../../src/snippet/sha256';
import { mulberry32 } from '../../../src/replay/mulberry32';

describe('snippet sha256', () => {
  it('equals node:crypto on the empty string, block boundaries and random ASCII', () => {
    const rnd = mulberry32(3);
    const inputs = ['', 'abc', 'a'.repeat(55), 'a'.repeat(56), 'a'.repeat(63), 'a'.repeat(64), 'a'.repeat(65), 'x'.repeat(1000)];
    for (let i = 0; i < 200; i++) inputs.push(Array.from({ length: Math.floor(rnd() * 150) }, () => String.fromCharCode(32 + Math.floor(rnd() * 95))).join(''));
    for (const s of inputs) expect(sha256Hex(s)).toBe(createHash('sha256').update(s, 'latin1').digest('hex'));
  });
});
