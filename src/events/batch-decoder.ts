/**
 * Turns one raw frame (WS message, HTTP body, NATS payload) into a batch envelope and one outcome per
 * event. Whole-frame problems (too big, not JSON, bad envelope, too many events, a forbidden key in the
 * envelope) refuse the frame; a problem inside one event refuses only that event (DESIGN.md §2: one bad
 * event never sinks its batch). Schema validation of each event is the validator's job, not this one's.
 */
import { requireBound, type RejectReason } from '../errors';
import type { EventValidator } from './event-validator';

/** Keys that could reach an object's prototype if some later code copied or merged the payload. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** A whole-frame refusal: nothing inside it is looked at. */
export type FrameRejectCode = Extract<
  RejectReason,
  'frame_too_large' | 'body_too_large' | 'invalid_json' | 'invalid_batch' | 'batch_too_large' | 'forbidden_key'
>;

/** What the decoder made of a frame: its events as parsed (with any refused for a forbidden key), or why the whole frame is refused. */
export type DecodeOutcome =
  | {
      readonly kind: 'batch';
      readonly seq: number;
      /** The sender's clock when it sent the batch, epoch ms (for skew correction). */
      readonly sentAt: number;
      /** The visitor key the batch carries (it proves one visitor id; see the snippet's identity.ts). */
      readonly vk: string | undefined;
      /** The batch's events as parsed (not yet validated), in order. */
      readonly events: readonly unknown[];
      /**
       * Per index, why that event is refused (a forbidden key, `forbidden_key`), or undefined; absent
       * when no event is (the common case: no per-event outcome object, no copy of the list).
       */
      readonly forbidden: ReadonlyArray<string | undefined> | undefined;
    }
  | {
      readonly kind: 'rejected';
      readonly code: FrameRejectCode;
      readonly message: string;
      /** The batch's `seq` when it could be read, so the sender can match the refusal. */
      readonly seq: number | null;
    };

export interface BatchDecoderOptions {
  /** Most events in one batch. */
  readonly maxBatchEvents: number;
}

export interface FrameLimit {
  /** Largest accepted frame, bytes. */
  readonly maxBytes: number;
  /** The reason code for an oversized frame on this transport. */
  readonly tooLargeCode: Extract<FrameRejectCode, 'frame_too_large' | 'body_too_large'>;
}

// TRICKY: JSON may spell a key with escapes ("\u005f_proto__"), which JSON.parse decodes to __proto__.
// The cheap raw-string scan therefore also sends any frame holding a `\u` escape down the full walk.
const SUSPICIOUS = /"(?:__proto__|constructor|prototype)"|\\u/;

export class BatchDecoder {
  readonly #validator: EventValidator;
  readonly #maxBatchEvents: number;

  constructor(validator: EventValidator, opts: BatchDecoderOptions) {
    this.#validator = validator;
    this.#maxBatchEvents = requireBound('BatchDecoder maxBatchEvents', opts.maxBatchEvents);
  }

  decode(raw: string | Buffer, limit: FrameLimit): DecodeOutcome {
    const bytes = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
    if (bytes > limit.maxBytes) {
      return reject(limit.tooLargeCode, `the frame has ${bytes} bytes, more than the limit of ${limit.maxBytes}`, null);
    }
    const text = typeof raw === 'string' ? raw : raw.toString('utf8');
    let parsed: unknown;
    try {
      // JSON.parse makes `__proto__` an own data property (it never sets the prototype), so walking
      // the result afterwards is safe.
      parsed = JSON.parse(text);
    } catch (err) {
      return reject('invalid_json', `not parsable JSON: ${(err as Error).message}`, null);
    }
    const suspicious = SUSPICIOUS.test(text);
    const seq = readSeq(parsed);
    if (suspicious && typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      for (const key of Object.keys(parsed)) {
        if (FORBIDDEN_KEYS.has(key)) return reject('forbidden_key', `/${key}: forbidden key in the batch envelope`, seq);
      }
    }
    const envelope = this.#validator.validateBatch(parsed);
    if (envelope.kind === 'invalid') return reject('invalid_batch', envelope.message, seq);
    const { batch } = envelope;
    if (batch.events.length > this.#maxBatchEvents) {
      return reject('batch_too_large', `the batch holds ${batch.events.length} events, more than the limit of ${this.#maxBatchEvents}`, batch.seq);
    }
    let forbidden: Array<string | undefined> | undefined;
    if (suspicious) {
      for (let i = 0; i < batch.events.length; i++) {
        const path = findForbiddenKey(batch.events[i]);
        if (path !== undefined) (forbidden ??= new Array<string | undefined>(batch.events.length))[i] = `${path}: forbidden key (__proto__, constructor and prototype are refused)`;
      }
    }
    return { kind: 'batch', seq: batch.seq, sentAt: batch.sentAt, vk: batch.vk, events: batch.events, forbidden };
  }
}

function reject(code: FrameRejectCode, message: string, seq: number | null): DecodeOutcome {
  return { kind: 'rejected', code, message, seq };
}

function readSeq(parsed: unknown): number | null {
  if (typeof parsed !== 'object' || parsed === null) return null;
  const seq = (parsed as { seq?: unknown }).seq;
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0 ? seq : null;
}

/**
 * The JSON-pointer-like path of the first forbidden key inside `value`, or undefined.
 * Iterative (an explicit stack), so a deeply nested hostile payload cannot overflow the call stack.
 */
export function findForbiddenKey(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const stack: Array<{ v: object; path: string }> = [{ v: value, path: '' }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { v, path } = item;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const child: unknown = v[i];
        if (typeof child === 'object' && child !== null) stack.push({ v: child, path: `${path}/${i}` });
      }
      continue;
    }
    for (const key of Object.keys(v)) {
      if (FORBIDDEN_KEYS.has(key)) return `${path}/${key}`;
      const child: unknown = (v as Record<string, unknown>)[key];
      if (typeof child === 'object' && child !== null) stack.push({ v: child, path: `${path}/${key}` });
    }
  }
  return undefined;
}
