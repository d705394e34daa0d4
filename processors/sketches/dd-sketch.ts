import { requireBound } from '../../src/errors';

/**
 * DDSketch quantile sketch (Masson, Rim, Lee, VLDB 2019): logarithmic bins with relative accuracy α,
 * fully mergeable. Any quantile of values within the uncollapsed bins is returned with a relative error
 * ≤ α. Memory is bounded by `maxBins` per sign: beyond it the lowest bins collapse into one (the
 * paper's collapsing-lowest store), which only affects the smallest values — for durations and
 * pages-per-session the low end is the least interesting.
 *
 * Why hand-written instead of `@datadog/sketches-js`: its serialisation goes through protobuf while
 * processors snapshot to JSON, and the measured add rate was comparable (bench/sketches.bench.ts).
 * Bins are a dense Float64Array window over bin indices, growing by doubling up to `maxBins`.
 */
export interface DDSketchJSON {
  readonly alpha: number;
  readonly maxBins: number;
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  readonly zero: number;
  /** Positive values: [firstIndex, counts…]. */
  readonly pos: readonly [number, number[]];
  /** Negative values (by magnitude): [firstIndex, counts…]. */
  readonly neg: readonly [number, number[]];
}

/** Smallest magnitude tracked in bins; anything closer to 0 counts as zero. */
const MIN_INDEXABLE = 1e-9;

class DenseStore {
  counts = new Float64Array(0);
  /** Bin index of counts[0]. */
  offset = 0;
  total = 0;
  collapsed = 0;
  constructor(readonly maxBins: number) {}

  add(index: number, weight: number): void {
    this.total += weight;
    if (this.counts.length === 0) {
      this.counts = new Float64Array(Math.min(64, this.maxBins));
      this.offset = index - (this.counts.length >> 1);
    }
    let i = index - this.offset;
    if (i < 0 || i >= this.counts.length) i = this.#extend(index);
    this.counts[i]! += weight;
  }

  /** Makes room for `index`, collapsing the lowest bins when the range would exceed maxBins. */
  #extend(index: number): number {
    const lo = Math.min(index, this.offset);
    const hi = Math.max(index, this.offset + this.counts.length - 1);
    const span = hi - lo + 1;
    if (span <= this.maxBins) {
      const len = Math.min(this.maxBins, Math.max(span, this.counts.length * 2));
      // Headroom goes on the side we grew towards.
      const newOffset = index < this.offset ? hi - len + 1 : lo;
      const next = new Float64Array(len);
      next.set(this.counts, this.offset - newOffset);
      this.counts = next;
      this.offset = newOffset;
      return index - newOffset;
    }
    // Range wider than maxBins: keep the top maxBins indices, fold everything below into the lowest.
    const newOffset = hi - this.maxBins + 1;
    const next = new Float64Array(this.maxBins);
    for (let j = 0; j < this.counts.length; j++) {
      const c = this.counts[j]!;
      if (c === 0) continue;
      const t = this.offset + j - newOffset;
      if (t < 0) {
        next[0]! += c;
        this.collapsed += c;
      } else next[t]! += c;
    }
    this.counts = next;
    this.offset = newOffset;
    const t = index - newOffset;
    if (t < 0) {
      this.collapsed += 1;
      return 0;
    }
    return t;
  }

  /** Takes back weight added at `index` (a value below the kept range was folded into the lowest bin); returns the weight taken. */
  remove(index: number, weight: number): number {
    if (this.counts.length === 0) return 0;
    const i = Math.max(0, index - this.offset);
    if (i >= this.counts.length) return 0;
    const w = Math.min(weight, this.counts[i]!);
    this.counts[i]! -= w;
    this.total -= w;
    return w;
  }

  /** Lowest (or highest) bin index holding weight; NaN when empty. */
  edge(top: boolean): number {
    const n = this.counts.length;
    if (top) {
      for (let j = n - 1; j >= 0; j--) if (this.counts[j]! > 0) return this.offset + j;
    } else {
      for (let j = 0; j < n; j++) if (this.counts[j]! > 0) return this.offset + j;
    }
    return Number.NaN;
  }

  /** Bin index holding the rank-th (0-based, weighted) value, scanning from the lowest. */
  keyAtRank(rank: number, fromTop: boolean): number {
    let acc = 0;
    const n = this.counts.length;
    if (!fromTop) {
      for (let j = 0; j < n; j++) {
        acc += this.counts[j]!;
        if (acc > rank) return this.offset + j;
      }
      return this.offset + n - 1;
    }
    for (let j = n - 1; j >= 0; j--) {
      acc += this.counts[j]!;
      if (acc > rank) return this.offset + j;
    }
    return this.offset;
  }

  mergeFrom(o: DenseStore): void {
    for (let j = 0; j < o.counts.length; j++) {
      const c = o.counts[j]!;
      if (c > 0) this.add(o.offset + j, c);
    }
    this.collapsed += o.collapsed;
  }

  toJSON(): readonly [number, number[]] {
    let first = 0;
    let last = this.counts.length - 1;
    while (first <= last && this.counts[first] === 0) first++;
    while (last >= first && this.counts[last] === 0) last--;
    return [this.offset + first, Array.from(this.counts.subarray(first, last + 1))];
  }

  load([first, counts]: readonly [number, readonly number[]]): void {
    for (let j = 0; j < counts.length; j++) {
      const c = counts[j]!;
      if (c > 0) this.add(first + j, c);
    }
  }
}

