import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import { REJECT_REASON_CODES } from '../errors';
import { LATE_REASONS, type LateReason } from '../pipeline/late-log';
import { EVENT_TYPES } from '../types';

const LATE_REASON_CODES = Object.keys(LATE_REASONS) as LateReason[];

/** Default process metrics whose names break Prometheus conventions (gauges ending in `_total`). */
export const NON_CONFORMING_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

/**
 * The metrics of DESIGN.md §3 that the spine owns, on an injected registry (no global registry: two
 * apps can live in one process). Label values come from closed sets only: site ids from config,
 * event types, reason codes, structure names. Never a visitor, product or session id.
 * Components with metrics of their own (offers, cross-sell) register them on the same registry.
 */
export function createCoreMetrics(registry: Registry, opts: { defaultMetrics?: boolean } = {}) {
  if (opts.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    // prom-client exposes these three gauges with a `_total` suffix, which Prometheus reserves for
    // counters (`promtool check metrics` flags them); the handle counts add little, so they go.
    for (const name of NON_CONFORMING_DEFAULT_METRICS) registry.removeSingleMetric(name);
  }
  const registers = [registry];
  const m = {
    eventsReceived: new Counter({
      name: 'clickstream_events_received_total',
      help: 'Events accepted into the pipeline, by site and type.',
      labelNames: ['site', 'type'] as const,
      registers,
    }),
    eventsRejected: new Counter({
      name: 'clickstream_events_rejected_total',
      help: 'Events, batches or frames refused, by site and reason code (README error table).',
      labelNames: ['site', 'reason'] as const,
      registers,
    }),
    eventsDuplicate: new Counter({
      name: 'clickstream_events_duplicate_total',
      help: 'Events dropped because their id was seen within the dedupe horizon (client retries).',
      labelNames: ['site'] as const,
      registers,
    }),
    eventsLate: new Counter({
      name: 'clickstream_events_late_total',
      help: 'Acknowledged events left out of the statistics (the late side output, GET /v1/late), once per event, by site and reason.',
      labelNames: ['site', 'reason'] as const,
      registers,
    }),
    windowRevisions: new Counter({
      name: 'clickstream_window_revisions_total',
      help: 'Late events within the allowed lateness that revised a fired window, by site and processor.',
      labelNames: ['site', 'processor'] as const,
      registers,
    }),
    processorLate: new Counter({
      name: 'clickstream_processor_late_total',
      help: 'On-time events a processor could not place because it had evicted their pane (retention capacity), by site and processor.',
      labelNames: ['site', 'processor'] as const,
      registers,
    }),
    wsDropped: new Counter({
      name: 'clickstream_ws_dropped_total',
      help: 'WebSockets the server closed on its own, by endpoint and reason (unresponsive: no pong and no message for two heartbeats; protocol_error: an invalid frame, e.g. bad UTF-8 (1007) or a bad opcode (1002)).',
      labelNames: ['endpoint', 'reason'] as const,
      registers,
    }),
    httpRefused: new Counter({
      name: 'clickstream_http_refused_total',
      help: "Requests Node's HTTP parser refused before any route saw them, by reason (header_overflow: 431, timeout: the headers or request took too long, 408; bad_request: 400).",
      labelNames: ['reason'] as const,
      registers,
    }),
    adminRefused: new Counter({
      name: 'clickstream_admin_refused_total',
      help: 'Admin API requests refused, by reason (unauthorized: no or a wrong token; insufficient_scope: a read token on a write route).',
      labelNames: ['reason'] as const,
      registers,
    }),
    snapshots: new Counter({
      name: 'clickstream_snapshots_total',
      help: 'State snapshots written (embedded mode: to the data directory; NATS mode: to the Object Store with a KV checkpoint), by outcome (ok, failed).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    snapshotLastSuccess: new Gauge({
      name: 'clickstream_snapshot_last_success_timestamp_seconds',
      help: 'Wall clock of the last state snapshot written (0: none yet); its age is time() minus this.',
      registers,
    }),
    snapshotBytes: new Gauge({
      name: 'clickstream_snapshot_bytes',
      help: 'Size of the last state snapshot written (gzipped JSON).',
      registers,
    }),
    snapshotDuration: new Gauge({
      name: 'clickstream_snapshot_duration_seconds',
      help: 'Time the last state snapshot took (serialise, compress, write, fsync, rename).',
      registers,
    }),
    restoreDuration: new Gauge({
      name: 'clickstream_restore_duration_seconds',
      help: 'Time the state restore at boot took (0 when nothing was restored).',
      registers,
    }),
    offerBindingRefused: new Counter({
      name: 'clickstream_offer_binding_refused_total',
      help: "Events whose visitor was not bound to the sending WebSocket for offers, by site and reason (no_visitor_key: the batch carried none; other_visitor: its key proves another visitor id) — a claimed id never moves a visitor's offers.",
      labelNames: ['site', 'reason'] as const,
      registers,
    }),
    logPublishes: new Counter({
      name: 'clickstream_log_publishes_total',
      help: 'Messages a gateway published to the event log CM_EVENTS (NATS mode), by outcome (ok, duplicate: already stored, failed: no PubAck in time, full: the stream or disk at its limits).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    logRecordsRead: new Counter({
      name: 'clickstream_log_records_read_total',
      help: 'Records (events and partition ticks) this instance read back from the event log into its pipeline (NATS mode); scaled out, each instance counts its own partitions.',
      registers,
    }),
    rulesPartials: new Counter({
      name: 'clickstream_rules_partials_total',
      help: 'Scale-out cross-sell pane partials, by outcome: inline (published as a KV value) and object (to the Object Store) by this owner; refused_stale (this owner\'s manifest refused: a later owner holds the partition), ignored_stale (a lower-epoch partial the role holder did not take), unreadable.',
      labelNames: ['outcome'] as const,
      registers,
    }),
    rulesPartialBytes: new Counter({
      name: 'clickstream_rules_partial_bytes_total',
      help: 'Bytes of cross-sell pane partials this owner published (gzipped), by where they went (inline, object).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    logBadMessages: new Counter({
      name: 'clickstream_log_bad_messages_total',
      help: 'Messages in the event log that could not be read (another format version, not JSON); skipped, never stopping the partition.',
      registers,
    }),
    logLagMessages: new Gauge({
      name: 'clickstream_log_consumer_lag_messages',
      help: 'Messages of the event log not yet read back, by partition (NATS mode).',
      labelNames: ['partition'] as const,
      registers,
    }),
    logLagSeconds: new Gauge({
      name: 'clickstream_log_consumer_lag_seconds',
      help: 'Age of the last log message read back while more are pending (0 when caught up), by partition (NATS mode).',
      labelNames: ['partition'] as const,
      registers,
    }),
    catchUpDuration: new Gauge({
      name: 'clickstream_log_catch_up_seconds',
      help: 'Time from boot until the event log was read back to its end as of boot (NATS mode; readiness waits for it).',
      registers,
    }),
    snapshotErrors: new Counter({
      name: 'clickstream_snapshot_errors_total',
      help: 'Snapshots that could not be used at restore (CM_ERR_SNAPSHOT: missing, corrupt, another version or config); the previous one, then the start of the log, is used instead.',
      labelNames: ['reason'] as const,
      registers,
    }),
    partitionsOwned: new Gauge({
      name: 'clickstream_cluster_partitions_owned',
      help: 'Partitions this instance holds the lease of and processes (scale-out; every partition when it runs alone).',
      registers,
    }),
    partitionChanges: new Counter({
      name: 'clickstream_cluster_partition_changes_total',
      help: 'Partition ownership changes of this instance (scale-out): acquired, released (cooperative hand-over, final snapshot committed) or lost (lease renewal refused or too old: stopped at once).',
      labelNames: ['change'] as const,
      registers,
    }),
    fencedWrites: new Counter({
      name: 'clickstream_cluster_fenced_writes_total',
      help: "Checkpoint commits refused because this instance no longer held the partition's lease (a stale owner's writes).",
      registers,
    }),
    restoreRefused: new Counter({
      name: 'clickstream_restore_refused_total',
      help: 'State files refused at boot (corrupt, another format version or another configuration); the server started fresh.',
      registers,
    }),
    watermarkLag: new Gauge({
      name: 'clickstream_watermark_lag_seconds',
      help: "Wall clock minus the site's event-time watermark, by site.",
      labelNames: ['site'] as const,
      registers,
    }),
    activeSessions: new Gauge({
      name: 'clickstream_active_sessions',
      help: 'Sessions open in the sessionizer (not yet closed by the watermark).',
      registers,
    }),
    wsConnections: new Gauge({
      name: 'clickstream_ws_connections',
      help: 'Open WebSocket connections, by endpoint.',
      labelNames: ['endpoint'] as const,
      registers,
    }),
    ingestQueueDepth: new Gauge({
      name: 'clickstream_ingest_queue_events',
      help: 'Events accepted by the gateway and waiting for the pipeline.',
      registers,
    }),
    overloaded: new Counter({
      name: 'clickstream_ingest_overloaded_total',
      help: 'Batches refused with 503 / WS retry because the pipeline queue was full, by site.',
      labelNames: ['site'] as const,
      registers,
    }),
    quarantined: new Gauge({
      name: 'clickstream_quarantine_items',
      help: 'Items held in the bounded quarantine, by site.',
      labelNames: ['site'] as const,
      registers,
    }),
    evictions: new Counter({
      name: 'clickstream_state_evictions_total',
      help: 'Entries evicted from bounded state (LRU caches, panes, sketches), by component and structure.',
      labelNames: ['component', 'structure'] as const,
      registers,
    }),
    sketchErrorBound: new Gauge({
      name: 'clickstream_sketch_error_bound_ratio',
      help: 'Stated relative error bound of each sketch kind (HLL standard error, DDSketch alpha, Space-Saving epsilon).',
      labelNames: ['sketch'] as const,
      registers,
    }),
    batchProcessing: new Histogram({
      name: 'clickstream_batch_processing_seconds',
      help: 'Gateway time to validate and enqueue one batch.',
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
      registers,
    }),
  };
  return m;
}

