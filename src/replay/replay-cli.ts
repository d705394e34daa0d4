/**
 * `clickstream-miner replay <file> --format kosarak|diginetica|retail|ndjson [--url ws://…] [--in-process]
 *  [--rate N] [--no-shift] …` — streams a data set into a running server over WS /v1/collect, or into an
 * in-process app, as v1 batches (DESIGN.md §3 "Replaying history").
 *
 * Time: by default the timeline is shifted so the first event is "now" (gaps kept), and over a socket
 * a batch is only sent once its last event is at most `--lead` ahead of the wall clock, so the
 * server's timestamp checks and watermarks see live traffic. `--speed F` divides every gap by F.
 * In-process, a manual clock follows event time, so any timeline replays as fast as the CPU allows.
 *
 * Delivery: every batch waits for its ack; a `retry` (overloaded, rate limited, shutting down) is
 * resent after the advised delay — nothing is skipped. The summary (stdout, one JSON line) counts
 * accepted, late, duplicate and rejected events by reason.
 *
 * `--backfill` is the bulk-load job: no pacing, as fast as the server takes it (retries resent), the
 * timeline shifted so the data ends now (or `--no-shift`: original times, which the server must allow
 * with `ingest.maxEventAge`), 16 batches in flight; `--secret` sends the site secret so producer limits
 * apply. Event time comes from the data, so the server's statistics and rules afterwards equal those of
 * `replay --in-process` on the same file. A rerun is mostly duplicates (the server remembers ids): the
 * tool says so on stderr; `--run-id X` prefixes every event id to send the data as a fresh run.
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { createApp } from '../app';
import { ManualClock, SystemClock, type Clock } from '../clock';
import { loadConfig } from '../config';
import { ClickstreamError } from '../errors';
import { createLogger } from '../logger';
import {
  DATASET_FORMATS,
  digineticaEvents,
  kosarakEvents,
  ndjsonEvents,
  readDigineticaViews,
  readKosarakSessions,
  readNdjsonEvents,
  readRetailBaskets,
  retailEvents,
  type DatasetFormat,
} from './dataset-readers';

export const DEFAULT_REPLAY_URL = 'ws://127.0.0.1:8080/v1/collect?site=demo';

/**
 * The collect URL a CLI sends to by default: the local server on the configured port (`PORT` or
 * CONFIG_FILE, as `serve` reads it), for `site`.
 */
export function defaultCollectUrl(site = 'demo'): string {
  let port = 8080;
  try {
    port = loadConfig().port;
  } catch {
    // a broken config is `serve`'s to report; the CLI falls back to the default port
  }
  return `ws://127.0.0.1:${port}/v1/collect?site=${encodeURIComponent(site)}`;
}

/** The demo storefront next to a collect URL (same host and port, http(s)). */
export function storefrontUrl(collectUrl: string): string {
  const u = new URL(collectUrl);
  return `${u.protocol === 'wss:' ? 'https' : 'http'}://${u.host}/demo`;
}
/** Events per batch (the server's default maximum is 500). */
export const DEFAULT_BATCH_EVENTS = 200;
/** Events per second over a socket: below the server's default per-connection limit of 2,000. */
export const DEFAULT_SOCKET_RATE = 1_500;
/** How far ahead of the wall clock a sent event may be, ms (the server refuses > 10 min by default). */
export const DEFAULT_LEAD_MS = 60_000;
/** Batches awaiting their ack at once over a socket. */
const MAX_IN_FLIGHT = 8;
/** Batches in flight during a backfill. */
const BACKFILL_IN_FLIGHT = 16;
/** A run whose acks are more than this share duplicates gets a warning on stderr. */
const DUPLICATE_WARNING_SHARE = 0.5;

export interface ReplayOptions {
  readonly file: string;
  readonly format: DatasetFormat;
  /** WS collect URL; undefined with `inProcess`. */
  readonly url: string | undefined;
  readonly inProcess: boolean;
  /** Site id for in-process replays (over a socket it is in the URL). */
  readonly site: string;
  /** Events per second, 0 = unlimited. */
  readonly rate: number;
  readonly shift: boolean;
  readonly speed: number;
  readonly batch: number;
  readonly leadMs: number;
  /** Replay only the first N events (0 = all). */
  readonly limit: number;
  readonly clickGapMs: number | undefined;
  readonly sessionSpacingMs: number | undefined;
  /** Timeline start without shifting (synthetic formats), epoch ms. */
  readonly startMs: number;
  readonly progress: boolean;
  /** Bulk load: no pacing, no rate, data ending now (when shifted). */
  readonly backfill: boolean;
  /** Site secret sent as `Authorization: Bearer` (trusted producer limits). */
  readonly secret: string | undefined;
  /** Prefix for every event id ('' = none): sends the same data again as a fresh run. */
  readonly runId: string;
}

