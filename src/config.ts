/**
 * The one typed, immutable configuration object. Read once at boot from the environment and an
 * optional JSON file (`CONFIG_FILE`), validated, with every bad key reported at once
 * (ClickstreamError CM_ERR_CONFIG). Only this module reads `process.env`.
 *
 * Durations in env/file are ISO-8601 (`PT30M`) or plain milliseconds; in the object they are numbers
 * of milliseconds (the field names end in `Ms`).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Duration } from '@js-joda/core';
import { ClickstreamError } from './errors';
import type { SiteId } from './types';

export const DEFAULT_PORT = 8080;
export const DEFAULT_ADMIN_PORT = 9464;
export const DEFAULT_PARTITIONS = 16;
export const DEFAULT_SESSION_GAP_MS = 30 * 60_000;
export const DEFAULT_SESSION_MAX_MS = 12 * 3_600_000;
export const DEFAULT_OUT_OF_ORDERNESS_MS = 5_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 5_000;
export const DEFAULT_PANE_MS = 60_000;
export const DEFAULT_RETENTION_PANES = 24 * 60;
export const DEFAULT_MAX_FUTURE_SKEW_MS = 10 * 60_000;
/** How often the embedded state is written to DATA_DIR. */
export const DEFAULT_SNAPSHOT_INTERVAL_MS = 10_000;
/** Page views kept per session (sessionizer), count. */
export const DEFAULT_MAX_SESSION_PAGES = 200;
export const DEFAULT_MAX_EVENT_AGE_MS = 7 * 24 * 3_600_000;
/** A device clock within this of the server's (receivedAt − sentAt) is taken as right: transit is not skew. */
export const DEFAULT_CLOCK_TOLERANCE_MS = 5_000;
/** Visitors whose measured clock offset is remembered (only skewed devices get an entry), count. */
export const DEFAULT_MAX_CLOCK_OFFSETS = 100_000;

/** URL normalisation for page keys (navigation/content). */
export interface UrlRules {
  /** Query parameters kept in the page key (all others are stripped). */
  readonly keepParams: readonly string[];
  /** Regular expressions (source strings) whose match groups a URL path to its pattern, e.g. product pages. */
  readonly groups: ReadonlyArray<{ readonly pattern: string; readonly as: string }>;
  /** Query parameter holding the site-search term, for search pages without a `search` field. */
  readonly searchParam: string;
}

export interface SiteConfig {
  readonly id: SiteId;
  /** Public key the snippet sends (not a secret). */
  readonly publicKey: string;
  /**
   * The producer secret: server-side producers send `Authorization: Bearer <secret>` to collect (WS,
   * HTTP) and get the producer limit; the replay tool's `--secret`. Empty: no producer but NATS.
   */
  readonly secret: string;
  /** Storefront subscribers' secret (WS /v1/offers, and the key of short-lived subscriber tokens); empty: no subscribers. */
  readonly subscriberSecret: string;
  /** The key webhook deliveries are signed with (HMAC-SHA256); required when the site has webhooks. */
  readonly webhookSecret: string;
  /** Allowed `Origin` headers for browser collection; `*` allows any. */
  readonly allowedOrigins: readonly string[];
  /** IANA time zone for day windows. */
  readonly timeZone: string;
  readonly urlRules: UrlRules;
  /** Processor-specific site settings (cross-sell thresholds, offer catalog, lifecycle rules), validated by their owners. */
  readonly processors: Readonly<Record<string, unknown>>;
  /**
   * Trusted producers of this site (the site secret, NATS ingest): their own, higher limit — never
   * none — sustained events per second and burst, shared by all of them (bytes: 1 KiB per event).
   */
  readonly producerRateLimitPerSecond: number;
  readonly producerRateLimitBurst: number;
}

