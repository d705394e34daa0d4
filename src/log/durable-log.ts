/**
 * NATS mode's durability, wired (issue "Durable by default"): at start, the stream is created or
 * checked, the newest usable snapshot restored, every partition read back from its position + 1 to
 * where the log ended at boot, and only then does the gateway take batches (readiness says so). While
 * running, snapshots go to the Object Store every `persistence.snapshotInterval` or
 * `persistence.snapshotEvents` records, whichever comes first, each committed by a KV checkpoint.
 *
 * A restored run reaches the state of one that never stopped: the snapshot is a consistent cut taken
 * between pipeline slices (queue included, with the log position of the last message queued per
 * partition), and everything after it is read again from the log in the same per-partition order.
 */
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Clock } from '../clock';
import type { Config } from '../config';
import { ClickstreamError } from '../errors';
import type { Logger } from '../logger';
import type { CoreMetrics } from '../metrics/core-metrics';
import { configDigest } from '../persistence/state-file';
import { recordSnapshotWrite } from '../persistence/snapshot-outcome';
import type { Pipeline, PipelineSnapshot } from '../pipeline/pipeline';
import { CheckpointStore } from './checkpoint-store';
import { ensureEventStream } from './event-log';
import { LogReader } from './log-reader';
import { LogWriter } from './log-writer';

/**
 * What a NATS-mode snapshot holds: the pipeline, with its queue, log positions and the ids of every
 * event read from the log. The gateway's own dedupe is not in it: the gateway also consults the
 * ids read from the log, which after a restore and the read-back cover everything the log holds.
 */
export interface LogState {
  readonly pipeline: PipelineSnapshot;
}

/**
 * The unit of state this process snapshots: every partition (one instance owns them all). The
 * scale-out issue splits it by owned partitions.
 */
export const STATE_UNIT = 'all';

export interface DurableLogDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly pipeline: Pipeline;
  readonly metrics: CoreMetrics;
  readonly logger: Logger;
  /** Fault injection for the crash tests: called between a snapshot's object write and its checkpoint commit. */
  readonly afterSnapshotObject?: () => void;
}

export class DurableLog {
  readonly writer: LogWriter;
  readonly #config: Config;
  readonly #clock: Clock;
  readonly #pipeline: Pipeline;
  readonly #metrics: CoreMetrics;
  readonly #logger: Logger;
  readonly #digest: string;
  #reader: LogReader | undefined;
  #store: CheckpointStore<LogState> | undefined;
  #ready = false;
  #timer: NodeJS.Timeout | undefined;
  #lastSnapshotAt = 0;
  #lastSnapshotProcessed = 0;
  #snapshotting: Promise<void> | undefined;
  #catchingUp = true;
  readonly #afterSnapshotObject: (() => void) | undefined;

  constructor(deps: DurableLogDeps) {
    this.#config = deps.config;
    this.#clock = deps.clock;
    this.#pipeline = deps.pipeline;
    this.#metrics = deps.metrics;
    this.#logger = deps.logger.child({ component: 'durable-log' });
    this.#digest = configDigest(deps.config);
    this.#afterSnapshotObject = deps.afterSnapshotObject;
    this.writer = new LogWriter({ config: deps.config, pipeline: deps.pipeline, metrics: deps.metrics, logger: deps.logger, now: () => deps.clock.now() });
  }

  /** True once restored and caught up: the gateway takes batches from then on. */
  get ready(): boolean {
    return this.#ready;
  }

  /** True until the log has been read back to where it ended at boot (offers are not re-sent meanwhile). */
  get catchingUp(): boolean {
    return this.#catchingUp;
  }

