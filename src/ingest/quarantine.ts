/**
 * Where refused input can be inspected: a bounded ring per site of the most recent refusals (oldest
 * overwritten first, each overwrite reported), listed by `GET /v1/quarantine?site=` and, on NATS,
 * also published on `cm.quarantine.<site>` through the `onItem` hook. Input for an unknown site is
 * kept under UNKNOWN_SITE: a raw site parameter is never used as a key or a label.
 */
import type { Clock } from '../clock';
import { requireBound, type RejectReason } from '../errors';
import { RecentRing } from './recent-ring';
import { redactSample } from './redact';
import type { EpochMillis } from '../types';

/** The bucket for input whose site is not configured. */
export const UNKNOWN_SITE = '_unknown';
/** Longest raw sample kept per item, characters (≈ bytes for the ASCII JSON that dominates). */
export const QUARANTINE_SAMPLE_CHARS = 2048;

export type IngestTransport = 'ws' | 'http' | 'nats';

export interface QuarantineItem {
  /** When it was refused (server wall clock), epoch ms. */
  readonly at: EpochMillis;
  /** The configured site, or UNKNOWN_SITE. */
  readonly site: string;
  readonly transport: IngestTransport;
  readonly reason: RejectReason;
  readonly message: string;
  /** Index of the event in its batch; -1 for the whole frame or request. */
  readonly index: number;
  /** The batch's seq when known. */
  readonly seq: number | null;
  /** The refused input, truncated to QUARANTINE_SAMPLE_CHARS and redacted (see redact.ts; '' when there was none). */
  readonly sample: string;
}

export interface QuarantineOptions {
  /** Items kept per site, count. */
  readonly capacityPerSite: number;
  readonly clock: Clock;
  /** Sites that get a ring (the configured ones); anything else goes to UNKNOWN_SITE. */
  readonly sites: Iterable<string>;
  /** Called once per item overwritten by a newer one. */
  readonly onEvict: (site: string) => void;
  /** Called for each new item (the NATS publisher, the size gauge). */
  readonly onItem?: (item: QuarantineItem) => void;
}

export class Quarantine {
  readonly #capacity: number;
  readonly #clock: Clock;
  readonly #rings = new Map<string, RecentRing<QuarantineItem>>();
  readonly #onEvict: (site: string) => void;
  readonly #listeners: Array<(item: QuarantineItem) => void> = [];

  constructor(opts: QuarantineOptions) {
    this.#capacity = requireBound('Quarantine capacityPerSite', opts.capacityPerSite);
    this.#clock = opts.clock;
    this.#onEvict = opts.onEvict;
    if (opts.onItem !== undefined) this.#listeners.push(opts.onItem);
    // One ring per configured site plus the unknown bucket: a closed set fixed at construction.
    for (const s of opts.sites) this.#rings.set(s, new RecentRing(this.#capacity));
    this.#rings.set(UNKNOWN_SITE, new RecentRing(this.#capacity));
  }

  /** Adds a listener for new items (the NATS publisher, the size gauge); returns its removal. */
  onItem(fn: (item: QuarantineItem) => void): () => void {
    this.#listeners.push(fn);
    return () => {
      const i = this.#listeners.indexOf(fn);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  add(site: string, transport: IngestTransport, reason: RejectReason, message: string, index: number, seq: number | null, sample: string): QuarantineItem {
    const key = this.#rings.has(site) ? site : UNKNOWN_SITE;
    const ring = this.#rings.get(key) as RecentRing<QuarantineItem>;
    const item: QuarantineItem = {
      at: this.#clock.now(),
      site: key,
      transport,
      reason,
      message,
      index,
      seq,
      // Redacted before it is kept or published: secrets, e-mails and card numbers never are.
      sample: redactSample(sample.length > QUARANTINE_SAMPLE_CHARS ? sample.slice(0, QUARANTINE_SAMPLE_CHARS) : sample),
    };
    if (ring.push(item)) this.#onEvict(key);
    for (const fn of this.#listeners) fn(item);
    return item;
  }

  /** The site's items, newest first; undefined for a site that has no ring. */
  list(site: string, limit = this.#capacity): QuarantineItem[] | undefined {
    return this.#rings.get(site)?.list(limit);
  }

  size(site: string): number {
    return this.#rings.get(site)?.size ?? 0;
  }
}
