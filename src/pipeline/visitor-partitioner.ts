import { requireBound } from '../errors';

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * Maps a visitor id to its partition: FNV-1a (32-bit) over the UTF-16 code units, modulo the
 * partition count. Stable across processes and releases (it decides which instance owns a visitor's
 * state in scale-out, DESIGN.md §1), and allocation-free in the hot path.
 */
export class VisitorPartitioner {
  /** Number of partitions (positive integer). */
  readonly partitions: number;

  constructor(partitions: number) {
    this.partitions = requireBound('VisitorPartitioner partitions', partitions);
  }

  /** The partition of a visitor, in [0, partitions). */
  partitionOf(visitorId: string): number {
    return fnv1a32(visitorId) % this.partitions;
  }
}

/** FNV-1a 32-bit hash of a string's UTF-16 code units, as an unsigned integer. */
export function fnv1a32(s: string): number {
  let h = FNV_OFFSET_BASIS;
  for (let i = 0; i < s.length; i++) {
    // TRICKY: hash each code unit byte-wise (low then high) so ASCII ids hash exactly as the
    // reference FNV-1a over their bytes does; Math.imul keeps the multiply in 32 bits.
    const c = s.charCodeAt(i);
    h ^= c & 0xff;
    h = Math.imul(h, FNV_PRIME);
    if (c > 0xff) {
      h ^= c >>> 8;
      h = Math.imul(h, FNV_PRIME);
    }
  }
  return h >>> 0;
}

/** A partition's share of a site-wide bound (at least 1): `bound` spread evenly over `partitions`. */
export function partitionShare(bound: number, partitions: number): number {
  return Math.max(1, Math.ceil(bound / partitions));
}