  /**
   * Restores, reads the log back to its end as of now, then opens the writer. Throws `CM_ERR_NATS`
   * when the stream exists with other settings.
   */
  async start(nc: NatsConnection): Promise<void> {
    const t0 = this.#clock.now();
    const jsm = await ensureEventStream(nc, this.#config);
    const js = jetstream(nc);
    this.#store = await CheckpointStore.open<LogState>(js, this.#config, this.#metrics, this.#logger, this.#afterSnapshotObject);
    const tOpen = this.#clock.now();
    const restored = await this.#restore();
    const tRestored = this.#clock.now();
    this.#reader = new LogReader({ config: this.#config, pipeline: this.#pipeline, metrics: this.#metrics, logger: this.#logger, now: () => this.#clock.now() });
    await this.#reader.start(js, jsm, restored);
    const reader = this.#reader;
    void (async () => {
      for await (const st of nc.status()) if (st.type === 'reconnect') reader.reset();
    })();
    this.#pipeline.start();
    const tReading = this.#clock.now();
    await this.#reader.caughtUp;
    const tCaught = this.#clock.now();
    await this.#pipeline.drain();
    this.#catchingUp = false;
    this.#logger.debug({ openMs: tOpen - t0, restoreMs: tRestored - tOpen, readerStartMs: tReading - tRestored, readBackMs: tCaught - tReading, drainMs: this.#clock.now() - tCaught }, 'start phases');
    const seconds = Math.max(0, this.#clock.now() - t0) / 1000;
    this.#metrics.catchUpDuration.set(seconds);
    this.#open(js);
    this.#logger.info({ seconds, positions: summarize(this.#pipeline.positions()) }, 'event log read back; taking batches');
  }

  #open(js: JetStreamClient): void {
    this.writer.open(js);
    this.#ready = true;
    this.#lastSnapshotAt = this.#clock.now();
    this.#lastSnapshotProcessed = this.#pipeline.processedRecords;
    // Checked every second: a snapshot is due by time or by records processed.
    this.#timer = setInterval(() => {
      const due = this.#clock.now() - this.#lastSnapshotAt >= this.#config.persistence.snapshotIntervalMs || this.#pipeline.processedRecords - this.#lastSnapshotProcessed >= this.#config.persistence.snapshotEvents;
      if (due) void this.snapshotNow();
    }, Math.min(1_000, this.#config.persistence.snapshotIntervalMs));
    this.#timer.unref();
  }

  /** Restores the newest usable snapshot; returns the positions to read from (all 0 without one). */
  async #restore(): Promise<readonly number[]> {
    const store = this.#store!;
    const t0 = this.#clock.now();
    const r = await store.read(STATE_UNIT, this.#digest);
    const zero = new Array<number>(this.#config.partitions).fill(0);
    switch (r.kind) {
      case 'none':
        this.#logger.info('no snapshot yet: reading the event log from its start');
        return zero;
      case 'refused':
        this.#metrics.restoreRefused.inc();
        this.#logger.error({ err: new ClickstreamError('CM_ERR_SNAPSHOT', `no usable snapshot: ${r.reasons.join('; ')}`) }, 'rebuilding the state from the start of the event log');
        return zero;
      case 'ok': {
        const state = r.envelope.state;
        this.#pipeline.restore(state.pipeline);
        const seconds = Math.max(0, this.#clock.now() - t0) / 1000;
        this.#metrics.restoreDuration.set(seconds);
        this.#logger.info({ object: r.checkpoint.object, bytes: r.checkpoint.bytes, takenAt: new Date(r.envelope.takenAt).toISOString(), fallbacks: r.fallbacks, seconds }, 'snapshot restored');
        return state.pipeline.positions ?? zero;
      }
      default: {
        const _: never = r;
        return _;
      }
    }
  }

  /** Takes a snapshot now and commits it (a second call while one is being written waits for it). */
  snapshotNow(): Promise<void> {
    const store = this.#store;
    if (store === undefined || !this.#ready) return Promise.resolve();
    if (this.#snapshotting !== undefined) return this.#snapshotting;
    const t0 = this.#clock.now();
    // Synchronous: a consistent cut between slices, queue and positions included.
    const pipeline = this.#pipeline.snapshot({ withQueue: true });
    const state: LogState = { pipeline };
    this.#logger.debug({ cutMs: this.#clock.now() - t0 }, 'snapshot cut taken');
    this.#lastSnapshotAt = t0;
    this.#lastSnapshotProcessed = this.#pipeline.processedRecords;
    this.#snapshotting = recordSnapshotWrite(store.write(STATE_UNIT, this.#digest, t0, pipeline.positions ?? [], state), t0, this.#metrics, this.#clock, (err) =>
      this.#logger.error({ err }, 'snapshot to the Object Store failed'),
    ).finally(() => {
        this.#snapshotting = undefined;
      });
    return this.#snapshotting;
  }

  /** Stops the writer (batches get retry), waits for publishes in flight, stops reading. */
  async stopWriting(): Promise<void> {
    this.writer.close();
    while (this.writer.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
  }

  /** Stops reading the log and the snapshot timer (records already queued stay queued). */
  async stopReading(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#reader?.stop();
    await this.#snapshotting;
  }
}

function summarize(positions: readonly number[]): { readonly max: number; readonly partitionsRead: number } {
  return { max: positions.reduce((a, b) => Math.max(a, b), 0), partitionsRead: positions.filter((p) => p > 0).length };
}
