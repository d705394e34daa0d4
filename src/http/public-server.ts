/**
 * The public port (PORT): the collect endpoints (WS and HTTP), plus whatever PUBLIC_ROUTES register
 * (snippet, demo storefront, WS /v1/offers). WebSocket paths are dispatched from the one `upgrade`
 * event of the underlying HTTP server; an unclaimed path is answered 404 and closed.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AppContext } from '../app-context';
import type { VisitorSocketRegistry } from '../delivery/visitor-socket-registry';
import type { CollectGateway } from '../ingest/collect-gateway';
import { registerHttpCollector } from '../ingest/http-collector';
import type { WsCollector } from '../ingest/ws-collector';
import { installJsonErrors } from './json-errors';
import { PUBLIC_ROUTES, type PublicRoute, type UpgradeHandler } from './public-routes';

export interface PublicServer {
  readonly app: FastifyInstance;
  /** Runs the registered close hooks (e.g. subscriber sockets), then closes the server. */
  close(): Promise<void>;
}

export interface PublicServerDeps {
  readonly ctx: AppContext;
  readonly gateway: CollectGateway;
  readonly wsCollector: WsCollector;
  readonly visitorSockets: VisitorSocketRegistry;
  /** Registrars to run (default: PUBLIC_ROUTES). */
  readonly routes?: readonly PublicRoute[];
}

/** The whole request (a WebSocket handshake included) must arrive within this, ms. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Its headers within this, ms. */
const HEADERS_TIMEOUT_MS = 10_000;
const STATUS_LINE: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

export async function createPublicServer(deps: PublicServerDeps): Promise<PublicServer> {
  const { ctx } = deps;
  const app = Fastify({
    loggerInstance: ctx.logger.child({ component: 'public-http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: ctx.config.ingest.maxBodyBytes,
    trustProxy: false,
    // A client that trickles its request (or a WebSocket handshake) is cut off: no socket held forever.
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Requests Node's parser refuses never reach a route: answer and count them here.
    clientErrorHandler: (err: Error & { code?: string }, socket) => {
      const [status, reason] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'header_overflow'] : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'timeout'] : [400, 'bad_request'];
      ctx.metrics.httpRefused.inc({ reason });
      if (!socket.writable) return socket.destroy();
      const body = JSON.stringify({ error: { code: reason, message: err.message } });
      socket.end(`HTTP/1.1 ${status} ${STATUS_LINE[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    },
  });
  app.server.headersTimeout = HEADERS_TIMEOUT_MS;
  installJsonErrors(app);
  const upgrades = new Map<string, UpgradeHandler>([['/v1/collect', deps.wsCollector.handleUpgrade]]);
  const closeHooks: Array<() => Promise<void> | void> = [];
  registerHttpCollector(app, { config: ctx.config, gateway: deps.gateway });
  for (const route of deps.routes ?? PUBLIC_ROUTES) {
    await route(app, {
      ctx,
      upgrade: (path, handler) => {
        if (upgrades.has(path)) throw new Error(`WebSocket path ${path} is claimed twice`);
        upgrades.set(path, handler);
      },
      onClose: (fn) => closeHooks.push(fn),
      visitorSockets: deps.visitorSockets,
    });
  }
  app.server.on('upgrade', (req, socket, head: Buffer) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const handler = upgrades.get(path);
    if (handler === undefined) {
      const body = JSON.stringify({ error: { code: 'not_found', message: `no WebSocket endpoint at ${path}` } });
      socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    socket.on('error', () => undefined);
    handler(req, socket, head);
  });
  return {
    app,
    async close() {
      for (const fn of closeHooks) await fn();
      await app.close();
    },
  };
}
