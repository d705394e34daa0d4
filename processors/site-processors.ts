/**
 * The processors of one site, built once per configured site by the app (src/app.ts) and handed to
 * the pipeline: a processor set per partition (each partition's state is its own) and the site's
 * views over them. Each processor's owner adds its construction line here, in dependency order (a
 * processor that reads another one's output is built after it and gets it passed in).
 */
import type { Registry } from 'prom-client';
import type { Clock } from '../src/clock';
import type { Config, SiteConfig } from '../src/config';
import type { VisitorSocketRegistry } from '../src/delivery/visitor-socket-registry';
import type { Logger } from '../src/logger';
import type { CoreMetrics } from '../src/metrics/core-metrics';
import { ClickstreamError } from '../src/errors';
import { partitionShare } from '../src/pipeline/visitor-partitioner';
import type { PartitionSets, Processor, SiteView } from './processor';
import { NavigationProcessor, NavigationView } from './navigation/navigation-processor';
import { ContentProcessor, ContentView } from './content/content-processor';
import { UsageProcessor, UsageView } from './usage/usage-processor';
import { parseUsageSettings, type UsageSettings } from './usage/usage-settings';
import type { SegmentChange, SegmentDefinition } from './usage/segments';
import { CrossSellProcessor, CrossSellRules, crossSellSettingsOf, type RulePublisher } from './cross-sell/cross-sell-processor';
import { SiteOffers } from './next-best-offer/create-next-best-offer';
import type { NextBestOfferView } from './next-best-offer/next-best-offer-processor';

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
  /** Offer delivery (src/delivery/offer-delivery.ts): attached to each site's next-best-offer view. */
  readonly offers?: { attach(view: NextBestOfferView): void };
  /** Publishes rule-set changes on `cm.rules.<site>` (the app wires NATS when configured). */
  readonly rulesPublisher?: RulePublisher;
  /** Receives segment entries and exits (the app publishes them on `cm.segments.<site>`). */
  readonly onSegmentChange?: (c: SegmentChange) => void;
}

/** A site's processors: what the pipeline's `processorsFor` and `viewsFor` call. */
export interface SiteProcessors {
  forPartition(partition: number): Processor[];
  views(parts: PartitionSets): SiteView[];
  /** The site's usage settings as parsed once (segment webhooks, for the app's fan-out). */
  readonly usage: UsageSettings;
  /**
   * Scale-out queries: a bare statistics processor (navigation, content, usage) to restore another
   * instance's partition into, and a view of that name over such partitions. Undefined for others.
   */
  queryProcessor(name: string): Processor | undefined;
  queryView(name: string, parts: PartitionSets): SiteView | undefined;
}

