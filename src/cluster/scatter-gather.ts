/**
 * Request-reply to every instance at once, for answers of any size: the asker publishes one request
 * with a reply inbox; each instance answers with its value as gzipped JSON, in chunks under the
 * server's max payload, headed with its instance id. Used by the global statistics
 * (partition-query.ts) and the per-instance lists (instance-lists.ts).
 */
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { createInbox, headers as natsHeaders, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from '../logger';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Bytes per reply chunk: well under nats-server's default 1 MiB max payload. */
const CHUNK_BYTES = 512 * 1024;

/** What every request carries: its version and the asking instance (which answers for itself). */
export interface EveryoneRequest {
  readonly v: 1;
  readonly from: string;
}

/**
 * Answers the requests on `subject` of the other instances: each one `readable` accepts is answered
 * with `answer(request)` (gzipped JSON, chunked); one of this instance's own, or not readable, is not.
 */
export function answerEveryone<R extends EveryoneRequest>(nc: NatsConnection, subject: string, o: { readonly instanceId: string; readonly readable: (req: R) => boolean; readonly answer: (req: R) => unknown; readonly logger: Logger }): Subscription {
  return nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err !== null || msg.reply === undefined || msg.reply === '') return;
      let req: R;
      try {
        req = msg.json<R>();
      } catch {
        return;
      }
      if (req.v !== 1 || req.from === o.instanceId || !o.readable(req)) return;
      replyChunked(nc, msg.reply, o.instanceId, o.answer(req)).catch((e: unknown) => o.logger.warn({ err: e, subject }, 'request not answered'));
    },
  });
}

/** Answers a request with `value` (gzipped JSON, chunked). */
export async function replyChunked(nc: NatsConnection, reply: string, instanceId: string, value: unknown): Promise<void> {
  const body = await gzipAsync(Buffer.from(JSON.stringify(value)));
  const n = Math.max(1, Math.ceil(body.length / CHUNK_BYTES));
  for (let k = 0; k < n; k++) {
    const h = natsHeaders();
    h.set('Cm-Instance', instanceId);
    h.set('Cm-Chunk', `${k + 1}/${n}`);
    nc.publish(reply, body.subarray(k * CHUNK_BYTES, (k + 1) * CHUNK_BYTES), { headers: h });
  }
}

/**
 * Publishes `request` on `subject` and collects each instance's whole answer until `done(answers)`
 * says enough or `timeoutMs` passes. An answer that cannot be read is logged and left out.
 */
export async function askEveryone<T>(nc: NatsConnection, subject: string, request: unknown, o: { readonly timeoutMs: number; readonly logger: Logger; readonly done: (answers: ReadonlyMap<string, T>) => boolean }): Promise<Map<string, T>> {
  const inbox = createInbox();
  const sub = nc.subscribe(inbox);
  const chunks = new Map<string, Uint8Array[]>();
  const answers = new Map<string, T>();
  const timer = setTimeout(() => sub.unsubscribe(), o.timeoutMs);
  nc.publish(subject, JSON.stringify(request), { reply: inbox });
  try {
    for await (const m of sub) {
      const from = m.headers?.get('Cm-Instance') ?? '';
      const [k, total] = (m.headers?.get('Cm-Chunk') ?? '1/1').split('/').map(Number) as [number, number];
      const list = chunks.get(from) ?? [];
      list[k - 1] = m.data;
      chunks.set(from, list);
      if (list.filter((c) => c !== undefined).length < total) continue;
      chunks.delete(from);
      try {
        answers.set(from, JSON.parse((await gunzipAsync(Buffer.concat(list))).toString()) as T);
      } catch (err) {
        o.logger.warn({ err, from }, 'unreadable answer skipped');
      }
      if (o.done(answers)) break;
    }
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
  return answers;
}
