/**
 * Global statistics when scaled out (issue "Scale-out", must have 3): any instance answers for the
 * whole site by scatter-gather over NATS request-reply. The asking instance publishes on
 * `cm.query.<site>` with a reply inbox; every other instance answers with the state of the named
 * processors of each partition it holds and has read back (their snapshots: panes of counts, HLL,
 * DDSketch and Space-Saving, all mergeable), tagged with its lease epoch; gzipped and sent in chunks
 * under the server's max payload. The asker restores them into processors of their own, beside its
 * own partitions', and the site's views answer over all of them — exactly what one instance holding
 * every partition computes. Partitions nobody answered for within the timeout are listed as missing
 * (the response then says `partial: true`), never silently left out. Where two instances answer for
 * one partition (a hand-over under way, a stale owner), the higher lease epoch wins.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { PartitionSets, Processor, SiteView } from '../../processors/processor';
import { lowestWatermark } from '../../processors/processor';
import type { Logger } from '../logger';
import type { EpochMillis } from '../types';
import { epochMillis } from '../types';
import { VisitorPartitioner } from '../pipeline/visitor-partitioner';
import { answerEveryone, askEveryone, type EveryoneRequest } from './scatter-gather';

export function querySubject(site: string): string {
  return `cm.query.${site}`;
}

interface QueryRequest extends EveryoneRequest {
  readonly processors: readonly string[];
}

/** One partition's answer: its processors' snapshots, its watermark and the lease epoch it is held at. */
export interface PartitionState {
  readonly partition: number;
  readonly epoch: number;
  readonly watermark: number | null;
  readonly processors: Record<string, unknown>;
}

/** What this instance holds, for answering (and for its own part of a query). */
export interface LocalPartitions {
  /** Partitions held and read back, with their lease epochs. */
  ready(): ReadonlyMap<number, number>;
  /** Processor `name` of `partition` of `site`, when held. */
  processor(site: string, partition: number, name: string): Processor | undefined;
  /** The partition's watermark in `site` (−Infinity before any). */
  watermark(site: string, partition: number): number;
}

/** The site's views over every partition that answered. */
export interface GlobalViews {
  processor(name: string): SiteView | undefined;
  /** The lowest partition watermark among those that answered. */
  readonly watermark: EpochMillis;
  /** Partitions no instance answered for in time (the answer leaves them out, and says so). */
  readonly missing: readonly number[];
}

export interface PartitionQueryDeps {
  readonly instanceId: string;
  readonly partitions: number;
  readonly local: LocalPartitions;
  /** A bare processor of `name` for `site` (restored from a partition's snapshot). */
  readonly emptyProcessor: (site: string, name: string) => Processor | undefined;
  /** The site's view `name` over these partitions (the same classes a pipeline builds). */
  readonly view: (site: string, name: string, parts: PartitionSets) => SiteView | undefined;
  /**
   * Processors whose site view attaches to its parts (cross-sell: `attachSink`): this instance's own
   * partitions go to a gathered view as copies restored from their snapshots, never the live
   * processors, whose one sink is the site's own view.
   */
  readonly copied: ReadonlySet<string>;
  readonly timeoutMs: number;
  readonly logger: Logger;
}

export class PartitionQuery {
  readonly #d: PartitionQueryDeps;
  readonly #logger: Logger;
  readonly #partitioner: VisitorPartitioner;
  #nc: NatsConnection | undefined;
  readonly #subs: Subscription[] = [];

  constructor(deps: PartitionQueryDeps) {
    this.#d = deps;
    this.#logger = deps.logger.child({ component: 'partition-query' });
    this.#partitioner = new VisitorPartitioner(deps.partitions);
  }

  /** Answers other instances' queries for these sites. */
  start(nc: NatsConnection, sites: Iterable<string>): void {
    this.#nc = nc;
    for (const site of sites) {
      this.#subs.push(answerEveryone<QueryRequest>(nc, querySubject(site), { instanceId: this.#d.instanceId, readable: (req) => Array.isArray(req.processors), answer: (req) => this.#localStates(site, req.processors), logger: this.#logger }));
    }
  }

  stop(): void {
    for (const s of this.#subs.splice(0)) s.unsubscribe();
  }

  #localStates(site: string, names: readonly string[]): PartitionState[] {
    const out: PartitionState[] = [];
    for (const [partition, epoch] of this.#d.local.ready()) {
      const processors: Record<string, unknown> = {};
      for (const name of names) {
        const p = this.#d.local.processor(site, partition, name);
        if (p !== undefined) processors[name] = p.snapshot();
      }
      const wm = this.#d.local.watermark(site, partition);
      out.push({ partition, epoch, watermark: Number.isFinite(wm) ? wm : null, processors });
    }
    return out;
  }

  /**
   * The site's views over every partition: this instance's own, and the others' as they answer within
   * the timeout (it stops waiting once every partition is covered).
   */
  async gather(site: string, names: readonly string[]): Promise<GlobalViews> {
    const n = this.#d.partitions;
    // Own partitions are live processors; the others' are restored from their answers.
    const best = new Map<number, { epoch: number; remote?: PartitionState }>();
    for (const [p, epoch] of this.#d.local.ready()) best.set(p, { epoch });
    const nc = this.#nc;
    const covered = new Set(best.keys());
    if (nc !== undefined && covered.size < n) {
      const request: QueryRequest = { v: 1, from: this.#d.instanceId, processors: names };
      const answers = await askEveryone<PartitionState[]>(nc, querySubject(site), request, {
        timeoutMs: this.#d.timeoutMs,
        logger: this.#logger,
        done: (got) => {
          for (const states of got.values()) for (const s of states) covered.add(s.partition);
          return covered.size >= n;
        },
      });
      for (const states of answers.values()) {
        for (const state of states) {
          const had = best.get(state.partition);
          if (had === undefined || state.epoch > had.epoch) best.set(state.partition, { epoch: state.epoch, remote: state });
        }
      }
    }
    const byPartition: Array<Map<string, Processor> | undefined> = Array.from({ length: n }, () => undefined);
    const watermarks: number[] = [];
    for (const [p, b] of best) {
      const procs = new Map<string, Processor>();
      for (const name of names) {
        let proc: Processor | undefined;
        const live = b.remote === undefined ? this.#d.local.processor(site, p, name) : undefined;
        const state = b.remote === undefined ? (this.#d.copied.has(name) ? live?.snapshot() : undefined) : b.remote.processors[name];
        if (state === undefined) proc = live;
        else {
          proc = this.#d.emptyProcessor(site, name);
          proc?.restore(state);
        }
        if (proc !== undefined) procs.set(name, proc);
      }
      byPartition[p] = procs;
      watermarks.push(b.remote === undefined ? this.#d.local.watermark(site, p) : (b.remote.watermark ?? Number.NEGATIVE_INFINITY));
    }
    const parts: PartitionSets = {
      of: <T extends Processor>(name: string) => byPartition.flatMap((m) => (m?.get(name) === undefined ? [] : [m.get(name) as T])),
      forVisitor: <T extends Processor>(name: string, visitorId: string) => byPartition[this.#partitioner.partitionOf(visitorId)]?.get(name) as T | undefined,
    };
    const views = new Map<string, SiteView | undefined>();
    const missing: number[] = [];
    for (let p = 0; p < n; p++) if (!best.has(p)) missing.push(p);
    return {
      processor: (name) => {
        if (!views.has(name)) views.set(name, this.#d.view(site, name, parts));
        return views.get(name);
      },
      watermark: epochMillis(lowestWatermark(watermarks)),
      missing,
    };
  }
}
