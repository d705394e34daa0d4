import type { EnrichedEvent, SessionSignal } from '../src/events/enriched-event';
import type { EpochMillis, SiteId } from '../src/types';

/**
 * The one interface every windowed processor implements (DESIGN.md §5). One instance serves one
 * partition of one site; a site's `SiteView` answers for all its partitions. Processors never read the
 * wall clock: they see event time (`e.ts`) and watermarks.
 *
 * - `onEvent` is called in arrival order of the partition, after the sessionizer has set `e.session`.
 * - `onSession` gets session lifecycle signals (start, merge on bridge, close, re-open).
 * - `onWatermark` fires windows whose end is at or before the partition watermark; `retention` is the
 *   watermark below which the partition can no longer accept an event: panes older than it by the
 *   retention may be dropped.
 * - `snapshot`/`restore` round-trip the whole state as JSON-serialisable data.
 * - `merge` folds in a partial (a snapshot of the same processor from another partition/instance);
 *   every aggregate is mergeable (counts, sketches).
 */
export interface Processor<TSnapshot = unknown> {
  readonly name: string;
  onEvent(e: EnrichedEvent, watermark: EpochMillis): EventOutcome;
  onSession(signal: SessionSignal, watermark: EpochMillis): void;
  onWatermark(watermark: EpochMillis, retention: EpochMillis): void;
  snapshot(): TSnapshot;
  restore(snapshot: TSnapshot): void;
  merge(partial: TSnapshot): void;
  /** The partition is given up: undo what it added to state shared with other partitions (the offer ledger). */
  dispose?(): void;
}

/** What a processor did with an event, against its own allowed lateness. */
export type EventOutcome =
  | { readonly kind: 'ok' }
  /** The event's window had fired but is within the allowed lateness: it was updated (a revision). */
  | { readonly kind: 'revision' }
  /** Beyond the allowed lateness: not counted here, sent to the late side output. */
  | { readonly kind: 'late' };

export const OK: EventOutcome = Object.freeze({ kind: 'ok' });
export const REVISION: EventOutcome = Object.freeze({ kind: 'revision' });
export const LATE: EventOutcome = Object.freeze({ kind: 'late' });

export interface ProcessorContext {
  readonly site: SiteId;
  /** Counts evictions from bounded state, by processor and structure (closed label sets). */
  readonly onEvict: (processor: string, structure: string, n: number) => void;
}

/**
 * The processors of every partition of a site that this process holds, for a site's views. Live:
 * a view asks each time it answers.
 */
export interface PartitionSets {
  /** Processor `name` of every partition held, in partition order. */
  of<T extends Processor>(name: string): readonly T[];
  /** Processor `name` of the visitor's partition, when held. */
  forVisitor<T extends Processor>(name: string, visitorId: string): T | undefined;
}

/**
 * The site-wide side of a processor kept per partition (`Pipeline.processor(site, name)`): answers
 * queries over the merged partitions and may hold state of the whole site (mined rules, offer budgets),
 * snapshotted beside the partitions. `onWatermark` gets the site watermark (the lowest partition's).
 */
export interface SiteView {
  readonly name: string;
  onWatermark?(watermark: EpochMillis): void;
  /** A partition was taken on (its processors exist, empty until restored). */
  partitionAdded?(partition: number): void;
  /** A partition was given up (its processors are gone). */
  partitionRemoved?(partition: number): void;
  snapshot?(): unknown;
  restore?(snapshot: unknown): void;
}

/** The lowest finite watermark (a site's, over partitions that have one); −Infinity when none has. */
export function lowestWatermark(watermarks: readonly number[]): number {
  let min = Number.POSITIVE_INFINITY;
  for (const w of watermarks) if (Number.isFinite(w) && w < min) min = w;
  return min === Number.POSITIVE_INFINITY ? Number.NEGATIVE_INFINITY : min;
}