export interface Config {
  /** Public port: snippet, demo, collect endpoints. */
  readonly port: number;
  /** Admin port: metrics, health, stats API. */
  readonly adminPort: number;
  /** Interface to bind. */
  readonly host: string;
  /**
   * Interface the admin port binds: loopback by default (`ADMIN_HOST`), since the admin API reads
   * visitor data and changes the offer catalog; open it on purpose only behind a token-checking proxy.
   */
  readonly adminHost: string;
  /** Admin API tokens (see src/http/admin-auth.ts). */
  readonly admin: {
    /** Read and write scope (`ADMIN_TOKEN`); undefined = one is generated at boot and printed once. */
    readonly token: string | undefined;
    /** Read-only scope (`ADMIN_READ_TOKEN`): stats, rules, visitors, quarantine, metrics. */
    readonly readToken: string | undefined;
    /** Serve /metrics without a token, for a scraper on a trusted network. */
    readonly openMetrics: boolean;
    /** Host names the admin port answers to (the Host header; ports ignored): loopback names and ADMIN_HOST by default. */
    readonly allowedHosts: readonly string[];
    /** Wrong tokens per client IP and minute before it is throttled (429), count. */
    readonly maxFailuresPerMinute: number;
  };
  /** NATS server URL; unset = embedded mode (no broker). */
  readonly natsUrl: string | undefined;
  /**
   * Embedded mode: where the state is snapshotted (`DATA_DIR`; `serve` defaults it to ./data) and
   * restored from at boot; undefined = no persistence (apps built by tests and benchmarks).
   */
  readonly dataDir: string | undefined;
  readonly persistence: {
    /** How often the state is snapshotted (embedded: to the data directory; NATS: to the Object Store), also on SIGTERM, ms. */
    readonly snapshotIntervalMs: number;
    /** NATS mode: a snapshot is also taken once this many log records were processed since the last one, count. */
    readonly snapshotEvents: number;
  };
  /** NATS mode: the durable event log (JetStream stream CM_EVENTS) and the snapshot buckets. */
  readonly nats: {
    /** Stream replicas (1 on one server, 3 on a cluster); also the replicas of the snapshot buckets. */
    readonly replicas: number;
    /** The log keeps records this long, ms (must cover the snapshot interval by far). */
    readonly maxAgeMs: number;
    /** The log keeps at most this many bytes; past it, publishes are refused (discard new): 503, never a silent loss. */
    readonly maxBytes: number;
    /** JetStream's duplicate window (Nats-Msg-Id), ms: a resent batch within it is stored once. */
    readonly duplicateWindowMs: number;
    /** How long a gateway waits for the PubAcks of a batch before answering retry, ms. */
    readonly publishTimeoutMs: number;
    /** Log messages published and not yet acknowledged, beyond which a gateway answers retry (count). */
    readonly maxInFlight: number;
    /**
     * Scale-out: this instance's id among the instances sharing the log (`INSTANCE_ID`). Set — or
     * NATS_URL listing several servers — and the instance takes its share of the partitions through
     * leases (src/cluster/partition-leases.ts) instead of all of them. Undefined: one instance owns all.
     */
    readonly instanceId: string | undefined;
    /**
     * Scale-out: `all` (default) takes a share of the partitions; `gateway` (`INSTANCE_ROLE`) only
     * collects — validates, writes the log, answers acks, delivers offers to its sockets — and owns no
     * partition, so collecting and processing scale apart. Needs `instanceId`.
     */
    readonly role: 'all' | 'gateway';
    /** Scale-out: partition lease and member heartbeat TTL, ms (`LEASE_TTL`); a crashed instance's partitions move after it. */
    readonly leaseTtlMs: number;
    /** Scale-out: how long a global query waits for the other instances' partitions before answering `partial: true`, ms. */
    readonly queryTimeoutMs: number;
    /** Scale-out: how often owners publish their changed cross-sell panes and the rules role holder mines them (wall clock), ms (`RULES_INTERVAL`). */
    readonly rulesIntervalMs: number;
    /** Scale-out: a pane partial gzipped larger than this goes to the Object Store instead of a KV value, bytes. */
    readonly partialInlineMaxBytes: number;
  };
  /** Number of visitor partitions. */
  readonly partitions: number;
  readonly ingest: {
    /** Largest WebSocket frame / NATS message, bytes. */
    readonly maxFrameBytes: number;
    /** Largest HTTP body, bytes. */
    readonly maxBodyBytes: number;
    /** Most events in one batch. */
    readonly maxBatchEvents: number;
    /** Events further than this in the future (after skew correction) are rejected, ms. */
    readonly maxFutureSkewMs: number;
    /** Events older than this (after skew correction) are rejected, ms. */
    readonly maxEventAgeMs: number;
    /**
     * Skew correction: a batch whose receivedAt − sentAt is within this is taken as sent by a correct
     * clock (offset 0); a larger offset is kept per visitor while later batches agree with it within this,
     * so every batch of a device gets the same offset and transit time never reorders its events, ms.
     */
    readonly clockToleranceMs: number;
    /** Visitors with a remembered non-zero clock offset (LRU), count. */
    readonly maxClockOffsets: number;
    /** Event ids remembered for duplicate detection (count). */
    readonly dedupeCapacity: number;
    /** How long an event id is remembered for duplicate detection, ms. */
    readonly dedupeTtlMs: number;
    /** Sustained events per second allowed per connection / client IP. */
    readonly rateLimitPerSecond: number;
    /** Burst size of the rate limiter, events. */
    readonly rateLimitBurst: number;
    /** Events waiting for the pipeline before the gateway answers 503 / retry. */
    readonly queueCapacity: number;
    /** Quarantined items kept per site for inspection. */
    readonly quarantineCapacity: number;
    /** Seconds a client is told to wait (Retry-After) when overloaded or rate limited. */
    readonly retryAfterSeconds: number;
    /** Sustained events per second allowed per client IP (all its connections and requests together). */
    readonly rateLimitPerIpPerSecond: number;
    readonly rateLimitPerIpBurst: number;
    /** Sustained events per second allowed per visitor id (per site), whatever connection they come on. */
    readonly rateLimitPerVisitorPerSecond: number;
    readonly rateLimitPerVisitorBurst: number;
    /** Bytes per second per connection and per IP, charged before a frame is parsed. */
    readonly rateLimitBytesPerSecond: number;
    readonly rateLimitBytesBurst: number;
    /** Clients (IPs / connections) whose rate-limit buckets are kept (LRU), count. */
    readonly rateLimitMaxClients: number;
    /** Visitor → collect-socket bindings kept for pushing offers (LRU), count. */
    readonly maxVisitorSockets: number;
    /**
     * Share of the queue one site may fill (0..1]; undefined = 1 with one site, 0.5 with more. A site
     * past its share gets 503 / retry while the others go on.
     */
    readonly siteQueueShare: number | undefined;
    /** Collect sockets are pinged this often; one silent for two of these (no pong, no message) is dropped, ms. */
    readonly wsHeartbeatMs: number;
  };
  readonly time: {
    /** Bounded out-of-orderness for the watermark, ms. */
    readonly outOfOrdernessMs: number;
    /** A partition with no events for this long (wall clock) stops holding the watermark back, ms. */
    readonly idleTimeoutMs: number;
    /**
     * How far behind its partition watermark an event still counts (its pane and every window holding
     * it are revised); older ones go to the late side output, ms. Default: the retained panes
     * (pane × retentionPanes), so nothing is left out while its pane exists.
     */
    readonly allowedLatenessMs: number;
    /** Pane length: the finest window granularity, ms. */
    readonly paneMs: number;
    /** Panes retained per processor (retention = paneMs × retentionPanes). */
    readonly retentionPanes: number;
    /** Inactivity gap that ends a session, ms. */
    readonly sessionGapMs: number;
    /** Longest a session may last before it is split, ms. */
    readonly sessionMaxMs: number;
    /** Visitors whose session state is kept (LRU), count. */
    readonly maxVisitors: number;
    /** Page views kept per session (the most recent), count: beyond it an out-of-order page view's neighbours are unknown. */
    readonly maxPagesPerSession: number;
    /** How often the watermark is advanced by the wall clock when input stops, ms. */
    readonly tickMs: number;
  };
  /** Offer delivery (src/delivery): subscriber queues, webhooks, attribution. */
  readonly offers: {
    /** Offers queued per WS /v1/offers subscriber before the oldest is dropped (count). */
    readonly subscriberQueue: number;
    /** Bytes buffered on a subscriber socket before writing pauses, bytes. */
    readonly subscriberHighWaterBytes: number;
    /** WS /v1/offers subscribers per site (count). */
    readonly maxSubscribersPerSite: number;
    /** Webhook attempts per trigger, first included (count). */
    readonly webhookMaxAttempts: number;
    /** First webhook retry delay, doubling per attempt, ms. */
    readonly webhookBaseDelayMs: number;
    /** Longest webhook retry delay, ms. */
    readonly webhookMaxDelayMs: number;
    /** Webhook request timeout, ms. */
    readonly webhookTimeoutMs: number;
    /** Webhook deliveries in flight or waiting to retry (count). */
    readonly webhookMaxPending: number;
    /** Webhook dead letters kept per site (count). */
    readonly deadLetterCapacity: number;
    /** A purchase this long after an offer is attributed to it, ms of event time. */
    readonly attributionHorizonMs: number;
    /** Visitors whose open offers attribution follows (LRU), count. */
    readonly attributionMaxVisitors: number;
    /** JetStream offer publishes awaiting their ack (count). */
    readonly maxNatsInFlight: number;
    /** Products whose name, price and category offers show, learned from page views, per site (LRU), count. */
    readonly catalogProducts: number;
    /** Browser subscribers may pass a short-lived subscriber token in `?token=` (never the secret). */
    readonly allowQueryToken: boolean;
    /** Wrong subscriber tokens per client IP and minute before its upgrades get 429. */
    readonly maxAuthFailuresPerMinute: number;
  };
  readonly sites: ReadonlyMap<string, SiteConfig>;
  /** Log level for pino. */
  readonly logLevel: string;
  /** Milliseconds SIGTERM waits for in-flight events to drain before closing. */
  readonly shutdownTimeoutMs: number;
}

