import { describe, expect, it } from 'vitest';
import { WatermarkTracker } from '../../../src/pipeline/watermark-tracker';

const mk = (partitions = 3) => new WatermarkTracker({ partitions, outOfOrdernessMs: 5_000, idleTimeoutMs: 30_000 });

describe('WatermarkTracker', () => {
  it('watermarks - the global watermark is the minimum over active partitions minus the out-of-orderness', () => {
    const w = mk();
    const now = 1_000_000;
    w.observe(0, 100_000, now);
    w.observe(1, 80_000, now);
    w.observe(1, 70_000, now); // out of order: the max stays 80 000
    // By hand: partition 0 → 95 000, partition 1 → 75 000, partition 2 never seen (not active).
    expect(w.advance(now)).toBe(75_000);
    expect(w.partitionWatermark(0)).toBe(95_000);
  });

  it('watermarks - an idle partition stops holding the watermark back', () => {
    const w = mk();
    w.observe(0, 100_000, 1_000_000);
    w.observe(1, 50_000, 1_000_000);
    expect(w.advance(1_000_000)).toBe(45_000);
    // 30 s of wall clock later partition 1 has sent nothing: it is idle; partition 0 goes on.
    w.observe(0, 130_000, 1_030_000);
    expect(w.isActive(1, 1_030_000)).toBe(false);
    expect(w.advance(1_030_000)).toBe(125_000);
  });

  it('watermarks - a partition just under the idle timeout still holds it back', () => {
    const w = mk();
    w.observe(0, 100_000, 1_000_000);
    w.observe(1, 50_000, 1_000_000);
    w.observe(0, 130_000, 1_029_999);
    expect(w.advance(1_029_999)).toBe(45_000);
  });

  it('watermarks - with no input at all the watermark advances with the wall clock', () => {
    const w = mk();
    expect(w.current()).toBe(Number.NEGATIVE_INFINITY);
    expect(w.advance(2_000_000)).toBe(1_995_000);
    expect(w.advance(2_060_000)).toBe(2_055_000);
    // Input resumes, then stops: once every partition is idle the wall clock drives it again.
    w.observe(2, 2_070_000, 2_070_000);
    expect(w.advance(2_071_000)).toBe(2_065_000);
    expect(w.advance(2_100_000)).toBe(2_095_000);
  });

  it('watermarks - never go back, even when an idle partition resumes behind', () => {
    const w = mk();
    w.observe(0, 100_000, 1_000_000);
    expect(w.advance(1_000_000)).toBe(95_000);
    w.observe(1, 20_000, 1_000_001); // a partition wakes up far behind
    expect(w.advance(1_000_001)).toBe(95_000);
  });

  it('constructor - refuses a missing partition count', () => {
    expect(() => new WatermarkTracker({ partitions: 0, outOfOrdernessMs: 0, idleTimeoutMs: 1 })).toThrow(/CM_ERR_UNBOUNDED/);
  });
});
