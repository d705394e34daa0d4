import { whenPlaced } from '../cluster/when-placed';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { Counter, type Registry } from 'prom-client';
import type { SiteConfig } from '../config';
import { requireBound } from '../errors';
import type { Logger } from '../logger';
import type { OfferListener, OfferOutcome, OfferTrigger } from '../../processors/next-best-offer/offer-trigger';

/**
 * Fans each delivered trigger out to every channel (DESIGN.md §6), at least once with `triggerId` as
 * the idempotency key everywhere:
 *
 * - the visitor's own collect socket, as `{"type":"offer",…}` (VisitorSocketRegistry);
 * - `WS /v1/offers?site=` storefront subscribers, the same message (OfferSubscribers);
 * - NATS JetStream `cm.offers.<site>` with `Nats-Msg-Id: <triggerId>` (the stream dedupes redeliveries
 *   within its duplicate window), when NATS is configured;
 * - the site's webhooks (WebhookSender: signed, retried, dead-lettered).
 *
 * Holdout records are not delivered. Nothing here waits: socket sends are queued by their owners,
 * JetStream publishes and webhooks run in the background with bounded in-flight counts.
 *
 * Not twice after a restore (NATS mode): while the log is read back (`replaying()`), triggers are
 * re-derived from events that may have fired before the crash. Such a trigger goes to JetStream
 * first, and to the other channels only when its PubAck says it was not stored before (the stream's
 * duplicate window is the delivery ledger); one whose event is older than the duplicate window is
 * not re-delivered at all (counted in clickstream_offers_suppressed_total).
 *
 * Scaled out (`viaLog`), the instance deciding an offer holds the visitor's partition, not the
 * visitor's socket nor every storefront's: it only publishes to JetStream (always first, as after a
 * restore: a partition taken over re-derives what its previous owner sent), and every instance's
 * OfferTail delivers what the stream stored to the sockets and subscribers it holds
 * (`deliverFromLog`) and, through one shared durable consumer, to the webhooks (`webhookFromLog`).
 */

/** The part of VisitorSocketRegistry the dispatcher needs. */
export interface VisitorSockets {
  send(site: string, visitorId: string, message: string): boolean;
}

/** The part of OfferSubscribers the dispatcher needs. */
export interface SubscriberFanout {
  /** Returns how many subscribers the message was queued to. */
  publish(site: string, message: string): number;
}

/** The part of WebhookSender the dispatcher needs. */
export interface WebhookQueue {
  send(site: string, url: string, secret: string, triggerId: string, body: string): void;
}

export const OFFERS_STREAM = 'CM_OFFERS';
const DEFAULT_DUPLICATE_WINDOW_MS = 10 * 60_000;
export const DELIVERY_CHANNELS = ['visitor_socket', 'subscribers', 'nats', 'webhook'] as const;
export type DeliveryChannel = (typeof DELIVERY_CHANNELS)[number];

export interface OfferDispatcherOptions {
  readonly site: (id: string) => SiteConfig | undefined;
  /** The configured sites: their delivery series exist from the start (zeros, not gaps, for alerts). */
  readonly sites?: Iterable<string>;
  /** Webhook URLs of a site (from its next-best-offer settings). */
  readonly webhookUrls: (site: string) => readonly string[];
  readonly sockets?: VisitorSockets;
  readonly subscribers?: SubscriberFanout;
  readonly webhooks?: WebhookQueue;
  /** Set when NATS is configured: offers go to JetStream `cm.offers.<site>`. */
  readonly nats?: NatsConnection;
  /** JetStream publishes awaiting their ack (count); beyond it a publish is counted as failed. */
  readonly maxNatsInFlight: number;
  /** How long the stream remembers a Nats-Msg-Id for dedupe, ms. */
  readonly duplicateWindowMs?: number;
  /** True while the event log is being read back after a restore (then triggers may be re-derivations). */
  readonly replaying?: () => boolean;
  /** Wall clock, ms (the duplicate window is wall time). */
  readonly now?: () => number;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Scaled out: publish only; the stream's tail on every instance delivers to the other channels (OfferTail). */
  readonly viaLog?: boolean;
  /** A channel confirmed a trigger: sent on the visitor's socket, queued to a connected subscriber, stored by JetStream. */
  readonly onDelivered?: (site: string, triggerId: string) => void;
}

