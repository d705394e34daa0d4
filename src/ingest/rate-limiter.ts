/**
 * Token buckets keyed by client (a WebSocket connection or an IP): `ratePerSecond` tokens refill per
 * second up to `burst`; a batch of n events takes n tokens or is refused whole. The key map is an LRU
 * bounded by `maxClients` (a forgotten client starts again with a full bucket; evictions reported).
 * Time from the injected clock; no timers.
 */
import { LRUCache } from 'lru-cache';
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
  readonly #buckets: LRUCache<string, Bucket>;

  constructor(opts: RateLimiterOptions) {
    this.#rate = requireBound('RateLimiter ratePerSecond', opts.ratePerSecond);
    this.#burst = requireBound('RateLimiter burst', opts.burst);
    this.#clock = opts.clock;
    const onEvict = opts.onEvict;
    this.#buckets = new LRUCache<string, Bucket>({
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
    const cost = Math.min(n, this.#burst);
    const now = this.#clock.now();
    let b = this.#buckets.get(client);
    if (b === undefined) {
      b = { tokens: this.#burst, at: now };
      this.#buckets.set(client, b);
    } else {
      b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) * this.#rate) / 1000);
      b.at = now;
    }
    if (cost <= b.tokens) {
      b.tokens -= cost;
      return ALLOWED;
    }
    const missing = cost - b.tokens;
    return { kind: 'limited', retryAfterMs: Math.max(1, Math.ceil((missing * 1000) / this.#rate)) };
  }

  /** Drops a client's bucket (its connection closed). */
  forget(client: string): void {
    this.#buckets.delete(client);
  }
}