export interface ReplaySummary {
  readonly format: DatasetFormat;
  /** The collect URL, or the in-process site. */
  readonly target: string;
  /** Events sent (each once, however many retries), count. */
  readonly events: number;
  /** Batches sent, count. */
  readonly batches: number;
  /** Events the server acknowledged as accepted, count. */
  readonly accepted: number;
  /** Events the server dropped as already seen, count. */
  readonly duplicates: number;
  /** Events acknowledged but too old to count (the server's late side output), count. */
  readonly late: number;
  /** Events refused, by reason code. */
  readonly rejected: Record<string, number>;
  /** Batches resent after a `retry`. */
  readonly retries: number;
  /** Wall-clock duration of the replay, seconds. */
  readonly seconds: number;
  /** events / seconds. */
  readonly eventsPerSecond: number;
  /** Event time of the first and last event sent, ISO-8601. */
  readonly firstEvent: string | null;
  readonly lastEvent: string | null;
}

const USAGE = `usage: clickstream-miner replay <file> --format kosarak|diginetica|retail|ndjson
  [--url ws://127.0.0.1:8080/v1/collect?site=demo] [--in-process] [--site demo]
  [--rate N events/s] [--no-shift] [--speed F] [--batch N] [--lead ms] [--limit N]
  [--click-gap ms] [--session-spacing ms] [--start ISO-instant] [--quiet]
  [--backfill] [--secret SITE_SECRET] [--run-id ID]`;

/** What a subcommand's argument parser returns. */
export type CliParse<O> = { readonly kind: 'ok'; readonly options: O } | { readonly kind: 'error'; readonly message: string } | { readonly kind: 'help' };
type ParseResult = CliParse<ReplayOptions>;

export function parseReplayArgs(argv: readonly string[]): ParseResult {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        format: { type: 'string' },
        url: { type: 'string' },
        'in-process': { type: 'boolean', default: false },
        site: { type: 'string' },
        rate: { type: 'string' },
        'no-shift': { type: 'boolean', default: false },
        speed: { type: 'string' },
        batch: { type: 'string' },
        lead: { type: 'string' },
        limit: { type: 'string' },
        'click-gap': { type: 'string' },
        'session-spacing': { type: 'string' },
        start: { type: 'string' },
        quiet: { type: 'boolean', default: false },
        backfill: { type: 'boolean', default: false },
        secret: { type: 'string' },
        'run-id': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    return { kind: 'error', message: (err as Error).message };
  }
  if (values.help) return { kind: 'help' };
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) return { kind: 'error', message: 'expected exactly one data file' };
  const format = values.format;
  if (format === undefined || !(DATASET_FORMATS as readonly string[]).includes(format)) {
    return { kind: 'error', message: `--format must be one of ${DATASET_FORMATS.join(', ')}` };
  }
  const problems: string[] = [];
  const num = (name: string, v: string | undefined, dflt: number, min: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) {
      problems.push(`--${name} must be a number >= ${min}`);
      return dflt;
    }
    return n;
  };
  const inProcess = values['in-process'];
  if (inProcess && values.url !== undefined) problems.push('--url and --in-process exclude each other');
  const url = inProcess ? undefined : (values.url ?? defaultCollectUrl(values.site ?? 'demo'));
  if (url !== undefined && !/^wss?:\/\//.test(url)) problems.push('--url must be a ws:// or wss:// collect URL');
  let startMs = Date.UTC(2026, 0, 1);
  if (values.start !== undefined) {
    startMs = Date.parse(values.start);
    if (!Number.isFinite(startMs)) problems.push('--start must be an ISO-8601 instant');
  }
  const backfill = values.backfill;
  if (backfill && inProcess) problems.push('--backfill sends to a server: it excludes --in-process');
  const runId = values['run-id'] ?? '';
  if (!/^[A-Za-z0-9_-]{0,16}$/.test(runId)) problems.push('--run-id must be up to 16 characters of [A-Za-z0-9_-]');
  const siteFromUrl = url === undefined ? undefined : (new URL(url).searchParams.get('site') ?? undefined);
  const options: ReplayOptions = {
    file,
    format: format as DatasetFormat,
    url,
    inProcess,
    site: values.site ?? siteFromUrl ?? 'demo',
    rate: num('rate', values.rate, inProcess || backfill ? 0 : DEFAULT_SOCKET_RATE, 0),
    shift: !values['no-shift'],
    speed: num('speed', values.speed, 1, 1e-6),
    batch: Math.floor(num('batch', values.batch, DEFAULT_BATCH_EVENTS, 1)),
    leadMs: num('lead', values.lead, DEFAULT_LEAD_MS, 0),
    limit: Math.floor(num('limit', values.limit, 0, 0)),
    clickGapMs: values['click-gap'] === undefined ? undefined : num('click-gap', values['click-gap'], 0, 0),
    sessionSpacingMs: values['session-spacing'] === undefined ? undefined : num('session-spacing', values['session-spacing'], 0, 0),
    startMs,
    progress: !values.quiet,
    backfill,
    secret: values.secret,
    runId,
  };
  if (problems.length > 0) return { kind: 'error', message: problems.join('; ') };
  return { kind: 'ok', options };
}

