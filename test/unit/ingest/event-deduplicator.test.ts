import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock';
import { EventDeduplicator } from '../../../src/ingest/event-deduplicator';

describe('EventDeduplicator', () => {
  it('dedupe - an id is a duplicate within its ttl and forgotten after it', () => {
    const clock = new ManualClock(1_000);
    const d = new EventDeduplicator({ capacity: 10, ttlMs: 60_000, clock, onEvict: () => undefined });
    expect(d.has('demo', 'e1')).toBe(false);
    d.remember('demo', 'e1');
    clock.advance(59_999);
    expect(d.has('demo', 'e1')).toBe(true);
    clock.advance(2);
    expect(d.has('demo', 'e1')).toBe(false);
  });

  it('dedupe - ids are per site', () => {
    const d = new EventDeduplicator({ capacity: 10, ttlMs: 60_000, clock: new ManualClock(), onEvict: () => undefined });
    d.remember('a', 'e1');
    expect(d.has('b', 'e1')).toBe(false);
  });

  it('dedupe - beyond capacity the oldest id is evicted and each eviction is reported', () => {
    let evicted = 0;
    const d = new EventDeduplicator({ capacity: 3, ttlMs: 60_000, clock: new ManualClock(), onEvict: () => evicted++ });
    for (const id of ['1', '2', '3', '4', '5']) d.remember('s', id);
    expect(evicted).toBe(2);
    expect(d.size).toBe(3);
    expect(['1', '2', '3', '4', '5'].map((id) => d.has('s', id))).toEqual([false, false, true, true, true]);
  });

  it('dedupe - refuses to be built without bounds', () => {
    expect(() => new EventDeduplicator({ capacity: 0, ttlMs: 1, clock: new ManualClock(), onEvict: () => undefined })).toThrow(/CM_ERR_UNBOUNDED/);
    expect(() => new EventDeduplicator({ capacity: 1, ttlMs: Number.NaN, clock: new ManualClock(), onEvict: () => undefined })).toThrow(/CM_ERR_UNBOUNDED/);
  });
});
