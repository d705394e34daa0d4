import { requireBound } from '../errors';
import { JsonPart } from '../persistence/json-part';
import { epochMillis, type EpochMillis } from '../types';

/**
 * Windows built from panes (DESIGN.md §4). Event time is cut into epoch-aligned panes of `paneMs`;
 * an event touches exactly one pane. A tumbling window of size W (a multiple of paneMs) or a hopping
 * window (size W, slide S, both multiples of paneMs) is the merge of its panes, computed when asked.
 *
 * Lateness: a pane whose end is at or before the watermark has fired. An event for it is still
 * applied while `watermark − paneEnd < allowedLatenessMs` (a revision); later than that, or older
 * than the retained panes, it is `late` and the caller sends it to the late side output.
 *
 * Retention follows event time: `expire(watermark)` (the watermark of the partition the store
 * belongs to, on every advance) drops the panes that ended `retainMs` (default: the allowed lateness)
 * or more before it. Lateness is judged against the same partition watermark, so an expired pane is
 * one no on-time event can reach, and which panes exist depends on the partition's own records only.
 * `maxPanes` is a hard cap on top: past it the oldest pane is evicted, counted via onEvict. A site's
 * windows merge the stores of all its partitions (`windowsAcross`).
 */
export interface PaneOps<P> {
  /** A new, empty pane. */
  create(): P;
  /** Fold `from` into `into` (used to build windows from panes and to merge partials). */
  mergeInto(into: P, from: P): void;
  /** A pane's snapshot form (`snapshotParts`). */
  toJSON?(pane: P): unknown;
  /** A pane from its snapshot form (`mergeJSON`; a text restored is built when first used). */
  fromJSON?(json: unknown): P;
}

export type PaneLocation<P> =
  | { readonly kind: 'ok'; readonly pane: P }
  | { readonly kind: 'revision'; readonly pane: P }
  | { readonly kind: 'late' };

export interface WindowView<P> {
  readonly start: EpochMillis;
  readonly end: EpochMillis;
  /** True once the watermark has passed the window end. */
  readonly closed: boolean;
  readonly value: P;
}

export interface PaneStoreOptions<P> {
  /** Pane length in ms; windows are multiples of it. */
  readonly paneMs: number;
  /** Most panes held at once (hard cap); the oldest is evicted beyond it. */
  readonly maxPanes: number;
  /** How long after a pane fired late events still update it, in ms. */
  readonly allowedLatenessMs: number;
  /** How long after its end a pane is kept behind the site watermark, ms (default: allowedLatenessMs). */
  readonly retainMs?: number;
  readonly ops: PaneOps<P>;
  /** Called with the number of panes evicted by retention. */
  readonly onEvict?: (n: number) => void;
}

export class PaneStore<P> {
  readonly paneMs: number;
  readonly maxPanes: number;
  readonly allowedLatenessMs: number;
  readonly retainMs: number;
  readonly #ops: PaneOps<P>;
  readonly #onEvict: ((n: number) => void) | undefined;
  /** Pane index (start / paneMs) → pane, or its snapshot text until first used (a restore). */
  readonly #panes = new Map<number, P | JsonPart>();
  #newest = Number.NEGATIVE_INFINITY;
  #oldest = Number.POSITIVE_INFINITY;
  /** Pane indices below this are gone (expired or evicted) and are never re-created. */
  #floor = Number.NEGATIVE_INFINITY;

  constructor(opts: PaneStoreOptions<P>) {
    this.paneMs = requireBound('PaneStore paneMs', opts.paneMs);
    this.maxPanes = requireBound('PaneStore maxPanes', opts.maxPanes);
    if (!(opts.allowedLatenessMs >= 0)) throw new RangeError('allowedLatenessMs must be >= 0');
    this.allowedLatenessMs = opts.allowedLatenessMs;
    this.retainMs = opts.retainMs ?? opts.allowedLatenessMs;
    if (!(this.retainMs >= this.allowedLatenessMs)) throw new RangeError('retainMs must be >= allowedLatenessMs');
    this.#ops = opts.ops;
    this.#onEvict = opts.onEvict;
  }

  /** The pane an event at `ts` belongs to, given the watermark; creates it if needed. */
  locate(ts: number, watermark: number): PaneLocation<P> {
    const idx = Math.floor(ts / this.paneMs);
    const paneEnd = (idx + 1) * this.paneMs;
    let kind: 'ok' | 'revision' = 'ok';
    if (paneEnd <= watermark) {
      // TRICKY: lateness is measured from the pane end, so an event exactly at a window end belongs to
      // the next window ([start, end)) and is on time while the watermark has not passed that one.
      if (watermark - paneEnd >= this.allowedLatenessMs) return { kind: 'late' };
      kind = 'revision';
    }
    const pane = this.#get(idx) ?? this.#create(idx);
    if (pane === undefined) return { kind: 'late' }; // older than retention
    return kind === 'ok' ? { kind: 'ok', pane } : { kind: 'revision', pane };
  }

