import type { SegmentDefinition } from '../../processors/usage/segments';
import { Registry } from 'prom-client';
import { ManualClock } from '../../src/clock';
import type { EnrichedEvent } from '../../src/events/enriched-event';
import type { CollectEvent, LineItem } from '../../src/events/event-types';
import type { EpochMillis, SessionId, SiteId, VisitorId } from '../../src/types';
import { NextBestOfferProcessor, type OfferRule, type OfferRuleSet, type VisitorProfiles } from '../../processors/next-best-offer/next-best-offer-processor';
import { parseNextBestOfferSettings } from '../../processors/next-best-offer/next-best-offer-settings';
import type { OfferOutcome, OfferTrigger } from '../../processors/next-best-offer/offer-trigger';

/**
 * Hand-built inputs for the next-best-offer tests: enriched events, rule sets whose statistics are
 * derived from basket counts written in the test (support = n(XY)/N, confidence = n(XY)/n(X),
 * lift = confidence / (n(Y)/N)), and a processor wired to a ManualClock and a fresh registry.
 */

let seq = 0;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An event body as the storefront sends it, without the fields the builder fills in. */
export type EventBody = DistributiveOmit<CollectEvent, 'id' | 'visitorId' | 'ts' | 'url'> & { id?: string; url?: string };

export function enriched(site: string, visitorId: string, ts: number, event: EventBody, opts: { sessionId?: string; receivedAt?: number; bot?: boolean } = {}): EnrichedEvent {
  const id = event.id ?? `e${++seq}`;
  const full = { url: 'https://shop.test/', ...event, id, visitorId, ts } as CollectEvent;
  return {
    site: site as SiteId,
    id,
    type: full.type,
    visitorId: visitorId as VisitorId,
    ts: ts as EpochMillis,
    receivedAt: (opts.receivedAt ?? ts) as EpochMillis, seq: 0,
    partition: 0,
    page: '/',
    bot: opts.bot ?? false,
    event: full,
    session: {
      id: (opts.sessionId ?? `s-${visitorId}`) as SessionId,
      start: ts as EpochMillis,
      isNew: false,
      prevPage: undefined,
      nextPage: undefined,
      nextPageTs: NaN as EpochMillis,
      pageIndex: 0,
      returningVisitor: false,
    },
  };
}

export const view = (site: string, visitor: string, ts: number, productId: string, category?: string, opts: { id?: string; receivedAt?: number; sessionId?: string } = {}): EnrichedEvent =>
  enriched(site, visitor, ts, { type: 'page_view', ...(opts.id !== undefined ? { id: opts.id } : {}), product: { id: productId, ...(category !== undefined ? { category } : {}) } }, opts);

export const addToCart = (site: string, visitor: string, ts: number, productId: string): EnrichedEvent =>
  enriched(site, visitor, ts, { type: 'click', target: { kind: 'button', productId } });

export const form = (site: string, visitor: string, ts: number, formId: string, action: 'view' | 'start' | 'field' | 'error' | 'submit' | 'abandon', field?: string, items?: LineItem[]): EnrichedEvent =>
  enriched(site, visitor, ts, { type: 'form', formId, action, ...(field !== undefined ? { field } : {}), ...(items !== undefined ? { items } : {}) });

export const offerClick = (site: string, visitor: string, ts: number, offerId: string, triggerId: string): EnrichedEvent =>
  enriched(site, visitor, ts, { type: 'click', target: { kind: 'offer', offerId, triggerId } });

/** A rule from basket counts: N baskets, n(X), n(Y), n(X ∪ Y). */
export function ruleFromCounts(antecedent: string[], consequent: string[], N: number, nX: number, nY: number, nXY: number, level: 'product' | 'category' = 'product'): OfferRule {
  const confidence = nXY / nX;
  return { antecedent, consequent, level, support: nXY / N, confidence, lift: confidence / (nY / N) };
}

export function ruleSet(rules: OfferRule[], version = 1, window = { start: 0, end: 3_600_000 }): OfferRuleSet {
  const by = new Map<string, OfferRule[]>();
  for (const r of rules) for (const a of r.antecedent) by.set(a, [...(by.get(a) ?? []), r]);
  return { version, window, byAntecedent: (item) => by.get(item) ?? [] };
}

export interface Harness {
  readonly nbo: NextBestOfferProcessor;
  readonly clock: ManualClock;
  readonly registry: Registry;
  readonly triggers: OfferTrigger[];
  readonly outcomes: OfferOutcome[];
  readonly evictions: Array<[string, number]>;
  rules: OfferRuleSet | undefined;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export function harness(settings: Record<string, unknown>, rules: OfferRule[] | undefined, opts: { site?: string; profiles?: VisitorProfiles; segments?: () => readonly SegmentDefinition[] } = {}): Harness {
  const site = opts.site ?? 'shop';
  const parsed = parseNextBestOfferSettings(site, settings);
  if (parsed.kind !== 'ok') throw new Error(parsed.problems.join('\n'));
  const clock = new ManualClock(0);
  const registry = new Registry();
  const evictions: Array<[string, number]> = [];
  const h: Harness = {
    clock,
    registry,
    triggers: [],
    outcomes: [],
    evictions,
    rules: rules === undefined ? undefined : ruleSet(rules),
    nbo: undefined as unknown as NextBestOfferProcessor,
    async metric(name, labels = {}) {
      // Histogram series (`_sum`, `_count`, `_bucket`) live under the base metric.
      const base = name.replace(/_(sum|count|bucket)$/, '');
      const m = await (registry.getSingleMetric(name) ?? registry.getSingleMetric(base))?.get();
      let sum = 0;
      for (const v of m?.values ?? []) {
        const series = (v as { metricName?: string }).metricName;
        if (series !== undefined && series !== name) continue;
        if (Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val)) sum += v.value;
      }
      return sum;
    },
  };
  const nbo = new NextBestOfferProcessor({
    site: site as SiteId,
    settings: parsed.settings,
    catalog: parsed.catalog,
    rules: { current: () => h.rules },
    ...(opts.profiles !== undefined ? { profiles: opts.profiles } : {}),
    ...(opts.segments !== undefined ? { segments: opts.segments } : {}),
    clock,
    registry,
    onEvict: (_p, structure, n) => evictions.push([structure, n]),
  });
  nbo.ledger.subscribe({ onTrigger: (t) => h.triggers.push(t), onOutcome: (o) => h.outcomes.push(o) });
  (h as { nbo: NextBestOfferProcessor }).nbo = nbo;
  return h;
}

export const WM = 0 as EpochMillis;
