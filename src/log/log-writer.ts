/**
 * The gateway side of the durable log (NATS mode): the pipeline sink that publishes, then acks.
 *
 * A batch's events are judged on the append side (late ones go to the late side output, as in the
 * embedded mode), the on-time ones grouped by partition, and each group published to
 * `cm.events.<partition>` with a Nats-Msg-Id derived from its event ids. The batch is acknowledged only
 * once every PubAck is in; a failure or a timeout answers `retry` for the whole batch. Groups that
 * were stored even so are reported back (`done`), so the gateway remembers their ids and the resend
 * counts them as duplicates: nothing acked is lost, nothing is counted twice.
 *
 * It also writes the tick records of the event-time rules into the log (per partition, only where the
 * partition is idle), so a replay of the log reaches the same watermarks.
 */
import type { Config } from '../config';
import type { EnrichedEvent, LogRecord } from '../events/enriched-event';
import type { PipelineSink, SinkResult } from '../ingest/collect-gateway';
import type { Logger } from '../logger';
import type { CoreMetrics } from '../metrics/core-metrics';
import type { Pipeline } from '../pipeline/pipeline';
import { batchMessageId, encodeLogMessage, partitionSubject } from './event-log';
import type { PubAckPublisher } from './pub-acks';

export interface LogWriterDeps {
  readonly config: Config;
  readonly pipeline: Pipeline;
  readonly metrics: CoreMetrics;
  readonly logger: Logger;
  /** Wall clock, ms (tick records carry it). */
  readonly now: () => number;
}

/** JetStream API error codes that mean "at the limits": the stream is full or the server out of storage. */
const FULL_CODES = new Set([10023 /* insufficient resources */, 10047 /* storage resources exceeded */, 10077 /* maximum messages exceeded */, 10078 /* maximum bytes exceeded */]);

const STARTING: SinkResult = Object.freeze({ kind: 'unavailable', reason: 'starting', done: Object.freeze([]) });
const UNAVAILABLE: SinkResult = Object.freeze({ kind: 'unavailable', reason: 'log_unavailable', done: Object.freeze([]) });
const OVERLOADED: SinkResult = Object.freeze({ kind: 'overloaded' });

export class LogWriter implements PipelineSink {
  readonly #config: Config;
  readonly #pipeline: Pipeline;
  readonly #metrics: CoreMetrics;
  readonly #logger: Logger;
  readonly #now: () => number;
  #publisher: PubAckPublisher | undefined;
  /** False until the log has been read back to its end (the append clock is current only then). */
  #open = false;
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #failuresLogged = 0;

  constructor(deps: LogWriterDeps) {
    this.#config = deps.config;
    this.#pipeline = deps.pipeline;
    this.#metrics = deps.metrics;
    this.#logger = deps.logger.child({ component: 'log-writer' });
    this.#now = deps.now;
  }

  /** Starts taking batches, published through `publisher`, and writing tick records every `time.tick`. */
  open(publisher: PubAckPublisher): void {
    this.#publisher = publisher;
    this.#open = true;
    this.#timer ??= setInterval(() => this.writeTicks(), this.#config.time.tickMs);
    this.#timer.unref();
  }

  /** Stops taking batches (they get `retry`) and writing ticks. */
  close(): void {
    this.#open = false;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Messages published and not yet acknowledged. */
  get inFlight(): number {
    return this.#inFlight;
  }

  offer(events: EnrichedEvent[]): SinkResult | Promise<SinkResult> {
    if (!this.#open) return STARTING;
    const js = this.#publisher;
    if (js === undefined) return UNAVAILABLE;
    // Checked before judging: a batch sent back is not judged (nor listed as late) twice.
    if (this.#inFlight >= this.#config.nats.maxInFlight) return OVERLOADED;
    const { onTime, late } = this.#pipeline.judge(events);
    if (onTime.length === 0) return { kind: 'accepted', late };
    return this.#publishAll(js, events, groupByPartition(onTime), late);
  }

  async #publishAll(js: PubAckPublisher, events: readonly EnrichedEvent[], groups: Map<number, EnrichedEvent[]>, late: number): Promise<SinkResult> {
    const site = events[0]!.site;
    const parts = [...groups.entries()];
    this.#inFlight += parts.length;
    const acks = await Promise.allSettled(
      parts.map(([p, group]) => js.publish(partitionSubject(p), encodeLogMessage(group), batchMessageId(site, group), this.#config.nats.publishTimeoutMs)),
    );
    this.#inFlight -= parts.length;
    let failed: Set<EnrichedEvent> | undefined;
    let duplicates: Set<EnrichedEvent> | undefined;
    let full = false;
    let ok = 0;
    for (let i = 0; i < acks.length; i++) {
      const a = acks[i]!;
      const group = parts[i]![1];
      if (a.status === 'fulfilled') {
        if (a.value.duplicate) {
          this.#metrics.logPublishes.inc({ outcome: 'duplicate' });
          duplicates ??= new Set();
          for (const e of group) duplicates.add(e);
        } else ok++;
        continue;
      }
      const isFull = FULL_CODES.has(apiCode(a.reason));
      full ||= isFull;
      this.#metrics.logPublishes.inc({ outcome: isFull ? 'full' : 'failed' });
      failed ??= new Set();
      for (const e of group) failed.add(e);
      if (this.#failuresLogged++ % 100 === 0) this.#logger.warn({ err: a.reason, site, partition: parts[i]![0] }, 'event log publish failed; the batch is answered with retry');
    }
    // Once per batch, not per message: prom-client hashes the labels on every inc.
    if (ok > 0) this.#metrics.logPublishes.inc({ outcome: 'ok' }, ok);
    if (failed === undefined) return { kind: 'accepted', late, ...(duplicates === undefined ? {} : { duplicates }) };
    const f = failed;
    return { kind: 'unavailable', reason: full ? 'log_full' : 'log_unavailable', done: events.filter((e) => !f.has(e)) };
  }

  /** Publishes the tick records due now, one message per partition (fire and forget: the next tick follows soon). */
  writeTicks(): void {
    const js = this.#publisher;
    if (!this.#open || js === undefined) return;
    const ticks = this.#pipeline.logTicks(this.#now());
    const byPartition = new Map<number, LogRecord[]>();
    for (const t of ticks) {
      const p = t.partition ?? 0;
      const list = byPartition.get(p);
      if (list === undefined) byPartition.set(p, [t]);
      else list.push(t);
    }
    for (const [p, records] of byPartition) {
      js.publish(partitionSubject(p), encodeLogMessage(records), undefined, this.#config.nats.publishTimeoutMs).catch((err: unknown) => {
        if (this.#failuresLogged++ % 100 === 0) this.#logger.warn({ err, partition: p }, 'tick record publish failed');
      });
    }
  }
}

function groupByPartition(events: readonly EnrichedEvent[]): Map<number, EnrichedEvent[]> {
  const groups = new Map<number, EnrichedEvent[]>();
  for (const e of events) {
    const g = groups.get(e.partition);
    if (g === undefined) groups.set(e.partition, [e]);
    else g.push(e);
  }
  return groups;
}

function apiCode(err: unknown): number {
  const e = err as { code?: unknown; api_error?: { err_code?: unknown } } | undefined;
  const code = e?.api_error?.err_code ?? e?.code;
  return typeof code === 'number' ? code : -1;
}
