import { createHmac, timingSafeEqual } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../clock';
import { requireBound } from '../errors';

/**
 * Webhook delivery (DESIGN.md §6): each trigger is POSTed as JSON to the site's webhook URLs, signed,
 * retried with exponential backoff on network errors, timeouts, 5xx, 408 and 429, and moved to a
 * bounded dead-letter list (inspectable via GET /v1/offers/dead-letters) when the attempts run out or
 * the receiver refuses it for good (another 4xx).
 *
 * Signature: `X-Clickstream-Signature: sha256=<hex HMAC-SHA256(the site webhookSecret, "<timestamp>.<raw body>")>`
 * with `X-Clickstream-Timestamp: <epoch ms>`; the timestamp is signed too, so a receiver can refuse
 * replays older than its tolerance. Each attempt is signed afresh. `X-Clickstream-Trigger-Id` is the
 * idempotency key (at-least-once delivery).
 */

export const SIGNATURE_HEADER = 'x-clickstream-signature';
export const TIMESTAMP_HEADER = 'x-clickstream-timestamp';
export const TRIGGER_ID_HEADER = 'x-clickstream-trigger-id';

export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** For receivers (and tests): true when the signature matches and the timestamp is within `toleranceMs` of `now`. */
export function verifyWebhook(secret: string, signature: string, timestamp: number, body: string, now: number, toleranceMs = 5 * 60_000): boolean {
  if (!Number.isFinite(timestamp) || Math.abs(now - timestamp) > toleranceMs) return false;
  const want = Buffer.from(signWebhook(secret, timestamp, body));
  const got = Buffer.from(signature);
  return want.length === got.length && timingSafeEqual(want, got);
}

export interface WebhookSenderOptions {
  /** Attempts per delivery, including the first (count). */
  readonly maxAttempts: number;
  /** Delay before the first retry, ms; doubles per attempt. */
  readonly baseDelayMs: number;
  /** Longest delay between attempts, ms. */
  readonly maxDelayMs: number;
  /** Per-attempt timeout, ms. */
  readonly timeoutMs: number;
  /** Deliveries in flight or waiting for a retry (count); beyond it a new one is dead-lettered at once. */
  readonly maxPending: number;
  /** Dead letters kept per site, oldest dropped first (count). */
  readonly deadLetterCapacity: number;
  readonly clock: Clock;
  readonly registry: Registry;
  /** Injected for tests; default: the global fetch. */
  readonly fetch?: typeof fetch;
  /** Counts dead letters dropped from the full list. */
  readonly onEvict?: (structure: string, n: number) => void;
  /** The receiver answered 2xx. */
  readonly onDelivered?: (site: string, triggerId: string) => void;
}

export interface DeadLetter {
  readonly site: string;
  readonly url: string;
  readonly triggerId: string;
  /** Attempts made (count). */
  readonly attempts: number;
  /** The last HTTP status, when the receiver answered. */
  readonly lastStatus: number | undefined;
  /** Why it was given up: `attempts_exhausted`, `rejected` (a 4xx), `queue_full`, `shutdown`. */
  readonly reason: 'attempts_exhausted' | 'rejected' | 'queue_full' | 'shutdown';
  /** The last network error, if any. */
  readonly lastError: string | undefined;
  /** Wall-clock time of the first and the last attempt, epoch ms. */
  readonly firstAttemptAt: number;
  readonly lastAttemptAt: number;
  /** The raw JSON body that was to be delivered. */
  readonly body: string;
}

interface Delivery {
  readonly site: string;
  readonly url: string;
  readonly secret: string;
  readonly triggerId: string;
  readonly body: string;
  attempts: number;
  firstAttemptAt: number;
  lastStatus: number | undefined;
  lastError: string | undefined;
  timer: NodeJS.Timeout | undefined;
}

export class WebhookSender {
  readonly #o: WebhookSenderOptions;
  readonly #fetch: typeof fetch;
  readonly #pending = new Set<Delivery>();
  readonly #dead = new Map<string, DeadLetter[]>();
  readonly #outcomes: Counter<'site' | 'outcome'>;
  #closed = false;

