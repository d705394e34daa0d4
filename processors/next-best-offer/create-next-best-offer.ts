import type { Registry } from 'prom-client';
import type { Clock } from '../../src/clock';
import type { SiteConfig } from '../../src/config';
import { ClickstreamError } from '../../src/errors';
import type { Processor } from '../processor';
import { NextBestOfferProcessor, type OfferRuleSet, type RuleSource, type VisitorProfiles } from './next-best-offer-processor';
import { parseNextBestOfferSettings } from './next-best-offer-settings';

/** What next-best-offer needs of the cross-sell processor (structurally CrossSellProcessor). */
interface RuleProducer {
  current(): OfferRuleSet;
  onRuleSetChange(fn: (rs: OfferRuleSet) => void): () => void;
}

function isRuleProducer(p: unknown): p is RuleProducer {
  const r = p as Partial<RuleProducer> | undefined;
  return typeof r?.current === 'function' && typeof r.onRuleSetChange === 'function';
}

function isProfiles(p: unknown): p is VisitorProfiles {
  return typeof (p as Partial<VisitorProfiles> | undefined)?.visitor === 'function';
}

/**
 * The current rules of the site's cross-sell processor, found in the site's processor list on first
 * use (so the order of construction lines in site-processors.ts does not matter), then kept fresh by
 * its change notifications.
 */
export function crossSellRuleSource(processors: readonly Processor[]): RuleSource {
  let latest: OfferRuleSet | undefined;
  let bound = false;
  return {
    current(): OfferRuleSet | undefined {
      if (!bound) {
        const cs = processors.find((p) => p.name === 'cross-sell');
        if (!isRuleProducer(cs)) return undefined;
        bound = true;
        cs.onRuleSetChange((rs) => {
          latest = rs;
        });
        try {
          latest = cs.current();
        } catch {
          // No rules computed yet: the first change notification brings them.
          latest = undefined;
        }
      }
      return latest;
    },
  };
}

export interface NextBestOfferDeps {
  readonly clock: Clock;
  readonly registry: Registry;
  readonly onEvict: (processor: string, structure: string, n: number) => void;
  /** Offer delivery (the app's OfferDelivery): gets the processor's triggers and outcomes. */
  readonly offers?: { attach(nbo: NextBestOfferProcessor): void };
}

/**
 * Builds a site's next-best-offer processor from its config (`site.processors['next-best-offer']`;
 * a bad config fails the boot with every problem listed), reading rules from the site's cross-sell
 * processor and profiles from its usage processor (both looked up in `processors`).
 */
export function createNextBestOffer(site: SiteConfig, processors: readonly Processor[], deps: NextBestOfferDeps): NextBestOfferProcessor {
  const parsed = parseNextBestOfferSettings(site.id, site.processors['next-best-offer']);
  if (parsed.kind === 'invalid') throw new ClickstreamError('CM_ERR_CONFIG', `invalid configuration:\n  ${parsed.problems.join('\n  ')}`);
  if (parsed.settings.webhooks.length > 0 && site.webhookSecret === '') {
    throw new ClickstreamError('CM_ERR_CONFIG', `invalid configuration:\n  sites[${site.id}].webhookSecret: webhooks are signed with it; set one (not the site's secret)`);
  }
  const usage = processors.find((p) => p.name === 'usage');
  const nbo = new NextBestOfferProcessor({
    site: site.id,
    settings: parsed.settings,
    catalog: parsed.catalog,
    rules: crossSellRuleSource(processors),
    ...(isProfiles(usage) ? { profiles: usage } : {}),
    clock: deps.clock,
    registry: deps.registry,
    onEvict: deps.onEvict,
  });
  deps.offers?.attach(nbo);
  return nbo;
}
