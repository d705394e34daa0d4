import { describe, expect, it } from 'vitest';
import { WatermarkTracker } from '../../../src/pipeline/watermark-tracker';

const mk = (partitions = 3) => new WatermarkTracker({ partitions, outOfOrdernessMs: 5_000, idleTimeoutMs: 30_000 });

describe('WatermarkTracker', () => {
  it('watermarks - the site watermark is the minimum over partitions that have one, minus the out-of-orderness', () => {
    const w = mk();
    const at = 1_000_000;
    w.observe(0, 100_000, at);
    w.observe(1, 80_000, at);
    w.observe(1, 70_000, at); // out of order: the max stays 80 000
    // By hand: partition 0 → 95 000, partition 1 → 75 000, partition 2 never seen (no watermark).
    expect(w.advance()).toBe(75_000);
    expect(w.partitionWatermark(0)).toBe(95_000);
    expect(w.partitionWatermark(2)).toBe(Number.NEGATIVE_INFINITY);
  });

  it('ticks - a partition that received nothing for the idle timeout is lifted to the tick time', () => {
    const w = mk();
    w.observe(0, 100_000, 1_000_000);
    w.observe(1, 50_000, 1_000_000);
    expect(w.advance()).toBe(45_000);
    w.observe(0, 130_000, 1_030_000);
    // Without a tick record the lagging partition holds the watermark, however much wall time passed.
    expect(w.advance()).toBe(45_000);
    w.tick(130_000, 1_030_000); // partition 1: last received 1 000 000 ≤ 1 030 000 − 30 000 → idle
    expect(w.partitionWatermark(1)).toBe(125_000);
    expect(w.partitionWatermark(0)).toBe(125_000); // active: its own events decide
    expect(w.advance()).toBe(125_000);
  });

  it('ticks - a partition just under the idle timeout still holds the watermark back', () => {
    const w = mk();
    w.observe(0, 100_000, 1_000_000);
    w.observe(1, 50_000, 1_000_001);
    w.observe(0, 130_000, 1_030_000);
    w.tick(130_000, 1_030_000);
    expect(w.advance()).toBe(45_000);
  });

  it('ticks - date themselves by the newest event time plus the wall time since, not by the wall clock', () => {
    const w = mk();
    expect(w.tickTime(5_000_000)).toBeUndefined(); // no event yet: no tick
    // A backfill of old data received now: ticks stay on the data's timeline.
    w.observe(0, 1_000, 5_000_000);
    expect(w.tickTime(5_000_400)).toBe(1_400);
    expect(w.tickTime(4_000_000)).toBe(1_000); // never before the newest event
  });

  it('watermarks - are a function of the records: the same records in the same order give the same values', () => {
    const feed = (w: WatermarkTracker) => {
      w.observe(0, 10_000, 100);
      w.tick(12_000, 40_000);
      w.observe(2, 9_000, 40_500);
      w.tick(50_000, 80_000);
      return [w.advance(), w.partitionWatermark(0), w.partitionWatermark(1), w.partitionWatermark(2)];
    };
    expect(feed(mk())).toEqual(feed(mk()));
    expect(feed(mk())).toEqual([45_000, 45_000, 45_000, 45_000]);
  });

  it('watermarks - never go back, even when a quiet partition resumes behind', () => {
    const w = mk();
    w.observe(0, 100_000, 1_000_000);
    expect(w.advance()).toBe(95_000);
    w.observe(1, 20_000, 1_000_001); // a partition wakes up far behind
    expect(w.advance()).toBe(95_000);
  });

  it('snapshot - a restored tracker continues exactly like the original', () => {
    const a = mk();
    a.observe(0, 100_000, 1_000_000);
    a.tick(100_000, 1_040_000);
    const b = mk();
    a.advance();
    // Each partition's part on its own, and the site watermark shown.
    const parts = [0, 1, 2].map((p) => JSON.parse(JSON.stringify(a.snapshotPartition(p))) as ReturnType<WatermarkTracker['snapshotPartition']>);
    parts.forEach((s, p) => b.restorePartition(p, s));
    b.restoreSite(a.current());
    expect(b.current()).toBe(a.current());
    for (const w of [a, b]) {
      w.observe(1, 90_000, 1_050_000);
      w.tick(101_000, 1_090_000);
    }
    expect([0, 1, 2].map((p) => b.snapshotPartition(p))).toEqual([0, 1, 2].map((p) => a.snapshotPartition(p)));
    expect(b.advance()).toBe(a.advance());
    expect(b.tickTime(2_000_000)).toBe(a.tickTime(2_000_000));
  });

  it('constructor - refuses a missing partition count', () => {
    expect(() => new WatermarkTracker({ partitions: 0, outOfOrdernessMs: 0, idleTimeoutMs: 1 })).toThrow(/CM_ERR_UNBOUNDED/);
  });
});
