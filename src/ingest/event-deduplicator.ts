/**
 * Remembers event ids per site within a bounded horizon, so client retries (at-least-once upstream)
 * are counted once. Bounded twice, per site (one site's flood never pushes out another's ids): at
 * most `capacity` ids, the oldest evicted first (each eviction reported), each for at most `ttlMs`.
 *
 * A structure of its own rather than lru-cache: nothing is preallocated (an LRU of 1 M slots took
 * ~44 MB at boot), ids leave in the order they came (a hit never reorders, exactly as before), and
 * time is the caller's `now` (the batch's receive time), not a clock read per check.
 */
import { requireBound } from '../errors';

export interface EventDeduplicatorOptions {
  /** Most ids remembered per site, count. */
  readonly capacity: number;
  /** How long an id is remembered, ms. */
  readonly ttlMs: number;
  /** Called once per id pushed out by the capacity bound (before its ttl). */
  readonly onEvict: () => void;
}

/**
 * Remembered ids per site, oldest first: the ids, and their expiries as integer deltas (the first
 * from 0, each next from the one before), which is about half the JSON of [site, id, expiry] triples
 * and restores by assigning arrays.
 */
export interface DedupeSnapshot {
  readonly v: 2;
  readonly sites: Record<string, { readonly ids: string[]; readonly expDeltas: number[] }>;
}

/**
 * One site's ids: a FIFO of (id, expiry) slots (a growing ring, nothing preallocated) and a map from
 * each id to its newest slot. A slot is live while the map points at it; an id remembered again after
 * expiring leaves a stale slot behind, skipped when it reaches the front.
 */
class SiteIds {
  /** id → absolute slot number of its newest slot. */
  readonly pos = new Map<string, number>();
  ids: string[] = [];
  exps: number[] = [];
  /** First unconsumed slot (index into ids/exps). */
  head = 0;
  /** Absolute slot number of ids[0]. */
  base = 0;

  expiryOf(id: string): number | undefined {
    const p = this.pos.get(id);
    return p === undefined ? undefined : this.exps[p - this.base];
  }

  #live(i: number): boolean {
    return this.pos.get(this.ids[i]!) === this.base + i;
  }

  add(id: string, exp: number): void {
    this.pos.set(id, this.base + this.ids.length);
    this.ids.push(id);
    this.exps.push(exp);
  }

  /** Forgets the expired ids at the front. */
  purge(now: number): void {
    while (this.head < this.ids.length) {
      if (this.#live(this.head)) {
        if (this.exps[this.head]! > now) break;
        this.pos.delete(this.ids[this.head]!);
      }
      this.head++;
    }
    this.#compact();
  }

  /** Removes the oldest live id; returns false when there is none. */
  evictOldest(): boolean {
    while (this.head < this.ids.length) {
      const i = this.head++;
      if (this.#live(i)) {
        this.pos.delete(this.ids[i]!);
        this.#compact();
        return true;
      }
    }
    return false;
  }

  /** Live slots, oldest first. */
  *live(): Generator<[string, number]> {
    for (let i = this.head; i < this.ids.length; i++) if (this.#live(i)) yield [this.ids[i]!, this.exps[i]!];
  }

  #compact(): void {
    // TRICKY: arrays used as a queue: slice away the consumed front once it is most of them.
    if (this.head > 1024 && this.head * 2 > this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.exps = this.exps.slice(this.head);
      this.base += this.head;
      this.head = 0;
    }
  }
}

export class EventDeduplicator {
  readonly #capacity: number;
  readonly #ttlMs: number;
  readonly #onEvict: () => void;
  readonly #sites = new Map<string, SiteIds>();

  constructor(opts: EventDeduplicatorOptions) {
    this.#capacity = requireBound('EventDeduplicator capacity', opts.capacity);
    this.#ttlMs = requireBound('EventDeduplicator ttlMs', opts.ttlMs);
    this.#onEvict = opts.onEvict;
  }

  /** True when this site's event id was remembered and has not expired at `now`. */
  has(site: string, id: string, now: number): boolean {
    const exp = this.#sites.get(site)?.expiryOf(id);
    return exp !== undefined && exp > now;
  }

  /** Remembers an id at `now`; call only once the event was accepted, so a refused batch can be retried. */
  remember(site: string, id: string, now: number): void {
    let s = this.#sites.get(site);
    if (s === undefined) {
      s = new SiteIds();
      this.#sites.set(site, s);
    }
    s.purge(now);
    s.add(id, now + this.#ttlMs);
    if (s.pos.size > this.#capacity && s.evictOldest()) this.#onEvict();
  }

  /** Ids currently held across sites (expired ones may still count until purged). */
  get size(): number {
    let n = 0;
    for (const s of this.#sites.values()) n += s.pos.size;
    return n;
  }

  /** The live ids of every site, oldest first, for a snapshot. */
  snapshot(): DedupeSnapshot {
    const sites: Record<string, { ids: string[]; expDeltas: number[] }> = {};
    for (const [site, s] of this.#sites) {
      const ids: string[] = [];
      const expDeltas: number[] = [];
      let prev = 0;
      for (const [id, exp] of s.live()) {
        ids.push(id);
        expDeltas.push(exp - prev);
        prev = exp;
      }
      sites[site] = { ids, expDeltas };
    }
    return { v: 2, sites };
  }

  /** Loads a snapshot (ids keep their expiry and their order). */
  restore(snap: DedupeSnapshot): void {
    this.#sites.clear();
    for (const [site, { ids, expDeltas }] of Object.entries(snap.sites)) {
      const s = new SiteIds();
      let exp = 0;
      const exps = new Array<number>(ids.length);
      for (let i = 0; i < ids.length; i++) {
        exp += expDeltas[i]!;
        exps[i] = exp;
        s.pos.set(ids[i]!, i);
      }
      s.ids = ids;
      s.exps = exps;
      this.#sites.set(site, s);
    }
  }
}
