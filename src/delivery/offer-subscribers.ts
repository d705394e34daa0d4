import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Counter, Gauge, type Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import type { SiteConfig } from '../config';
import { requireBound } from '../errors';

/**
 * `WS /v1/offers?site=S`: storefront subscribers (DESIGN.md §3, §6). Authenticated with the site's
 * secret (`Authorization: Bearer <secret>` or `?token=<secret>`); refused before the upgrade with an
 * HTTP status, an `X-Clickstream-Error` header and the servers' JSON error body
 * `{error:{code, message}}`. A subscriber only ever gets its own site's offers.
 *
 * A slow subscriber never blocks the pipeline: `publish` only appends to the subscriber's bounded
 * queue (drop-oldest, counted) and sends while the socket's `bufferedAmount` is under the high-water
 * mark; the rest waits for the socket to drain (the send callbacks pump the queue again).
 */

export interface OfferSubscribersOptions {
  /** Looks a configured site up by id. */
  readonly site: (id: string) => SiteConfig | undefined;
  /** Messages waiting per subscriber before the oldest is dropped (count). */
  readonly maxQueue: number;
  /** Bytes buffered on a subscriber's socket before we stop writing to it. */
  readonly highWaterBytes: number;
  /** Subscribers per site (count); beyond it a new one is refused with 503. */
  readonly maxSubscribersPerSite: number;
  /** Largest inbound frame a subscriber may send (it has nothing to say), bytes. */
  readonly maxPayloadBytes?: number;
  readonly registry: Registry;
}

/** Why an upgrade was refused (closed set: a metric label). */
export type RefusalCode = 'unknown_site' | 'unauthorized' | 'no_secret' | 'too_many_subscribers';

export type UpgradeDecision =
  | { readonly kind: 'accept'; readonly site: SiteConfig }
  | { readonly kind: 'refuse'; readonly status: 401 | 403 | 404 | 503; readonly code: RefusalCode; readonly message: string };