export type CoreMetrics = ReturnType<typeof createCoreMetrics>;

/** Pre-create the closed label combinations so the series exist (at 0) from the start. */
export function initLabels(m: CoreMetrics, sites: Iterable<string>): void {
  // TRICKY: prom-client exports a labelled child only once it was touched: `.labels()` alone is not
  // enough, `inc(0)` is. Without it rates and alerts over quiet series return nothing instead of 0.
  for (const site of sites) {
    for (const type of EVENT_TYPES) m.eventsReceived.labels(site, type).inc(0);
    for (const reason of REJECT_REASON_CODES) m.eventsRejected.labels(site, reason).inc(0);
    m.eventsDuplicate.labels(site).inc(0);
    m.overloaded.labels(site).inc(0);
    for (const reason of ['no_visitor_key', 'other_visitor']) m.offerBindingRefused.labels(site, reason).inc(0);
    for (const reason of LATE_REASON_CODES) m.eventsLate.labels(site, reason).inc(0);
    for (const processor of PROCESSOR_NAMES) m.windowRevisions.labels(site, processor).inc(0);
  }
  // Closed label sets not per site: present from the start, so alerts and boards see zeros, not gaps.
  for (const reason of ['unauthorized', 'insufficient_scope', 'host_not_allowed', 'throttled']) m.adminRefused.labels(reason).inc(0);
  m.wsDropped.labels('collect', 'unresponsive').inc(0);
  m.wsDropped.labels('collect', 'protocol_error').inc(0);
  for (const reason of ['header_overflow', 'timeout', 'bad_request']) m.httpRefused.labels(reason).inc(0);
  for (const change of ['acquired', 'released', 'lost']) m.partitionChanges.labels(change).inc(0);
  // The bounded structures every app has (the others appear with their first eviction).
  for (const [component, structure] of ALWAYS_BOUNDED) m.evictions.labels(component, structure).inc(0);
}

/** Processors every site runs (processors/site-processors.ts), for metric labels. */
const PROCESSOR_NAMES = ['navigation', 'content', 'usage', 'cross-sell', 'next-best-offer'] as const;
const ALWAYS_BOUNDED: ReadonlyArray<readonly [string, string]> = [
  ['ingest', 'dedupe'],
  ['ingest', 'quarantine'],
  ['pipeline', 'late_events'],
  ['sessionizer', 'visitors'],
];