/** Events per second a site's trusted producers may send together, by default. */
const DEFAULT_PRODUCER_RATE = 100_000;

/** URL rules of a site that sets none: product pages grouped, the search parameter kept. */
const DEFAULT_URL_RULES: UrlRules = Object.freeze({ keepParams: ['q'], groups: [{ pattern: '^/product/[^/]+', as: '/product/:id' }], searchParam: 'q' });

export const DEMO_SITE: SiteConfig = Object.freeze({
  id: 'demo' as SiteId,
  publicKey: 'demo-public-key',
  secret: 'demo-secret',
  subscriberSecret: 'demo-subscriber-secret',
  webhookSecret: 'demo-webhook-secret',
  allowedOrigins: ['*'],
  timeZone: 'UTC',
  // The demo shop is small: each product page is its own page in navigation, and every search is the
  // one search page (the query itself is in the event's `search` field, listed by content stats).
  urlRules: { keepParams: [], groups: [], searchParam: 'q' },
  // Rules recomputed every 5 s of event time, so a new user sees offers fire within seconds; one
  // visitor in ten is held out (recorded, never shown an offer), so the dashboard can show uplift.
  processors: { 'cross-sell': { recomputeEvery: 'PT5S' }, 'next-best-offer': { holdoutShare: 0.1 } },
  producerRateLimitPerSecond: DEFAULT_PRODUCER_RATE,
  producerRateLimitBurst: 2 * DEFAULT_PRODUCER_RATE,
});

