import type { FastifyInstance } from 'fastify';
import type { PublicRoute, PublicRouteDeps } from '../public-routes';

/**
 * `WS /v1/offers?site=` on the public port: storefront subscribers (src/delivery/offer-subscribers.ts
 * does the authentication, the bounded queues and the fan-out). Closed before the server at shutdown.
 */
export const registerOfferSubscriberRoutes: PublicRoute = (_app: FastifyInstance, deps: PublicRouteDeps) => {
  const offers = deps.ctx.offers;
  if (offers === undefined) return;
  deps.upgrade('/v1/offers', offers.subscribers.handleOffersUpgrade);
  deps.onClose(() => offers.subscribers.close());
};
