/**
 * Partition ownership for scale-out (issue "Scale-out", DESIGN.md §1), on Debian's nats-server 2.9:
 * no priority groups and no per-key TTL, so ownership is a KV bucket whose entries expire with the
 * bucket's `max_age` (the lease TTL).
 *
 * - Every instance heartbeats `member.<id>` each third of the TTL; live members are the keys present.
 * - Each partition belongs to the live member with the highest rendezvous score (a hash of
 *   `member:partition`), so a join or a leave moves only the partitions it must.
 * - An instance claims a partition with KV `create` on `lease.<p>` (refused while another holds it)
 *   and renews it with compare-and-set `update` on the revision it holds. The revision is the lease's
 *   epoch: it fences, since a stale owner's next compare-and-set fails once anyone else wrote the key.
 * - A partition is given up at once when its renewal fails, or when its last successful renewal was
 *   sent longer ago than the TTL minus a margin (the lease may have expired meanwhile: an instance paused past its
 *   TTL stops before it writes anything more). Handover is cooperative when it can be: the owner runs
 *   `release` (final snapshot, commit), then deletes the key; otherwise the key expires with the TTL.
 *
 * At most one owner per partition at any time, provided clocks tick at the same rate (not in sync):
 * a lease is written at most TTL − margin before its holder stops trusting it, and the server only
 * lets another `create` succeed once it has expired or been deleted.
 */
import type { KV } from '@nats-io/kv';
import { Kvm } from '@nats-io/kv';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '../logger';
import { murmur3String } from '../../processors/sketches/hyper-log-log';
import { whenPlaced } from './when-placed';

export const OWNERS_BUCKET = 'CM_OWNERS';
/** Share of the TTL a lease is trusted after its last write (renewals come every third). */
const TRUST = 0.75;

/** The members-and-leases bucket, created when missing (its entries expire with the bucket's TTL). */
export function openOwnersBucket(js: JetStreamClient, ttlMs: number, replicas: number): Promise<KV> {
  return whenPlaced(() => new Kvm(js).create(OWNERS_BUCKET, { ttl: ttlMs, history: 16, replicas, storage: 'file' as never, description: 'clickstream-miner partition leases and members' }));
}

export interface LeaseHooks {
  /** The partition is this instance's from now on, at `epoch` (restore it, start reading its log). */
  acquired(partition: number, epoch: number): void | Promise<void>;
  /** Cooperative handover: stop the partition and commit its final snapshot; the lease is deleted after. */
  release(partition: number): void | Promise<void>;
  /** The lease is lost (renewal refused or too old): stop the partition at once, write nothing more for it. */
  lost(partition: number, reason: string): void;
}

export interface PartitionLeasesOptions {
  readonly instanceId: string;
  readonly partitions: number;
  /** Lease and heartbeat TTL, ms (the bucket's max_age). */
  readonly ttlMs: number;
  readonly replicas: number;
  readonly hooks: LeaseHooks;
  readonly logger: Logger;
  /** Wall clock, ms (tests pass their own). */
  readonly now?: () => number;
  /** What this instance tells the others with each heartbeat (JSON; e.g. its sites' tick times). */
  readonly memberInfo?: () => Record<string, unknown>;
  /** False: a gateway — it heartbeats (`gateway.<id>`) and is a member for the lists, but owns no partition. */
  readonly owns?: boolean;
  /** Another live member's heartbeat, as read in a round. */
  readonly onMember?: (id: string, info: Readonly<Record<string, unknown>>) => void;
}

interface Held {
  /** The revision of the last claim or renewal (checkpoint commits are fenced with it). */
  epoch: number;
  /** The revision of the claim: the same for the whole tenure, higher than any earlier owner's. */
  readonly since: number;
  /** When the last claim or renewal succeeded (local clock). */
  renewedAt: number;
}

/**
 * The rendezvous score of a member for a partition: murmur3 of `member:partition` (FNV-1a, the
 * visitor partitioner's hash, barely moves its high bits for ids that differ in one character:
 * members `a` and `b` got all 16 partitions to one of them).
 */
function scoreOf(member: string, partition: number): number {
  return murmur3String(`${member}:${partition}`);
}

