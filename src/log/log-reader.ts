/**
 * The processing side of the durable log (NATS mode): per partition, an ordered consumer of
 * `cm.events.<partition>` from the restored position + 1 (the position lives in the snapshot, not in
 * server-side acks), feeding the pipeline's bounded queue — when it is full the consumer simply is not
 * read, so JetStream holds the backlog, not this process's memory.
 *
 * `caughtUp` resolves once every partition has been read up to the last message it held at boot.
 */
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { followAgain } from '../cluster/follow-again';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { CoreMetrics } from '../metrics/core-metrics';
import type { Pipeline } from '../pipeline/pipeline';
import { decodeLogMessage, EVENTS_STREAM, partitionSubject } from './event-log';

export interface LogReaderDeps {
  readonly config: Config;
  readonly pipeline: Pipeline;
  readonly metrics: CoreMetrics;
  readonly logger: Logger;
  /** Wall clock, ms (lag in seconds). */
  readonly now: () => number;
}

export class LogReader {
  readonly #config: Config;
  readonly #pipeline: Pipeline;
  readonly #metrics: CoreMetrics;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #iterators = new Map<number, ConsumerMessages>();
  /** The read loop of every partition read, with its stop flag. */
  readonly #loops = new Map<number, { readonly run: { stopped: boolean }; readonly loop: Promise<void> }>();
  #badLogged = 0;
  #caughtUp: Promise<void> = Promise.resolve();

  constructor(deps: LogReaderDeps) {
    this.#config = deps.config;
    this.#pipeline = deps.pipeline;
    this.#metrics = deps.metrics;
    this.#logger = deps.logger.child({ component: 'log-reader' });
    this.#now = deps.now;
  }

  /** Resolves once every partition was read up to where it ended at `start`. */
  get caughtUp(): Promise<void> {
    return this.#caughtUp;
  }

  /** Starts one ordered consumer per partition, each from its position + 1 (`positions[p]`, 0 = the start). */
  async start(js: JetStreamClient, jsm: JetStreamManager, positions: readonly number[]): Promise<void> {
    const waits: Array<Promise<void>> = [];
    for (let p = 0; p < this.#config.partitions; p++) waits.push((await this.startPartition(js, jsm, p, positions[p] ?? 0)).caughtUp);
    this.#caughtUp = Promise.all(waits).then(() => undefined);
  }

  /**
   * Starts reading one partition from `position` + 1 (scale-out: its lease was acquired and its unit
   * restored); `caughtUp` resolves once the partition was read up to where it ended now.
   */
  async startPartition(js: JetStreamClient, jsm: JetStreamManager, p: number, position: number): Promise<{ readonly caughtUp: Promise<void> }> {
    if (this.#loops.has(p)) throw new Error(`partition ${p} is read already`);
    const info = await jsm.streams.info(EVENTS_STREAM);
    const firstSeq = info.state.first_seq;
    const from = position + 1;
    const end = await lastSeqOf(jsm, p);
    if (end >= from && from > 1 && from < firstSeq) {
      this.#logger.error({ partition: p, from, firstSeq }, 'CM_ERR_SNAPSHOT: the log no longer holds every record after the snapshot (retention nats.maxAge / maxBytes too short); reading from the oldest it holds');
      this.#metrics.snapshotErrors.inc({ reason: 'log_truncated' });
    }
    let reached!: () => void;
    const caught = new Promise<void>((r) => (reached = r));
    // Until its first message says how many follow, a partition with records to read shows a lag of
    // at least one (a partition taken over with a backlog is not "caught up" while its first pull runs).
    this.#metrics.logLagMessages.set({ partition: String(p) }, end < from ? 0 : 1);
    if (end < from) reached();
    const run = { stopped: false };
    this.#loops.set(p, { run, loop: this.#follow(js, p, end, reached, run) });
    return { caughtUp: caught };
  }

  /** Stops reading one partition (its records already queued stay queued); resolves once its loop ended. */
  async stopPartition(p: number): Promise<void> {
    const reading = this.#loops.get(p);
    if (reading === undefined) return;
    reading.run.stopped = true;
    await this.#iterators.get(p)?.close().catch(() => undefined);
    await reading.loop;
    this.#loops.delete(p);
    this.#iterators.delete(p);
    // Not read here any more: its lag is the new owner's to report.
    this.#metrics.logLagMessages.remove({ partition: String(p) });
    this.#metrics.logLagSeconds.remove({ partition: String(p) });
  }

  /**
   * Reads one partition for as long as the reader runs. A consumer that ends (the server restarted, a
   * heartbeat was missed past the ordered consumer's own recovery) is created again from the position
   * of the last message queued + 1, so nothing is skipped and nothing read twice.
   */
  #follow(js: JetStreamClient, partition: number, end: number, reached: () => void, run: { readonly stopped: boolean }): Promise<void> {
    const state = { caught: false };
    return followAgain(
      () => run.stopped,
      async () => {
        const from = (this.#pipeline.positions()[partition] ?? 0) + 1;
        const consumer = await js.consumers.get(EVENTS_STREAM, {
          filter_subjects: partitionSubject(partition),
          ...(from > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from } : { deliver_policy: DeliverPolicy.All }),
        });
        // Short pulls: a lost consumer is noticed within seconds by its missed heartbeats.
        const it = await consumer.consume({ max_messages: 512, expires: 5_000 });
        this.#iterators.set(partition, it);
        if (run.stopped) await it.close();
        await this.#read(partition, it, end, reached, state, run);
      },
      (err, failures) => {
        if (failures % 20 === 0) this.#logger.warn({ err, partition }, 'log consumer lost; reading again from the last position');
      },
      250,
    );
  }

  async #read(partition: number, it: ConsumerMessages, end: number, reached: () => void, state: { caught: boolean }, run: { readonly stopped: boolean }): Promise<void> {
    const label = { partition: String(partition) };
    for await (const m of it) {
      if (run.stopped) break;
      const decoded = decodeLogMessage(m.data, partition);
      let records = decoded.kind === 'ok' ? decoded.records : [];
      if (decoded.kind === 'bad') {
        this.#metrics.logBadMessages.inc();
        if (this.#badLogged++ % 100 === 0) this.#logger.warn({ partition, seq: m.seq, reason: decoded.reason }, 'unreadable log message skipped');
        records = [];
      }
      while (!this.#pipeline.appendFromLog(partition, m.seq, records)) {
        await this.#pipeline.room(records.length);
        if (run.stopped) return;
      }
      this.#metrics.logRecordsRead.inc(records.length);
      const pending = m.info.pending;
      this.#metrics.logLagMessages.set(label, pending);
      this.#metrics.logLagSeconds.set(label, pending > 0 ? Math.max(0, this.#now() - m.info.timestampNanos / 1e6) / 1000 : 0);
      if (!state.caught && m.seq >= end) {
        state.caught = true;
        reached();
      }
    }
  }

  /**
   * Drops every consumer; each partition's loop creates it again from the last position queued + 1.
   * Called when the connection comes back: a restarted server no longer has the ephemeral consumers.
   */
  reset(): void {
    for (const it of this.#iterators.values()) void it.close();
  }

  /** Stops every consumer (records already queued stay queued). */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.#loops.keys()].map((p) => this.stopPartition(p)));
  }
}

/** The stream sequence of the last message a partition holds (0: none). */
async function lastSeqOf(jsm: JetStreamManager, partition: number): Promise<number> {
  try {
    const m = await jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: partitionSubject(partition) });
    return m?.seq ?? 0;
  } catch {
    return 0;
  }
}
