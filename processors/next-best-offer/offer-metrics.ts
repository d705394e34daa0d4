import { Counter, Histogram, type Registry } from 'prom-client';

/** Why a trigger did not fire (closed set: a metric label). */
export const SUPPRESS_REASONS = [
  'cooldown',
  'visitor_cap',
  'offer_cap',
  'site_cap',
  'budget',
  'already_bought',
  'already_offered',
  'stage',
  'segment',
  'not_valid',
  'lift_floor',
] as const;
export type SuppressReason = (typeof SUPPRESS_REASONS)[number];

/**
 * The next-best-offer metrics, one set per registry shared by every site's processor (get-or-create:
 * two sites register the same names on one registry, two apps use two registries).
 */
export function createOfferMetrics(registry: Registry) {
  const registers = [registry];
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  return {
    triggered: get(
      'clickstream_offers_triggered_total',
      () => new Counter({ name: 'clickstream_offers_triggered_total', help: 'Offer triggers fired (holdout excluded), by site.', labelNames: ['site'] as const, registers }),
    ),
    suppressed: get(
      'clickstream_offers_suppressed_total',
      () =>
        new Counter({
          name: 'clickstream_offers_suppressed_total',
          help: 'Offer decisions stopped, by site and reason (cooldown, caps, budget, exclusions, lift floor).',
          labelNames: ['site', 'reason'] as const,
          registers,
        }),
    ),
    holdout: get(
      'clickstream_offers_holdout_total',
      () => new Counter({ name: 'clickstream_offers_holdout_total', help: 'Offer triggers recorded for holdout visitors and not delivered, by site.', labelNames: ['site'] as const, registers }),
    ),
    latency: get(
      'clickstream_event_to_offer_seconds',
      () =>
        new Histogram({
          name: 'clickstream_event_to_offer_seconds',
          help: 'From the firing event reaching the gateway (receivedAt) to the trigger being emitted, seconds.',
          labelNames: ['site'] as const,
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
          registers,
        }),
    ),
  };
}

export type OfferMetrics = ReturnType<typeof createOfferMetrics>;
