/**
 * The processors of one site, built once per configured site by the app (src/app.ts) and handed to
 * the pipeline. Each processor's owner adds its construction line here, in dependency order (a
 * processor that reads another one's output is built after it and gets it passed in).
 */
import type { Registry } from 'prom-client';
import type { Clock } from '../src/clock';
import type { Config, SiteConfig } from '../src/config';
import type { VisitorSocketRegistry } from '../src/delivery/visitor-socket-registry';
import type { Logger } from '../src/logger';
import type { CoreMetrics } from '../src/metrics/core-metrics';
import type { Processor } from './processor';
import { NavigationProcessor } from './navigation/navigation-processor';
import { ContentProcessor } from './content/content-processor';
import { UsageProcessor } from './usage/usage-processor';
import { CrossSellProcessor, type RulePublisher } from './cross-sell/cross-sell-processor';
import { createNextBestOffer } from './next-best-offer/create-next-best-offer';
import type { NextBestOfferProcessor } from './next-best-offer/next-best-offer-processor';

export interface SiteProcessorDeps {
  readonly config: Config;
  /** Wall clock for timers only (cooldowns, idle triggers); processors use event time otherwise. */
  readonly clock: Clock;
  readonly registry: Registry;
  readonly metrics: CoreMetrics;
  readonly logger: Logger;
  /** The visitor → collect socket bindings, for pushing offers to the visitor's own page. */
  readonly visitorSockets: VisitorSocketRegistry;
  /** Counts evictions from bounded state (closed label sets: processor and structure names). */
  readonly onEvict: (processor: string, structure: string, n: number) => void;
  /** Offer delivery (src/delivery/offer-delivery.ts): attached to each site's next-best-offer processor. */
  readonly offers?: { attach(nbo: NextBestOfferProcessor): void };
  /** Publishes rule-set changes on `cm.rules.<site>` (the app wires NATS when configured). */
  readonly rulesPublisher?: RulePublisher;
}

export function createSiteProcessors(site: SiteConfig, deps: SiteProcessorDeps): Processor[] {
  const processors: Processor[] = [];
  // Owners append their construction lines below, in dependency order.
  const processorContext = { site: site.id, onEvict: deps.onEvict };
  processors.push(new NavigationProcessor({ site, time: deps.config.time, context: processorContext, metrics: deps.metrics }));
  processors.push(new ContentProcessor({ site, time: deps.config.time, context: processorContext, metrics: deps.metrics }));
  // Usage first among the readers of profiles: next-best-offer gets `usage` (its `visitor(id)`).
  const usage = new UsageProcessor({ site, time: deps.config.time, onEvict: deps.onEvict, metrics: deps.metrics });
  processors.push(usage);
  processors.push(CrossSellProcessor.forSite(site, { config: deps.config, registry: deps.registry, onEvict: deps.onEvict, ...(deps.rulesPublisher !== undefined ? { publisher: deps.rulesPublisher } : {}) }));
  // next-best-offer reads usage's profiles (built above) and cross-sell's rules (looked up on first use).
  processors.push(createNextBestOffer(site, processors, { clock: deps.clock, registry: deps.registry, onEvict: deps.onEvict, ...(deps.offers !== undefined ? { offers: deps.offers } : {}) }));
  return processors;
}
