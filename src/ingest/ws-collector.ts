/**
 * WS /v1/collect?site=S: one batch per message in, one ack (or retry) per message out, offers for the
 * socket's visitors pushed on the same socket. The `ws` package runs in noServer mode on the public
 * fastify server's `upgrade` event, so the site and Origin are checked before the handshake completes
 * (a refused upgrade never becomes a socket). Frames beyond `ingest.maxFrameBytes` close the socket
 * with 1009 (the `ws` package stops reading them) and are counted as frame_too_large.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Config, SiteConfig } from '../config';
import type { VisitorSocketRegistry } from '../delivery/visitor-socket-registry';
import type { FrameLimit } from '../events/batch-decoder';
import type { EnrichedEvent } from '../events/enriched-event';
import type { Logger } from '../logger';
import type { CoreMetrics } from '../metrics/core-metrics';
import type { CollectGateway, CollectOutcome } from './collect-gateway';

/** Close code when the server shuts down or restarts (RFC 6455 §7.4.1 registry: Service Restart). */
export const WS_CLOSE_RESTART = 1012;

const STATUS_TEXT: Readonly<Record<number, string>> = { 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' };

export interface WsCollectorDeps {
  readonly config: Config;
  readonly gateway: CollectGateway;
  readonly metrics: CoreMetrics;
  readonly logger: Logger;
  readonly visitorSockets: VisitorSocketRegistry;
}

export class WsCollector {
  readonly #gateway: CollectGateway;
  readonly #metrics: CoreMetrics;
  readonly #logger: Logger;
  readonly #visitorSockets: VisitorSocketRegistry;
  readonly #wss: WebSocketServer;
  readonly #limit: FrameLimit;
  readonly #retryAfterSeconds: number;
  #connections = 0;
  /** Monotonic connection number: the rate-limit key, never reused. */
  #nextId = 0;

  constructor(deps: WsCollectorDeps) {
    this.#gateway = deps.gateway;
    this.#metrics = deps.metrics;
    this.#logger = deps.logger.child({ component: 'ws-collector' });
    this.#visitorSockets = deps.visitorSockets;
    this.#limit = { maxBytes: deps.config.ingest.maxFrameBytes, tooLargeCode: 'frame_too_large' };
    this.#retryAfterSeconds = deps.config.ingest.retryAfterSeconds;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: deps.config.ingest.maxFrameBytes, perMessageDeflate: false });
    // Liveness: every heartbeat each socket is pinged; one that answered neither that ping nor sent a
    // message since the last one is dropped (a half-sent frame, a dead peer) and counted. Browsers
    // answer pings by themselves, so a quiet but live page keeps its socket (and its offers).
    this.#heartbeat = setInterval(() => this.#beat(), deps.config.ingest.wsHeartbeatMs);
    this.#heartbeat.unref();
  }

  readonly #heartbeat: NodeJS.Timeout;
  readonly #alive = new WeakMap<WebSocket, boolean>();

  #beat(): void {
    for (const ws of this.#wss.clients) {
      if (this.#alive.get(ws) === false) {
        this.#metrics.wsDropped.inc({ endpoint: 'collect', reason: 'unresponsive' });
        ws.terminate();
        continue;
      }
      this.#alive.set(ws, false);
      try {
        ws.ping();
      } catch {
        // closing already
      }
    }
  }

  /** The public server's upgrade handler for /v1/collect. */
  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const origin = req.headers.origin;
    if (!this.#gateway.accepting) {
      refuseUpgrade(socket, 503, 'shutting_down', 'the server is shutting down', this.#retryAfterSeconds);
      return;
    }
    const admission = this.#gateway.admit(url.searchParams.get('site') ?? undefined, 'ws', { origin, authorization: req.headers.authorization, key: url.searchParams.get('key') ?? undefined });
    if (admission.kind === 'refused') {
      refuseUpgrade(socket, admission.code === 'unknown_site' ? 404 : 403, admission.code, admission.message, undefined);
      return;
    }
    const userAgent = req.headers['user-agent'];
    const trusted = admission.trusted;
    const ip = req.socket.remoteAddress;
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#serve(ws, admission.site, userAgent, trusted, ip));
  };

  /** Open collect sockets, count. */
  get connections(): number {
    return this.#connections;
  }

  /** Shutdown: closes every socket with 1012 so clients reconnect elsewhere or later; resolves once all closed (or after `graceMs`). */
  async closeAll(graceMs: number): Promise<void> {
    const open = [...this.#wss.clients];
    const closed = open.map((ws) => new Promise<void>((resolve) => (ws.readyState === ws.CLOSED ? resolve() : ws.once('close', () => resolve()))));
    for (const ws of open) ws.close(WS_CLOSE_RESTART, 'server restarting');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closed), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const ws of this.#wss.clients) ws.terminate();
    clearInterval(this.#heartbeat);
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  /** A bug must not take the process down with every other socket: log it, ask for a resend. */
  #failed(ws: WebSocket, site: SiteConfig, err: unknown): void {
    this.#logger.error({ err, site: site.id }, 'collect failed on a frame');
    ws.send(JSON.stringify({ type: 'retry', seq: null, retryAfterMs: this.#retryAfterSeconds * 1000, reason: 'overloaded' }));
  }

  #serve(ws: WebSocket, site: SiteConfig, userAgent: string | undefined, trusted: boolean, remoteIp: string | undefined): void {
    const id = `ws:${++this.#nextId}`;
    // Trusted producers (the site secret) are not rate limited: no bucket key.
    // Trusted producers are charged their site's producer limit; others per connection, IP and visitor.
    const client = trusted ? undefined : id;
    const ip = trusted ? undefined : remoteIp;
    this.#connections++;
    this.#metrics.wsConnections.inc({ endpoint: 'collect' });
    let boundVisitor: string | undefined;
    this.#alive.set(ws, true);
    ws.on('pong', () => this.#alive.set(ws, true));
    // A socket receives a visitor's offers only once it proved that visitor (the batch's visitor key):
    // claiming an id is not enough. Server-side producers (the site secret) take none. Bound before the
    // events go to the log, so an offer they trigger never arrives before the binding.
    const bind = (events: readonly EnrichedEvent[], provenVisitor: string | undefined): void => {
      for (const e of events) {
        if (e.visitorId === boundVisitor) continue;
        if (e.visitorId === provenVisitor) {
          boundVisitor = e.visitorId;
          this.#visitorSockets.bind(site.id, e.visitorId, ws);
        } else this.#metrics.offerBindingRefused.inc({ site: site.id, reason: provenVisitor === undefined ? 'no_visitor_key' : 'other_visitor' });
      }
    };
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.#alive.set(ws, true);
      const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      void isBinary;
      let outcome;
      try {
        outcome = this.#gateway.collect(site, { transport: 'ws', raw, limit: this.#limit, client, ip, userAgent, ...(trusted ? {} : { beforeOffer: bind }) });
      } catch (err) {
        this.#failed(ws, site, err);
        return;
      }
      if (outcome instanceof Promise) outcome.then((o) => answer(o), (err: unknown) => this.#failed(ws, site, err));
      else answer(outcome);
    });
    const answer = (outcome: CollectOutcome): void => {
      switch (outcome.kind) {
        case 'ack':
          ws.send(JSON.stringify(outcome.ack));
          break;
        case 'retry':
          ws.send(JSON.stringify({ type: 'retry', seq: outcome.seq, retryAfterMs: outcome.retryAfterMs, reason: outcome.reason }));
          break;
        default: {
          const _: never = outcome;
          return _;
        }
      }
    };
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        this.#gateway.refuse(site.id, 'ws', 'frame_too_large', `a frame exceeded the limit of ${this.#limit.maxBytes} bytes; the socket is closed (1009)`, null, '');
        return;
      }
      // Any other error is the protocol refusing the peer's frames (the ws library closes with 1002/1007).
      if (err.code?.startsWith('WS_ERR_') === true) this.#metrics.wsDropped.inc({ endpoint: 'collect', reason: 'protocol_error' });
      this.#logger.debug({ err: err.message, site: site.id }, 'collect socket error');
    });
    ws.once('close', () => {
      this.#connections--;
      this.#metrics.wsConnections.dec({ endpoint: 'collect' });
      this.#visitorSockets.unbindSocket(ws);
      if (client !== undefined) this.#gateway.forgetClient(client);
    });
  }
}

/** Answers a refused upgrade with a plain HTTP response carrying the JSON error, then closes. */
function refuseUpgrade(socket: Duplex, status: number, code: string, message: string, retryAfterSeconds: number | undefined): void {
  const body = JSON.stringify({ error: { code, message } });
  const retry = retryAfterSeconds === undefined ? '' : `Retry-After: ${retryAfterSeconds}\r\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${retry}Connection: close\r\n\r\n${body}`,
  );
}
