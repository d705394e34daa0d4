/**
 * Every error and rejection reason in one place, each with a stable code. A rejected event is data
 * (a `Rejection` with a `RejectReason`), not an exception; `ClickstreamError` is for failures of the
 * program itself (bad config, a lost broker), with a chained `cause`.
 * README.md's error table lists each code with its meaning and what to do.
 */

/** Why an input (event, batch, frame, request) was refused. Closed set: a valid metric label. */
export const REJECT_REASONS = {
  invalid_json: 'The message is not parsable JSON.',
  invalid_batch: 'The batch envelope does not match schemas/batch.v1.json (type, seq, sentAt, events).',
  schema_violation: 'The event does not match its JSON Schema (see the message for the failing path).',
  unknown_event_type: 'The event type is not one of page_view, click, form.',
  forbidden_key: 'The input contains a __proto__, constructor or prototype key.',
  frame_too_large: 'A WebSocket frame or NATS message exceeds the configured maximum size.',
  body_too_large: 'An HTTP body exceeds the configured maximum size.',
  batch_too_large: 'The batch holds more events than the configured maximum.',
  future_timestamp: 'The skew-corrected event time is further in the future than allowed.',
  ancient_timestamp: 'The skew-corrected event time is older than allowed.',
  unknown_site: 'The site parameter names no configured site.',
  origin_not_allowed: "The request's Origin is not in the site's allowed origins, or a browser-less request came without the site secret to a site that lists its origins.",
  invalid_public_key: "The request's key parameter is not the site's public key.",
  rate_limited: 'The connection or client sent more than its rate limit.',
  unauthorized: 'A missing or wrong site secret or key.',
} as const;
export type RejectReason = keyof typeof REJECT_REASONS;
export const REJECT_REASON_CODES = Object.keys(REJECT_REASONS) as RejectReason[];

/** One refused event within a batch, as reported in the ack. */
export interface Rejection {
  /** Index of the event in the batch's `events` array (-1 for the whole batch/frame). */
  readonly index: number;
  readonly code: RejectReason;
  /** A human-readable reason, safe to show to the sender. */
  readonly message: string;
}

/** Codes of errors raised by the program itself. */
export const ERROR_CODES = {
  CM_ERR_CONFIG: 'The configuration is invalid; every bad key is listed in the message.',
  CM_ERR_UNBOUNDED: 'A map, queue or buffer was constructed without a limit.',
  CM_ERR_NATS: 'The NATS connection failed or was lost.',
  CM_ERR_SNAPSHOT: 'A processor snapshot could not be restored (wrong version or corrupt).',
  CM_ERR_SHUTDOWN: 'The server could not drain in time during shutdown.',
  CM_ERR_REPLAY: 'The replay tool could not read or send the data file.',
  CM_ERR_BROWSER_ASSETS: 'The tracking snippet could neither be bundled (esbuild) nor read from dist/: run `npm run build`.',
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

export class ClickstreamError extends Error {
  override readonly name = 'ClickstreamError';
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}

/** Throws CM_ERR_UNBOUNDED unless `limit` is a positive finite integer: every structure has a bound. */
export function requireBound(what: string, limit: number): number {
  if (!Number.isInteger(limit) || limit <= 0) {
    throw new ClickstreamError('CM_ERR_UNBOUNDED', `${what} needs a positive integer limit, got ${String(limit)}`);
  }
  return limit;
}
