import type { Registry } from 'prom-client';
import { CrossSellProcessor, CrossSellRules, type CrossSellOptions, type CrossSellRulesSnapshot, type CrossSellSnapshot, type RulePublisher } from '../../processors/cross-sell/cross-sell-processor';
import type { EventOutcome } from '../../processors/processor';
import type { EnrichedEvent, SessionSignal } from '../../src/events/enriched-event';
import type { EpochMillis } from '../../src/types';

/**
 * One partition's cross-sell counts with the site rules mined from them alone: the processor as a
 * one-partition site sees it, for tests and benchmarks that feed it directly (no pipeline).
 */
export class SoloCrossSell {
  readonly counts: CrossSellProcessor;
  readonly rules: CrossSellRules;

  constructor(o: CrossSellOptions & { readonly publisher?: RulePublisher; readonly registry?: Registry }) {
    this.counts = new CrossSellProcessor(o);
    this.rules = new CrossSellRules({
      site: o.site,
      settings: o.settings,
      parts: () => [this.counts],
      allowedLatenessMs: o.allowedLatenessMs,
      ...(o.onEvict !== undefined ? { onEvict: o.onEvict } : {}),
      ...(o.registry !== undefined ? { registry: o.registry } : {}),
      ...(o.publisher !== undefined ? { publisher: o.publisher } : {}),
    });
  }

  get settings(): CrossSellRules['settings'] {
    return this.rules.settings;
  }

  onEvent(e: EnrichedEvent, watermark: EpochMillis): EventOutcome {
    return this.counts.onEvent(e, watermark);
  }

  onSession(signal: SessionSignal, watermark: EpochMillis): void {
    this.counts.onSession(signal, watermark);
  }

  onWatermark(watermark: EpochMillis, retention: EpochMillis = watermark): void {
    this.counts.onWatermark(watermark, retention);
    this.rules.onWatermark(watermark);
  }

  refresh(watermark: number): void {
    this.rules.refresh(watermark);
  }

  current(...args: Parameters<CrossSellRules['current']>): ReturnType<CrossSellRules['current']> {
    return this.rules.current(...args);
  }

  frequentItemsets(...args: Parameters<CrossSellRules['frequentItemsets']>): ReturnType<CrossSellRules['frequentItemsets']> {
    return this.rules.frequentItemsets(...args);
  }

  onRuleSetChange(...args: Parameters<CrossSellRules['onRuleSetChange']>): ReturnType<CrossSellRules['onRuleSetChange']> {
    return this.rules.onRuleSetChange(...args);
  }

  snapshot(): { counts: CrossSellSnapshot; rules: CrossSellRulesSnapshot } {
    return { counts: this.counts.snapshot(), rules: this.rules.snapshot() };
  }

  restore(s: { counts: CrossSellSnapshot; rules: CrossSellRulesSnapshot }): void {
    this.counts.restore(s.counts);
    this.rules.restore(s.rules);
  }

  /** Folds in another partition's counts. */
  merge(s: { counts: CrossSellSnapshot }): void {
    this.counts.merge(s.counts);
  }
}
