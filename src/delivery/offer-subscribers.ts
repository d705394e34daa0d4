import { createHmac } from 'node:crypto';
import { BoundedLru } from '../bounded-lru';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Counter, Gauge, type Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import type { SiteConfig } from '../config';
import { requireBound } from '../errors';
import { equalSecrets } from '../secrets';

/**
 * `WS /v1/offers?site=S`: storefront subscribers (DESIGN.md §3, §6). Authenticated with the site's
 * secret (`Authorization: Bearer <secret>`; `?token=` only for a short-lived subscriber token, when
 * `offers.allowQueryToken` is on); refused before the upgrade with an
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
  /**
   * Whether a browser subscriber may pass `?token=` — then only a short-lived subscriber token
   * (`subscriberToken`), never the site secret, which is taken in the Authorization header only.
   */
  readonly allowQueryToken?: boolean;
  /** Wrong tokens one client IP may send per minute before its upgrades are refused with 429 (default 20). */
  readonly maxFailuresPerMinute?: number;
  /** Client IPs whose failures are remembered (LRU; default 10,000). */
  readonly maxTrackedClients?: number;
  /** Wall clock, ms (token expiry, throttling windows). */
  readonly now?: () => number;
}

/** Longest life of a short-lived subscriber token, ms. */
export const MAX_SUBSCRIBER_TOKEN_MS = 15 * 60_000;

/**
 * A short-lived token for a browser subscriber of `site` (`st1.<expiry ms>.<HMAC-SHA256 of the site
 * and expiry under the site secret>`): what `?token=` takes when `offers.allowQueryToken` is on, so a
 * URL that leaks (history, logs, Referer) stops working within minutes and never holds the secret.
 */
export function subscriberToken(site: SiteConfig, expiresAt: number): string {
  return `st1.${expiresAt}.${createHmac('sha256', site.subscriberSecret).update(`subscribe:${site.id}:${expiresAt}`).digest('base64url')}`;
}

/** Why an upgrade was refused (closed set: a metric label). */
export type RefusalCode = 'unknown_site' | 'unauthorized' | 'no_secret' | 'too_many_subscribers' | 'throttled';

export type UpgradeDecision =
  | { readonly kind: 'accept'; readonly site: SiteConfig }
  | { readonly kind: 'refuse'; readonly status: 401 | 403 | 404 | 429 | 503; readonly code: RefusalCode; readonly message: string };

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


export class OfferSubscribers {
  readonly #o: OfferSubscribersOptions;
  readonly #wss: WebSocketServer;
  readonly #bySite = new Map<string, Set<Subscriber>>();
  readonly #dropped: Counter<'site'>;
  readonly #refused: Counter<'reason'>;
  readonly #connected: Gauge<'site'>;
  /** Client IP → [window start (ms), wrong tokens in it]. */
  readonly #failures: BoundedLru<string, [number, number]>;

