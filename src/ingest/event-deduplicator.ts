/**
 * Remembers event ids (per site) within a bounded horizon, so client retries (at-least-once upstream)
 * are counted once. Bounded twice: at most `capacity` ids (least recently seen evicted first, each
 * eviction reported) and each for at most `ttlMs`. Time comes from the injected clock.
 */
import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock';
import { requireBound } from '../errors';

export interface EventDeduplicatorOptions {
  /** Most ids remembered, count. */
  readonly capacity: number;
  /** How long an id is remembered, ms. */
  readonly ttlMs: number;
  readonly clock: Clock;
  /** Called once per id pushed out by the capacity bound (before its ttl). */
  readonly onEvict: () => void;
}

/** Remembered ids as [site\u0000id, first seen (clock ms), ttl ms]. */
export type DedupeSnapshot = Array<[string, number, number]>;

export class EventDeduplicator {
  readonly #seen: LRUCache<string, true>;

  constructor(opts: EventDeduplicatorOptions) {
    const onEvict = opts.onEvict;
    this.#seen = new LRUCache<string, true>({
      max: requireBound('EventDeduplicator capacity', opts.capacity),
      ttl: requireBound('EventDeduplicator ttlMs', opts.ttlMs),
      // TRICKY: lru-cache caches `now` for ttlResolution ms with a real timer; 0 makes every check
      // read the injected clock, so a manual clock in tests is obeyed exactly.
      ttlResolution: 0,
      perf: { now: () => opts.clock.now() },
      updateAgeOnGet: false,
      updateAgeOnHas: false,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') onEvict();
      },
    });
  }

  /** True when this site's event id was remembered and has not expired. */
  has(site: string, id: string): boolean {
    return this.#seen.has(key(site, id));
  }

  /** Remembers an id; call only once the event was accepted, so a refused batch can be retried. */
  remember(site: string, id: string): void {
    this.#seen.set(key(site, id), true);
  }

  /** The remembered ids with their ages (lru-cache's portable dump), for a snapshot. */
  snapshot(): DedupeSnapshot {
    return this.#seen.dump().map(([k, e]) => [k, e.start ?? 0, e.ttl ?? 0]);
  }

  /** Loads a snapshot (ids keep the time they were first seen, so their TTL runs on). */
  restore(s: DedupeSnapshot): void {
    this.#seen.load(s.map(([k, start, ttl]) => [k, { value: true as const, start, ttl }]));
  }

  /** Ids currently remembered (expired ones may still count until touched). */
  get size(): number {
    return this.#seen.size;
  }
}

// Site ids are [A-Za-z0-9_-], so a NUL separator cannot collide.
function key(site: string, id: string): string {
  return `${site}\u0000${id}`;
}
