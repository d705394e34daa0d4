/**
 * NATS ingest (when `config.natsUrl` is set): server-side producers publish batches on
 * `cm.ingest.<site>`; each message is judged by the same gateway as WS and HTTP frames. When the
 * message has a reply subject (a request), the ack — or a `retry` when the pipeline is full — is the
 * reply; use requests, because a plain publish has nobody to tell "retry". Every quarantined item
 * (from any transport) is also published on `cm.quarantine.<site>`.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Config } from '../config';
import type { FrameLimit } from '../events/batch-decoder';
import type { Logger } from '../logger';
import type { CollectGateway, CollectOutcome } from './collect-gateway';
import type { Quarantine, QuarantineItem } from './quarantine';

export const INGEST_SUBJECT = 'cm.ingest.*';
/** Every gateway subscribes in this queue group: NATS hands each message to one of them, so none is counted twice. */
export const INGEST_QUEUE = 'clickstream-miner-ingest';
export const QUARANTINE_SUBJECT_PREFIX = 'cm.quarantine.';

export interface NatsIngestDeps {
  readonly config: Config;
  readonly gateway: CollectGateway;
  readonly quarantine: Quarantine;
  readonly logger: Logger;
}

export class NatsIngest {
  readonly #config: Config;
  readonly #gateway: CollectGateway;
  readonly #quarantine: Quarantine;
  readonly #logger: Logger;
  readonly #limit: FrameLimit;
  #nc: NatsConnection | undefined;
  #sub: Subscription | undefined;
  #unlisten: (() => void) | undefined;

  constructor(deps: NatsIngestDeps) {
    this.#config = deps.config;
    this.#gateway = deps.gateway;
    this.#quarantine = deps.quarantine;
    this.#logger = deps.logger.child({ component: 'nats-ingest' });
    this.#limit = { maxBytes: deps.config.ingest.maxFrameBytes, tooLargeCode: 'frame_too_large' };
  }

  /** Subscribes on the app's NATS connection (the app owns it: connects once, drains it last). */
  async start(nc: NatsConnection): Promise<void> {
    this.#nc = nc;
    this.#unlisten = this.#quarantine.onItem((item) => this.#publishQuarantine(nc, item));
    this.#sub = nc.subscribe(INGEST_SUBJECT, { queue: INGEST_QUEUE, callback: (err, msg) => (err === null ? this.#onMessage(msg) : this.#logger.error({ err }, 'ingest subscription failed')) });
    // The subscription is registered once the server has seen it: flush so a producer starting right after start() is heard.
    await nc.flush();
    this.#logger.info({ subject: INGEST_SUBJECT, queue: INGEST_QUEUE }, 'NATS ingest subscribed');
  }

  /** Stops taking messages (drains the subscription: messages already delivered are still judged). */
  async stop(): Promise<void> {
    const nc = this.#nc;
    this.#nc = undefined;
    if (nc === undefined) return;
    this.#unlisten?.();
    try {
      if (this.#sub !== undefined) await this.#sub.drain();
    } catch (err) {
      this.#logger.warn({ err }, 'NATS ingest subscription drain failed');
    }
  }

  #onMessage(msg: Msg): void {
    const site = msg.subject.slice('cm.ingest.'.length);
    const admission = this.#gateway.admit(site, 'nats', { origin: undefined, trusted: true });
    if (admission.kind === 'refused') {
      this.#reply(msg, { error: { code: admission.code, message: admission.message } });
      return;
    }
    // Buffer.from over the message's bytes: no copy.
    const raw = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
    let outcome;
    try {
      outcome = this.#gateway.collect(admission.site, { transport: 'nats', raw, limit: this.#limit, client: undefined, userAgent: undefined });
    } catch (err) {
      this.#failed(msg, site, err);
      return;
    }
    if (outcome instanceof Promise) outcome.then((o) => this.#answer(msg, site, o), (err: unknown) => this.#failed(msg, site, err));
    else this.#answer(msg, site, outcome);
  }

  #failed(msg: Msg, site: string, err: unknown): void {
    this.#logger.error({ err, site }, 'collect failed on a message');
    this.#reply(msg, { type: 'retry', seq: null, retryAfterMs: this.#config.ingest.retryAfterSeconds * 1000, reason: 'overloaded' });
  }

  #answer(msg: Msg, site: string, outcome: CollectOutcome): void {
    switch (outcome.kind) {
      case 'ack':
        this.#reply(msg, outcome.ack);
        break;
      case 'retry':
        if (msg.reply === undefined) this.#logger.warn({ site, reason: outcome.reason }, 'batch published without a reply subject could not be taken (use a request to get a retry)');
        this.#reply(msg, { type: 'retry', seq: outcome.seq, retryAfterMs: outcome.retryAfterMs, reason: outcome.reason });
        break;
      default: {
        const _: never = outcome;
        return _;
      }
    }
  }

  #reply(msg: Msg, body: unknown): void {
    if (msg.reply === undefined || msg.reply === '') return;
    msg.respond(JSON.stringify(body));
  }

  #publishQuarantine(nc: NatsConnection, item: QuarantineItem): void {
    try {
      nc.publish(`${QUARANTINE_SUBJECT_PREFIX}${item.site}`, JSON.stringify({ ...item, at: new Date(item.at).toISOString() }));
    } catch (err) {
      this.#logger.warn({ err }, 'could not publish a quarantined item');
    }
  }
}
