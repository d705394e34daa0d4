import type { Registry } from 'prom-client';
import type { Clock } from './clock';
import type { Config, SiteConfig } from './config';
import type { Logger } from './logger';
import type { CoreMetrics } from './metrics/core-metrics';
import type { SiteView } from '../processors/processor';
import type { EpochMillis } from './types';
import type { OfferDelivery } from './delivery/offer-delivery';
import type { LateEntry } from './pipeline/late-log';
import type { EnrichedEvent } from './events/enriched-event';
import type { SegmentChange } from '../processors/usage/segments';
import type { SharedSegments } from './cluster/shared-segments';
import type { SharedCatalogs } from './cluster/shared-catalogs';
import type { GlobalViews } from './cluster/partition-query';
import type { GatheredParts, ListName } from './cluster/instance-lists';
import type { QuarantineItem } from './ingest/quarantine';

/**
 * What the HTTP routes and delivery components are handed: the app's dependencies, passed in (no
 * module-level singletons), so tests and benchmarks can build two apps in one process.
 */
export interface AppContext {
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly metrics: CoreMetrics;
  /** The configured site, or undefined for an unknown id. */
  site(id: string): SiteConfig | undefined;
  /** A site's view of a processor by name ('usage', 'navigation', 'content', 'cross-sell', 'next-best-offer'): all its partitions. */
  processor(site: string, name: string): SiteView | undefined;
  /**
   * Scaled out: the site's views over every partition, this instance's and the others' (scatter-gather);
   * undefined when this instance holds every partition (then `processor` is the whole site).
   */
  gather?(site: string, names: readonly string[]): Promise<GlobalViews>;
  /** Scaled out: segment definitions shared with every instance (KV CM_SEGMENTS); undefined otherwise. */
  readonly sharedSegments?: Pick<SharedSegments, 'put' | 'remove'>;
  /** Scaled out: offer catalogs shared with every instance (KV CM_CATALOG); undefined otherwise. */
  readonly sharedCatalogs?: Pick<SharedCatalogs, 'put'>;
  /** A site's event-time watermark (the minimum over its partitions; −Infinity before any). */
  watermark(site: string): EpochMillis;
  /** A site's late side output (acknowledged events left out of the statistics), newest first. */
  lateEvents(site: string, limit?: number): readonly LateEntry[];
  /** The port the public server listens on (config.port, or the one bound for port 0); undefined before it listens. */
  publicPort?(): number | undefined;
  /** The site's latest segment entries and exits, newest first. */
  segmentChanges?(site: string, opts: { readonly segment?: string; readonly limit: number }): readonly SegmentChange[];
  /** The site's most recently processed events, newest first (the live event log). */
  recentEvents?(site: string, limit?: number): readonly EnrichedEvent[];
  /** The site's (or UNKNOWN_SITE's) refused input this instance quarantined, newest first. */
  quarantined?(site: string, limit?: number): readonly QuarantineItem[] | undefined;
  /**
   * Scaled out: list `name` from every live instance (this one's included; src/http/site-lists.ts
   * merges them); undefined when this instance is the only one.
   */
  gatherList?(site: string, name: ListName, limit: number): Promise<GatheredParts>;
  /** Offer delivery (dispatcher, subscribers, webhooks, attribution); absent in apps built without it. */
  readonly offers?: OfferDelivery;
}