type Raw = Record<string, unknown>;

/** Collects every problem before failing, so an operator fixes the config in one go. */
class Problems {
  readonly list: string[];
  readonly #prefix: string;
  constructor(list: string[] = [], prefix = '') {
    this.list = list;
    this.#prefix = prefix;
  }
  add(key: string, why: string): void {
    this.list.push(`${this.#prefix}${key}: ${why}`);
  }
  /** The same list, keys reported under `path.` */
  scope(path: string): Problems {
    return new Problems(this.list, `${this.#prefix}${path}.`);
  }
}

export function parseDurationMs(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  try {
    const ms = Duration.parse(v).toMillis();
    return ms >= 0 ? ms : undefined;
  } catch {
    return undefined;
  }
}

function int(problems: Problems, raw: Raw, key: string, envValue: string | undefined, dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = envValue ?? raw[key];
  if (v === undefined) return dflt;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.add(key, `expected an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return dflt;
  }
  return n;
}

function dur(problems: Problems, raw: Raw, key: string, envValue: string | undefined, dflt: number): number {
  const v = envValue ?? raw[key];
  if (v === undefined) return dflt;
  const ms = parseDurationMs(v);
  if (ms === undefined) {
    problems.add(key, `expected an ISO-8601 duration (e.g. PT30M) or milliseconds, got ${JSON.stringify(v)}`);
    return dflt;
  }
  return ms;
}

/** Reports every key of `obj` not in `allowed`, by its full path (a typo must never mean "default"). */
function onlyKnown(problems: Problems, obj: Raw, where: string, allowed: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) problems.add(where === '' ? k : `${where}.${k}`, `unknown key (expected one of ${allowed.join(', ')})`);
  }
}

const ADMIN_KEYS = ['token', 'readToken', 'openMetrics', 'allowedHosts', 'maxFailuresPerMinute'] as const;
const TOP_KEYS = ['port', 'adminPort', 'host', 'adminHost', 'admin', 'natsUrl', 'nats', 'dataDir', 'partitions', 'ingest', 'time', 'offers', 'persistence', 'sites', 'logLevel', 'shutdownTimeout'] as const;
const INGEST_KEYS = [
  'maxFrameBytes', 'maxBodyBytes', 'maxBatchEvents', 'maxFutureSkew', 'maxEventAge', 'clockTolerance', 'maxClockOffsets', 'dedupeCapacity', 'dedupeTtl',
  'rateLimitPerSecond', 'rateLimitBurst', 'rateLimitPerIpPerSecond', 'rateLimitPerIpBurst', 'rateLimitPerVisitorPerSecond', 'rateLimitPerVisitorBurst', 'rateLimitBytesPerSecond', 'rateLimitBytesBurst', 'queueCapacity', 'quarantineCapacity', 'retryAfterSeconds', 'rateLimitMaxClients', 'maxVisitorSockets', 'wsHeartbeat', 'siteQueueShare',
] as const;
const TIME_KEYS = ['outOfOrderness', 'idleTimeout', 'allowedLateness', 'pane', 'retentionPanes', 'sessionGap', 'sessionMax', 'maxVisitors', 'maxPagesPerSession', 'tick'] as const;
const OFFERS_KEYS = [
  'subscriberQueue', 'subscriberHighWaterBytes', 'maxSubscribersPerSite', 'webhookMaxAttempts', 'webhookBaseDelay', 'webhookMaxDelay', 'webhookTimeout',
  'webhookMaxPending', 'deadLetterCapacity', 'attributionHorizon', 'attributionMaxVisitors', 'maxNatsInFlight', 'catalogProducts', 'allowQueryToken', 'maxAuthFailuresPerMinute',
] as const;
const PERSISTENCE_KEYS = ['snapshotInterval', 'snapshotEvents'] as const;
const NATS_KEYS = ['replicas', 'maxAge', 'maxBytes', 'duplicateWindow', 'publishTimeout', 'maxInFlight', 'instanceId', 'leaseTtl', 'queryTimeout', 'rulesInterval', 'partialInlineMaxBytes', 'role'] as const;
const SITE_KEYS = ['id', 'publicKey', 'secret', 'subscriberSecret', 'webhookSecret', 'allowedOrigins', 'timeZone', 'urlRules', 'processors', 'producerRateLimitPerSecond', 'producerRateLimitBurst'] as const;
const URL_RULE_KEYS = ['keepParams', 'groups', 'searchParam'] as const;

function share(problems: Problems, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v > 0 && v <= 1)) {
    problems.add('siteQueueShare', `expected a fraction in (0, 1], got ${JSON.stringify(v)}`);
    return undefined;
  }
  return v;
}

function section(problems: Problems, raw: Raw, key: string): Raw {
  const v = raw[key];
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    problems.add(key, 'expected an object');
    return {};
  }
  return v as Raw;
}

function strList(problems: Problems, raw: Raw, key: string, where: string, dflt: readonly string[]): readonly string[] {
  const v = raw[key];
  if (v === undefined) return dflt;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    problems.add(`${where}.${key}`, 'expected an array of strings');
    return dflt;
  }
  return Object.freeze([...v] as string[]);
}

function parseSite(problems: Problems, raw: unknown, i: number): SiteConfig | undefined {
  const where = `sites[${i}]`;
  if (typeof raw !== 'object' || raw === null) {
    problems.add(where, 'expected an object');
    return undefined;
  }
  const r = raw as Raw;
  onlyKnown(problems, r, where, SITE_KEYS);
  const id = r['id'];
  if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
    problems.add(`${where}.id`, 'expected 1-64 characters of [A-Za-z0-9_-] (it is a NATS subject token and a metric label)');
    return undefined;
  }
  const str = (k: string, d: string): string => {
    const v = r[k];
    if (v === undefined) return d;
    if (typeof v !== 'string' || v === '') {
      problems.add(`${where}.${k}`, 'expected a non-empty string');
      return d;
    }
    return v;
  };
  const timeZone = str('timeZone', 'UTC');
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    problems.add(`${where}.timeZone`, `unknown IANA time zone ${JSON.stringify(timeZone)}`);
  }
  const urlRaw = section(problems.scope(where), r, 'urlRules');
  onlyKnown(problems, urlRaw, `${where}.urlRules`, URL_RULE_KEYS);
  const groupsRaw = urlRaw['groups'] ?? (id === DEMO_SITE.id ? DEMO_SITE.urlRules.groups : DEFAULT_URL_RULES.groups);
  const groups: Array<{ pattern: string; as: string }> = [];
  if (!Array.isArray(groupsRaw)) problems.add(`${where}.urlRules.groups`, 'expected an array of {pattern, as}');
  else
    groupsRaw.forEach((g: unknown, j) => {
      const gg = g as Raw;
      if (typeof gg?.['pattern'] !== 'string' || typeof gg['as'] !== 'string') {
        problems.add(`${where}.urlRules.groups[${j}]`, 'expected {pattern: string, as: string}');
        return;
      }
      try {
        new RegExp(gg['pattern']);
        groups.push({ pattern: gg['pattern'], as: gg['as'] });
      } catch (err) {
        problems.add(`${where}.urlRules.groups[${j}].pattern`, `invalid regular expression: ${(err as Error).message}`);
      }
    });
  const procs = section(problems.scope(where), r, 'processors');
  // Listing the demo site keeps it, with its demo settings unless overridden.
  const demo = id === DEMO_SITE.id;
  // One secret must not do everything: a leaked subscriber or webhook key gives no producer rights.
  for (const k of ['subscriberSecret', 'webhookSecret']) {
    if (typeof r[k] === 'string' && r[k] !== '' && (r[k] === r['secret'] || (k === 'webhookSecret' && r[k] === r['subscriberSecret']))) {
      problems.add(`${where}.${k}`, 'must differ from the site\'s other secrets (secret, subscriberSecret, webhookSecret each do one job)');
    }
  }
  // Fails closed: a shop says which origins its snippet runs on (a typo must not mean "any Origin").
  if (!demo && r['allowedOrigins'] === undefined) {
    problems.add(`${where}.allowedOrigins`, 'must be explicit for a site other than demo: the origins the snippet runs on, or ["*"] to allow any on purpose');
  }
  return Object.freeze({
    id: id as SiteId,
    publicKey: str('publicKey', demo ? DEMO_SITE.publicKey : `${id}-public-key`),
    secret: str('secret', demo ? DEMO_SITE.secret : ''),
    subscriberSecret: str('subscriberSecret', demo ? DEMO_SITE.subscriberSecret : ''),
    webhookSecret: str('webhookSecret', demo ? DEMO_SITE.webhookSecret : ''),
    allowedOrigins: strList(problems, r, 'allowedOrigins', where, ['*']),
    timeZone,
    urlRules: Object.freeze({
      keepParams: strList(problems, urlRaw, 'keepParams', `${where}.urlRules`, id === DEMO_SITE.id ? DEMO_SITE.urlRules.keepParams : DEFAULT_URL_RULES.keepParams),
      groups: Object.freeze(groups),
      searchParam: typeof urlRaw['searchParam'] === 'string' ? urlRaw['searchParam'] : 'q',
    }),
    processors: Object.freeze(demo && r['processors'] === undefined ? { ...DEMO_SITE.processors } : { ...procs }),
    producerRateLimitPerSecond: int(problems.scope(where), r, 'producerRateLimitPerSecond', undefined, DEFAULT_PRODUCER_RATE, 1),
    producerRateLimitBurst: int(problems.scope(where), r, 'producerRateLimitBurst', undefined, 2 * DEFAULT_PRODUCER_RATE, 1),
  });
}

/**
 * Builds the config from an environment (default: process.env) and the JSON file it names in
 * CONFIG_FILE, on top of the defaults. `overrides` (tests, benchmarks) win over both.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Raw = {}, defaults: { readonly dataDir?: string } = {}): Config {
  const problems = new Problems();
  let file: Raw = {};
  const path = env['CONFIG_FILE'];
  if (path !== undefined && path !== '') {
    try {
      file = JSON.parse(readFileSync(path, 'utf8')) as Raw;
    } catch (err) {
      throw new ClickstreamError('CM_ERR_CONFIG', `cannot read CONFIG_FILE ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  const raw: Raw = { ...file, ...overrides };
  onlyKnown(problems, raw, '', TOP_KEYS);
  const ing = section(problems, raw, 'ingest');
  const tim = section(problems, raw, 'time');
  const per = section(problems, raw, 'persistence');
  const off = section(problems, raw, 'offers');
  const nat = section(problems, raw, 'nats');
  onlyKnown(problems, nat, 'nats', NATS_KEYS);
  const natP = problems.scope('nats');
  const adm = section(problems, raw, 'admin');
  onlyKnown(problems, adm, 'admin', ADMIN_KEYS);
  const tokenOf = (key: string, envValue: string | undefined): string | undefined => {
    const v = envValue ?? adm[key];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string' || v.length < 16) {
      problems.add(`admin.${key}`, 'expected a string of at least 16 characters');
      return undefined;
    }
    return v;
  };
  onlyKnown(problems, ing, 'ingest', INGEST_KEYS);
  onlyKnown(problems, tim, 'time', TIME_KEYS);
  onlyKnown(problems, off, 'offers', OFFERS_KEYS);
  onlyKnown(problems, per, 'persistence', PERSISTENCE_KEYS);
  // Problems inside a section are reported with its path (`ingest.maxBatchEvents`, not `maxBatchEvents`).
  const [ingP, timP, offP, perP] = [problems.scope('ingest'), problems.scope('time'), problems.scope('offers'), problems.scope('persistence')];
  const adminHost = env['ADMIN_HOST'] ?? (typeof raw['adminHost'] === 'string' ? raw['adminHost'] : '127.0.0.1');
  const dataDirRaw = env['DATA_DIR'] ?? (typeof raw['dataDir'] === 'string' ? raw['dataDir'] : undefined) ?? defaults.dataDir;
  // `sites` replaces the built-in demo site unless it lists it; without `sites` the demo is there for a new user.
  const sites = new Map<string, SiteConfig>(raw['sites'] === undefined ? [[DEMO_SITE.id, DEMO_SITE]] : []);
  const sitesRaw = raw['sites'] ?? [];
  if (!Array.isArray(sitesRaw)) problems.add('sites', 'expected an array');
  else
    sitesRaw.forEach((s, i) => {
      const site = parseSite(problems, s, i);
      if (site !== undefined) sites.set(site.id, site);
    });
  const paneMs = dur(timP, tim, 'pane', undefined, DEFAULT_PANE_MS);
  const retentionPanes = int(timP, tim, 'retentionPanes', undefined, DEFAULT_RETENTION_PANES, 1);
  const natsUrl = env['NATS_URL'] ?? (typeof raw['natsUrl'] === 'string' ? raw['natsUrl'] : undefined);
  const instanceId = instanceIdOf(natP, env['INSTANCE_ID'] ?? (typeof nat['instanceId'] === 'string' ? nat['instanceId'] : undefined), natsUrl, env['PORT'] ?? String(raw['port'] ?? DEFAULT_PORT));
  const config: Config = {
    port: int(problems, raw, 'port', env['PORT'], DEFAULT_PORT, 0, 65535),
    adminPort: int(problems, raw, 'adminPort', env['ADMIN_PORT'], DEFAULT_ADMIN_PORT, 0, 65535),
    host: env['HOST'] ?? (typeof raw['host'] === 'string' ? raw['host'] : '0.0.0.0'),
    adminHost,
    admin: Object.freeze({
      token: tokenOf('token', env['ADMIN_TOKEN']),
      readToken: tokenOf('readToken', env['ADMIN_READ_TOKEN']),
      openMetrics: adm['openMetrics'] === true || env['ADMIN_OPEN_METRICS'] === '1',
      allowedHosts: strList(problems, adm, 'allowedHosts', 'admin', [...new Set(['127.0.0.1', 'localhost', '[::1]', adminHost])]),
      maxFailuresPerMinute: int(problems.scope('admin'), adm, 'maxFailuresPerMinute', undefined, 20, 1),
    }),
    natsUrl: natsUrl === '' ? undefined : natsUrl,
    dataDir: dataDirRaw === '' ? undefined : dataDirRaw,
    persistence: Object.freeze({
      snapshotIntervalMs: dur(perP, per, 'snapshotInterval', env['SNAPSHOT_INTERVAL'], DEFAULT_SNAPSHOT_INTERVAL_MS),
      snapshotEvents: int(perP, per, 'snapshotEvents', env['SNAPSHOT_EVENTS'], 1_000_000, 1),
    }),
    nats: Object.freeze({
      replicas: int(natP, nat, 'replicas', env['NATS_REPLICAS'], 1, 1, 5),
      maxAgeMs: dur(natP, nat, 'maxAge', undefined, 7 * 86_400_000),
      maxBytes: int(natP, nat, 'maxBytes', undefined, 8 * 1024 ** 3, 1024 * 1024),
      duplicateWindowMs: dur(natP, nat, 'duplicateWindow', undefined, 10 * 60_000),
      publishTimeoutMs: dur(natP, nat, 'publishTimeout', undefined, 5_000),
      maxInFlight: int(natP, nat, 'maxInFlight', undefined, 2_000, 1),
      instanceId,
      role: roleOf(natP, env['INSTANCE_ROLE'] ?? nat['role'], natsUrl, instanceId !== undefined),
      leaseTtlMs: dur(natP, nat, 'leaseTtl', env['LEASE_TTL'], 10_000),
      queryTimeoutMs: dur(natP, nat, 'queryTimeout', undefined, 2_000),
      rulesIntervalMs: dur(natP, nat, 'rulesInterval', env['RULES_INTERVAL'], 5_000),
      // Under nats-server's default 1 MiB max payload, with room for the key and headers.
      partialInlineMaxBytes: int(natP, nat, 'partialInlineMaxBytes', env['PARTIAL_INLINE_MAX_BYTES'], 512 * 1024, 1, 900 * 1024),
    }),
    partitions: int(problems, raw, 'partitions', env['PARTITIONS'], DEFAULT_PARTITIONS, 1, 4096),
    ingest: Object.freeze({
      maxFrameBytes: int(ingP, ing, 'maxFrameBytes', undefined, 256 * 1024, 1024),
      maxBodyBytes: int(ingP, ing, 'maxBodyBytes', undefined, 256 * 1024, 1024),
      maxBatchEvents: int(ingP, ing, 'maxBatchEvents', undefined, 500, 1),
      maxFutureSkewMs: dur(ingP, ing, 'maxFutureSkew', undefined, DEFAULT_MAX_FUTURE_SKEW_MS),
      maxEventAgeMs: dur(ingP, ing, 'maxEventAge', undefined, DEFAULT_MAX_EVENT_AGE_MS),
      clockToleranceMs: dur(ingP, ing, 'clockTolerance', undefined, DEFAULT_CLOCK_TOLERANCE_MS),
      maxClockOffsets: int(ingP, ing, 'maxClockOffsets', undefined, DEFAULT_MAX_CLOCK_OFFSETS, 1),
      dedupeCapacity: int(ingP, ing, 'dedupeCapacity', undefined, 1_000_000, 1),
      dedupeTtlMs: dur(ingP, ing, 'dedupeTtl', undefined, 3_600_000),
      rateLimitPerSecond: int(ingP, ing, 'rateLimitPerSecond', undefined, 2_000, 1),
      rateLimitBurst: int(ingP, ing, 'rateLimitBurst', undefined, 5_000, 1),
      rateLimitPerIpPerSecond: int(ingP, ing, 'rateLimitPerIpPerSecond', undefined, 10_000, 1),
      rateLimitPerIpBurst: int(ingP, ing, 'rateLimitPerIpBurst', undefined, 20_000, 1),
      rateLimitPerVisitorPerSecond: int(ingP, ing, 'rateLimitPerVisitorPerSecond', undefined, 50, 1),
      rateLimitPerVisitorBurst: int(ingP, ing, 'rateLimitPerVisitorBurst', undefined, 1_000, 1),
      rateLimitBytesPerSecond: int(ingP, ing, 'rateLimitBytesPerSecond', undefined, 4 * 1024 * 1024, 1024),
      rateLimitBytesBurst: int(ingP, ing, 'rateLimitBytesBurst', undefined, 16 * 1024 * 1024, 1024),
      queueCapacity: int(ingP, ing, 'queueCapacity', undefined, 100_000, 1),
      quarantineCapacity: int(ingP, ing, 'quarantineCapacity', undefined, 1_000, 1),
      retryAfterSeconds: int(ingP, ing, 'retryAfterSeconds', undefined, 1, 1),
      rateLimitMaxClients: int(ingP, ing, 'rateLimitMaxClients', undefined, 100_000, 1),
      maxVisitorSockets: int(ingP, ing, 'maxVisitorSockets', undefined, 100_000, 1),
      wsHeartbeatMs: dur(ingP, ing, 'wsHeartbeat', undefined, 30_000),
      siteQueueShare: share(ingP, ing['siteQueueShare']),
    }),
    time: Object.freeze({
      outOfOrdernessMs: dur(timP, tim, 'outOfOrderness', undefined, DEFAULT_OUT_OF_ORDERNESS_MS),
      idleTimeoutMs: dur(timP, tim, 'idleTimeout', undefined, DEFAULT_IDLE_TIMEOUT_MS),
      allowedLatenessMs: dur(timP, tim, 'allowedLateness', undefined, paneMs * retentionPanes),
      paneMs,
      retentionPanes,
      sessionGapMs: dur(timP, tim, 'sessionGap', env['SESSION_GAP'], DEFAULT_SESSION_GAP_MS),
      sessionMaxMs: dur(timP, tim, 'sessionMax', undefined, DEFAULT_SESSION_MAX_MS),
      maxVisitors: int(timP, tim, 'maxVisitors', undefined, 200_000, 1),
      maxPagesPerSession: int(timP, tim, 'maxPagesPerSession', undefined, DEFAULT_MAX_SESSION_PAGES, 1, 100_000),
      tickMs: dur(timP, tim, 'tick', undefined, 1_000),
    }),
    offers: Object.freeze({
      subscriberQueue: int(offP, off, 'subscriberQueue', undefined, 1_000, 1),
      subscriberHighWaterBytes: int(offP, off, 'subscriberHighWaterBytes', undefined, 1024 * 1024, 1024),
      maxSubscribersPerSite: int(offP, off, 'maxSubscribersPerSite', undefined, 100, 1),
      webhookMaxAttempts: int(offP, off, 'webhookMaxAttempts', undefined, 5, 1, 100),
      webhookBaseDelayMs: dur(offP, off, 'webhookBaseDelay', undefined, 1_000),
      webhookMaxDelayMs: dur(offP, off, 'webhookMaxDelay', undefined, 60_000),
      webhookTimeoutMs: dur(offP, off, 'webhookTimeout', undefined, 5_000),
      webhookMaxPending: int(offP, off, 'webhookMaxPending', undefined, 10_000, 1),
      deadLetterCapacity: int(offP, off, 'deadLetterCapacity', undefined, 1_000, 1),
      attributionHorizonMs: dur(offP, off, 'attributionHorizon', undefined, 24 * 3_600_000),
      attributionMaxVisitors: int(offP, off, 'attributionMaxVisitors', undefined, 200_000, 1),
      maxNatsInFlight: int(offP, off, 'maxNatsInFlight', undefined, 10_000, 1),
      catalogProducts: int(offP, off, 'catalogProducts', undefined, 10_000, 1),
      allowQueryToken: off['allowQueryToken'] === true,
      maxAuthFailuresPerMinute: int(offP, off, 'maxAuthFailuresPerMinute', undefined, 20, 1),
    }),
    sites,
    logLevel: env['LOG_LEVEL'] ?? (typeof raw['logLevel'] === 'string' ? raw['logLevel'] : 'info'),
    shutdownTimeoutMs: dur(problems, raw, 'shutdownTimeout', env['SHUTDOWN_TIMEOUT'], 10_000),
  };
  if (config.time.paneMs <= 0) problems.add('time.pane', 'must be positive');
  if (config.persistence.snapshotIntervalMs < 100) problems.add('persistence.snapshotInterval', 'must be at least 100 ms');
  if (config.nats.duplicateWindowMs < 1_000 || config.nats.duplicateWindowMs > config.nats.maxAgeMs) problems.add('nats.duplicateWindow', 'must be at least 1 s and at most nats.maxAge');
  // NATS mode reads one log message (up to a whole batch) into the queue at once.
  if (config.natsUrl !== undefined && config.ingest.queueCapacity < config.ingest.maxBatchEvents) {
    problems.add('ingest.queueCapacity', `must hold at least one whole batch in NATS mode (ingest.maxBatchEvents = ${config.ingest.maxBatchEvents})`);
  }
  if (config.nats.publishTimeoutMs < 100) problems.add('nats.publishTimeout', 'must be at least 100 ms');
  if (config.ingest.wsHeartbeatMs < 10) problems.add('ingest.wsHeartbeat', 'must be at least 10 ms');
  if (config.time.allowedLatenessMs > config.time.paneMs * config.time.retentionPanes) {
    problems.add('time.allowedLateness', `must not exceed the retained panes (pane × retentionPanes = ${config.time.paneMs * config.time.retentionPanes} ms): an event could count in no pane`);
  }
  if (problems.list.length > 0) {
    throw new ClickstreamError('CM_ERR_CONFIG', `invalid configuration:\n  ${problems.list.join('\n  ')}`);
  }
  return Object.freeze(config);
}

