import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock';
import { RateLimiter } from '../../../src/ingest/rate-limiter';

describe('RateLimiter', () => {
  it('rate limit - a full bucket lets a burst through, then refills at the rate', () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter({ ratePerSecond: 10, burst: 20, maxClients: 10, clock, onEvict: () => undefined });
    expect(rl.take('c', 20).kind).toBe('allowed');
    // empty: 5 events need 5 tokens = 500 ms at 10/s
    expect(rl.take('c', 5)).toEqual({ kind: 'limited', retryAfterMs: 500 });
    clock.advance(499);
    expect(rl.take('c', 5).kind).toBe('limited');
    clock.advance(1);
    expect(rl.take('c', 5).kind).toBe('allowed');
  });

  it('rate limit - clients have separate buckets', () => {
    const rl = new RateLimiter({ ratePerSecond: 1, burst: 1, maxClients: 10, clock: new ManualClock(), onEvict: () => undefined });
    expect(rl.take('a', 1).kind).toBe('allowed');
    expect(rl.take('a', 1).kind).toBe('limited');
    expect(rl.take('b', 1).kind).toBe('allowed');
  });

  it('rate limit - the refill never exceeds the burst', () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter({ ratePerSecond: 100, burst: 10, maxClients: 10, clock, onEvict: () => undefined });
    rl.take('c', 1);
    clock.advance(3_600_000);
    expect(rl.take('c', 10).kind).toBe('allowed');
    expect(rl.take('c', 1).kind).toBe('limited');
  });

  it('rate limit - a request larger than the burst passes on a full bucket and empties it', () => {
    const rl = new RateLimiter({ ratePerSecond: 1, burst: 5, maxClients: 10, clock: new ManualClock(), onEvict: () => undefined });
    expect(rl.take('c', 50).kind).toBe('allowed');
    expect(rl.take('c', 1).kind).toBe('limited');
  });

  it('rate limit - the client map is bounded, evictions reported', () => {
    let evicted = 0;
    const rl = new RateLimiter({ ratePerSecond: 1, burst: 1, maxClients: 2, clock: new ManualClock(), onEvict: () => evicted++ });
    for (const c of ['a', 'b', 'c', 'd']) rl.take(c, 1);
    expect(evicted).toBe(2);
  });
});