/** One event as sent on the wire (a v1 event object; `ts` in epoch ms). */
export type WireEvent = Record<string, unknown> & { ts: number };

/** Reads the file and builds its events on the replay timeline (shifted, sped up, limited). */
export function buildReplayEvents(o: ReplayOptions, nowMs: number): WireEvent[] {
  const timeline = { startMs: o.shift ? nowMs : o.startMs, ...(o.clickGapMs === undefined ? {} : { clickGapMs: o.clickGapMs }), ...(o.sessionSpacingMs === undefined ? {} : { sessionSpacingMs: o.sessionSpacingMs }) };
  let events: WireEvent[];
  switch (o.format) {
    case 'kosarak':
      events = kosarakEvents(readKosarakSessions(o.file), timeline) as unknown as WireEvent[];
      break;
    case 'diginetica':
      events = digineticaEvents(readDigineticaViews(o.file), timeline) as unknown as WireEvent[];
      break;
    case 'retail':
      events = retailEvents(readRetailBaskets(o.file), timeline) as unknown as WireEvent[];
      break;
    case 'ndjson': {
      const raw = ndjsonEvents(readNdjsonEvents(o.file));
      // Events without a numeric ts go through unchanged: the server rejects them with a reason.
      events = raw.map((e) => e as WireEvent);
      const timed = events.filter((e) => typeof e.ts === 'number' && Number.isFinite(e.ts));
      if (o.shift && timed.length > 0) {
        const first = timed.reduce((m, e) => Math.min(m, e.ts), Number.POSITIVE_INFINITY);
        const delta = nowMs - first;
        events = events.map((e) => (typeof e.ts === 'number' ? { ...e, ts: e.ts + delta } : e));
      }
      events.sort((a, b) => (typeof a.ts === 'number' && typeof b.ts === 'number' ? a.ts - b.ts : 0));
      break;
    }
    default: {
      const _exhaustive: never = o.format;
      return _exhaustive;
    }
  }
  if (o.limit > 0 && events.length > o.limit) events = events.slice(0, o.limit);
  if (o.speed !== 1 && events.length > 0) {
    const first = events[0]!.ts;
    for (const e of events) if (typeof e.ts === 'number') e.ts = first + Math.round((e.ts - first) / o.speed);
  }
  if (o.backfill && o.shift && events.length > 0) {
    // A backfill is history: the data ends a second ago instead of starting now.
    const last = events.reduce((m, e) => (typeof e.ts === 'number' && e.ts > m ? e.ts : m), Number.NEGATIVE_INFINITY);
    const delta = nowMs - 1_000 - last;
    for (const e of events) if (typeof e.ts === 'number') e.ts += delta;
  }
  if (o.runId !== '') for (const e of events) if (typeof e['id'] === 'string') e['id'] = `${o.runId}.${e['id']}`;
  return events;
}

// ── sinks ─────────────────────────────────────────────────────────────────────────────────────

