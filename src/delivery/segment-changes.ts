import { Counter, type Registry } from 'prom-client';
import type { SegmentChange } from '../../processors/usage/segments';
import { RecentRing } from '../ingest/recent-ring';

export interface SegmentChangesOptions {
  readonly sites: Iterable<string>;
  /** Changes kept per site for GET /v1/segments/changes (newest first), count. */
  readonly capacity: number;
  readonly registry: Registry;
  /** Publishes a change (the app: NATS `cm.segments.<site>` when connected); returns nothing, never throws. */
  readonly publish: (subject: string, data: Uint8Array) => void;
  /** True while the event log is read back after a restore: changes are re-derived, not published again. */
  readonly replaying: () => boolean;
  /** Sends a change to the site's segment webhooks (signed, retried by the webhook sender); `id` is its idempotency key. */
  readonly webhook?: (site: string, id: string, body: string) => void;
}

/**
 * Segment entries and exits as processing derives them: counted
 * (`clickstream_segment_changes_total{site,kind}`), kept per site for the admin API, and published on
 * `cm.segments.<site>` as JSON and to the site's segment webhooks — except while the log is read back
 * after a restore, when they are re-derivations of changes already published.
 */
export class SegmentChanges {
  readonly #o: SegmentChangesOptions;
  readonly #rings = new Map<string, RecentRing<SegmentChange>>();
  readonly #counter: Counter<'site' | 'kind'>;

  constructor(opts: SegmentChangesOptions) {
    this.#o = opts;
    this.#counter = new Counter({ name: 'clickstream_segment_changes_total', help: 'Visitors entering and leaving named segments, by site and kind (entered, exited).', labelNames: ['site', 'kind'] as const, registers: [opts.registry] });
    for (const s of opts.sites) {
      this.#rings.set(s, new RecentRing(opts.capacity));
      for (const kind of ['entered', 'exited']) this.#counter.labels(s, kind).inc(0);
    }
  }

  onChange(c: SegmentChange): void {
    this.#counter.labels(c.site, c.kind).inc();
    this.#rings.get(c.site)?.push(c);
    if (this.#o.replaying()) return;
    const body = JSON.stringify({ ...c, ts: new Date(c.ts).toISOString() });
    this.#o.publish(`cm.segments.${c.site}`, new TextEncoder().encode(body));
    // The same change always has the same id: a receiver drops a redelivery.
    this.#o.webhook?.(c.site, `${c.segment}.${c.kind}.${c.visitorId}.${c.ts}`, body);
  }

  /** The site's latest changes, newest first, optionally of one segment. */
  list(site: string, opts: { readonly segment?: string; readonly limit: number }): SegmentChange[] {
    const all = this.#rings.get(site)?.list() ?? [];
    return (opts.segment === undefined ? all : all.filter((c) => c.segment === opts.segment)).slice(0, opts.limit);
  }
}
