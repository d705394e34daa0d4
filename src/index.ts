/**
 * The public entry of clickstream-miner as a library: build and run an app in-process, load the
 * config, and the types of events, acks and outcomes.
 */
export { createApp, type App, type CreateAppOptions, type ShutdownReport } from './app';
export type { AppContext } from './app-context';
export { ManualClock, SystemClock, type Clock } from './clock';
export { loadConfig, parseDurationMs, DEMO_SITE, type Config, type SiteConfig, type UrlRules } from './config';
export { ClickstreamError, ERROR_CODES, REJECT_REASONS, type ErrorCode, type RejectReason, type Rejection } from './errors';
export type { EnrichedEvent, SessionContext, SessionSignal, SessionSummary } from './events/enriched-event';
export type { ClickEvent, CollectEvent, EventBatch, FormEvent, PageViewEvent } from './events/event-types';
export type { Ack, CollectOutcome, RetryReason } from './ingest/collect-gateway';
export type { QuarantineItem } from './ingest/quarantine';
export type { Processor, EventOutcome } from '../processors/processor';
export type { EpochMillis, EventType, SiteId, VisitorId } from './types';
export { signWebhook, verifyWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER, TRIGGER_ID_HEADER, type DeadLetter } from './delivery/webhook-sender';
export type { OfferTrigger, RuleReason, PatternReason } from '../processors/next-best-offer/offer-trigger';
export type { AttributionStats, AttributionRow } from './delivery/attribution';