type SendResult =
  | { readonly kind: 'ack'; readonly accepted: number; readonly late: number; readonly duplicates: number; readonly rejected: ReadonlyArray<{ readonly code: string }> }
  | { readonly kind: 'retry'; readonly retryAfterMs: number };

interface Sink {
  /** Sends one batch (already stamped with seq and sentAt) and resolves with the server's answer. */
  send(seq: number, events: readonly WireEvent[], lastTs: number): Promise<SendResult>;
  close(): Promise<void>;
}

/**
 * Batches over one WebSocket at a time. When the server goes away (a restart, a crash) the batches
 * awaiting an answer are retried and the next send reconnects, for up to `RECONNECT_BUDGET_MS`: a
 * replay survives a server restart, and the resends are idempotent (same batch, same event ids).
 */
class SocketSink implements Sink {
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #clock: Clock;
  readonly #pending = new Map<number, (r: SendResult) => void>();
  #ws: WebSocket;
  #closed = false;
  #closing = false;
  #reconnecting: Promise<void> | undefined;

  private constructor(url: string, headers: Record<string, string>, ws: WebSocket, clock: Clock) {
    this.#url = url;
    this.#headers = headers;
    this.#clock = clock;
    this.#ws = ws;
    this.#attach(ws);
  }

  /** `clock` stamps each batch's `sentAt` (the server corrects device skew against it). */
  static async open(url: string, userAgent: string, secret?: string, clock: Clock = new SystemClock()): Promise<SocketSink> {
    const headers: Record<string, string> = { 'user-agent': userAgent };
    if (secret !== undefined) headers['authorization'] = `Bearer ${secret}`;
    return new SocketSink(url, headers, await connectSocket(url, headers), clock);
  }

  #attach(ws: WebSocket): void {
    ws.on('message', (data) => this.#onMessage(String(data)));
    ws.on('error', () => undefined); // a 'close' follows
    ws.on('close', () => {
      this.#closed = true;
      for (const resolve of this.#pending.values()) resolve({ kind: 'retry', retryAfterMs: 200 });
      this.#pending.clear();
    });
  }

  async send(seq: number, events: readonly WireEvent[]): Promise<SendResult> {
    if (this.#closed) await this.#reconnect();
    return new Promise((resolve) => {
      this.#pending.set(seq, resolve);
      this.#ws.send(JSON.stringify({ type: 'batch', seq, sentAt: this.#clock.now(), events }));
    });
  }

  #reconnect(): Promise<void> {
    this.#reconnecting ??= (async () => {
      const deadline = Date.now() + RECONNECT_BUDGET_MS;
      for (;;) {
        try {
          const ws = await connectSocket(this.#url, this.#headers);
          this.#ws = ws;
          this.#closed = false;
          this.#attach(ws);
          return;
        } catch (err) {
          if (this.#closing || Date.now() > deadline) throw new ClickstreamError('CM_ERR_REPLAY', `the server at ${this.#url} went away and did not come back within ${RECONNECT_BUDGET_MS / 1000} s`, { cause: err });
          await sleep(250);
        }
      }
    })().finally(() => {
      this.#reconnecting = undefined;
    });
    return this.#reconnecting;
  }

  #onMessage(text: string): void {
    let msg: { type?: unknown; seq?: unknown; accepted?: unknown; late?: unknown; duplicates?: unknown; rejected?: unknown; retryAfterMs?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return;
    }
    if (typeof msg.seq !== 'number') return; // offers and frame-level answers without a seq
    const resolve = this.#pending.get(msg.seq);
    if (resolve === undefined) return;
    this.#pending.delete(msg.seq);
    if (msg.type === 'retry') resolve({ kind: 'retry', retryAfterMs: typeof msg.retryAfterMs === 'number' ? msg.retryAfterMs : 1_000 });
    else if (msg.type === 'ack') {
      resolve({
        kind: 'ack',
        accepted: typeof msg.accepted === 'number' ? msg.accepted : 0,
        late: typeof msg.late === 'number' ? msg.late : 0,
        duplicates: typeof msg.duplicates === 'number' ? msg.duplicates : 0,
        rejected: Array.isArray(msg.rejected) ? (msg.rejected as Array<{ code: string }>) : [],
      });
    }
  }

