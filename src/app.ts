/**
 * Wires one clickstream-miner process: gateway → pipeline → processors, the public and admin
 * servers, and (when `config.natsUrl` is set) the NATS ingest subscription. Everything is built from
 * the arguments (no module-level state), so a test or benchmark can run two apps in one process.
 *
 * Shutdown order (SIGTERM): stop accepting (new frames get retry / 503, collect sockets close with
 * 1012) → close NATS ingest (drain the subscription) → drain the pipeline queue so every acknowledged
 * event reaches the processors → the final state snapshot (embedded mode with a data directory) →
 * close the servers — all within `config.shutdownTimeoutMs`.
 *
 * Embedded persistence: with `config.dataDir` the state (pipeline with its queue, dedupe ids) is
 * restored at boot before any port opens, and snapshotted every `persistence.snapshotInterval`: a
 * kill -9 loses at most what was acknowledged since the last snapshot.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { createSiteProcessors, type SiteProcessors } from '../processors/site-processors';
import type { AppContext } from './app-context';
import { SystemClock, type Clock } from './clock';
import type { Config, SiteConfig } from './config';
import { ClickstreamError } from './errors';
import { VisitorSocketRegistry } from './delivery/visitor-socket-registry';
import { OfferDelivery } from './delivery/offer-delivery';
import { SegmentChanges } from './delivery/segment-changes';
import { AdminAuth, generateAdminToken } from './http/admin-auth';
import { createAdminServer } from './http/admin-server';
import { createPublicServer, type PublicServer } from './http/public-server';
import { CollectGateway } from './ingest/collect-gateway';
import { NatsIngest } from './ingest/nats-ingest';
import { Quarantine, UNKNOWN_SITE } from './ingest/quarantine';
import { WsCollector } from './ingest/ws-collector';
import { createLogger, type Logger } from './logger';
import { createCoreMetrics, initLabels } from './metrics/core-metrics';
import { Pipeline } from './pipeline/pipeline';
import type { FastifyInstance } from 'fastify';
import { UsageView } from '../processors/usage/usage-processor';
import { EVENT_TYPES } from './types';
import { configDigest, StateFile } from './persistence/state-file';
import { recordSnapshotWrite } from './persistence/snapshot-outcome';
import type { PipelineSnapshot } from './pipeline/pipeline';
import type { DedupeSnapshot } from './ingest/event-deduplicator';
import { DurableLog } from './log/durable-log';
import { PartitionQuery, type LocalPartitions } from './cluster/partition-query';
import { GlobalRules } from './cluster/global-rules';
import { NextBestOfferView } from '../processors/next-best-offer/next-best-offer-processor';
import { InstanceLists, type ListName } from './cluster/instance-lists';
import { SharedCatalogs } from './cluster/shared-catalogs';
import { localListPart } from './http/site-lists';
import { SharedSegments } from './cluster/shared-segments';
import { jetstream } from '@nats-io/jetstream';
import { CrossSellRules } from '../processors/cross-sell/cross-sell-processor';

/** What the embedded state file holds. */
interface EmbeddedState {
  readonly pipeline: PipelineSnapshot;
  readonly dedupe: DedupeSnapshot;
}