  /**
   * The pane at `ts`, created if needed, with no lateness check: for results that are final only
   * after the watermark passed (session durations once a session can no longer re-open). Undefined
   * when older than the retained panes.
   */
  paneAt(ts: number): P | undefined {
    const idx = Math.floor(ts / this.paneMs);
    return this.#get(idx) ?? this.#create(idx);
  }

  /** Drops the panes that ended `retainMs` or more before the (site) watermark; they are never re-created. */
  expire(watermark: number): void {
    const floor = Math.floor((watermark - this.retainMs) / this.paneMs); // panes with index < floor end at or before wm − retain
    if (!(floor > this.#floor)) return;
    this.#floor = floor;
    if (this.#panes.size === 0 || this.#oldest >= floor) return;
    if (floor > this.#newest) {
      this.#clearPanes();
      return;
    }
    if (floor - this.#oldest <= this.#panes.size * 4) {
      for (let i = this.#oldest; i < floor; i++) this.#panes.delete(i);
    } else {
      for (const i of [...this.#panes.keys()]) if (i < floor) this.#panes.delete(i);
    }
    this.#oldest = this.#scanOldest(floor);
  }

  /** The existing pane at `ts`, if retained (no creation, no lateness check). */
  peek(ts: number): P | undefined {
    return this.#get(Math.floor(ts / this.paneMs));
  }

  /**
   * Windows of `sizeMs` (tumbling, or hopping with `slideMs`), newest first, starting at the window
   * containing `newestTs` (or the newest pane), at most `limit`, each the merge of its retained panes.
   * Windows with no retained pane at all are skipped.
   */
  windows(sizeMs: number, watermark: number, limit: number, opts: { slideMs?: number; before?: number } = {}): WindowView<P>[] {
    return PaneStore.windowsAcross([this], sizeMs, watermark, limit, opts);
  }

  /**
   * `windows` over several stores of the same pane layout (one per partition): each window is the
   * merge of every store's panes in it, store by store (so the result does not depend on which store
   * holds more), oldest pane first within each.
   */
  static windowsAcross<P>(stores: readonly PaneStore<P>[], sizeMs: number, watermark: number, limit: number, opts: { slideMs?: number; before?: number } = {}): WindowView<P>[] {
    const out: WindowView<P>[] = [];
    const first = stores[0];
    if (first === undefined) return out;
    const slide = opts.slideMs ?? sizeMs;
    if (sizeMs % first.paneMs !== 0 || slide % first.paneMs !== 0 || sizeMs <= 0 || slide <= 0) {
      throw new RangeError(`window ${sizeMs} ms / slide ${slide} ms must be positive multiples of the pane (${first.paneMs} ms)`);
    }
    let newest = Number.NEGATIVE_INFINITY;
    let oldest = Number.POSITIVE_INFINITY;
    for (const st of stores) {
      if (st.#panes.size === 0) continue;
      if (st.#newest > newest) newest = st.#newest;
      if (st.#oldest < oldest) oldest = st.#oldest;
    }
    if (newest === Number.NEGATIVE_INFINITY) return out;
    const newestEnd = (newest + 1) * first.paneMs;
    let start = Math.floor((newestEnd - 1) / slide) * slide;
    // Cursor: `before` is the start of the last window already returned.
    if (opts.before !== undefined) start = Math.min(start, Math.floor(opts.before / slide) * slide - slide);
    const oldestStart = oldest * first.paneMs;
    while (out.length < limit && start + sizeMs > oldestStart) {
      const end = start + sizeMs;
      const value = PaneStore.rangeAcross(stores, start, end);
      if (value !== undefined) out.push({ start: epochMillis(start), end: epochMillis(end), closed: end <= watermark, value });
      start -= slide;
    }
    return out;
  }

  /** The merge of every store's retained panes in [start, end), or undefined when none holds one. */
  static rangeAcross<P>(stores: readonly PaneStore<P>[], start: number, end: number): P | undefined {
    if (stores.length === 1) return stores[0]!.#mergeRange(start, end);
    let acc: P | undefined;
    for (const st of stores) acc = st.#mergeRange(start, end, acc);
    return acc;
  }

  /** The merge of the retained panes in [start, end), or undefined when none is retained. */
  range(start: number, end: number): P | undefined {
    return this.#mergeRange(start, end);
  }

  /** All retained panes, oldest first, with their start. */
  entries(): Array<[EpochMillis, P]> {
    return [...this.#panes.keys()].sort((a, b) => a - b).map((i) => [epochMillis(i * this.paneMs), this.#get(i)!]);
  }

  /**
   * For snapshots: every retained pane, oldest first, as a part of its own (`ops.toJSON`) — a pane not
   * used since its restore stays the text it was restored from.
   */
  snapshotParts(): Array<[number, JsonPart]> {
    return [...this.#panes.entries()].sort((a, b) => a[0] - b[0]).map(([i, p]) => [i * this.paneMs, p instanceof JsonPart ? p : JsonPart.of(this.#ops.toJSON!(p))]);
  }

  /** Put a pane back (restore) or merge it into the existing one (partials from other partitions). */
  mergePane(start: number, pane: P): void {
    const idx = Math.floor(start / this.paneMs);
    const existing = this.#get(idx);
    if (existing !== undefined) {
      this.#ops.mergeInto(existing, pane);
      return;
    }
    this.#create(idx, pane);
  }

  /**
   * `mergePane` of a pane's snapshot form (`ops.fromJSON`). A text (`JsonPart`, a restore) where no pane
   * is at `start` is kept as it is and built only when the pane is first used (an event, a query).
   */
  mergeJSON(start: number, json: unknown): void {
    const idx = Math.floor(start / this.paneMs);
    if (json instanceof JsonPart && !this.#panes.has(idx)) this.#create(idx, json);
    else this.mergePane(start, this.#ops.fromJSON!(json instanceof JsonPart ? json.value() : json));
  }

  /** Panes still kept as the texts they were restored from. */
  get unbuiltPanes(): number {
    let n = 0;
    for (const p of this.#panes.values()) if (p instanceof JsonPart) n++;
    return n;
  }

  get size(): number {
    return this.#panes.size;
  }

  /** Forgets the pane at `start` (keeping the retention floor): it is built again from partials. */
  drop(start: number): void {
    const idx = Math.floor(start / this.paneMs);
    if (!this.#panes.delete(idx)) return;
    if (this.#panes.size === 0) {
      this.#clearPanes();
      return;
    }
    if (idx === this.#oldest) this.#oldest = this.#scanOldest(idx + 1);
    if (idx === this.#newest) this.#newest = Math.max(...this.#panes.keys());
  }

  /** Forgets every pane and the retention floor (restore). */
  clear(): void {
    this.#clearPanes();
    this.#floor = Number.NEGATIVE_INFINITY;
  }

  /** Forgets every pane, keeping the retention floor. */
  #clearPanes(): void {
    this.#panes.clear();
    this.#newest = Number.NEGATIVE_INFINITY;
    this.#oldest = Number.POSITIVE_INFINITY;
  }

  /** Merges the retained panes in [start, end) into `acc` (a new pane when undefined and one is found). */
  #mergeRange(start: number, end: number, acc?: P): P | undefined {
    const first = Math.max(Math.floor(start / this.paneMs), this.#oldest);
    const last = Math.min(Math.floor((end - 1) / this.paneMs), this.#newest);
    for (let i = first; i <= last; i++) {
      const p = this.#get(i);
      if (p === undefined) continue;
      if (acc === undefined) acc = this.#ops.create();
      this.#ops.mergeInto(acc, p);
    }
    return acc;
  }

  /** The pane at `idx`, built from its text first if it is still one. */
  #get(idx: number): P | undefined {
    const p = this.#panes.get(idx);
    if (!(p instanceof JsonPart)) return p;
    const built = this.#ops.fromJSON!(p.value());
    this.#panes.set(idx, built);
    return built;
  }

  /** Creates (or puts back) the pane at `idx`; undefined when it lies below the retention floor. */
  #create<T extends P | JsonPart>(idx: number, pane: T = this.#ops.create() as T): T | undefined {
    if (idx < this.#floor) return undefined;
    this.#panes.set(idx, pane);
    if (idx > this.#newest) this.#newest = idx;
    if (idx < this.#oldest) this.#oldest = idx;
    if (this.#panes.size > this.maxPanes) {
      // Hard cap: evict the oldest pane; nothing older is created again.
      this.#panes.delete(this.#oldest);
      this.#floor = this.#oldest + 1;
      this.#oldest = this.#scanOldest(this.#floor);
      this.#onEvict?.(1);
      if (idx < this.#floor) return undefined;
    }
    return pane;
  }

  /** The lowest retained index at or above `from` (+Infinity when none). */
  #scanOldest(from: number): number {
    if (this.#panes.size === 0) return Number.POSITIVE_INFINITY;
    // TRICKY: walk up from the floor while that is shorter than a pass over the keys (sparse panes).
    if (this.#newest - from < this.#panes.size * 4) {
      for (let i = from; i <= this.#newest; i++) if (this.#panes.has(i)) return i;
    }
    let oldest = Number.POSITIVE_INFINITY;
    for (const i of this.#panes.keys()) if (i < oldest) oldest = i;
    return oldest;
  }
}
