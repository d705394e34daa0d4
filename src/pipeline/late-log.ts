/**
 * The late side output (DESIGN.md §4): events acknowledged but too old to count, kept per site in a
 * bounded ring (newest first, evictions counted) for `GET /v1/late?site=`. An event lands here at most
 * once, with the reason it was left out; only identifiers and times are kept, never payload values.
 */
import { requireBound } from '../errors';
import { RecentRing } from '../ingest/recent-ring';
import type { EpochMillis, EventType } from '../types';

/** Why an acknowledged event was left out of the statistics. Closed set: a valid metric label. */
export const LATE_REASONS = {
  older_than_retention: 'Older than its partition watermark minus the allowed lateness: every pane it could revise is gone.',
  pane_evicted: 'A processor had already evicted the pane it belongs to (retention capacity reached).',
  late_in_log: 'Found late when read from the event log: the gateway that wrote it had not yet seen records the log holds before it (another gateway, or a restart).',
} as const;
export type LateReason = keyof typeof LATE_REASONS;

export interface LateEntry {
  readonly id: string;
  readonly type: EventType;
  /** Normalised page key. */
  readonly page: string;
  /** Corrected event time, epoch ms. */
  readonly ts: EpochMillis;
  /** Server receive time, epoch ms. */
  readonly receivedAt: EpochMillis;
  readonly partition: number;
  /** The partition watermark it was judged against, epoch ms. */
  readonly watermark: EpochMillis;
  readonly reason: LateReason;
  /** The processor that found it late (`pane_evicted`), else null (judged once for all processors). */
  readonly processor: string | null;
}

export interface LateLogOptions {
  /** Entries kept per site, count. */
  readonly capacityPerSite: number;
  /** The configured sites (a closed set). */
  readonly sites: Iterable<string>;
  /** Called once per entry overwritten by a newer one. */
  readonly onEvict: (site: string) => void;
}

export class LateLog {
  readonly #rings = new Map<string, RecentRing<LateEntry>>();
  readonly #onEvict: (site: string) => void;

  constructor(opts: LateLogOptions) {
    const capacity = requireBound('LateLog capacityPerSite', opts.capacityPerSite);
    for (const s of opts.sites) this.#rings.set(s, new RecentRing(capacity));
    this.#onEvict = opts.onEvict;
  }

  add(site: string, entry: LateEntry): void {
    const ring = this.#rings.get(site);
    if (ring !== undefined && ring.push(entry)) this.#onEvict(site);
  }

  /** The site's entries, newest first; undefined for an unknown site. */
  list(site: string, limit?: number): LateEntry[] | undefined {
    return this.#rings.get(site)?.list(limit);
  }

  size(site: string): number {
    return this.#rings.get(site)?.size ?? 0;
  }
}