  close(): Promise<void> {
    this.#closing = true;
    return new Promise((resolve) => {
      if (this.#ws.readyState === WebSocket.CLOSED) return resolve();
      this.#ws.once('close', () => resolve());
      this.#ws.close(1000, 'replay done');
    });
  }
}

/** How long a replay keeps reconnecting to a server that went away, ms. */
const RECONNECT_BUDGET_MS = 120_000;

function connectSocket(url: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      reject(new ClickstreamError('CM_ERR_REPLAY', `${url} refused the WebSocket upgrade: HTTP ${res.statusCode ?? '?'}`));
      ws.terminate();
    });
    ws.once('error', (err) => reject(new ClickstreamError('CM_ERR_REPLAY', `cannot connect to ${url}: ${err.message}`, { cause: err })));
  });
}

/** An app in this process with a manual clock that follows event time (no ports are opened). */
class InProcessSink implements Sink {
  readonly #app: ReturnType<typeof createApp>;
  readonly #clock: ManualClock;
  readonly #site: NonNullable<ReturnType<ReturnType<typeof loadConfig>['sites']['get']>>;
  readonly #config: ReturnType<typeof loadConfig>;

  constructor(site: string, startMs: number) {
    this.#config = loadConfig();
    const s = this.#config.sites.get(site);
    if (s === undefined) throw new ClickstreamError('CM_ERR_REPLAY', `no site ${JSON.stringify(site)} in the configuration`);
    this.#site = s;
    this.#clock = new ManualClock(startMs);
    this.#app = createApp({ config: this.#config, clock: this.#clock, logger: createLogger('warn') });
  }

  get app(): ReturnType<typeof createApp> {
    return this.#app;
  }