export class OfferDispatcher implements OfferListener {
  readonly #o: OfferDispatcherOptions;
  #nc: NatsConnection | undefined;
  #js: JetStreamClient | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #delivered: Counter<'site' | 'channel'>;
  readonly #failed: Counter<'site' | 'channel'>;
  readonly #suppressed: Counter<'site' | 'reason'>;

  constructor(opts: OfferDispatcherOptions) {
    requireBound('OfferDispatcher maxNatsInFlight', opts.maxNatsInFlight);
    this.#o = opts;
    this.#nc = opts.nats;
    const registers = [opts.registry];
    this.#delivered = new Counter({ name: 'clickstream_offers_delivered_total', help: 'Offer deliveries handed to a channel, by site and channel.', labelNames: ['site', 'channel'] as const, registers });
    this.#suppressed = new Counter({
      name: 'clickstream_offers_suppressed_total',
      help: 'Triggers re-derived while the event log was read back after a restore and not delivered again, by site and reason (already_delivered: JetStream had the trigger id; older_than_duplicate_window: too old to tell).',
      labelNames: ['site', 'reason'] as const,
      registers,
    });
    this.#failed = new Counter({ name: 'clickstream_offer_delivery_failures_total', help: 'Offer deliveries that failed on a channel, by site and channel (the visitor had no socket, NATS refused, backpressure).', labelNames: ['site', 'channel'] as const, registers });
    for (const site of opts.sites ?? []) {
      for (const channel of DELIVERY_CHANNELS) {
        this.#delivered.labels(site, channel).inc(0);
        this.#failed.labels(site, channel).inc(0);
      }
    }
  }

  /**
   * Starts publishing to JetStream when NATS is configured (`nc` here or `nats` in the options),
   * creating the offers stream (`cm.offers.>`) if it is missing. Until then offers skip NATS.
   */
  async start(nc: NatsConnection | undefined = this.#nc): Promise<void> {
    if (nc === undefined) return;
    this.#nc = nc;
    const jsm = await jetstreamManager(nc);
    const duplicateWindow = nanos(this.#o.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS);
    try {
      await jsm.streams.info(OFFERS_STREAM);
    } catch {
      try {
        await whenPlaced(() => jsm.streams.add({ name: OFFERS_STREAM, subjects: ['cm.offers.>'], duplicate_window: duplicateWindow, max_age: nanos(7 * 24 * 3_600_000), max_msgs_per_subject: 1_000_000 }));
      } catch (err) {
        // Another instance may have created it between our two calls.
        await jsm.streams.info(OFFERS_STREAM).catch(() => {
          throw err;
        });
      }
    }
    this.#js = jetstream(nc);
  }

  onTrigger(t: OfferTrigger): void {
    if (!t.holdout) this.dispatch(t);
  }

  onOutcome(_o: OfferOutcome): void {
    // Delivery has nothing to do with outcomes; attribution follows them.
  }

  /** Delivers one trigger on every channel; returns at once. */
  dispatch(t: OfferTrigger): void {
    const json = JSON.stringify(t);
    const replaying = this.#o.replaying?.() === true;
    if (replaying || this.#o.viaLog === true) {
      this.#publishFirst(t, json, replaying);
      return;
    }
    if (this.#js !== undefined) this.#publishNats(t.site, t.triggerId, json);
    this.#deliverOthers(t, json);
  }

  /**
   * To JetStream before any other channel: a trigger that may have been derived before (`rederived`:
   * the log read back) or, scaled out, any trigger. The PubAck's duplicate flag says whether it was
   * delivered already.
   */
  #publishFirst(t: OfferTrigger, json: string, rederived: boolean): void {
    const site = t.site;
    const now = this.#o.now?.() ?? Date.now();
    const js = this.#js;
    if (js === undefined) {
      this.#failed.labels(site, 'nats').inc();
      return;
    }
    if (rederived && now - t.ts > (this.#o.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS)) {
      this.#suppressed.labels(site, 'older_than_duplicate_window').inc();
      return;
    }
    this.#track(
      js.publish(`cm.offers.${site}`, json, { msgID: t.triggerId }).then(
        (ack) => {
          if (ack.duplicate) {
            this.#suppressed.labels(site, 'already_delivered').inc();
            return;
          }
          this.#delivered.labels(site, 'nats').inc();
          if (this.#o.viaLog === true) this.#o.onDelivered?.(site, t.triggerId);
          else this.#deliverOthers(t, json);
        },
        (err: unknown) => {
          this.#failed.labels(site, 'nats').inc();
          this.#o.logger.warn({ err, site, triggerId: t.triggerId }, 'offer publish to JetStream failed; not delivered');
        },
      ),
    );
  }

  /** Every channel but JetStream. */
  #deliverOthers(t: OfferTrigger, json: string): void {
    this.#toListeners(t.site, t.visitorId, t.triggerId, json, true);
    this.#toWebhooks(t.site, t.triggerId, json);
  }

  /**
   * Scaled out: a trigger the offers stream stored (`json` as published), to the visitor's socket when
   * this instance holds it and to the storefronts subscribed here. A visitor whose socket is on
   * another gateway is that gateway's to reach, so a miss here is not a failure.
   */
  deliverFromLog(site: string, json: string): void {
    const t = parseTrigger(json);
    if (t !== undefined && t.site === site) this.#toListeners(site, t.visitorId, t.triggerId, json, false);
  }

  /** Scaled out: a stored trigger to the site's webhooks (one instance gets each, from a shared durable consumer). */
  webhookFromLog(site: string, json: string): void {
    const t = parseTrigger(json);
    if (t !== undefined && t.site === site) this.#toWebhooks(site, t.triggerId, json);
  }

  #toListeners(site: string, visitorId: string, triggerId: string, json: string, missIsFailure: boolean): void {
    // The wire message is the trigger with a type tag in front: spliced, not re-serialised.
    const message = `{"type":"offer",${json.slice(1)}`;
    const o = this.#o;
    if (o.sockets !== undefined) {
      if (o.sockets.send(site, visitorId, message)) {
        this.#delivered.labels(site, 'visitor_socket').inc();
        o.onDelivered?.(site, triggerId);
      } else if (missIsFailure) this.#failed.labels(site, 'visitor_socket').inc();
    }
    if (o.subscribers !== undefined) {
      if (o.subscribers.publish(site, message) > 0) o.onDelivered?.(site, triggerId);
      this.#delivered.labels(site, 'subscribers').inc();
    }
  }

  #toWebhooks(site: string, triggerId: string, json: string): void {
    const o = this.#o;
    if (o.webhooks === undefined) return;
    const urls = o.webhookUrls(site);
    // A webhook is never sent unsigned: a site without a webhookSecret is refused at boot (createNextBestOffer).
    const secret = urls.length > 0 ? o.site(site)?.webhookSecret : undefined;
    if (secret === undefined || secret === '') return;
    for (const url of urls) {
      o.webhooks.send(site, url, secret, triggerId, json);
      this.#delivered.labels(site, 'webhook').inc();
    }
  }

  #publishNats(site: string, triggerId: string, json: string): void {
    const js = this.#js as JetStreamClient;
    if (this.#inFlight.size >= this.#o.maxNatsInFlight) {
      this.#failed.labels(site, 'nats').inc();
      return;
    }
    this.#track(
      js.publish(`cm.offers.${site}`, json, { msgID: triggerId }).then(
        () => {
          this.#delivered.labels(site, 'nats').inc();
          this.#o.onDelivered?.(site, triggerId);
        },
        (err: unknown) => {
          this.#failed.labels(site, 'nats').inc();
          this.#o.logger.warn({ err, site, triggerId }, 'offer publish to JetStream failed');
        },
      ),
    );
  }

  #track(p0: Promise<void>): void {
    const p = p0.finally(() => {
      this.#inFlight.delete(p);
    });
    this.#inFlight.add(p);
  }

  /** Waits for the JetStream publishes in flight (drain on shutdown, tests). */
  async flush(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }
}

/** The fields delivery needs of a trigger read back from the offers stream (undefined: not one). */
function parseTrigger(json: string): { readonly site: string; readonly visitorId: string; readonly triggerId: string } | undefined {
  try {
    const t = JSON.parse(json) as Partial<Record<'site' | 'visitorId' | 'triggerId', unknown>>;
    return typeof t.site === 'string' && typeof t.visitorId === 'string' && typeof t.triggerId === 'string' ? { site: t.site, visitorId: t.visitorId, triggerId: t.triggerId } : undefined;
  } catch {
    return undefined;
  }
}
