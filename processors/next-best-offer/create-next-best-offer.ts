import type { Registry } from 'prom-client';
import type { Clock } from '../../src/clock';
import type { SiteConfig } from '../../src/config';
import { ClickstreamError } from '../../src/errors';
import { partitionShare } from '../../src/pipeline/visitor-partitioner';
import type { Processor } from '../processor';
import type { OfferCatalog } from './offer-catalog';
import type { SegmentDefinition } from '../usage/segments';
import { NextBestOfferProcessor, NextBestOfferView, OfferLedger, type OfferRuleSet, type VisitorProfiles } from './next-best-offer-processor';
import { parseNextBestOfferSettings, type NextBestOfferSettings } from './next-best-offer-settings';

/** What next-best-offer needs of the site's cross-sell rules (structurally CrossSellRules). */
export interface RuleProducer {
  current(): OfferRuleSet;
  onRuleSetChange(fn: (rs: OfferRuleSet) => void): () => void;
}

function isProfiles(p: unknown): p is VisitorProfiles {
  return typeof (p as Partial<VisitorProfiles> | undefined)?.visitor === 'function';
}

export interface NextBestOfferDeps {
  readonly clock: Clock;
  readonly registry: Registry;
  readonly onEvict: (processor: string, structure: string, n: number) => void;
  /** Offer delivery (the app's OfferDelivery): gets the site's triggers and outcomes. */
  readonly offers?: { attach(view: NextBestOfferView): void };
}

/**
 * A site's next-best-offer: settings and catalog parsed once (a bad config fails the boot with every
 * problem listed), one ledger (budgets, caps, recent triggers, listeners) shared by the processors of
 * its partitions, the site's view, and the latest cross-sell rules every partition decides with.
 */
export class SiteOffers {
  readonly settings: NextBestOfferSettings;
  readonly catalog: OfferCatalog;
  readonly view: NextBestOfferView;
  readonly #site: SiteConfig;
  readonly #deps: NextBestOfferDeps;
  #latest: OfferRuleSet | undefined;
  #segments: (() => readonly SegmentDefinition[]) | undefined;

  constructor(site: SiteConfig, deps: NextBestOfferDeps) {
    const parsed = parseNextBestOfferSettings(site.id, site.processors['next-best-offer']);
    if (parsed.kind === 'invalid') throw new ClickstreamError('CM_ERR_CONFIG', `invalid configuration:\n  ${parsed.problems.join('\n  ')}`);
    if (parsed.settings.webhooks.length > 0 && site.webhookSecret === '') {
      throw new ClickstreamError('CM_ERR_CONFIG', `invalid configuration:\n  sites[${site.id}].webhookSecret: webhooks are signed with it; set one (not the site's secret)`);
    }
    this.#site = site;
    this.#deps = deps;
    this.settings = parsed.settings;
    this.catalog = parsed.catalog;
    this.view = new NextBestOfferView({ site: site.id, settings: parsed.settings, catalog: parsed.catalog, ledger: new OfferLedger(parsed.settings) });
    deps.offers?.attach(this.view);
  }

  /**
   * The processor of one partition: profiles from that partition's usage processor (in `processors`,
   * built before it), visitor bounds the site's shared evenly by `partitions`.
   */
  processor(processors: readonly Processor[], partitions: number): NextBestOfferProcessor {
    const s = this.settings;
    const usage = processors.find((p) => p.name === 'usage');
    return new NextBestOfferProcessor({
      site: this.#site.id,
      settings: { ...s, maxVisitors: partitionShare(s.maxVisitors, partitions), maxPending: partitionShare(s.maxPending, partitions), maxProducts: partitionShare(s.maxProducts, partitions) },
      catalog: this.catalog,
      rules: { current: () => this.#latest },
      ...(isProfiles(usage) ? { profiles: usage } : {}),
      segments: () => this.#segments?.() ?? [],
      clock: this.#deps.clock,
      registry: this.#deps.registry,
      onEvict: this.#deps.onEvict,
      ledger: this.view.ledger,
    });
  }

  /** The site's named segments (its usage view's), for segment-targeted offers and per-segment uplift. */
  followSegments(definitions: () => readonly SegmentDefinition[]): void {
    this.#segments = definitions;
  }

  /** Decide with the site's rules from now on (the current ones, then each new version). */
  followRules(producer: RuleProducer): void {
    producer.onRuleSetChange((rs) => {
      this.#latest = rs;
    });
    this.#latest = producer.current();
  }
}