  constructor(opts: WebhookSenderOptions) {
    requireBound('WebhookSender maxAttempts', opts.maxAttempts);
    requireBound('WebhookSender maxPending', opts.maxPending);
    requireBound('WebhookSender deadLetterCapacity', opts.deadLetterCapacity);
    requireBound('WebhookSender timeoutMs', opts.timeoutMs);
    this.#o = opts;
    this.#fetch = opts.fetch ?? fetch;
    const name = 'clickstream_webhook_deliveries_total';
    this.#outcomes =
      (opts.registry.getSingleMetric(name) as Counter<'site' | 'outcome'> | undefined) ??
      new Counter({
        name,
        help: 'Webhook attempts by site and outcome (delivered, retried, dead_lettered).',
        labelNames: ['site', 'outcome'] as const,
        registers: [opts.registry],
      });
  }

  /** Deliveries in flight or waiting for a retry. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Queues one delivery; never throws, never waits. */
  send(site: string, url: string, secret: string, triggerId: string, body: string): void {
    const d: Delivery = { site, url, secret, triggerId, body, attempts: 0, firstAttemptAt: this.#o.clock.now(), lastStatus: undefined, lastError: undefined, timer: undefined };
    if (this.#closed || this.#pending.size >= this.#o.maxPending) {
      this.#deadLetter(d, this.#closed ? 'shutdown' : 'queue_full');
      return;
    }
    this.#pending.add(d);
    void this.#attempt(d);
  }

  /** Dead letters of a site, newest first. */
  deadLetters(site: string): readonly DeadLetter[] {
    return [...(this.#dead.get(site) ?? [])].reverse();
  }

  /** Resolves when nothing is in flight (tests, drain on shutdown). */
  async idle(pollMs = 10): Promise<void> {
    while (this.#pending.size > 0) await new Promise((r) => setTimeout(r, pollMs));
  }

  /** Stops retrying: whatever waits for a retry is dead-lettered with reason `shutdown`. */
  close(): void {
    this.#closed = true;
    for (const d of this.#pending) {
      if (d.timer !== undefined) {
        clearTimeout(d.timer);
        this.#pending.delete(d);
        this.#deadLetter(d, 'shutdown');
      }
    }
  }

  async #attempt(d: Delivery): Promise<void> {
    d.timer = undefined;
    d.attempts++;
    const ts = this.#o.clock.now();
    let retry = false;
    try {
      const res = await this.#fetch(d.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [TIMESTAMP_HEADER]: String(ts),
          [SIGNATURE_HEADER]: signWebhook(d.secret, ts, d.body),
          [TRIGGER_ID_HEADER]: d.triggerId,
          'x-clickstream-attempt': String(d.attempts),
        },
        body: d.body,
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
      d.lastStatus = res.status;
      d.lastError = undefined;
      // The body is not needed; read it so the connection can be reused.
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) {
        this.#pending.delete(d);
        this.#outcomes.labels(d.site, 'delivered').inc();
        this.#o.onDelivered?.(d.site, d.triggerId);
        return;
      }
      retry = res.status >= 500 || res.status === 408 || res.status === 429;
      if (!retry) {
        this.#pending.delete(d);
        this.#deadLetter(d, 'rejected');
        return;
      }
    } catch (err) {
      d.lastError = (err as Error).message;
      retry = true;
    }
    if (d.attempts >= this.#o.maxAttempts || this.#closed) {
      this.#pending.delete(d);
      this.#deadLetter(d, this.#closed ? 'shutdown' : 'attempts_exhausted');
      return;
    }
    this.#outcomes.labels(d.site, 'retried').inc();
    const delay = Math.min(this.#o.maxDelayMs, this.#o.baseDelayMs * 2 ** (d.attempts - 1));
    d.timer = setTimeout(() => void this.#attempt(d), delay);
    d.timer.unref();
  }

  #deadLetter(d: Delivery, reason: DeadLetter['reason']): void {
    this.#outcomes.labels(d.site, 'dead_lettered').inc();
    let list = this.#dead.get(d.site);
    if (list === undefined) {
      list = [];
      this.#dead.set(d.site, list);
    }
    list.push({
      site: d.site,
      url: d.url,
      triggerId: d.triggerId,
      attempts: d.attempts,
      lastStatus: d.lastStatus,
      reason,
      lastError: d.lastError,
      firstAttemptAt: d.firstAttemptAt,
      lastAttemptAt: this.#o.clock.now(),
      body: d.body,
    });
    if (list.length > this.#o.deadLetterCapacity) {
      list.shift();
      this.#o.onEvict?.('webhook_dead_letters', 1);
    }
  }
}
