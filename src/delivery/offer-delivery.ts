import type { NatsConnection } from '@nats-io/transport-node';
import type { Registry } from 'prom-client';
import type { Clock } from '../clock';
import type { Config } from '../config';
import { ClickstreamError } from '../errors';
import type { Logger } from '../logger';
import type { NextBestOfferView } from '../../processors/next-best-offer/next-best-offer-processor';
import type { OfferListener, OfferOutcome, OfferTrigger } from '../../processors/next-best-offer/offer-trigger';
import { OfferAttribution } from './attribution';
import { OfferDispatcher, type VisitorSockets } from './offer-dispatcher';
import { OfferSubscribers } from './offer-subscribers';
import { OfferTail } from './offer-tail';
import { WebhookSender } from './webhook-sender';
import { ProductCatalog } from './product-catalog';

/**
 * The app's offer delivery, one per process: every site's next-best-offer processor is attached to it;
 * its triggers go to the dispatcher (all channels) and, with the visitors' outcomes, to attribution.
 * The admin routes and the public `WS /v1/offers` endpoint reach the parts through it (AppContext.offers).
 */
export interface OfferDeliveryOptions {
  readonly config: Config;
  readonly clock: Clock;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly visitorSockets: VisitorSockets;
  /** Counts evictions from bounded state, by component and structure. */
  readonly onEvict: (component: string, structure: string, n: number) => void;
  /** Injected for tests; default: the global fetch. */
  readonly fetch?: typeof fetch;
  /** True while the event log is read back after a restore (NATS mode): offers are not delivered twice. */
  readonly replaying?: () => boolean;
  /** Scaled out: offers reach sockets, subscribers and webhooks from the offers stream (OfferTail). */
  readonly scaledOut?: boolean;
}

export class OfferDelivery implements OfferListener {
  readonly subscribers: OfferSubscribers;
  readonly webhooks: WebhookSender;
  readonly dispatcher: OfferDispatcher;
  readonly attribution: OfferAttribution;
  /** Product names, prices and categories from page views, joined into what channels are sent. */
  readonly catalog: ProductCatalog;
  readonly #o: OfferDeliveryOptions;
  #tail: OfferTail | undefined;
  /** One per configured site (a closed set). */
  readonly #processors = new Map<string, NextBestOfferView>();

  constructor(opts: OfferDeliveryOptions) {
    this.#o = opts;
    const { config, registry, clock } = opts;
    const c = config.offers;
    const site = (id: string) => config.sites.get(id);
    // Channels confirm a trigger once the attribution below exists (they call back later, never now).
    const confirmed = (siteId: string, triggerId: string): void => this.attribution.onDelivered(siteId, triggerId);
    this.subscribers = new OfferSubscribers({
      site,
      maxQueue: c.subscriberQueue,
      highWaterBytes: c.subscriberHighWaterBytes,
      maxSubscribersPerSite: c.maxSubscribersPerSite,
      registry,
      allowQueryToken: c.allowQueryToken,
      maxFailuresPerMinute: c.maxAuthFailuresPerMinute,
      maxTrackedClients: config.ingest.rateLimitMaxClients,
      now: () => clock.now(),
    });
    this.webhooks = new WebhookSender({
      maxAttempts: c.webhookMaxAttempts,
      baseDelayMs: c.webhookBaseDelayMs,
      maxDelayMs: c.webhookMaxDelayMs,
      timeoutMs: c.webhookTimeoutMs,
      maxPending: c.webhookMaxPending,
      deadLetterCapacity: c.deadLetterCapacity,
      clock,
      registry,
      ...(opts.fetch !== undefined ? { fetch: opts.fetch } : {}),
      onEvict: (structure, n) => opts.onEvict('delivery', structure, n),
      onDelivered: confirmed,
    });
    this.dispatcher = new OfferDispatcher({
      onDelivered: confirmed,
      site,
      sites: config.sites.keys(),
      webhookUrls: (id) => this.#processors.get(id)?.settings.webhooks ?? [],
      sockets: opts.visitorSockets,
      subscribers: this.subscribers,
      webhooks: this.webhooks,
      maxNatsInFlight: c.maxNatsInFlight,
      duplicateWindowMs: config.nats.duplicateWindowMs,
      ...(opts.replaying === undefined ? {} : { replaying: opts.replaying }),
      viaLog: opts.scaledOut === true,
      now: () => clock.now(),
      registry,
      logger: opts.logger.child({ component: 'offer-dispatcher' }),
    });
    this.catalog = new ProductCatalog({ maxProducts: c.catalogProducts, onEvict: (structure, n) => opts.onEvict('delivery', structure, n) });
    this.attribution = new OfferAttribution({
      horizonMs: c.attributionHorizonMs,
      maxVisitors: c.attributionMaxVisitors,
      maxOpenPerVisitor: 32,
      maxKeysPerSite: 10_000,
      onEvict: (structure, n) => opts.onEvict('delivery', structure, n),
    });
  }

  /** Subscribes to a site's offers (called where the site's processors are built). */
  attach(nbo: NextBestOfferView): void {
    this.#processors.set(nbo.site, nbo);
    nbo.subscribe(this);
  }

  /** The next-best-offer view of a site, once attached. */
  processor(site: string): NextBestOfferView | undefined {
    return this.#processors.get(site);
  }

  onTrigger(t: OfferTrigger): void {
    this.attribution.onTrigger(t);
    // Channels get it shoppable: product names and prices, a coupon code (holdout records are never sent).
    if (!t.holdout) this.dispatcher.onTrigger(this.catalog.shoppable(t, this.#o.config.sites.get(t.site)?.secret ?? ''));
  }

  onOutcome(o: OfferOutcome): void {
    this.attribution.onOutcome(o);
  }

  /** Ensures the offers stream on the app's NATS connection, when there is one (the app owns the connection); scaled out, tails it. */
  async start(nc?: NatsConnection): Promise<void> {
    if (nc === undefined) return;
    try {
      await this.dispatcher.start(nc);
      if (this.#o.scaledOut === true) {
        this.#tail = new OfferTail(this.dispatcher, this.#o.logger);
        await this.#tail.start(nc);
      }
    } catch (err) {
      throw new ClickstreamError('CM_ERR_NATS', `offers: cannot set up JetStream: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Stops: subscribers closed, pending publishes flushed, webhook retries dead-lettered. */
  async close(): Promise<void> {
    await this.#tail?.stop();
    this.subscribers.close();
    await this.dispatcher.flush();
    this.webhooks.close();
  }
}