  async send(seq: number, events: readonly WireEvent[], lastTs: number): Promise<SendResult> {
    if (lastTs > this.#clock.now()) this.#clock.set(lastTs);
    const raw = JSON.stringify({ type: 'batch', seq, sentAt: this.#clock.now(), events });
    const outcome = this.#app.gateway.collectSync(this.#site, {
      transport: 'nats',
      raw,
      limit: { maxBytes: this.#config.ingest.maxFrameBytes, tooLargeCode: 'frame_too_large' },
      client: undefined,
      userAgent: 'clickstream-miner-replay',
    });
    switch (outcome.kind) {
      case 'ack':
        if (this.#app.pipeline.queueDepth > this.#config.ingest.queueCapacity / 2) await this.#app.pipeline.drain();
        return { kind: 'ack', accepted: outcome.ack.accepted, late: outcome.ack.late, duplicates: outcome.ack.duplicates, rejected: outcome.ack.rejected };
      case 'retry':
        await this.#app.pipeline.drain();
        return { kind: 'retry', retryAfterMs: 0 };
      default: {
        const _exhaustive: never = outcome;
        return _exhaustive;
      }
    }
  }

  /** Processes what is queued, then writes a tick record past every session gap: all sessions close, no pane expires. */
  async finish(): Promise<void> {
    await this.#app.pipeline.drain();
    const t = this.#config.time;
    this.#clock.advance(t.sessionGapMs + t.outOfOrdernessMs + t.idleTimeoutMs + 2 * t.paneMs);
    this.#app.pipeline.tick();
  }

  async close(): Promise<void> {
    await this.#app.stop();
  }
}

// ── progress ──────────────────────────────────────────────────────────────────────────────────

/** Seconds as `1 h 02 min`, `3 min 05 s` or `42 s`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${s} s`;
}

/** A one-line progress bar on stderr (redrawn at most 5 times a second; one line per 10 % when not a TTY). */
class ProgressBar {
  readonly #total: number;
  readonly #enabled: boolean;
  readonly #tty = process.stderr.isTTY === true;
  readonly #t0 = Date.now();
  #last = 0;
  #lastDecile = -1;

  constructor(total: number, enabled: boolean) {
    this.#total = total;
    this.#enabled = enabled;
  }

  update(done: number, force = false): void {
    if (!this.#enabled || this.#total === 0) return;
    const now = Date.now();
    const frac = Math.min(1, done / this.#total);
    const secs = Math.max(0.001, (now - this.#t0) / 1000);
    const rate = done / secs;
    const eta = done > 0 && done < this.#total ? ` ETA ${duration((this.#total - done) / rate)}` : '';
    const line = `[${'#'.repeat(Math.round(frac * 30)).padEnd(30, '-')}] ${(frac * 100).toFixed(1).padStart(5)}% ${done.toLocaleString('en')}/${this.#total.toLocaleString('en')} events ${Math.round(rate).toLocaleString('en')} ev/s${eta}`;
    if (this.#tty) {
      if (!force && now - this.#last < 200) return;
      this.#last = now;
      process.stderr.write(`\r${line}`);
      if (force) process.stderr.write('\n');
    } else {
      const decile = Math.floor(frac * 10);
      if (decile === this.#lastDecile && !force) return;
      this.#lastDecile = decile;
      process.stderr.write(`${line}\n`);
    }
  }
}

// ── main loop ─────────────────────────────────────────────────────────────────────────────────

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** How events are paced and batched on their way to a sink. */
export interface DeliveryOptions {
  /** Events per batch. */
  readonly batch: number;
  /** Events per second, 0 = unlimited. */
  readonly rate: number;
  /** Hold each batch until its last event is at most `leadMs` ahead of the wall clock. */
  readonly pace: boolean;
  /** How far ahead of the wall clock a sent event may be, ms. */
  readonly leadMs: number;
  /** Batches awaiting their ack at once. */
  readonly maxInFlight: number;
  /** Draw a progress bar on stderr. */
  readonly progress: boolean;
}

/** What a delivery did (counts as in ReplaySummary). */
export interface DeliveryCounts {
  readonly events: number;
  readonly batches: number;
  readonly accepted: number;
  readonly late: number;
  readonly duplicates: number;
  readonly rejected: Record<string, number>;
  readonly retries: number;
  /** Event time of the last event sent, epoch ms. */
  readonly lastTs: number | undefined;
}

/** Sends events in order as acked batches; a `retry` is resent after the advised delay, nothing is skipped. */
async function deliverEvents(sink: Sink, events: readonly WireEvent[], o: DeliveryOptions): Promise<DeliveryCounts> {
  const t0 = Date.now();
  const bar = new ProgressBar(events.length, o.progress);
  const rejected: Record<string, number> = {};
  let accepted = 0;
  let late = 0;
  let duplicates = 0;
  let retries = 0;
  let batches = 0;
  let sent = 0;
  let seq = 0;
  let lastTs: number | undefined;
  const inFlight = new Set<Promise<void>>();

  const deliver = async (batch: WireEvent[], batchLastTs: number): Promise<void> => {
    for (;;) {
      const r = await sink.send(++seq, batch, batchLastTs);
      if (r.kind === 'retry') {
        retries++;
        await sleep(r.retryAfterMs);
        continue;
      }
      accepted += r.accepted;
      late += r.late;
      duplicates += r.duplicates;
      for (const x of r.rejected) rejected[x.code] = (rejected[x.code] ?? 0) + 1;
      return;
    }
  };

  try {
    for (let i = 0; i < events.length; i += o.batch) {
      const batch = events.slice(i, i + o.batch);
      const batchLastTs = batch.reduce((m, e) => (typeof e.ts === 'number' && e.ts > m ? e.ts : m), Number.NEGATIVE_INFINITY);
      if (Number.isFinite(batchLastTs)) lastTs = batchLastTs;
      // Over a socket, never run further ahead of the wall clock than the lead (the server refuses the future).
      if (o.pace && Number.isFinite(batchLastTs)) {
        const wait = batchLastTs - o.leadMs - Date.now();
        if (wait > 0) await sleep(wait);
      }
      if (o.rate > 0) {
        const wait = ((sent + batch.length) / o.rate) * 1000 - (Date.now() - t0);
        if (wait > 0) await sleep(wait);
      }
      const p = deliver(batch, batchLastTs).finally(() => inFlight.delete(p));
      p.catch(() => undefined); // awaited below; this only marks it handled while it waits
      inFlight.add(p);
      sent += batch.length;
      batches++;
      if (inFlight.size >= o.maxInFlight) await Promise.race(inFlight);
      bar.update(sent);
    }
    await Promise.all(inFlight);
  } finally {
    bar.update(sent, true);
  }
  if (sent > 0 && duplicates / sent > DUPLICATE_WARNING_SHARE) {
    process.stderr.write(
      `warning: ${duplicates.toLocaleString('en')} of ${sent.toLocaleString('en')} events (${Math.round((100 * duplicates) / sent)} %) were duplicates: the server has seen this data before and counted it once. Pass --run-id <id> to send it as a fresh run.\n`,
    );
  }
  return { events: sent, batches, accepted, late, duplicates, rejected, retries, lastTs };
}

/**
 * Sends already-built events (in time order) to a WS collect URL with the replay tool's delivery:
 * paced, batched, acked, retries resent. `userAgent` is sent on the upgrade (the gateway flags
 * crawler-like agents as bots).
 */
export async function sendEventsOverSocket(
  url: string,
  events: readonly WireEvent[],
  o: Omit<DeliveryOptions, 'maxInFlight'> & { readonly userAgent: string; readonly secret?: string; readonly maxInFlight?: number; readonly clock?: Clock },
): Promise<DeliveryCounts> {
  const sink = await SocketSink.open(url, o.userAgent, o.secret, o.clock);
  try {
    return await deliverEvents(sink, events, { ...o, maxInFlight: o.maxInFlight ?? MAX_IN_FLIGHT });
  } finally {
    await sink.close();
  }
}

/** Replays with parsed options; returns the summary (the CLI prints it). */
export async function replay(o: ReplayOptions): Promise<ReplaySummary> {
  const t0 = Date.now();
  const events = buildReplayEvents(o, t0);
  const firstTs = events.find((e) => typeof e.ts === 'number')?.ts;
  const inProcess = o.inProcess ? new InProcessSink(o.site, firstTs ?? t0) : undefined;
  const target = o.url ?? defaultCollectUrl(o.site);
  if (o.progress && !o.inProcess) {
    const timed = events.filter((e) => typeof e.ts === 'number');
    const spanMs = timed.length === 0 ? 0 : timed[timed.length - 1]!.ts - timed[0]!.ts;
    const paced = !o.backfill && o.shift;
    const expected = paced ? `paced to the data's own timeline: about ${duration(spanMs / 1000)} (--speed F divides it; --backfill sends as fast as the server takes it)` : 'as fast as the server takes it';
    process.stderr.write(`replay: ${events.length.toLocaleString('en')} events to ${target}, ${expected}\n`);
  }
  const sink: Sink = inProcess ?? (await SocketSink.open(target, 'clickstream-miner-replay', o.secret));
  let counts: DeliveryCounts;
  try {
    counts = await deliverEvents(sink, events, {
      batch: o.batch,
      rate: o.rate,
      pace: !o.inProcess && !o.backfill && o.shift,
      leadMs: o.leadMs,
      maxInFlight: o.inProcess ? 1 : o.backfill ? BACKFILL_IN_FLIGHT : MAX_IN_FLIGHT,
      progress: o.progress,
    });
    if (inProcess !== undefined) await inProcess.finish();
  } finally {
    await sink.close();
  }
  const seconds = (Date.now() - t0) / 1000;
  const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
  return {
    format: o.format,
    target: o.inProcess ? `in-process site ${o.site}` : target,
    events: counts.events,
    batches: counts.batches,
    accepted: counts.accepted,
    duplicates: counts.duplicates,
    late: counts.late,
    rejected: counts.rejected,
    retries: counts.retries,
    seconds,
    eventsPerSecond: Math.round(counts.events / Math.max(seconds, 0.001)),
    firstEvent: iso(firstTs),
    lastEvent: iso(counts.lastTs),
  };
}

/**
 * Runs a subcommand (replay, simulate): usage on --help or a bad argument, the summary as one JSON
 * line on stdout, the error message on stderr. Returns the exit code (0 ok, 1 failure, 2 usage).
 */
export async function runCli<O>(parsed: CliParse<O>, usage: string, run: (options: O) => Promise<unknown>, after?: (options: O) => void): Promise<number> {
  switch (parsed.kind) {
    case 'help':
      process.stdout.write(`${usage}\n`);
      return 0;
    case 'error':
      process.stderr.write(`${parsed.message}\n${usage}\n`);
      return 2;
    case 'ok':
      break;
    default: {
      const _exhaustive: never = parsed;
      return _exhaustive;
    }
  }
  try {
    const summary = await run(parsed.options);
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    after?.(parsed.options);
    return 0;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** The CLI entry: returns the process exit code (0 ok, 1 failure, 2 usage). */
export function runReplay(argv: string[]): Promise<number> {
  return runCli(parseReplayArgs(argv), USAGE, replay);
}

/** What src/cli.ts calls: sets the exit code instead of exiting, so pending output is flushed. */
export async function main(args: readonly string[]): Promise<void> {
  process.exitCode = await runReplay([...args]);
}
