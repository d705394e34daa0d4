/**
 * The durable event log of NATS mode (DESIGN.md §1, issue "Durable by default"): the JetStream stream
 * `CM_EVENTS`, one subject per visitor partition (`cm.events.<partition>`, never a visitor id), and
 * the wire format of its messages.
 *
 * A message holds the records of one partition from one batch (or the tick records of one partition):
 * `{"v":1,"r":[…]}`, events as enriched by the gateway (corrected time, `receivedAt`, partition, page
 * key, bot flag, payload) without their session context, which the processing side derives again. So a
 * replay of the log sees exactly the input the first run saw. One message per (batch, partition) rather
 * than per event: measured on this machine, 10-event messages store ~7× more events/s than single-event
 * ones (bench/README.md).
 */
import { createHash } from 'node:crypto';
import { jetstreamManager, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { whenPlaced } from '../cluster/when-placed';
import type { Config } from '../config';
import { ClickstreamError } from '../errors';
import type { EnrichedEvent, LogRecord } from '../events/enriched-event';
import { UNSESSIONIZED } from '../events/event-enricher';

export const EVENTS_STREAM = 'CM_EVENTS';
export const EVENTS_SUBJECT_PREFIX = 'cm.events.';
/** 2: the site once per message; the id, type, visitor and partition of an event come from its raw event and the subject. */
export const LOG_FORMAT_VERSION = 2;

export function partitionSubject(partition: number): string {
  return `${EVENTS_SUBJECT_PREFIX}${partition}`;
}

/** The stream as this configuration wants it: what boot creates, and checks an existing stream against. */
export function eventStreamConfig(config: Config): Partial<StreamConfig> & { name: string } {
  return {
    name: EVENTS_STREAM,
    subjects: [`${EVENTS_SUBJECT_PREFIX}*`],
    storage: 'file' as StreamConfig['storage'],
    num_replicas: config.nats.replicas,
    max_age: nanos(config.nats.maxAgeMs),
    max_bytes: config.nats.maxBytes,
    // Full: refuse new records (the gateway answers 503), never drop old ones a snapshot still needs.
    discard: 'new' as StreamConfig['discard'],
    duplicate_window: nanos(config.nats.duplicateWindowMs),
  };
}

/**
 * Creates `CM_EVENTS` or checks the existing one. An existing stream that differs in what the
 * guarantees rest on (subjects, storage, replicas, retention, discard policy, duplicate window) is a
 * clear `CM_ERR_NATS` error naming each difference — never changed silently under other instances.
 */
export async function ensureEventStream(nc: NatsConnection, config: Config): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  const want = eventStreamConfig(config);
  let have: StreamConfig | undefined;
  try {
    have = (await jsm.streams.info(EVENTS_STREAM)).config;
  } catch (err) {
    if (!isNotFound(err)) throw new ClickstreamError('CM_ERR_NATS', `cannot read stream ${EVENTS_STREAM}: ${(err as Error).message}`, { cause: err });
  }
  if (have === undefined) {
    try {
      await whenPlaced(() => jsm.streams.add(want));
      return jsm;
    } catch (err) {
      // Another instance may have created it meanwhile: then it is checked like any existing one.
      have = await jsm.streams.info(EVENTS_STREAM).then(
        (i) => i.config,
        () => {
          throw new ClickstreamError('CM_ERR_NATS', `cannot create stream ${EVENTS_STREAM}: ${(err as Error).message}`, { cause: err });
        },
      );
    }
  }
  const diffs: string[] = [];
  const same = (key: keyof StreamConfig, a: unknown, b: unknown): void => {
    if (JSON.stringify(a) !== JSON.stringify(b)) diffs.push(`${key}: the stream has ${JSON.stringify(a)}, the configuration wants ${JSON.stringify(b)}`);
  };
  same('subjects', have.subjects, want.subjects);
  same('storage', have.storage, want.storage);
  same('num_replicas', have.num_replicas, want.num_replicas);
  same('max_age', have.max_age, want.max_age);
  same('max_bytes', have.max_bytes, want.max_bytes);
  same('discard', have.discard, want.discard);
  same('duplicate_window', have.duplicate_window, want.duplicate_window);
  if (diffs.length > 0) {
    throw new ClickstreamError('CM_ERR_NATS', `stream ${EVENTS_STREAM} exists with other settings (change the config, or update/delete the stream deliberately):\n  ${diffs.join('\n  ')}`);
  }
  return jsm;
}

