import type { CollectEvent, EventBatch } from '../events/event-types';
import type { EventQueue } from './event-queue';

/** Most events in one batch (the server's default limit is 500). */
const MAX_BATCH_EVENTS = 50;
/** Largest batch body in characters: under sendBeacon's 64 KiB in-flight budget. */
const MAX_BATCH_CHARS = 60_000;
/** How long events wait to be batched together, ms. */
const BATCH_DELAY_MS = 500;
/** Queued events that trigger an immediate flush. */
const FLUSH_AT_EVENTS = 20;
const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** Failed WebSocket attempts in a row after which batches go over HTTP until the socket is back. */
const WS_FAILURES_BEFORE_HTTP = 2;
/** How long events handed to sendBeacon wait before they are resent for an ack, ms. */
const BEACON_GRACE_MS = 10_000;

export interface TransportOptions {
  /** Base URL of the collector, e.g. `https://collect.shop.example`. */
  readonly endpoint: string;
  readonly site: string;
  /** The site's public key, when the collector asks for one. */
  readonly key: string | undefined;
  /** The visitor key sent with every batch (it proves the visitor id, see identity.ts). */
  readonly visitorKey: () => string;
  readonly onOffer: (offer: Record<string, unknown>) => void;
}

interface Rejected {
  readonly index: number;
  readonly code: string;
}

/**
 * Moves queued events to the collector: batches over one WebSocket (acks by `seq`), reconnecting with
 * exponential backoff and jitter, over HTTP POST while the socket is down, and with sendBeacon /
 * keepalive fetch when the page goes away. An event leaves the queue only when a server ack covers
 * it, so everything unacknowledged is resent; event ids make resends idempotent (the server dedupes).
 */
export class Transport {
  private ws: WebSocket | undefined;
  private open = false;
  private seq = 0;
  /** Batches sent on the socket, by seq, until their ack. */
  private readonly inflight = new Map<number, CollectEvent[]>();
  /** Ids of events in a batch that is on its way (socket, HTTP or beacon). */
  private readonly sending = new Set<string>();
  /** Ids handed to sendBeacon in the last BEACON_GRACE_MS. */
  private readonly beaconed = new Set<string>();
  private failures = 0;
  private pausedUntil = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private httpBusy = false;
  private stopped = true;

  constructor(
    private readonly queue: EventQueue,
    private readonly o: TransportOptions,
  ) {
    addEventListener('online', () => {
      // Back online: reconnect now rather than when the backoff runs out.
      this.failures = 0;
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      this.connect();
      this.flush();
    });
  }

  start(): void {
    this.stopped = false;
    this.connect();
    if (this.queue.items.length > 0) this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    const ws = this.ws;
    this.drop();
    ws?.close();
    clearTimeout(this.timer);
    clearTimeout(this.reconnectTimer);
    this.timer = this.reconnectTimer = undefined;
    this.sending.clear();
  }

  /** An event was queued: batch it with the next ones, or send at once when many are waiting. */
  queued(): void {
    if (this.queue.items.length - this.sending.size >= FLUSH_AT_EVENTS) this.flush();
    else this.schedule(BATCH_DELAY_MS);
  }

  flush(): void {
    // TRICKY: offline, nothing is attempted (not even on a socket that still looks open): the queue
    // holds the events and the `online` event brings them out.
    if (this.stopped || !navigator.onLine) return;
    const wait = this.pausedUntil - Date.now();
    if (wait > 0) return this.schedule(wait);
    const ws = this.ws;
    if (this.open && ws !== undefined) {
      for (const b of this.batches(false)) {
        const seq = this.seq++;
        this.inflight.set(seq, b);
        ws.send(this.frame(seq, b));
      }
      return;
    }
    this.connect();
    if (this.failures >= WS_FAILURES_BEFORE_HTTP) this.post();
  }