/** The member a partition belongs to among `members`: the highest rendezvous score (ties: the lower id). */
export function ownerOf(partition: number, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const m of members) {
    const score = scoreOf(m, partition);
    if (score > bestScore || (score === bestScore && best !== undefined && m < best)) {
      best = m;
      bestScore = score;
    }
  }
  return best;
}

export class PartitionLeases {
  readonly instanceId: string;
  readonly #kv: KV;
  readonly #opts: PartitionLeasesOptions;
  readonly #now: () => number;
  readonly #held = new Map<number, Held>();
  #lastMembers: readonly string[] = [];
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;

  private constructor(kv: KV, opts: PartitionLeasesOptions) {
    this.#kv = kv;
    this.#opts = opts;
    this.instanceId = opts.instanceId;
    this.#now = opts.now ?? Date.now;
    this.#logger = opts.logger.child({ component: 'leases', instance: opts.instanceId });
  }

  /** Opens (creating when missing) the owners bucket with the TTL as its max age. */
  static async open(js: JetStreamClient, opts: PartitionLeasesOptions): Promise<PartitionLeases> {
    const kv = await openOwnersBucket(js, opts.ttlMs, opts.replicas);
    return new PartitionLeases(kv, opts);
  }

  /** Partition → epoch of every lease held now. */
  owned(): ReadonlyMap<number, number> {
    return new Map([...this.#held].map(([p, h]) => [p, h.epoch]));
  }

  /** The live members (this instance included) as the last round read them. */
  members(): readonly string[] {
    return this.#lastMembers;
  }

  /** The epoch `partition`'s current tenure began at (its claim's revision), while held. */
  tenure(partition: number): number | undefined {
    return this.#held.get(partition)?.since;
  }

  /** Until when (local clock) this instance trusts its lease on `partition`: it writes nothing for it after. */
  trustedUntil(partition: number): number | undefined {
    const h = this.#held.get(partition);
    return h === undefined ? undefined : h.renewedAt + this.#opts.ttlMs * TRUST;
  }

  /** Heartbeats and rebalances every third of the TTL until `stop`. */
  start(): void {
    if (this.#timer !== undefined) return;
    const run = (): void => {
      if (this.#ticking === undefined) {
        this.#ticking = this.tick()
          .catch((err: unknown) => this.#logger.warn({ err }, 'lease round failed; retrying'))
          .finally(() => {
            this.#ticking = undefined;
          });
      }
    };
    run();
    this.#timer = setInterval(run, Math.max(50, Math.floor(this.#opts.ttlMs / 3)));
    this.#timer.unref();
  }

  /** Stops ticking; with `release`, hands every partition over (hook, then delete) and leaves the members. */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
    if (opts.release !== true) return;
    await Promise.all([...this.#held.keys()].map((p) => this.#release(p)));
    await this.#kv.delete(this.#memberKey()).catch(() => undefined);
  }

  /**
   * One round: heartbeat, drop stale leases, renew what stays ours, hand over the rest (in parallel:
   * each hand-over writes a final snapshot), claim what is ours and free. Renewals come before the
   * hand-overs, so slow snapshots never let a kept lease go stale.
   */
  async tick(): Promise<void> {
    await this.#kv.put(this.#memberKey(), JSON.stringify({ ...this.#opts.memberInfo?.(), at: this.#now() }));
    const members = await this.#members('member');
    this.#lastMembers = [...new Set([...members, ...(await this.#members('gateway'))])].sort();
    if (this.#opts.owns === false) return; // a gateway: never a partition's owner
    for (const [p, h] of [...this.#held]) {
      if (!this.#fresh(h)) this.#lose(p, 'not renewed within the TTL');
    }
    const handOver: number[] = [];
    const renewals: Array<Promise<void>> = [];
    for (const [p, h] of [...this.#held]) {
      if (ownerOf(p, members) !== this.instanceId) {
        handOver.push(p);
        continue;
      }
      // In parallel: on a slow cluster one round of renewals takes one request timeout, not one per partition.
      // TRICKY: trusted from when the write was sent, not when its answer came: a process paused
      // between the server storing it and reading the reply (SIGSTOP, a long GC) would otherwise wake
      // to a fresh window on a lease that expired meanwhile and may be another instance's by now.
      const sent = this.#now();
      renewals.push(
        this.#kv.update(`lease.${p}`, this.#value(), h.epoch).then(
          (epoch) => {
            h.epoch = epoch;
            h.renewedAt = sent;
          },
          (err: unknown) => this.#lose(p, `renewal refused (${(err as Error).message})`),
        ),
      );
    }
    await Promise.all(renewals);
    await Promise.all(handOver.map((p) => this.#release(p)));
    for (let p = 0; p < this.#opts.partitions; p++) {
      if (this.#held.has(p) || ownerOf(p, members) !== this.instanceId) continue;
      let epoch: number;
      const sent = this.#now();
      try {
        epoch = await this.#kv.create(`lease.${p}`, this.#value());
      } catch {
        continue; // held by another instance until it releases or its lease expires
      }
      this.#held.set(p, { epoch, since: epoch, renewedAt: sent });
      this.#logger.info({ partition: p, epoch }, 'partition acquired');
      await this.#opts.hooks.acquired(p, epoch);
    }
  }

  /** True while this instance holds `partition`'s lease and trusts it (its writes for it may go on). */
  holds(partition: number): boolean {
    const h = this.#held.get(partition);
    return h !== undefined && this.#fresh(h);
  }

  #memberKey(): string {
    return `${this.#opts.owns === false ? 'gateway' : 'member'}.${this.instanceId}`;
  }

  /** The live instances heartbeating under `kind` (owners: `member`; gateways: `gateway`), this one among them when it is one. */
  async #members(kind: 'member' | 'gateway'): Promise<string[]> {
    const out: string[] = [];
    const keys: string[] = [];
    for await (const k of await this.#kv.keys(`${kind}.*`)) keys.push(k);
    for (const k of keys) {
      const id = k.slice(kind.length + 1);
      out.push(id);
      if (this.#opts.onMember === undefined || id === this.instanceId) continue;
      try {
        const e = await this.#kv.get(k);
        if (e !== null && e.operation === 'PUT') this.#opts.onMember(id, e.json<Record<string, unknown>>());
      } catch {
        // an unreadable heartbeat still counts the member; its information is skipped
      }
    }
    if ((kind === 'gateway') === (this.#opts.owns === false) && !out.includes(this.instanceId)) out.push(this.instanceId);
    return out.sort();
  }

  #value(): string {
    return JSON.stringify({ owner: this.instanceId, at: this.#now() });
  }

  /** A lease is trusted for the TTL minus a margin after its last successful write was sent. */
  #fresh(h: Held): boolean {
    return this.#now() - h.renewedAt < this.#opts.ttlMs * TRUST;
  }

  #lose(p: number, reason: string): void {
    // `trustedUntil`: the last moment this instance could have written for it (local clock).
    const trustedUntil = this.trustedUntil(p);
    this.#held.delete(p);
    this.#logger.warn({ partition: p, reason, ...(trustedUntil === undefined ? {} : { trustedUntil }) }, 'partition lease lost; partition stopped');
    this.#opts.hooks.lost(p, reason);
  }

  async #release(p: number): Promise<void> {
    const h = this.#held.get(p);
    if (h === undefined) return;
    // Still ours? A compare-and-set renewal first: a stale owner must not write a final snapshot.
    try {
      const sent = this.#now();
      h.epoch = await this.#kv.update(`lease.${p}`, this.#value(), h.epoch);
      h.renewedAt = sent;
    } catch (err) {
      this.#lose(p, `renewal before the hand-over refused (${(err as Error).message})`);
      return;
    }
    await this.#opts.hooks.release(p);
    this.#held.delete(p);
    // Logged before the delete: from here this instance writes nothing for it, and a peer may claim it
    // as soon as the key is gone (the lease history must never show the two overlapping).
    this.#logger.info({ partition: p }, 'partition released');
    // Only our own lease: a compare-and-set delete on the revision held.
    await this.#kv.delete(`lease.${p}`, { previousSeq: h.epoch }).catch((err: unknown) => this.#logger.warn({ err, partition: p }, 'lease not deleted; it expires with the TTL'));
  }
}