  constructor(opts: OfferSubscribersOptions) {
    requireBound('OfferSubscribers maxQueue', opts.maxQueue);
    requireBound('OfferSubscribers highWaterBytes', opts.highWaterBytes);
    requireBound('OfferSubscribers maxSubscribersPerSite', opts.maxSubscribersPerSite);
    this.#o = opts;
    this.#failures = new BoundedLru<string, [number, number]>({ max: requireBound('OfferSubscribers maxTrackedClients', opts.maxTrackedClients ?? 10_000) });
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayloadBytes ?? 4096 });
    const registers = [opts.registry];
    this.#dropped = new Counter({ name: 'clickstream_offer_subscriber_dropped_total', help: 'Offers dropped (oldest first) from slow storefront subscribers’ full queues, by site.', labelNames: ['site'] as const, registers });
    this.#refused = new Counter({ name: 'clickstream_offer_subscriber_refused_total', help: 'WS /v1/offers upgrades refused, by reason.', labelNames: ['reason'] as const, registers });
    this.#connected = new Gauge({ name: 'clickstream_offer_subscribers', help: 'Connected storefront offer subscribers, by site.', labelNames: ['site'] as const, registers });
  }

  /**
   * Checks site and credentials for an upgrade request: the site secret in `Authorization: Bearer`,
   * or (with `allowQueryToken`) a short-lived subscriber token in `?token=`. An IP that sent too many
   * wrong ones within a minute is refused (429) before any comparison; each wrong one counts.
   */
  authorize(req: IncomingMessage): UpgradeDecision {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const ip = req.socket.remoteAddress ?? '';
    if (this.#throttled(ip)) return { kind: 'refuse', status: 429, code: 'throttled', message: 'too many wrong tokens from this address; wait a minute' };
    const siteId = url.searchParams.get('site') ?? '';
    const site = this.#o.site(siteId);
    if (site === undefined) return { kind: 'refuse', status: 404, code: 'unknown_site', message: `no site ${JSON.stringify(siteId)}: pass ?site=<configured site id>` };
    if (site.subscriberSecret === '') return { kind: 'refuse', status: 403, code: 'no_secret', message: `site ${site.id} has no subscriberSecret configured` };
    const auth = req.headers.authorization;
    const bearer = auth !== undefined && /^Bearer\s+/i.test(auth) ? auth.replace(/^Bearer\s+/i, '').trim() : undefined;
    const query = url.searchParams.get('token') ?? undefined;
    if ((bearer === undefined || bearer === '') && (query === undefined || query === '')) {
      return { kind: 'refuse', status: 401, code: 'unauthorized', message: 'missing token: send Authorization: Bearer <the site subscriberSecret>' };
    }
    const ok = bearer !== undefined && bearer !== '' ? equalSecrets(bearer, site.subscriberSecret) : this.#validQueryToken(site, query!);
    if (!ok) {
      this.#fail(ip);
      const message =
        bearer === undefined && this.#o.allowQueryToken !== true
          ? '?token= is not accepted: send the subscriber secret in the Authorization header'
          : bearer === undefined
            ? '?token= takes a short-lived subscriber token (POST /v1/offers/token on the admin port), not the subscriber secret'
            : `the token is not the subscriber secret of site ${site.id}`;
      return { kind: 'refuse', status: 401, code: 'unauthorized', message };
    }
    if ((this.#bySite.get(site.id)?.size ?? 0) >= this.#o.maxSubscribersPerSite) {
      return { kind: 'refuse', status: 503, code: 'too_many_subscribers', message: `site ${site.id} has ${this.#o.maxSubscribersPerSite} subscribers already` };
    }
    return { kind: 'accept', site };
  }

  #validQueryToken(site: SiteConfig, token: string): boolean {
    if (this.#o.allowQueryToken !== true) return false;
    const m = /^st1\.(\d{1,16})\./.exec(token);
    if (m === null) return false;
    const exp = Number(m[1]);
    const now = this.#now();
    return exp > now && exp - now <= MAX_SUBSCRIBER_TOKEN_MS && equalSecrets(token, subscriberToken(site, exp));
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  #throttled(ip: string): boolean {
    const f = this.#failures.get(ip);
    return f !== undefined && this.#now() - f[0] < 60_000 && f[1] >= (this.#o.maxFailuresPerMinute ?? 20);
  }

  #fail(ip: string): void {
    const now = this.#now();
    const f = this.#failures.get(ip);
    if (f === undefined || now - f[0] >= 60_000) this.#failures.set(ip, [now, 1]);
    else f[1]++;
  }

  /** The upgrade handler for `/v1/offers` on the public server. */
  readonly handleOffersUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const d = this.authorize(req);
    switch (d.kind) {
      case 'refuse': {
        this.#refused.labels(d.code).inc();
        const body = JSON.stringify({ error: { code: d.code, message: d.message } });
        const reason = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 503: 'Service Unavailable' }[d.status];
        const retry = d.status === 429 ? 'Retry-After: 60\r\n' : '';
        socket.end(
          `HTTP/1.1 ${d.status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Clickstream-Error: ${d.code}\r\n${retry}Connection: close\r\n\r\n${body}`,
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
  /** Queues a message to every subscriber of the site; returns how many it was queued to. */
  publish(site: string, message: string): number {
    const set = this.#bySite.get(site);
    if (set === undefined) return 0;
    for (const sub of set) {
      if (sub.queue.push(message)) {
        sub.dropped++;
        this.#dropped.labels(site).inc();
      }
      sub.pump();
    }
    return set.size;
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
