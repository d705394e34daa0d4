/**
 * The one path every transport (WS, HTTP, NATS) calls: admit the site and origin, then per frame
 * decode → rate limit → validate → dedupe → enrich → hand the accepted events to the pipeline → ack.
 *
 * Nothing acknowledged is lost (DESIGN.md §7): the ack is built only after the pipeline accepted the
 * events; when it is overloaded the whole frame gets a `retry` outcome and nothing of it is counted,
 * remembered for dedupe or quarantined, so the client's resend is judged afresh.
 */
import { createHash } from 'node:crypto';
import type { Counter } from 'prom-client';
import type { Clock } from '../clock';
import type { Config, SiteConfig } from '../config';
import { type RejectReason, type Rejection } from '../errors';
import { BatchDecoder, type DecodeOutcome, type FrameLimit } from '../events/batch-decoder';
import type { EnrichedEvent } from '../events/enriched-event';
import { EventEnricher } from '../events/event-enricher';
import { EventValidator } from '../events/event-validator';
import type { Logger } from '../logger';
import type { CoreMetrics } from '../metrics/core-metrics';
import { EVENT_TYPES, type EventType } from '../types';
import { EventDeduplicator, type DedupeSnapshot } from './event-deduplicator';
import { QUARANTINE_SAMPLE_CHARS, Quarantine, UNKNOWN_SITE, type IngestTransport } from './quarantine';
import { RateLimiter, takeAll } from './rate-limiter';
import { equalSecrets } from '../secrets';

/**
 * What the gateway needs of the pipeline: take a batch of events, or say why not. The embedded
 * pipeline answers at once; the JetStream log writer (NATS mode) once every PubAck is in.
 */
export interface PipelineSink {
  offer(events: EnrichedEvent[]): SinkResult | Promise<SinkResult>;
}

export type SinkResult =
  /** Taken. `late` of them were too old to count; `duplicates` were already in the log (a resend whose ack was lost). */
  | { readonly kind: 'accepted'; readonly late: number; readonly duplicates?: ReadonlySet<EnrichedEvent> }
  /** Nothing taken: the queue is full. */
  | { readonly kind: 'overloaded' }
  /**
   * Not all taken (NATS mode): the log refused or did not answer. `done` were stored (or judged late)
   * even so: they are remembered, so the resend counts them as duplicates, never twice.
   */
  | { readonly kind: 'unavailable'; readonly reason: Extract<RetryReason, 'log_unavailable' | 'log_full' | 'starting'>; readonly done: readonly EnrichedEvent[] };

/** The ack sent back for every frame that was judged (public output: WS message, HTTP body, NATS reply). */
export interface Ack {
  readonly type: 'ack';
  /** The batch's seq; null when the frame was unreadable. */
  readonly seq: number | null;
  /** Events accepted into the statistics, count. */
  readonly accepted: number;
  /**
   * Events acknowledged but too old to count (older than their partition watermark − the allowed
   * lateness): listed by `GET /v1/late`, count. The client must not resend them.
   */
  readonly late: number;
  /** Events dropped because their id was already seen (client retries), count. */
  readonly duplicates: number;
  /** Refused events (index -1: the whole frame). */
  readonly rejected: Rejection[];
}

/**
 * Why a frame must be sent again: the pipeline is full, the client is over its rate, the server is
 * stopping, or (NATS mode) the event log did not store it / is at its limits / is still being read back.
 */
export type RetryReason = 'overloaded' | 'rate_limited' | 'shutting_down' | 'log_unavailable' | 'log_full' | 'starting';

export type CollectOutcome =
  /** The frame was judged; `frameRejected` is set when the whole frame was refused (transports map it to a status). */
  | {
      readonly kind: 'ack';
      readonly ack: Ack;
      readonly frameRejected: RejectReason | undefined;
    }
  /** Nothing was taken: send it again after `retryAfterMs`. */
  | { readonly kind: 'retry'; readonly seq: number | null; readonly retryAfterMs: number; readonly reason: RetryReason };