function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; name?: string; message?: string };
  return e?.name === 'StreamNotFoundError' || e?.code === 10059 || /not found/i.test(e?.message ?? '');
}

/**
 * Encodes the records of one partition as one log message (format 2): the site once (`s`, the first
 * record's; a record of another site keeps its own), and per event only what the raw event does not
 * hold — the id, type and visitor are the event's, the partition is the subject's. About a third
 * smaller than format 1, which repeated them per record.
 */
export function encodeLogMessage(records: readonly LogRecord[]): string {
  const site = records[0]?.site ?? '';
  let out = `{"v":${LOG_FORMAT_VERSION},"s":${JSON.stringify(site)},"r":[`;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (i > 0) out += ',';
    if (r.type === 'tick') {
      const { site: s, partition: _p, ...tick } = r;
      out += JSON.stringify(s === site ? tick : { ...tick, site: s });
      continue;
    }
    // Written field by field, the bytes JSON.stringify gives the record without these fields (~30 %
    // less time than a destructuring copy stringified, bench/README.md "durable-log"); the session
    // context is the processing side's to derive: it is not part of the input.
    out += `{"ts":${num(r.ts)},"receivedAt":${num(r.receivedAt)},"seq":${num(r.seq)},"page":${JSON.stringify(r.page)},"bot":${r.bot}`;
    if (r.device !== undefined) out += `,"device":${JSON.stringify(r.device)}`;
    out += `,"event":${JSON.stringify(r.event)}${r.site === site ? '' : `,"site":${JSON.stringify(r.site)}`}}`;
  }
  return `${out}]}`;
}

/** A number as JSON.stringify writes it (a non-finite one as null). */
const num = (x: number): string | null => (Number.isFinite(x) ? String(x) : null);

/**
 * Decodes a log message read from `partition`, or says why it cannot be read (a message written by
 * another version or by something else on the subject): the reader counts it and moves on, it never
 * stops the partition. Format 1 messages (every field per record) are still read.
 */
export function decodeLogMessage(data: Uint8Array, partition: number): { readonly kind: 'ok'; readonly records: LogRecord[] } | { readonly kind: 'bad'; readonly reason: string } {
  let body: { v?: unknown; s?: unknown; r?: unknown };
  try {
    body = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')) as { v?: unknown; s?: unknown; r?: unknown };
  } catch (err) {
    return { kind: 'bad', reason: `not JSON (${(err as Error).message})` };
  }
  if (body === null || typeof body !== 'object' || (body.v !== 1 && body.v !== LOG_FORMAT_VERSION) || !Array.isArray(body.r)) {
    return { kind: 'bad', reason: `not a version 1 or ${LOG_FORMAT_VERSION} log message` };
  }
  const records = body.r as Array<Record<string, unknown>>;
  const v2 = body.v === LOG_FORMAT_VERSION;
  if (v2 && typeof body.s !== 'string') return { kind: 'bad', reason: 'a message without its site' };
  for (const r of records) {
    if (r === null || typeof r !== 'object' || typeof r['ts'] !== 'number') return { kind: 'bad', reason: 'a record without ts' };
    if (v2) {
      if (r['site'] === undefined) r['site'] = body.s;
      if (r['type'] === 'tick') r['partition'] = partition;
      else {
        const ev = r['event'] as Record<string, unknown> | null | undefined;
        if (ev === null || typeof ev !== 'object' || typeof ev['id'] !== 'string' || typeof ev['type'] !== 'string' || typeof ev['visitorId'] !== 'string') return { kind: 'bad', reason: 'a record without its event' };
        r['id'] = ev['id'];
        r['type'] = ev['type'];
        r['visitorId'] = ev['visitorId'];
        r['partition'] = partition;
      }
    }
    if (typeof r['site'] !== 'string') return { kind: 'bad', reason: 'a record without site' };
    if (r['type'] !== 'tick') (r as { session?: unknown }).session = UNSESSIONIZED;
  }
  return { kind: 'ok', records: records as unknown as LogRecord[] };
}

/**
 * The Nats-Msg-Id of a batch's message for one partition: the site and a digest of its event ids, so
 * the same batch sent again (a client retry after a lost ack) is stored once within the duplicate window.
 */
export function batchMessageId(site: string, events: readonly EnrichedEvent[]): string {
  const h = createHash('sha256');
  for (const e of events) h.update(e.id).update('\0');
  return `${site}.${h.digest('base64url').slice(0, 27)}`;
}
