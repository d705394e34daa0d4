/**
 * Public-port route registrars besides the collect endpoints (the snippet, the demo storefront,
 * WS /v1/offers). Each owner appends one line to PUBLIC_ROUTES; the public server calls every
 * registrar once at boot. WebSocket endpoints claim their path with `deps.upgrade(path, handler)`.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app-context';
import type { VisitorSocketRegistry } from '../delivery/visitor-socket-registry';
import { registerSnippetRoutes } from './snippet-routes';
import { registerOfferSubscriberRoutes } from './routes/offer-subscriber-routes';

/** Handles an HTTP upgrade for one path (the `ws` package's `handleUpgrade` in noServer mode). */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface PublicRouteDeps {
  readonly ctx: AppContext;
  /** Claims a WebSocket path (e.g. '/v1/offers') on the public port. */
  readonly upgrade: (path: string, handler: UpgradeHandler) => void;
  /** Registers a hook run at shutdown before the server closes (e.g. close subscriber sockets with 1012). */
  readonly onClose: (fn: () => Promise<void> | void) => void;
  readonly visitorSockets: VisitorSocketRegistry;
}

export type PublicRoute = (app: FastifyInstance, deps: PublicRouteDeps) => void | Promise<void>;

export const PUBLIC_ROUTES: PublicRoute[] = [
  // e.g. registerSnippetRoutes,
  registerSnippetRoutes,
  registerOfferSubscriberRoutes,
];
