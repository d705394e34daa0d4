/**
 * Branded primitives: values that must never be mixed up. Parse once at the validation boundary
 * (src/events/), then carry the brand through the pipeline. Brands cost nothing at run time.
 */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Milliseconds since the Unix epoch (UTC). The only representation of time in the hot path. */
export type EpochMillis = Brand<number, 'EpochMillis'>;
/** A length of time in milliseconds. */
export type DurationMillis = Brand<number, 'DurationMillis'>;
/** A first-party visitor id: the partition key. */
export type VisitorId = Brand<string, 'VisitorId'>;
/** A configured site id (closed set: a valid metric label). */
export type SiteId = Brand<string, 'SiteId'>;
/** A product id as sent by the storefront. */
export type ProductId = Brand<string, 'ProductId'>;
/** A session id: the client's, or one the server derived by sessionization. */
export type SessionId = Brand<string, 'SessionId'>;

export const epochMillis = (n: number): EpochMillis => n as EpochMillis;
export const durationMillis = (n: number): DurationMillis => n as DurationMillis;

/**
 * `d` as a small integer when it is one. TRICKY: the difference of two epoch-ms doubles is a heap
 * number even when integral, and one heap number stored in a field makes V8 box that field in every
 * object of its shape (16 B each); `| 0` gives a Smi. Keep times as offsets like this, from one epoch-ms
 * field, to hold one box instead of several. A value past 32 bits stays a double.
 */
export function smallInt(d: number): number {
  return d === (d | 0) ? d | 0 : d;
}

/** The three v1 event types (closed set: a valid metric label). */
export const EVENT_TYPES = ['page_view', 'click', 'form'] as const;
export type EventType = (typeof EVENT_TYPES)[number];