export function createSiteProcessors(site: SiteConfig, deps: SiteProcessorDeps): SiteProcessors {
  const { config } = deps;
  const n = config.partitions;
  const processorContext = { site: site.id, onEvict: deps.onEvict };
  // Parsed once per site (a bad config fails the boot before any partition is built).
  const usage = parseUsageSettings(site.processors['usage'], site.id);
  if (usage.segmentWebhooks.length > 0 && site.webhookSecret === '') {
    throw new ClickstreamError('CM_ERR_CONFIG', `invalid configuration:\n  sites[${site.id}].webhookSecret: segment webhooks are signed with it; set one (not the site's secret)`);
  }
  // Every bound of a partition's state is its share of the site's: visitor-keyed state, and the
  // product → category maps (each partition learns the products its own visitors saw).
  const usageSettings = { ...usage, maxProfiles: partitionShare(usage.maxProfiles, n), maxOpenForms: partitionShare(usage.maxOpenForms, n), maxPendingSessions: partitionShare(usage.maxPendingSessions, n), maxProducts: partitionShare(usage.maxProducts, n), maxSlicesPerPane: partitionShare(usage.maxSlicesPerPane, n) };
  const crossSell = crossSellSettingsOf(site);
  // The site's segment definitions live in its usage view (config, then the admin API); partitions read them through it.
  let usageView: UsageView | undefined;
  const segments = (): readonly SegmentDefinition[] => usageView?.segmentDefinitions() ?? usage.segments;
  const statistics = {
    navigation: () => new NavigationProcessor({ site, time: config.time, context: processorContext, metrics: deps.metrics, channels: usageSettings.channels }),
    content: () => new ContentProcessor({ site, time: config.time, context: processorContext, metrics: deps.metrics, channels: usageSettings.channels }),
  };
  const offers = new SiteOffers(site, { clock: deps.clock, registry: deps.registry, onEvict: deps.onEvict, ...(deps.offers !== undefined ? { offers: deps.offers } : {}) });
  return {
    usage,
    forPartition(): Processor[] {
      const processors: Processor[] = [];
      // Owners append their construction lines below, in dependency order.
      processors.push(statistics.navigation(), statistics.content());
      // Usage first among the readers of profiles: next-best-offer gets `usage` (its `visitor(id)`).
      processors.push(new UsageProcessor({ site, time: config.time, settings: usageSettings, onEvict: deps.onEvict, metrics: deps.metrics, segments, ...(deps.onSegmentChange !== undefined ? { onSegmentChange: deps.onSegmentChange } : {}) }));
      processors.push(CrossSellProcessor.forSite(site, { config, registry: deps.registry, onEvict: deps.onEvict }));
      processors.push(offers.processor(processors, n));
      return processors;
    },
    queryProcessor(name: string): Processor | undefined {
      if (name === 'navigation' || name === 'content') return statistics[name]();
      if (name === 'usage') return new UsageProcessor({ site, time: config.time, settings: usageSettings, onEvict: deps.onEvict, metrics: deps.metrics, segments });
      if (name === 'cross-sell') return CrossSellProcessor.forSite(site, { config });
      return undefined;
    },
    queryView(name: string, parts: PartitionSets): SiteView | undefined {
      if (name === 'navigation') return new NavigationView(parts);
      if (name === 'content') return new ContentView(parts);
      if (name === 'usage') {
        // The site's segments now — configured, then defined or removed at run time (scaled out, every
        // instance has them all: src/cluster/shared-segments.ts) — not only the configured ones.
        const gathered = new UsageView(parts);
        const now = segments();
        const keep = new Set(now.map((d) => d.id));
        for (const d of gathered.segmentDefinitions()) if (!keep.has(d.id)) gathered.removeSegment(d.id);
        for (const d of now) gathered.putSegment(d);
        return gathered;
      }
      if (name === 'cross-sell') return new CrossSellRules({ site: site.id, settings: crossSell, parts: () => parts.of<CrossSellProcessor>('cross-sell'), allowedLatenessMs: config.time.allowedLatenessMs });
      return undefined;
    },
    views(parts: PartitionSets): SiteView[] {
      // Scaled out, the rules role holder mines over every partition and publishes (src/cluster/global-rules.ts); this view adopts.
      const scaledOut = config.natsUrl !== undefined && config.nats.instanceId !== undefined;
      const rules = new CrossSellRules({
        site: site.id,
        settings: crossSell,
        parts: () => parts.of<CrossSellProcessor>('cross-sell'),
        allowedLatenessMs: config.time.allowedLatenessMs,
        registry: deps.registry,
        onEvict: deps.onEvict,
        ...(deps.rulesPublisher !== undefined && !scaledOut ? { publisher: deps.rulesPublisher } : {}),
        adoptsRules: scaledOut,
      });
      offers.followRules(rules);
      const view = new UsageView(parts);
      usageView = view;
      offers.followSegments(segments);
      return [new NavigationView(parts), new ContentView(parts), view, rules, offers.view];
    },
  };
}

/**
 * Views for a pipeline whose processors are built by hand (tests, benchmarks): navigation, content,
 * usage, and the cross-sell rules when the partitions count baskets (their settings, no publisher).
 */
export function defaultViews(site: SiteConfig, parts: PartitionSets): SiteView[] {
  const views: SiteView[] = [new NavigationView(parts), new ContentView(parts), new UsageView(parts)];
  const cs = parts.of<CrossSellProcessor>('cross-sell')[0];
  if (cs !== undefined) views.push(new CrossSellRules({ site: site.id, settings: cs.settings, allowedLatenessMs: cs.allowedLatenessMs, parts: () => parts.of<CrossSellProcessor>('cross-sell') }));
  return views;
}