export type Admission =
  /** `trusted`: the request carries the site secret (a server-side producer). */
  | { readonly kind: 'admitted'; readonly site: SiteConfig; readonly trusted: boolean }
  | { readonly kind: 'refused'; readonly code: Extract<RejectReason, 'unknown_site' | 'origin_not_allowed' | 'invalid_public_key'>; readonly message: string };

/** What a transport knows of a request before its body: who it claims to be. */
export interface AdmitRequest {
  readonly origin: string | undefined;
  /** The `Authorization` header (the site secret of a server-side producer). */
  readonly authorization?: string | undefined;
  /** The `key` query parameter (the site's public key, sent by the snippet when configured). */
  readonly key?: string | undefined;
  /** Set by channels that are trusted by construction (NATS ingest). */
  readonly trusted?: boolean;
}

export interface CollectRequest {
  readonly transport: IngestTransport;
  readonly raw: string | Buffer;
  readonly limit: FrameLimit;
  /**
   * Rate-limit key of the connection (`ws:<connection>`, `ip:<address>`); undefined for trusted
   * producers (the site secret, NATS), which are charged the site's producer limit instead.
   */
  readonly client: string | undefined;
  /** The client's IP, charged its own limit across all its connections (not for trusted producers). */
  readonly ip?: string | undefined;
  readonly userAgent: string | undefined;
  /**
   * Called with the frame's valid events and the visitor its key proves (SHA-256 of `vk`, first 32 hex
   * digits; undefined without a key — only that visitor's offers may go to the sending socket), before
   * they are handed on:
   * the WS collector binds the visitor's socket there, so an offer its events trigger (scaled out, on
   * another instance, as soon as they are in the log) finds the socket bound.
   */
  readonly beforeOffer?: (events: readonly EnrichedEvent[], provenVisitor: string | undefined) => void;
}

export interface CollectGatewayDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly metrics: CoreMetrics;
  readonly logger: Logger;
  readonly pipeline: PipelineSink;
  readonly quarantine: Quarantine;
  /** Ids known elsewhere (NATS mode: read from the log): such an event is a duplicate too. */
  readonly seen?: (site: string, id: string, partition: number) => boolean;
}

type TypeCounters = Record<EventType, Counter.Internal>;

interface PendingRejection {
  readonly index: number;
  readonly code: RejectReason;
  readonly message: string;
  readonly value: unknown;
}

export class CollectGateway {
  readonly #config: Config;
  readonly #clock: Clock;
  readonly #metrics: CoreMetrics;
  readonly #logger: Logger;
  readonly #pipeline: PipelineSink;
  readonly #seen: ((site: string, id: string, partition: number) => boolean) | undefined;
  readonly #decoder: BatchDecoder;
  readonly #enricher: EventEnricher;
  readonly #dedupe: EventDeduplicator;
  readonly #limiter: RateLimiter;
  readonly #ipLimiter: RateLimiter;
  readonly #visitorLimiter: RateLimiter;
  /** Bytes, per connection and per IP (both keys in one LRU), charged before parsing. */
  readonly #byteLimiter: RateLimiter;
  /** Per site: its trusted producers' events and bytes. */
  readonly #producers = new Map<string, { readonly events: RateLimiter; readonly bytes: RateLimiter }>();
  readonly #retryAfterMs: number;
  /** Received-counter children per configured site and type, resolved once (no label hashing per event). */
  readonly #received = new Map<string, TypeCounters>();
  readonly quarantine: Quarantine;
  readonly validator: EventValidator;
  #accepting = true;