export class DDSketch {
  /** Relative accuracy α of every quantile (within uncollapsed bins). */
  readonly relativeAccuracy: number;
  readonly maxBins: number;
  readonly #gamma: number;
  readonly #logGamma: number;
  readonly #pos: DenseStore;
  readonly #neg: DenseStore;
  #zero = 0;
  #count = 0;
  #sum = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = Number.NEGATIVE_INFINITY;

  constructor(relativeAccuracy = 0.01, maxBins = 2048) {
    if (!(relativeAccuracy > 0 && relativeAccuracy < 1)) throw new RangeError(`relativeAccuracy must be in (0, 1), got ${relativeAccuracy}`);
    this.relativeAccuracy = relativeAccuracy;
    this.maxBins = requireBound('DDSketch maxBins', maxBins);
    this.#gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy);
    this.#logGamma = Math.log(this.#gamma);
    this.#pos = new DenseStore(maxBins);
    this.#neg = new DenseStore(maxBins);
  }

  /** Total weight added. */
  get count(): number {
    return this.#count;
  }
  /** Weighted sum of the values. */
  get sum(): number {
    return this.#sum;
  }
  /** Smallest value added (NaN when empty). */
  get min(): number {
    return this.#count === 0 ? Number.NaN : this.#min;
  }
  /** Largest value added (NaN when empty). */
  get max(): number {
    return this.#count === 0 ? Number.NaN : this.#max;
  }
  /** Weight folded into the lowest bin because the range exceeded maxBins (accuracy lost there). */
  get collapsed(): number {
    return this.#pos.collapsed + this.#neg.collapsed;
  }