  /** The page is going away (pagehide) or hidden: hand every unacknowledged event to the browser. */
  beacon(): void {
    // Offline, a beacon would fail unseen: the persisted queue keeps the events for later.
    if (this.stopped || this.queue.items.length === 0 || !navigator.onLine) return;
    const url = this.url();
    // TRICKY: events already on the socket are included — their ack may never arrive once the page is
    // gone. All stay in the persisted queue until acked, so a later page resends them (deduped).
    // `pagehide` and `visibilitychange` both fire on navigation: `beaconed` keeps it to one beacon.
    const handed = this.batches(true, Infinity, this.beaconed);
    for (const b of handed) for (const e of b) this.beaconed.add(e.id);
    for (const b of handed) {
      const body = this.frame(this.seq++, b);
      let ok = false;
      try {
        ok = navigator.sendBeacon(url, body);
      } catch {
        // No sendBeacon: keepalive fetch below.
      }
      if (!ok) fetch(url, { method: 'POST', body, keepalive: true, headers: { 'content-type': 'text/plain' } }).catch(() => undefined);
    }
    // If the page stays (it was only hidden), resend them after a while to get an ack.
    setTimeout(() => {
      for (const b of handed) {
        this.release(b);
        for (const e of b) this.beaconed.delete(e.id);
      }
      this.schedule(0);
    }, BEACON_GRACE_MS);
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, ms);
  }

  private pause(ms: number): void {
    this.pausedUntil = Date.now() + ms;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.schedule(ms);
  }

  private backoffMs(): number {
    return Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** this.failures) * (0.5 + Math.random() / 2);
  }

  private url(ws?: boolean): string {
    const u =
      this.o.endpoint + '/v1/collect?site=' + encodeURIComponent(this.o.site) + (this.o.key ? '&key=' + encodeURIComponent(this.o.key) : '');
    return ws ? u.replace(/^http/, 'ws') : u;
  }

  private frame(seq: number, events: CollectEvent[]): string {
    const batch: EventBatch = { type: 'batch', seq, sentAt: Date.now(), vk: this.o.visitorKey(), events };
    return JSON.stringify(batch);
  }

  /** Queued events (`all`, or only those not on their way yet) cut into batches, marked as sending. */
  private batches(all: boolean, max = Infinity, skip?: ReadonlySet<string>): CollectEvent[][] {
    const out: CollectEvent[][] = [];
    let b: CollectEvent[] = [];
    let chars = 0;
    for (const e of this.queue.items) {
      if ((!all && this.sending.has(e.id)) || skip?.has(e.id)) continue;
      const n = JSON.stringify(e).length;
      if (b.length >= MAX_BATCH_EVENTS || (b.length > 0 && chars + n > MAX_BATCH_CHARS)) {
        out.push(b);
        if (out.length >= max) return out;
        b = [];
        chars = 0;
      }
      b.push(e);
      chars += n;
      this.sending.add(e.id);
    }
    if (b.length > 0) out.push(b);
    return out;
  }

  private release(events: readonly CollectEvent[]): void {
    for (const e of events) this.sending.delete(e.id);
  }

  /** Forgets the socket and puts its unacknowledged batches back in line. */
  private drop(): void {
    this.ws = undefined;
    this.open = false;
    for (const b of this.inflight.values()) this.release(b);
    this.inflight.clear();
  }

  /**
   * A batch was answered: its events leave the queue, except those the server could not take now
   * (`rate_limited`), which are resent after a pause. Other rejections are final — the same event
   * would be refused again.
   */
  private acked(events: readonly CollectEvent[], rejected: readonly Rejected[] | undefined): void {
    this.release(events);
    const done = new Set<string>();
    let retry = false;
    events.forEach((e, i) => {
      const again = rejected?.some((r) => (r.index === i || r.index < 0) && r.code === 'rate_limited');
      if (again) retry = true;
      else done.add(e.id);
    });
    this.queue.remove(done);
    if (retry) this.pause(this.backoffMs());
    else if (this.queue.items.length > this.sending.size) this.schedule(0);
  }

  private onMessage(data: string): void {
    let m: { type?: unknown; seq?: unknown; rejected?: Rejected[]; retryAfterMs?: unknown };
    try {
      m = JSON.parse(data) as typeof m;
    } catch {
      return;
    }
    if (m.type === 'ack' && typeof m.seq === 'number') {
      const b = this.inflight.get(m.seq);
      if (b === undefined) return;
      this.inflight.delete(m.seq);
      this.acked(b, m.rejected);
    } else if (m.type === 'retry') {
      // The server could not take the batch (overload): it sends it back, or all of them without a seq.
      for (const [seq, b] of this.inflight) {
        if (m.seq === undefined || m.seq === seq) {
          this.release(b);
          this.inflight.delete(seq);
        }
      }
      this.pause(typeof m.retryAfterMs === 'number' ? m.retryAfterMs : this.backoffMs());
    } else if (m.type === 'offer') {
      this.o.onOffer(m as Record<string, unknown>);
    }
  }

  private connect(): void {
    if (this.stopped || this.ws !== undefined || this.reconnectTimer !== undefined || !navigator.onLine) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url(true));
    } catch {
      this.closed();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.open = true;
      this.failures = 0;
      this.flush();
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data === 'string') this.onMessage(ev.data);
    };
    ws.onclose = () => {
      if (this.ws === ws) this.closed();
    };
  }

  private closed(): void {
    this.drop();
    if (this.stopped) return;
    this.failures++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, this.backoffMs());
    // While the socket is down, HTTP carries the batches (see flush).
    this.flush();
  }

  /** HTTP fallback: one batch at a time, answered with the same ack as on the socket. */
  private post(): void {
    if (this.httpBusy) return;
    const b = this.batches(false, 1)[0];
    if (b === undefined) return;
    this.httpBusy = true;
    fetch(this.url(), { method: 'POST', body: this.frame(this.seq++, b), headers: { 'content-type': 'text/plain' } })
      .then(async (r) => {
        this.httpBusy = false;
        if (r.ok) return this.acked(b, ((await r.json()) as { rejected?: Rejected[] }).rejected);
        this.release(b);
        if (r.status === 503 || r.status === 429) this.pause(Number(r.headers.get('retry-after')) * 1000 || this.backoffMs());
        else if (r.status >= 500) this.pause(this.backoffMs());
        // Any other 4xx refuses the batch for good (unparsable, too large, unknown site): drop it.
        else {
          this.queue.remove(new Set(b.map((e) => e.id)));
          this.schedule(0);
        }
      })
      .catch(() => {
        this.httpBusy = false;
        this.release(b);
        this.pause(this.backoffMs());
      });
  }
}
