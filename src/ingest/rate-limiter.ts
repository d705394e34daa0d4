/**
 * Token buckets keyed by client (a WebSocket connection, an IP, a visitor, a producer): `ratePerSecond`
 * tokens refill per second up to `burst`; a request of n units (events or bytes) takes n tokens or is
 * refused whole. The key map is an LRU bounded by `maxClients` (a forgotten client starts again with a
 * full bucket; evictions reported). Time from the injected clock; no timers. `takeAll` charges several
 * buckets at once (connection, IP, visitor…) or none of them.
 */
import { BoundedLru } from '../bounded-lru';
import type { Clock } from '../clock';
import { requireBound } from '../errors';

export interface RateLimiterOptions {
  /** Sustained events per second per client. */
  readonly ratePerSecond: number;
  /** Bucket size, events. */
  readonly burst: number;
  /** Clients whose buckets are kept, count. */
  readonly maxClients: number;
  readonly clock: Clock;
  /** Called once per bucket pushed out by the client bound. */
  readonly onEvict: () => void;
}

export type RateDecision =
  | { readonly kind: 'allowed' }
  /** Refused; enough tokens for this request will have refilled after `retryAfterMs`. */
  | { readonly kind: 'limited'; readonly retryAfterMs: number };

const ALLOWED: RateDecision = Object.freeze({ kind: 'allowed' });

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date, epoch ms. */
  at: number;
}

export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #clock: Clock;
  readonly #buckets: BoundedLru<string, Bucket>;

  constructor(opts: RateLimiterOptions) {
    this.#rate = requireBound('RateLimiter ratePerSecond', opts.ratePerSecond);
    this.#burst = requireBound('RateLimiter burst', opts.burst);
    this.#clock = opts.clock;
    const onEvict = opts.onEvict;
    this.#buckets = new BoundedLru<string, Bucket>({
      max: requireBound('RateLimiter maxClients', opts.maxClients),
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') onEvict();
      },
    });
  }

  /**
   * Takes `n` tokens from the client's bucket, or refuses without taking any. A request larger than
   * the burst costs the whole burst, so it can pass once the bucket is full instead of never.
   */
  take(client: string, n: number): RateDecision {
    return takeAll([[this, client, n]]);
  }

  /** Ms until the client's bucket holds `n` tokens (0: now), after refilling it. */
  wait(client: string, n: number): number {
    const b = this.#bucket(client);
    const missing = Math.min(n, this.#burst) - b.tokens;
    return missing <= 0 ? 0 : Math.max(1, Math.ceil((missing * 1000) / this.#rate));
  }

  /** Takes `n` tokens (at most the burst); call after `wait` said 0. */
  charge(client: string, n: number): void {
    this.#bucket(client).tokens -= Math.min(n, this.#burst);
  }

  #bucket(client: string): Bucket {
    const now = this.#clock.now();
    let b = this.#buckets.get(client);
    if (b === undefined) {
      b = { tokens: this.#burst, at: now };
      this.#buckets.set(client, b);
    } else {
      b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) * this.#rate) / 1000);
      b.at = now;
    }
    return b;
  }

  /** Drops a client's bucket (its connection closed). */
  forget(client: string): void {
    this.#buckets.delete(client);
  }
}

/** Charges every (limiter, key, units) or none: refused with the longest wait when any bucket is short. */
export function takeAll(requests: ReadonlyArray<readonly [RateLimiter, string, number]>): RateDecision {
  let worst = 0;
  for (const [limiter, key, n] of requests) {
    const w = limiter.wait(key, n);
    if (w > worst) worst = w;
  }
  if (worst > 0) return { kind: 'limited', retryAfterMs: worst };
  for (const [limiter, key, n] of requests) limiter.charge(key, n);
  return ALLOWED;
}
