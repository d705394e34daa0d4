/**
 * The processors' public entry: each processor folder exports its processor and its output type
 * through here (not its helpers). The app builds one instance of each per site.
 */
export type { Processor, EventOutcome, ProcessorContext } from './processor';
export { NavigationProcessor } from './navigation/navigation-processor';
export type { NavigationWindow, NavigationTransition, NavigationPageCount, NavigationPath, ClickThrough, NavigationProcessorOptions } from './navigation/navigation-processor';
export { UsageProcessor, LIFECYCLE_STAGES } from './usage/usage-processor';
export type { UsageWindowStats, UsageSnapshot, UsageProcessorOptions, VisitorProfile, LifecycleStage, RfmScore, FormStats, Quantiles, UsageSettings } from './usage/usage-processor';
export { ContentProcessor } from './content/content-processor';
export type { ContentWindow, ContentCount, ContentPageCount, SearchTermCount, TrendingItem, TrendingKind, ContentProcessorOptions } from './content/content-processor';
export { CrossSellProcessor } from './cross-sell/cross-sell-processor';
export type { CrossSellOptions, CrossSellSnapshot, RulePublisher } from './cross-sell/cross-sell-processor';
export { RuleSet } from './cross-sell/rule-set';
export type { Rule, RuleChange, RuleFilter, RuleKind, RuleLevel, BasketSource, RuleSetJson } from './cross-sell/rule-set';
export type { CrossSellSettings } from './cross-sell/cross-sell-settings';
export { NextBestOfferProcessor } from './next-best-offer/next-best-offer-processor';
export type { NextBestOfferOptions, NextBestOfferSnapshot, OfferRule, OfferRuleSet, RuleSource, VisitorProfiles as OfferVisitorProfiles } from './next-best-offer/next-best-offer-processor';
export { OfferCatalog } from './next-best-offer/offer-catalog';
export type { Offer, OfferTarget, OfferPattern } from './next-best-offer/offer-catalog';
export type { OfferTrigger, OfferOutcome, OfferListener, RuleReason, PatternReason, OfferedItems } from './next-best-offer/offer-trigger';
export type { NextBestOfferSettings } from './next-best-offer/next-best-offer-settings';
