/**
 * JetStream publishes for the gateway's hot path: each message goes out with a reply subject under one
 * inbox of this connection, and its PubAck is matched by the number the reply subject ends with.
 *
 * Why not `js.publish`: nats.js sends each publish as a request — its own timer, its own deferred and,
 * once the reply is in, an Error built (a stack trace captured) and thrown away to cancel the settled
 * request. In a CPU profile of the gateway-only instance that was 17 % of its time, 6 % in that Error
 * alone (bench/README.md "durable-log"). Here a publish is one map entry; a single sweep every
 * `SWEEP_MS` fails the overdue ones. The answers are the same: the PubAck (stream, seq, duplicate), or
 * an error carrying the server's JetStream API error (`api_error.err_code`, as nats.js reports it), a
 * `no_responders` error when no stream takes the subject, `timeout`, or `closed`.
 */
import type { PubAck } from '@nats-io/jetstream';
import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

/** How often overdue publishes are failed, ms: a timeout fires up to this much after its deadline. */
const SWEEP_MS = 100;

/** Why a publish failed: `api` (the server refused it; see `api_error`), `no_responders`, `timeout`, `closed`. */
export type PublishFailure = 'api' | 'no_responders' | 'timeout' | 'closed';

export class PublishError extends Error {
  override readonly name = 'PublishError';
  constructor(
    message: string,
    readonly failure: PublishFailure,
    /** The JetStream API error of an `api` failure, as the server sent it. */
    readonly api_error?: { readonly code: number; readonly err_code: number; readonly description: string },
  ) {
    super(message);
  }
}

interface Pending {
  readonly resolve: (ack: PubAck) => void;
  readonly reject: (err: PublishError) => void;
  readonly deadline: number;
}

export class PubAckPublisher {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #sub: Subscription;
  readonly #pending = new Map<number, Pending>();
  readonly #sweep: NodeJS.Timeout;
  #next = 0;
  #closed = false;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.#prefix = `${createInbox()}.`;
    this.#sub = nc.subscribe(`${this.#prefix}*`, { callback: (err, m) => (err === null ? this.#reply(m) : undefined) });
    void this.#sub.closed.then(() => this.close());
    this.#sweep = setInterval(() => this.#expire(Date.now()), SWEEP_MS);
    this.#sweep.unref();
  }

  /** Publishes `data` to `subject` (deduplicated by `msgId` within the stream's window); resolves with its PubAck. */
  publish(subject: string, data: string, msgId: string | undefined, timeoutMs: number): Promise<PubAck> {
    return new Promise<PubAck>((resolve, reject) => {
      if (this.#closed) {
        reject(new PublishError('publisher closed', 'closed'));
        return;
      }
      const n = ++this.#next;
      let h;
      if (msgId !== undefined) {
        h = headers();
        h.set('Nats-Msg-Id', msgId);
      }
      try {
        this.#nc.publish(subject, data, h === undefined ? { reply: this.#prefix + n } : { reply: this.#prefix + n, headers: h });
      } catch (err) {
        reject(new PublishError(`publish failed: ${(err as Error).message}`, 'closed'));
        return;
      }
      this.#pending.set(n, { resolve, reject, deadline: Date.now() + timeoutMs });
    });
  }

  /** Publishes waiting for their PubAck. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Fails every waiting publish and stops listening (also when the connection closes). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    if (!this.#sub.isClosed()) this.#sub.unsubscribe();
    for (const p of this.#pending.values()) p.reject(new PublishError('connection closed before the PubAck', 'closed'));
    this.#pending.clear();
  }

  #reply(m: Msg): void {
    const n = Number(m.subject.slice(this.#prefix.length));
    const p = this.#pending.get(n);
    if (p === undefined) return; // already timed out
    this.#pending.delete(n);
    if (m.data.length === 0 && m.headers?.code === 503) {
      p.reject(new PublishError('no stream takes the subject (no responders)', 'no_responders'));
      return;
    }
    let v: { stream?: unknown; seq?: unknown; duplicate?: unknown; domain?: unknown; error?: { code: number; err_code: number; description: string } };
    try {
      v = m.json();
    } catch {
      p.reject(new PublishError('a PubAck that is not JSON', 'api'));
      return;
    }
    if (v.error !== undefined) p.reject(new PublishError(v.error.description, 'api', v.error));
    else if (typeof v.stream !== 'string' || v.stream === '' || typeof v.seq !== 'number') p.reject(new PublishError('invalid PubAck', 'api'));
    else p.resolve({ stream: v.stream, seq: v.seq, duplicate: v.duplicate === true, domain: typeof v.domain === 'string' ? v.domain : '' } as PubAck);
  }

  #expire(now: number): void {
    for (const [n, p] of this.#pending) {
      if (p.deadline > now) continue;
      this.#pending.delete(n);
      p.reject(new PublishError('no PubAck in time', 'timeout'));
    }
  }
}