  constructor(deps: CollectGatewayDeps) {
    const { config, clock, metrics } = deps;
    this.#config = config;
    this.#clock = clock;
    this.#metrics = metrics;
    this.#logger = deps.logger;
    this.#pipeline = deps.pipeline;
    this.#seen = deps.seen;
    this.quarantine = deps.quarantine;
    this.validator = new EventValidator();
    this.#decoder = new BatchDecoder(this.validator, { maxBatchEvents: config.ingest.maxBatchEvents });
    this.#enricher = new EventEnricher(config, (structure, n) => deps.metrics.evictions.inc({ component: 'enricher', structure }, n));
    this.#dedupe = new EventDeduplicator({
      capacity: config.ingest.dedupeCapacity,
      ttlMs: config.ingest.dedupeTtlMs,
      onEvict: () => metrics.evictions.inc({ component: 'ingest', structure: 'dedupe' }),
    });
    const ing = config.ingest;
    const limiter = (ratePerSecond: number, burst: number, maxClients = ing.rateLimitMaxClients): RateLimiter =>
      new RateLimiter({ ratePerSecond, burst, maxClients, clock, onEvict: () => metrics.evictions.inc({ component: 'ingest', structure: 'rate_limit_buckets' }) });
    this.#limiter = limiter(ing.rateLimitPerSecond, ing.rateLimitBurst);
    this.#ipLimiter = limiter(ing.rateLimitPerIpPerSecond, ing.rateLimitPerIpBurst);
    this.#visitorLimiter = limiter(ing.rateLimitPerVisitorPerSecond, ing.rateLimitPerVisitorBurst);
    this.#byteLimiter = limiter(ing.rateLimitBytesPerSecond, ing.rateLimitBytesBurst);
    for (const site of config.sites.values()) {
      this.#producers.set(site.id, {
        events: limiter(site.producerRateLimitPerSecond, site.producerRateLimitBurst, 1),
        bytes: limiter(site.producerRateLimitPerSecond * 1024, site.producerRateLimitBurst * 1024, 1),
      });
    }
    this.#retryAfterMs = config.ingest.retryAfterSeconds * 1000;
    for (const site of config.sites.keys()) {
      const byType = {} as TypeCounters;
      for (const t of EVENT_TYPES) byType[t] = metrics.eventsReceived.labels(site, t);
      this.#received.set(site, byType);
    }
  }

  /** Whether new frames are taken (false once shutdown began). */
  get accepting(): boolean {
    return this.#accepting;
  }

  /** Shutdown: from now on every frame gets a `retry` (transports say 503 / close 1012). */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /**
   * Checks the site parameter, then who is sending: a server-side producer proves itself with the site
   * secret; anyone else is a browser and must send an Origin the site allows (a site that allows `*`
   * takes any, or none) and, when it sends a public key, the right one. A refusal is counted and
   * quarantined with its reason.
   */
  admit(siteParam: string | undefined, transport: IngestTransport, req: AdmitRequest): Admission {
    const site = siteParam === undefined ? undefined : this.#config.sites.get(siteParam);
    if (site === undefined) {
      const message = `no configured site ${JSON.stringify(siteParam ?? '')}`;
      this.refuse(UNKNOWN_SITE, transport, 'unknown_site', message, null, siteParam ?? '');
      return { kind: 'refused', code: 'unknown_site', message };
    }
    const trusted = req.trusted === true || this.isTrusted(site, req.authorization);
    if (trusted) return { kind: 'admitted', site, trusted };
    if (req.key !== undefined && !equalSecrets(req.key, site.publicKey)) {
      const message = `the key parameter is not the public key of site ${site.id}`;
      this.refuse(site.id, transport, 'invalid_public_key', message, null, '');
      return { kind: 'refused', code: 'invalid_public_key', message };
    }
    if (!site.allowedOrigins.includes('*')) {
      const origin = req.origin;
      if (origin === undefined || !site.allowedOrigins.includes(origin)) {
        const message =
          origin === undefined
            ? `no Origin header: site ${site.id} takes browsers from its allowed origins, and server-side producers with its secret`
            : `origin ${JSON.stringify(origin)} is not allowed for site ${site.id}`;
        this.refuse(site.id, transport, 'origin_not_allowed', message, null, origin ?? '');
        return { kind: 'refused', code: 'origin_not_allowed', message };
      }
    }
    return { kind: 'admitted', site, trusted };
  }

  /**
   * Counts and quarantines a refusal a transport detected itself before a frame could be read
   * (a WS frame beyond `maxPayload`, an HTTP body beyond the body limit).
   */
  refuse(site: string, transport: IngestTransport, code: RejectReason, message: string, seq: number | null, sample: string): void {
    // Labels come from the closed set of configured sites; anything else is UNKNOWN_SITE.
    const label = this.#config.sites.has(site) ? site : UNKNOWN_SITE;
    this.#metrics.eventsRejected.inc({ site: label, reason: code });
    this.quarantine.add(label, transport, code, message, -1, seq, sample);
  }

  /**
   * True when the request carries the site's secret (`Authorization: Bearer <secret>`): a server-side
   * producer or the replay tool, exempt from the per-client rate limit. Compared in constant time.
   */
  isTrusted(site: SiteConfig, authorization: string | undefined): boolean {
    if (site.secret === '' || authorization === undefined) return false;
    return equalSecrets(authorization, `Bearer ${site.secret}`);
  }

  /** The event ids remembered for duplicate detection (a restart must still drop a client's retries). */
  dedupeSnapshot(): DedupeSnapshot {
    return this.#dedupe.snapshot();
  }

  restoreDedupe(s: DedupeSnapshot): void {
    this.#dedupe.restore(s);
  }

  /** Drops a client's rate-limit bucket (its connection closed). */
  forgetClient(client: string): void {
    this.#limiter.forget(client);
  }

  /**
   * Judges one frame for an admitted site. Never throws on bad input. Synchronous in the embedded
   * mode; a promise when the events go to the JetStream log (answered after the PubAcks).
   */
  collect(site: SiteConfig, req: CollectRequest): CollectOutcome | Promise<CollectOutcome> {
    if (!this.#accepting) return { kind: 'retry', seq: null, retryAfterMs: this.#retryAfterMs, reason: 'shutting_down' };
    const end = this.#metrics.batchProcessing.startTimer();
    let out: CollectOutcome | Promise<CollectOutcome> | undefined;
    try {
      out = this.#collect(site, req);
      return out;
    } finally {
      if (out instanceof Promise) void out.finally(end);
      else end();
    }
  }

  /** `collect` for a sink that answers at once (the embedded pipeline: the in-process replay, tests, benchmarks). */
  collectSync(site: SiteConfig, req: CollectRequest): CollectOutcome {
    const out = this.collect(site, req);
    if (out instanceof Promise) throw new Error('collectSync: the pipeline sink answered asynchronously (NATS mode)');
    return out;
  }

  #collect(site: SiteConfig, req: CollectRequest): CollectOutcome | Promise<CollectOutcome> {
    // Bytes first, before anything is parsed: a flood of unparsable frames costs its size, not one token.
    const bytes = typeof req.raw === 'string' ? req.raw.length : req.raw.byteLength;
    const producer = this.#producers.get(site.id)!;
    const byBytes =
      req.client === undefined
        ? takeAll([[producer.bytes, site.id, bytes]])
        : takeAll(req.ip === undefined ? [[this.#byteLimiter, req.client, bytes]] : [[this.#byteLimiter, req.client, bytes], [this.#byteLimiter, `ip:${req.ip}`, bytes]]);
    if (byBytes.kind === 'limited') return this.#rateLimited(site, req, null, byBytes.retryAfterMs, `more than the bytes per second allowed; retry in ${byBytes.retryAfterMs} ms`);
    const decoded = this.#decoder.decode(req.raw, req.limit);
    const cost = decoded.kind === 'batch' ? Math.max(1, decoded.events.length) : 1;
    const byEvents = req.client === undefined ? takeAll([[producer.events, site.id, cost]]) : takeAll(this.#eventCharges(site, req, decoded, cost));
    if (byEvents.kind === 'limited') {
      return this.#rateLimited(site, req, decoded.seq, byEvents.retryAfterMs, `more than the events per second allowed (per connection, IP or visitor); retry in ${byEvents.retryAfterMs} ms`);
    }
    if (decoded.kind === 'rejected') {
      this.refuse(site.id, req.transport, decoded.code, decoded.message, decoded.seq, sampleOf(req.raw));
      const rejected: Rejection[] = [{ index: -1, code: decoded.code, message: decoded.message }];
      return { kind: 'ack', ack: { type: 'ack', seq: decoded.seq, accepted: 0, late: 0, duplicates: 0, rejected }, frameRejected: decoded.code };
    }

    const receivedAt = this.#clock.now();
    const batch = this.#enricher.batchContext(receivedAt, decoded.sentAt, req.userAgent);
    const accepted: EnrichedEvent[] = [];
    const pending: PendingRejection[] = [];
    let duplicates = 0;
    const inBatch = decoded.events.length > 1 ? new Set<string>() : undefined;
    const forbidden = decoded.forbidden;
    for (let i = 0; i < decoded.events.length; i++) {
      const value = decoded.events[i];
      const refused = forbidden?.[i];
      if (refused !== undefined) {
        pending.push({ index: i, code: 'forbidden_key', message: refused, value });
        continue;
      }
      const v = this.validator.validate(value);
      if (v.kind === 'invalid') {
        pending.push({ index: i, code: v.code, message: v.message, value });
        continue;
      }
      const id = v.event.id;
      if (this.#dedupe.has(site.id, id, receivedAt) || inBatch?.has(id) === true) {
        duplicates++;
        continue;
      }
      const r = this.#enricher.enrich(v.event, site, batch);
      if (r.kind === 'rejected') {
        pending.push({ index: i, code: r.code, message: r.message, value });
        continue;
      }
      // The log's ids are kept per partition: asked once the event has its partition.
      if (this.#seen?.(site.id, id, r.event.partition) === true) {
        duplicates++;
        continue;
      }
      inBatch?.add(id);
      accepted.push(r.event);
    }

    const frame: Frame = { seq: decoded.seq, receivedAt };
    if (accepted.length === 0) return this.#finish(site, req, frame, accepted, pending, duplicates, ACCEPTED_NONE);
    req.beforeOffer?.(accepted, decoded.vk === undefined ? undefined : provenVisitorOf(decoded.vk));
    const offered = this.#pipeline.offer(accepted);
    if (offered instanceof Promise) {
      return offered.then(
        (r) => this.#finish(site, req, frame, accepted, pending, duplicates, r),
        (err: unknown) => {
          this.#logger.error({ err, site: site.id }, 'the event log failed on a batch');
          return this.#finish(site, req, frame, accepted, pending, duplicates, { kind: 'unavailable', reason: 'log_unavailable', done: NO_EVENTS });
        },
      );
    }
    return this.#finish(site, req, frame, accepted, pending, duplicates, offered);
  }

  #countReceived(site: string, byType: Readonly<Record<EventType, number>>): void {
    const counters = this.#received.get(site);
    for (const type of EVENT_TYPES) {
      const n = byType[type];
      if (n === 0) continue;
      if (counters !== undefined) counters[type].inc(n);
      else this.#metrics.eventsReceived.inc({ site, type }, n);
    }
  }

  /** What an untrusted frame costs: its events, per connection, per IP and per visitor they claim. */
  #eventCharges(site: SiteConfig, req: CollectRequest, decoded: DecodeOutcome, cost: number): Array<readonly [RateLimiter, string, number]> {
    const charges: Array<readonly [RateLimiter, string, number]> = [[this.#limiter, req.client!, cost]];
    if (req.ip !== undefined) charges.push([this.#ipLimiter, req.ip, cost]);
    if (decoded.kind === 'batch') {
      const perVisitor = new Map<string, number>();
      for (const value of decoded.events) {
        const vid = (value as { visitorId?: unknown } | null | undefined)?.visitorId;
        if (typeof vid === 'string') perVisitor.set(vid, (perVisitor.get(vid) ?? 0) + 1);
      }
      for (const [vid, n] of perVisitor) charges.push([this.#visitorLimiter, `${site.id}\0${vid}`, n]);
    }
    return charges;
  }

  #rateLimited(site: SiteConfig, req: CollectRequest, seq: number | null, retryAfterMs: number, message: string): CollectOutcome {
    this.refuse(site.id, req.transport, 'rate_limited', message, seq, sampleOf(req.raw));
    return { kind: 'retry', seq, retryAfterMs: Math.max(retryAfterMs, this.#retryAfterMs), reason: 'rate_limited' };
  }

  /** Only once the pipeline (or the log) holds them, or judged them late: remember ids, count, quarantine, ack. */
  #finish(
    site: SiteConfig,
    req: CollectRequest,
    { seq, receivedAt }: Frame,
    accepted: readonly EnrichedEvent[],
    pending: readonly PendingRejection[],
    duplicates: number,
    offered: SinkResult,
  ): CollectOutcome {
    let late = 0;
    let stored: readonly EnrichedEvent[] = accepted;
    let inLog: ReadonlySet<EnrichedEvent> | undefined;
    switch (offered.kind) {
      case 'accepted':
        late = offered.late;
        inLog = offered.duplicates;
        break;
      case 'overloaded':
        this.#metrics.overloaded.inc({ site: site.id });
        return { kind: 'retry', seq, retryAfterMs: this.#retryAfterMs, reason: 'overloaded' };
      case 'unavailable':
        this.#metrics.overloaded.inc({ site: site.id });
        stored = offered.done;
        break;
      default: {
        const _: never = offered;
        return _;
      }
    }
    let inLogCount = 0;
    // Counted per type here and added once per frame: a prom-client child hashes its labels on every inc.
    const byType: Record<EventType, number> = { page_view: 0, click: 0, form: 0 };
    for (let i = 0; i < stored.length; i++) {
      const e = stored[i]!;
      this.#dedupe.remember(site.id, e.id, receivedAt);
      if (inLog?.has(e) === true) {
        inLogCount++;
        continue;
      }
      byType[e.type]++;
    }
    this.#countReceived(site.id, byType);
    // Events of a resend already stored count as duplicates, like the ones this gateway remembered.
    duplicates += inLogCount;
    if (duplicates > 0) this.#metrics.eventsDuplicate.inc({ site: site.id }, duplicates);
    if (offered.kind === 'unavailable') return { kind: 'retry', seq, retryAfterMs: this.#retryAfterMs, reason: offered.reason };
    const rejected: Rejection[] = new Array<Rejection>(pending.length);
    for (let i = 0; i < pending.length; i++) {
      const p = pending[i] as PendingRejection;
      rejected[i] = { index: p.index, code: p.code, message: p.message };
      this.#metrics.eventsRejected.inc({ site: site.id, reason: p.code });
      this.quarantine.add(site.id, req.transport, p.code, p.message, p.index, seq, sampleOfValue(p.value, req.raw));
    }
    if (pending.length > 0) this.#logger.debug({ site: site.id, seq, rejected: pending.length }, 'events rejected');
    return { kind: 'ack', ack: { type: 'ack', seq, accepted: accepted.length - late - inLogCount, late, duplicates, rejected }, frameRejected: undefined };
  }
}

/** What `#finish` needs of the frame besides its events. */
interface Frame {
  readonly seq: number | null;
  readonly receivedAt: number;
}

/** The visitor id a visitor key proves: the first 32 hex digits of its SHA-256 (as the snippet derives it). */
export function provenVisitorOf(vk: string): string {
  return createHash('sha256').update(vk, 'latin1').digest('hex').slice(0, 32);
}

const ACCEPTED_NONE: SinkResult = Object.freeze({ kind: 'accepted', late: 0 });
const NO_EVENTS: readonly EnrichedEvent[] = Object.freeze([]);

function sampleOf(raw: string | Buffer): string {
  // Slice before decoding: never turn a huge frame into a huge string just to cut it.
  return typeof raw === 'string' ? raw.slice(0, QUARANTINE_SAMPLE_CHARS) : raw.subarray(0, QUARANTINE_SAMPLE_CHARS).toString('utf8');
}

function sampleOfValue(value: unknown, raw: string | Buffer): string {
  if (value === undefined) return sampleOf(raw);
  try {
    return JSON.stringify(value).slice(0, QUARANTINE_SAMPLE_CHARS);
  } catch {
    return sampleOf(raw);
  }
}