export interface CreateAppOptions {
  readonly config: Config;
  /** Wall clock (default: the system clock). */
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Metrics registry (default: a new one, with Node's default process metrics). */
  readonly registry?: Registry;
  /** Events per pipeline slice (default DEFAULT_SLICE_EVENTS); tests vary it to show it changes no number. */
  readonly sliceEvents?: number;
  /**
   * Called when the app cannot go on (NATS mode: CM_EVENTS exists with other settings); the CLI logs
   * it and exits 1. Without it the error is logged and the app stays not ready.
   */
  readonly onFatal?: (err: unknown) => void;
  /** Fault injection for the crash tests (NATS mode): called between a snapshot's object write and its checkpoint commit. */
  readonly afterSnapshotObject?: () => void;
}

/** What the app tells when it stopped: the final counts, for the operator's log. */
export interface ShutdownReport {
  /** True when the pipeline queue emptied before the timeout (every acknowledged event processed). */
  readonly drained: boolean;
  /** Events still queued when the app stopped (0 when drained). */
  readonly queued: number;
  /** Accepted events per site and type (clickstream_events_received_total). */
  readonly received: Record<string, Record<string, number>>;
  /**
   * Events per site and type as the usage processor counted them (its retained windows summed):
   * what reached the processors, to compare with `received`.
   */
  readonly processed: Record<string, Record<string, number>>;
}

export interface App {
  readonly ctx: AppContext;
  /** NATS mode: the JetStream log (writer, reader, snapshots); undefined in the embedded mode. */
  readonly durableLog: DurableLog | undefined;
  readonly gateway: CollectGateway;
  readonly pipeline: Pipeline;
  readonly quarantine: Quarantine;
  readonly visitorSockets: VisitorSocketRegistry;
  /** The admin token in force (configured, or generated at boot when none was). */
  readonly adminToken: string;
  /** True when `adminToken` was generated (the operator has to be told it). */
  readonly adminTokenGenerated: boolean;
  /** Binds the ports (0 = any free port) and starts the pipeline; resolves with the bound ports. */
  start(): Promise<{ port: number; adminPort: number }>;
  /** Graceful stop (idempotent). */
  stop(): Promise<ShutdownReport>;
}

export function createApp(opts: CreateAppOptions): App {
  const { config } = opts;
  const clock = opts.clock ?? new SystemClock();
  const logger = opts.logger ?? createLogger(config.logLevel);
  const registry = opts.registry ?? new Registry();
  const metrics = createCoreMetrics(registry);
  initLabels(metrics, config.sites.keys());

  const visitorSockets = new VisitorSocketRegistry({
    capacity: config.ingest.maxVisitorSockets,
    onEvict: () => metrics.evictions.inc({ component: 'delivery', structure: 'visitor_sockets' }),
  });
  const onEvict = (processor: string, structure: string, n: number): void => metrics.evictions.inc({ component: processor, structure }, n);
  // Offers: every site's next-best-offer processor is attached to it; it fans triggers out to all channels.
  // One NATS connection per app (when NATS_URL is set), opened in start() and drained last in stop():
  // ingest, quarantine, offers (JetStream) and rule changes all share it.
  let nc: NatsConnection | undefined;
  const rulesPublisher = { publish: (subject: string, data: Uint8Array): void => nc?.publish(subject, data) };
  // TRICKY: `durableLog` is declared below; `replaying` is only called once events flow.
  const offers = new OfferDelivery({ config, clock, registry, logger: logger.child({ component: 'offers' }), visitorSockets,
    onEvict,
    replaying: (): boolean => durableLog?.mayRederive ?? false,
    scaledOut: config.natsUrl !== undefined && config.nats.instanceId !== undefined,
  });
  // Segment webhooks share the offers' sender (signing, retries, dead letters); the URLs are each site's usage settings'
  // (`bySite` is declared below: the callback only runs once events flow).
  const segmentChanges = new SegmentChanges({
    sites: config.sites.keys(),
    capacity: 1_000,
    registry,
    publish: (subject, data) => nc?.publish(subject, data),
    replaying: () => durableLog?.catchingUp ?? false,
    webhook: (site, id, body) => {
      const secret = config.sites.get(site)?.webhookSecret ?? '';
      if (secret !== '') for (const url of bySite.get(site)?.usage.segmentWebhooks ?? []) offers.webhooks.send(site, url, secret, id, body);
    },
  });
  const bySite = new Map<string, SiteProcessors>();
  const siteProcessors = (site: SiteConfig): SiteProcessors => {
    let sp = bySite.get(site.id);
    if (sp === undefined) {
      sp = createSiteProcessors(site, { config, clock, registry, metrics, logger: logger.child({ site: site.id }), visitorSockets, onEvict, offers, rulesPublisher, onSegmentChange: (c) => segmentChanges.onChange(c) });
      bySite.set(site.id, sp);
    }
    return sp;
  };
  const pipeline = new Pipeline({
    config,
    clock,
    metrics,
    logger,
    fromLog: config.natsUrl !== undefined,
    // Scaled out, partitions are taken on as their leases are acquired (DurableLog).
    ...(config.natsUrl !== undefined && config.nats.instanceId !== undefined ? { ownedPartitions: [] } : {}),
    ...(opts.sliceEvents === undefined ? {} : { sliceEvents: opts.sliceEvents }),
    processorsFor: (site, partition) => siteProcessors(site).forPartition(partition),
    viewsFor: (site, parts) => siteProcessors(site).views(parts),
    onEvent: (e) => offers.catalog.observe(e),
  });
  const quarantine: Quarantine = new Quarantine({
    capacityPerSite: config.ingest.quarantineCapacity,
    clock,
    sites: config.sites.keys(),
    onEvict: () => metrics.evictions.inc({ component: 'ingest', structure: 'quarantine' }),
  });
  quarantine.onItem((item) => metrics.quarantined.set({ site: item.site }, quarantine.size(item.site)));
  // NATS mode: the gateway writes to the JetStream log, and the pipeline reads it back (DurableLog).
  const durableLog: DurableLog | undefined = config.natsUrl === undefined ? undefined : new DurableLog({ config, clock, pipeline, metrics, logger, ...(opts.afterSnapshotObject === undefined ? {} : { afterSnapshotObject: opts.afterSnapshotObject }) });
  const gateway = new CollectGateway({
    config,
    clock,
    metrics,
    logger: logger.child({ component: 'gateway' }),
    pipeline: durableLog?.writer ?? pipeline,
    quarantine,
    // NATS mode: an id the log already holds is a duplicate too (after a restart that is all the gateway knows).
    ...(durableLog === undefined ? {} : { seen: (site: string, id: string, partition: number) => pipeline.seenInLog(site, id, partition) }),
  });
  const natsIngest = config.natsUrl === undefined ? undefined : new NatsIngest({ config, gateway, quarantine, logger });
  // Scaled out: statistics for the whole site by scatter-gather over the instances holding the partitions.
  const instanceId = config.natsUrl === undefined ? undefined : config.nats.instanceId;
  const partitionLocal: LocalPartitions | undefined =
    durableLog === undefined
      ? undefined
      : {
          ready: () => durableLog.readyPartitions(),
          processor: (site, p, name) => pipeline.partitionProcessors(site, p).find((proc) => proc.name === name),
          watermark: (site, p) => pipeline.partitionWatermark(site, p),
        };
  const partitionQuery =
    durableLog === undefined || partitionLocal === undefined || instanceId === undefined
      ? undefined
      : new PartitionQuery({
          instanceId,
          partitions: config.partitions,
          timeoutMs: config.nats.queryTimeoutMs,
          logger,
          local: partitionLocal,
          emptyProcessor: (site, name) => bySite.get(site)?.queryProcessor(name),
          view: (site, name, parts) => bySite.get(site)?.queryView(name, parts),
          copied: new Set(['cross-sell']),
        });
  const globalRules =
    partitionLocal === undefined || durableLog === undefined || instanceId === undefined
      ? undefined
      : new GlobalRules({
          instanceId,
          sites: [...config.sites.keys()],
          partitions: config.partitions,
          local: partitionLocal,
          tenure: (p) => durableLog.trustedTenure(p),
          roleEpoch: () => durableLog.trustedEpoch(0),
          rulesView: (site) => {
            const v = pipeline.processor(site, 'cross-sell');
            return v instanceof CrossSellRules ? v : undefined;
          },
          view: (site, name, parts) => bySite.get(site)?.queryView(name, parts),
          replicas: config.nats.replicas,
          intervalMs: config.nats.rulesIntervalMs,
          inlineMaxBytes: config.nats.partialInlineMaxBytes,
          counted: (outcome, bytes) => {
            metrics.rulesPartials.inc({ outcome });
            if (bytes > 0) metrics.rulesPartialBytes.inc({ outcome }, bytes);
          },
          logger,
        });

  const sharedSegments =
    instanceId === undefined
      ? undefined
      : new SharedSegments({
          usage: (site) => {
            const v = pipeline.processor(site, 'usage');
            return v instanceof UsageView ? v : undefined;
          },
          replicas: config.nats.replicas,
          logger,
        });

  // Scaled out: the lists each instance keeps of its own (live log, late, quarantine, offers), from every live member.
  const instanceLists =
    durableLog === undefined || instanceId === undefined
      ? undefined
      : new InstanceLists({ instanceId, members: () => durableLog.members(), local: (site, name, limit) => localListPart(ctx, site, name, limit), timeoutMs: config.nats.queryTimeoutMs, logger });

  const sharedCatalogs =
    instanceId === undefined
      ? undefined
      : new SharedCatalogs({
          catalog: (site) => {
            const v = pipeline.processor(site, 'next-best-offer');
            return v instanceof NextBestOfferView ? v.catalog : undefined;
          },
          replicas: config.nats.replicas,
          logger,
        });

  const ctx: AppContext = {
    config,
    clock,
    logger,
    registry,
    metrics,
    site: (id) => config.sites.get(id),
    processor: (site, name) => pipeline.processor(site, name),
    ...(partitionQuery === undefined ? {} : { gather: (site: string, names: readonly string[]) => partitionQuery.gather(site, names) }),
    ...(sharedSegments === undefined ? {} : { sharedSegments }),
    ...(sharedCatalogs === undefined ? {} : { sharedCatalogs }),
    ...(instanceLists === undefined ? {} : { gatherList: (site: string, name: ListName, limit: number) => instanceLists.gather(site, name, limit) }),
    quarantined: (site, limit) => quarantine.list(site, limit),
    watermark: (site) => pipeline.watermark(site),
    lateEvents: (site, limit) => pipeline.lateEvents(site, limit),
    recentEvents: (site, limit) => pipeline.recentEvents(site, limit),
    segmentChanges: (site, opts) => segmentChanges.list(site, opts),
    publicPort: () => (publicServer === undefined ? undefined : portOf(publicServer.app)),
    offers,
  };
  const wsCollector = new WsCollector({ config, gateway, metrics, logger, visitorSockets });
  // NATS mode keeps its state in JetStream (issue "Durable by default"); the data directory is the embedded mode's.
  const stateFile = config.dataDir !== undefined && config.natsUrl === undefined ? new StateFile<EmbeddedState>(config.dataDir) : undefined;
  const digest = configDigest(config);
  let snapshotTimer: NodeJS.Timeout | undefined;
  let snapshotting: Promise<void> | undefined;

  /** Takes and writes one snapshot (skipped while the previous write is still running). */
  function snapshotNow(): Promise<void> {
    if (stateFile === undefined) return Promise.resolve();
    if (snapshotting !== undefined) return snapshotting;
    const t0 = clock.now();
    // Synchronous: a consistent cut between slices, queue included.
    const state: EmbeddedState = { pipeline: pipeline.snapshot({ withQueue: true }), dedupe: gateway.dedupeSnapshot() };
    snapshotting = recordSnapshotWrite(stateFile.write(digest, t0, state), t0, metrics, clock, (err) =>
      logger.error({ err: new ClickstreamError('CM_ERR_SNAPSHOT', `cannot write the state to ${config.dataDir}: ${(err as Error).message}`, { cause: err }) }, 'state snapshot failed'),
    ).finally(() => {
        snapshotting = undefined;
      });
    return snapshotting;
  }

  /** Restores the embedded state, if any; a refused file is set aside and the server starts fresh. */
  async function restoreState(): Promise<void> {
    if (stateFile === undefined) return;
    const t0 = clock.now();
    const r = await stateFile.read(digest);
    switch (r.kind) {
      case 'none':
        logger.info({ dataDir: config.dataDir }, 'no saved state: starting fresh');
        return;
      case 'refused':
        metrics.restoreRefused.inc();
        logger.error({ err: new ClickstreamError('CM_ERR_SNAPSHOT', `saved state refused: ${r.reasons.join('; ')}`), dataDir: config.dataDir }, 'starting fresh; the refused files are kept as state.refused-*');
        await stateFile.setAside(clock.now());
        return;
      case 'ok': {
        try {
          pipeline.restore(r.envelope.state.pipeline);
          gateway.restoreDedupe(r.envelope.state.dedupe);
        } catch (err) {
          metrics.restoreRefused.inc();
          throw new ClickstreamError('CM_ERR_SNAPSHOT', `cannot restore ${r.file}: ${(err as Error).message}`, { cause: err });
        }
        const seconds = Math.max(0, clock.now() - t0) / 1000;
        metrics.restoreDuration.set(seconds);
        logger.info({ file: r.file, bytes: r.bytes, takenAt: new Date(r.envelope.takenAt).toISOString(), queued: r.envelope.state.pipeline.partitions.reduce((n, u) => n + (u.queued?.length ?? 0), 0), seconds }, 'state restored');
        return;
      }
      default: {
        const _: never = r;
        return _;
      }
    }
  }

  let ready = false;
  // Secure by default: without a configured token one is generated (the CLI prints it once).
  const adminToken = config.admin.token ?? generateAdminToken();
  const adminAuth = new AdminAuth(
    {
      token: adminToken,
      readToken: config.admin.readToken,
      openMetrics: config.admin.openMetrics,
      allowedHosts: config.admin.allowedHosts,
      maxFailuresPerMinute: config.admin.maxFailuresPerMinute,
      maxTrackedClients: config.ingest.rateLimitMaxClients,
    },
    metrics.adminRefused,
    () => clock.now(),
  );
  /** True while the app's NATS connection is up (always true in the embedded mode). */
  let natsUp = config.natsUrl === undefined;
  let natsConnecting: Promise<void> | undefined;

  /**
   * Connects to NATS for as long as it takes (never crashing the process when the server is down at
   * boot), then attaches offers and ingest; the client then reconnects forever by itself. Every loss
   * and return is logged, and readiness follows it.
   */
  async function connectNats(url: string, firstTried: () => void): Promise<void> {
    let attempt = 0;
    while (stopping === undefined) {
      try {
        // noAsyncTraces: otherwise every request (each JetStream publish) captures two stack traces up
        // front for errors that almost never happen — 12 % of the gateway's CPU in bench/durable-log.
        nc = await connect({ servers: url, name: 'clickstream-miner', maxReconnectAttempts: -1, reconnectTimeWait: 1_000, timeout: 2_000, noAsyncTraces: true });
        break;
      } catch (err) {
        firstTried();
        if (attempt++ % 10 === 0) logger.warn({ err: new ClickstreamError('CM_ERR_NATS', `cannot connect to ${url}: ${(err as Error).message}`, { cause: err }), attempt }, 'NATS unreachable; not ready, retrying');
        await new Promise((r) => setTimeout(r, 1_000).unref());
      }
    }
    const conn = nc;
    if (conn === undefined) return;
    if (stopping !== undefined) {
      await conn.close();
      return;
    }
    natsUp = true;
    logger.info({ url }, 'NATS connected');
    await offers.start(conn);
    // NATS mode: restore and read the log back before taking anything (start() resolves after it).
    // Answers the other instances' queries from the start (partitions count once read back).
    partitionQuery?.start(conn, config.sites.keys());
    instanceLists?.start(conn, [...config.sites.keys(), UNKNOWN_SITE]);
    await globalRules?.start(conn, jetstream(conn));
    await sharedSegments?.start(jetstream(conn));
    await sharedCatalogs?.start(jetstream(conn));
    await durableLog?.start(conn);
    if (natsIngest !== undefined) await natsIngest.start(conn);
    firstTried();
    void (async () => {
      for await (const st of conn.status()) {
        if (st.type === 'disconnect') {
          natsUp = false;
          logger.warn({ server: st.server }, 'NATS connection lost; not ready, reconnecting');
        } else if (st.type === 'reconnect') {
          natsUp = true;
          logger.info({ server: st.server }, 'NATS connection back');
        }
      }
    })();
  }
  let publicServer: PublicServer | undefined;
  let adminServer: FastifyInstance | undefined;
  let stopping: Promise<ShutdownReport> | undefined;

  async function start(): Promise<{ port: number; adminPort: number }> {
    await restoreState();
    // NATS mode: the durable log starts the pipeline once it has restored the snapshot.
    if (durableLog === undefined) pipeline.start();
    if (stateFile !== undefined) {
      snapshotTimer = setInterval(() => void snapshotNow(), config.persistence.snapshotIntervalMs);
      snapshotTimer.unref();
    }
    adminServer = await createAdminServer({ ctx, ready: () => ready && natsUp && (durableLog?.ready ?? true), auth: adminAuth });
    publicServer = await createPublicServer({ ctx, gateway, wsCollector, visitorSockets });
    await adminServer.listen({ port: config.adminPort, host: config.adminHost });
    await publicServer.app.listen({ port: config.port, host: config.host });
    ready = true;
    // NATS: start() waits for the first attempt (when it connects: until the log is read back and
    // ingest subscribed); while the server is unreachable the ports answer (readyz 503) and the
    // connection is retried in the background.
    if (config.natsUrl !== undefined) {
      const url = config.natsUrl;
      let firstTried: () => void = () => undefined;
      const tried = new Promise<void>((r) => (firstTried = r));
      natsConnecting = connectNats(url, firstTried).catch((err: unknown) => {
        firstTried();
        logger.error({ err }, 'NATS set-up failed; not ready');
        opts.onFatal?.(err);
      });
      await tried;
    }
    const ports = { port: portOf(publicServer.app), adminPort: portOf(adminServer) };
    logger.info({ ...ports, nats: config.natsUrl !== undefined, sites: [...config.sites.keys()] }, 'clickstream-miner listening');
    return ports;
  }

  async function doStop(): Promise<ShutdownReport> {
    ready = false;
    gateway.stopAccepting();
    const deadline = clock.now() + config.shutdownTimeoutMs;
    const left = (): number => Math.max(0, deadline - clock.now());
    await wsCollector.closeAll(Math.min(1_000, left()));
    if (natsConnecting !== undefined) await withTimeout(natsConnecting, Math.min(2_000, left()));
    if (natsIngest !== undefined) await natsIngest.stop();
    // Batches whose PubAcks are outstanding are answered before the servers close.
    if (durableLog !== undefined) await withTimeout(durableLog.stopWriting(), left());
    if (publicServer !== undefined) await withTimeout(publicServer.close(), left());
    if (durableLog !== undefined) await withTimeout(durableLog.stopReading(), Math.max(left(), 1_000));
    partitionQuery?.stop(); // after the hand-over: until then this instance answers for what it holds
    instanceLists?.stop();
    await globalRules?.stop();
    await sharedSegments?.stop();
    await sharedCatalogs?.stop();
    const drained = await withTimeout(pipeline.drain().then(() => true), left());
    pipeline.stop();
    if (snapshotTimer !== undefined) clearInterval(snapshotTimer);
    // The final snapshot: with the queue included it is complete even when the drain timed out.
    await withTimeout(snapshotting ?? Promise.resolve(), Math.max(left(), 1_000));
    await withTimeout(durableLog?.snapshotNow() ?? snapshotNow(), Math.max(left(), 5_000));
    await withTimeout(offers.close(), Math.max(left(), 500));
    if (nc !== undefined) await withTimeout(nc.drain().catch((err: unknown) => logger.warn({ err }, 'NATS drain failed')), Math.max(left(), 500));
    if (adminServer !== undefined) await withTimeout(adminServer.close(), Math.max(left(), 500));
    const report: ShutdownReport = { drained: drained === true, queued: pipeline.queueDepth, received: await receivedCounts(), processed: processedCounts() };
    if (report.drained) logger.info({ final: report }, 'clickstream-miner stopped');
    else logger.error({ final: report, err: new ClickstreamError('CM_ERR_SHUTDOWN', `${report.queued} events still queued after ${config.shutdownTimeoutMs} ms`) }, 'clickstream-miner stopped before draining');
    return report;
  }

  function processedCounts(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    // Disjoint day windows over the whole retention: each event is in exactly one of them.
    const dayMs = 86_400_000 - (86_400_000 % config.time.paneMs);
    const days = Math.ceil((config.time.paneMs * config.time.retentionPanes) / dayMs) + 1;
    for (const site of config.sites.keys()) {
      const usage = pipeline.processor(site, 'usage');
      if (!(usage instanceof UsageView)) continue;
      const sum: Record<string, number> = { page_view: 0, click: 0, form: 0 };
      for (const w of usage.windows(dayMs, days)) for (const t of EVENT_TYPES) sum[t] = (sum[t] ?? 0) + w.events[t];
      out[site] = sum;
    }
    return out;
  }

  async function receivedCounts(): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const v of (await metrics.eventsReceived.get()).values) {
      const site = String(v.labels.site);
      const type = String(v.labels.type);
      out[site] = { ...(out[site] ?? {}), [type]: v.value };
    }
    return out;
  }

  return {
    ctx,
    durableLog,
    gateway,
    pipeline,
    quarantine,
    visitorSockets,
    adminToken,
    adminTokenGenerated: config.admin.token === undefined,
    start,
    stop: () => (stopping ??= doStop()),
  };
}

function portOf(app: FastifyInstance): number {
  const addr = app.server.address();
  return typeof addr === 'object' && addr !== null ? addr.port : 0;
}

/** Resolves with the promise's value, or undefined once `ms` passed (the timer never keeps the process alive). */
async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