  add(v: number, weight = 1): void {
    if (!Number.isFinite(v) || !(weight > 0)) return;
    if (v > MIN_INDEXABLE) this.#pos.add(this.#index(v), weight);
    else if (v < -MIN_INDEXABLE) this.#neg.add(this.#index(-v), weight);
    else this.#zero += weight;
    this.#count += weight;
    this.#sum += v * weight;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  /**
   * Takes back a value added before (a session that re-opened retracts its duration). Count, sum and
   * bins are exact; when the value was the minimum or maximum, that bound becomes the representative
   * value of the new lowest or highest bin (within α), since the sketch keeps no individual values.
   */
  remove(v: number, weight = 1): void {
    if (!Number.isFinite(v) || !(weight > 0)) return;
    let w: number;
    if (v > MIN_INDEXABLE) w = this.#pos.remove(this.#index(v), weight);
    else if (v < -MIN_INDEXABLE) w = this.#neg.remove(this.#index(-v), weight);
    else {
      w = Math.min(weight, this.#zero);
      this.#zero -= w;
    }
    if (w === 0) return;
    this.#count -= w;
    this.#sum -= v * w;
    if (this.#count <= 0) {
      this.#count = 0;
      this.#sum = 0;
      this.#min = Number.POSITIVE_INFINITY;
      this.#max = Number.NEGATIVE_INFINITY;
      return;
    }
    if (v >= this.#max) this.#max = this.#bound(true);
    if (v <= this.#min) this.#min = this.#bound(false);
  }

  /** The representative value of the highest (or lowest) non-empty bin, over both signs and zero. */
  #bound(top: boolean): number {
    const pos = this.#pos.edge(top);
    const neg = this.#neg.edge(!top);
    if (top) {
      if (!Number.isNaN(pos)) return this.#value(pos);
      if (this.#zero > 0) return 0;
      return -this.#value(neg);
    }
    if (!Number.isNaN(neg)) return -this.#value(neg);
    if (this.#zero > 0) return 0;
    return this.#value(pos);
  }

  /** The q-quantile (0 ≤ q ≤ 1), NaN when empty. Clamped to [min, max]. */
  quantile(q: number): number {
    const v = this.binQuantile(q);
    return Number.isNaN(v) ? v : Math.min(this.#max, Math.max(this.#min, v));
  }

  /**
   * The q-quantile as the representative value of its bin (relative error ≤ α), not clamped to the
   * exact min and max: a function of the bin counts alone, so a sketch that was added to and retracted
   * from in any order answers the same as one built from the final values.
   */
  binQuantile(q: number): number {
    if (this.#count === 0 || !(q >= 0 && q <= 1)) return Number.NaN;
    const rank = q * (this.#count - 1);
    let v: number;
    const negTotal = this.#neg.total;
    if (rank < negTotal) v = -this.#value(this.#neg.keyAtRank(rank, true));
    else if (rank < negTotal + this.#zero) v = 0;
    else v = this.#value(this.#pos.keyAtRank(rank - negTotal - this.#zero, false));
    return v;
  }

  /** The largest value as the representative of the highest non-empty bin (within α), NaN when empty. Order-independent like binQuantile. */
  binMax(): number {
    return this.#count === 0 ? Number.NaN : this.#bound(true);
  }

  merge(o: DDSketch): void {
    if (o.#gamma !== this.#gamma) throw new RangeError('cannot merge DDSketches of different relative accuracy');
    if (o.#count === 0) return;
    this.#pos.mergeFrom(o.#pos);
    this.#neg.mergeFrom(o.#neg);
    this.#zero += o.#zero;
    this.#count += o.#count;
    this.#sum += o.#sum;
    if (o.#min < this.#min) this.#min = o.#min;
    if (o.#max > this.#max) this.#max = o.#max;
  }

  toJSON(): DDSketchJSON {
    return {
      alpha: this.relativeAccuracy,
      maxBins: this.maxBins,
      count: this.#count,
      sum: this.#sum,
      min: this.#min,
      max: this.#max,
      zero: this.#zero,
      pos: this.#pos.toJSON(),
      neg: this.#neg.toJSON(),
    };
  }

  static fromJSON(j: DDSketchJSON): DDSketch {
    const s = new DDSketch(j.alpha, j.maxBins);
    s.#pos.load(j.pos);
    s.#neg.load(j.neg);
    s.#zero = j.zero;
    s.#count = j.count;
    s.#sum = j.sum;
    s.#min = j.count === 0 ? Number.POSITIVE_INFINITY : j.min;
    s.#max = j.count === 0 ? Number.NEGATIVE_INFINITY : j.max;
    return s;
  }

  #index(v: number): number {
    return Math.ceil(Math.log(v) / this.#logGamma);
  }

  /** Representative value of bin i: 2γ^i / (γ + 1), within α of every value in (γ^(i−1), γ^i]. */
  #value(i: number): number {
    return (2 * Math.pow(this.#gamma, i)) / (this.#gamma + 1);
  }
}
