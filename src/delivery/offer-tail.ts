/**
 * Scaled out, offers reach their channels from the offers stream, not from the instance that decided
 * them (it owns the visitor's partition, not the visitor's socket):
 *
 * - every instance tails `cm.offers.>` with an ordered consumer from "now" and hands each stored
 *   trigger to its dispatcher, which sends it on the visitor socket it holds (if any) and to the
 *   storefronts subscribed to it. One subscription per instance reads each message once; a consumer
 *   lost with its server is created again from the last sequence read + 1, so none comes twice;
 * - webhooks go out from one shared durable consumer, `cm-webhooks`, that every instance pulls from:
 *   JetStream hands each trigger to one of them (the "one role holder" is whoever pulls it, so a dead
 *   instance's share moves with no hand-over), acked once queued to the WebhookSender (signed,
 *   retried, dead-lettered there). A trigger is pulled again only if its puller died before the ack.
 *
 * The stream stores a trigger id once within its duplicate window (Nats-Msg-Id), and both consumers
 * read what it stored, so no trigger id reaches a channel twice.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { followAgain } from '../cluster/follow-again';
import { whenPlaced } from '../cluster/when-placed';
import type { Logger } from '../logger';
import { OFFERS_STREAM } from './offer-dispatcher';

export const WEBHOOK_CONSUMER = 'cm-webhooks';
const SUBJECTS = 'cm.offers.>';

/** The part of OfferDispatcher the tail needs. */
export interface TailDelivery {
  deliverFromLog(site: string, json: string): void;
  webhookFromLog(site: string, json: string): void;
}

export class OfferTail {
  readonly #delivery: TailDelivery;
  readonly #logger: Logger;
  #stopped = false;
  readonly #iterators = new Set<ConsumerMessages>();
  readonly #loops: Array<Promise<void>> = [];

  constructor(delivery: TailDelivery, logger: Logger) {
    this.#delivery = delivery;
    this.#logger = logger.child({ component: 'offer-tail' });
  }

  /** Starts both consumers (the offers stream exists: OfferDispatcher.start created it). */
  async start(nc: NatsConnection): Promise<void> {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    // Adding a durable with the same config again is a no-op: every instance may try.
    await whenPlaced(() => jsm.consumers.add(OFFERS_STREAM, { durable_name: WEBHOOK_CONSUMER, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, filter_subject: SUBJECTS, ack_wait: nanos(60_000), max_ack_pending: 1_000 }));
    const start = (await jsm.streams.info(OFFERS_STREAM)).state.last_seq + 1;
    let next = start;
    this.#loops.push(
      this.#run('offers tail', async () => {
        const consumer = await js.consumers.get(OFFERS_STREAM, { filter_subjects: SUBJECTS, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: next });
        const it = await consumer.consume({ max_messages: 256, expires: 5_000 });
        await this.#each(it, (m) => {
          next = m.seq + 1;
          this.#delivery.deliverFromLog(siteOf(m.subject), m.string());
        });
      }),
      this.#run('webhook consumer', async () => {
        const consumer = await js.consumers.get(OFFERS_STREAM, WEBHOOK_CONSUMER);
        const it = await consumer.consume({ max_messages: 64, expires: 5_000 });
        await this.#each(it, (m) => {
          this.#delivery.webhookFromLog(siteOf(m.subject), m.string());
          m.ack();
        });
      }),
    );
  }

  /** Runs `follow` until stopped, again after each loss (a server restarted, missed heartbeats). */
  #run(what: string, follow: () => Promise<void>): Promise<void> {
    return followAgain(
      () => this.#stopped,
      follow,
      (err, failures) => {
        if (failures % 20 === 0) this.#logger.warn({ err }, `${what} lost; reading again`);
      },
      250,
    );
  }

  async #each(it: ConsumerMessages, handle: (m: JsMsg) => void): Promise<void> {
    this.#iterators.add(it);
    try {
      if (this.#stopped) return;
      for await (const m of it) {
        if (this.#stopped) return;
        try {
          handle(m);
        } catch (err) {
          this.#logger.warn({ err, seq: m.seq }, 'offer from the stream not delivered');
        }
      }
    } finally {
      this.#iterators.delete(it);
      await it.close().catch(() => undefined);
    }
  }

  /** Stops both consumers (called before the connection drains). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled([...this.#iterators].map((it) => it.close()));
    await Promise.allSettled(this.#loops);
  }
}

/** `cm.offers.<site>` → site. */
function siteOf(subject: string): string {
  return subject.slice('cm.offers.'.length);
}