/**
 * The scale-out role (`INSTANCE_ROLE`): `all`, or `gateway`, which needs NATS and an instance id
 * (someone else owns the partitions); anything else is a config error.
 */
function roleOf(problems: Problems, raw: unknown, natsUrl: string | undefined, scaledOut: boolean): 'all' | 'gateway' {
  if (raw === undefined || raw === '' || raw === 'all') return 'all';
  if (raw !== 'gateway') {
    problems.add('role', `expected "all" or "gateway", got ${JSON.stringify(raw)}`);
    return 'all';
  }
  if (natsUrl === undefined || natsUrl === '') problems.add('role', 'a gateway writes the event log: it needs NATS_URL');
  else if (!scaledOut) problems.add('role', 'a gateway leaves the partitions to other instances: set INSTANCE_ID (or list several servers in NATS_URL)');
  return 'gateway';
}

/**
 * The scale-out instance id: configured (letters, digits, `-`, `_`; it is a KV key), or, when NATS_URL
 * lists several servers, this host's name and port; otherwise none (one instance owns every partition).
 */
function instanceIdOf(problems: Problems, configured: string | undefined, natsUrl: string | undefined, port: string): string | undefined {
  if (configured !== undefined && configured !== '') {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(configured)) problems.add('instanceId', 'expected 1 to 64 letters, digits, "-" or "_"');
    return configured;
  }
  if (natsUrl === undefined || !natsUrl.includes(',')) return undefined;
  return `${hostname().replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 48)}-${port}`;
}