/** A drop-oldest ring of messages. */
class DropOldestQueue {
  readonly #items: Array<string | undefined>;
  #head = 0;
  #size = 0;
  constructor(capacity: number) {
    this.#items = new Array<string | undefined>(capacity);
  }
  get size(): number {
    return this.#size;
  }
  /** Appends; returns true when the oldest message had to be dropped. */
  push(m: string): boolean {
    const cap = this.#items.length;
    if (this.#size === cap) {
      this.#items[this.#head] = m;
      this.#head = (this.#head + 1) % cap;
      return true;
    }
    this.#items[(this.#head + this.#size) % cap] = m;
    this.#size++;
    return false;
  }
  shift(): string | undefined {
    if (this.#size === 0) return undefined;
    const m = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#items.length;
    this.#size--;
    return m;
  }
}

class Subscriber {
  readonly queue: DropOldestQueue;
  dropped = 0;
  readonly #pump = (): void => this.pump();
  constructor(
    readonly ws: WebSocket,
    readonly site: string,
    maxQueue: number,
    readonly highWater: number,
  ) {
    this.queue = new DropOldestQueue(maxQueue);
  }
  pump(): void {
    const ws = this.ws;
    while (this.queue.size > 0 && ws.readyState === ws.OPEN && ws.bufferedAmount < this.highWater) {
      ws.send(this.queue.shift() as string, this.#pump);
    }
  }
}

function sha(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export class OfferSubscribers {
  readonly #o: OfferSubscribersOptions;
  readonly #wss: WebSocketServer;
  readonly #bySite = new Map<string, Set<Subscriber>>();
  readonly #dropped: Counter<'site'>;
  readonly #refused: Counter<'reason'>;
  readonly #connected: Gauge<'site'>;

  constructor(opts: OfferSubscribersOptions) {
    requireBound('OfferSubscribers maxQueue', opts.maxQueue);
    requireBound('OfferSubscribers highWaterBytes', opts.highWaterBytes);
    requireBound('OfferSubscribers maxSubscribersPerSite', opts.maxSubscribersPerSite);
    this.#o = opts;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayloadBytes ?? 4096 });
    const registers = [opts.registry];
    this.#dropped = new Counter({ name: 'clickstream_offer_subscriber_dropped_total', help: 'Offers dropped (oldest first) from slow storefront subscribers’ full queues, by site.', labelNames: ['site'] as const, registers });
    this.#refused = new Counter({ name: 'clickstream_offer_subscriber_refused_total', help: 'WS /v1/offers upgrades refused, by reason.', labelNames: ['reason'] as const, registers });
    this.#connected = new Gauge({ name: 'clickstream_offer_subscribers', help: 'Connected storefront offer subscribers, by site.', labelNames: ['site'] as const, registers });
  }

  /** Checks site and secret for an upgrade request (no side effects). */
  authorize(req: IncomingMessage): UpgradeDecision {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const siteId = url.searchParams.get('site') ?? '';
    const site = this.#o.site(siteId);
    if (site === undefined) return { kind: 'refuse', status: 404, code: 'unknown_site', message: `no site ${JSON.stringify(siteId)}: pass ?site=<configured site id>` };
    if (site.secret === '') return { kind: 'refuse', status: 403, code: 'no_secret', message: `site ${site.id} has no subscriber secret configured` };
    const auth = req.headers.authorization;
    const bearer = auth !== undefined && /^Bearer\s+/i.test(auth) ? auth.replace(/^Bearer\s+/i, '').trim() : undefined;
    const token = bearer ?? url.searchParams.get('token') ?? undefined;
    if (token === undefined || token === '') {
      return { kind: 'refuse', status: 401, code: 'unauthorized', message: 'missing token: send Authorization: Bearer <site secret> or ?token=<site secret>' };
    }
    // Compare hashes so the comparison is constant-time whatever the lengths.
    if (!timingSafeEqual(sha(token), sha(site.secret))) {
      return { kind: 'refuse', status: 401, code: 'unauthorized', message: `the token is not the secret of site ${site.id}` };
    }
    if ((this.#bySite.get(site.id)?.size ?? 0) >= this.#o.maxSubscribersPerSite) {
      return { kind: 'refuse', status: 503, code: 'too_many_subscribers', message: `site ${site.id} has ${this.#o.maxSubscribersPerSite} subscribers already` };
    }
    return { kind: 'accept', site };
  }

  /** The upgrade handler for `/v1/offers` on the public server. */
  readonly handleOffersUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const d = this.authorize(req);
    switch (d.kind) {
      case 'refuse': {
        this.#refused.labels(d.code).inc();
        const body = JSON.stringify({ error: { code: d.code, message: d.message } });
        const reason = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' }[d.status];
        socket.end(
          `HTTP/1.1 ${d.status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Clickstream-Error: ${d.code}\r\nConnection: close\r\n\r\n${body}`,
        );
        return;
      }
      case 'accept':
        this.#wss.handleUpgrade(req, socket, head, (ws) => this.#add(ws, d.site.id));
        return;
      default: {
        const _: never = d;
        return _;
      }
    }
  };

  #add(ws: WebSocket, site: string): void {
    const sub = new Subscriber(ws, site, this.#o.maxQueue, this.#o.highWaterBytes);
    let set = this.#bySite.get(site);
    if (set === undefined) {
      set = new Set();
      this.#bySite.set(site, set);
    }
    set.add(sub);
    this.#connected.labels(site).set(set.size);
    const remove = (): void => {
      if (set.delete(sub)) this.#connected.labels(site).set(set.size);
    };
    ws.on('close', remove);
    ws.on('error', remove);
    ws.send(JSON.stringify({ type: 'subscribed', site }));
  }

  /** Queues one message for every subscriber of `site`; returns at once. */
  publish(site: string, message: string): void {
    const set = this.#bySite.get(site);
    if (set === undefined) return;
    for (const sub of set) {
      if (sub.queue.push(message)) {
        sub.dropped++;
        this.#dropped.labels(site).inc();
      }
      sub.pump();
    }
  }

  /** Subscribers of a site and their queue depths (admin, tests). */
  subscribers(site: string): Array<{ queued: number; dropped: number; bufferedBytes: number }> {
    return [...(this.#bySite.get(site) ?? [])].map((s) => ({ queued: s.queue.size, dropped: s.dropped, bufferedBytes: s.ws.bufferedAmount }));
  }

  /** Closes every subscriber (1001 going away). */
  close(): void {
    for (const set of this.#bySite.values()) for (const s of set) s.ws.close(1001, 'server shutting down');
    this.#wss.close();
  }
}
