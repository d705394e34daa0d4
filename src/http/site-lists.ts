/**
 * The per-instance lists of a site as the admin API shows them — the live event log, the late side
 * output, the quarantine, recent offer triggers, offer statistics — built from this instance's
 * own, or scaled out from every live instance's (src/cluster/instance-lists.ts), merged newest first.
 * Instances that did not answer are named (`partial: true, missingInstances`), never left out silently.
 */
import type { AppContext } from '../app-context';
import type { ListName } from '../cluster/instance-lists';
import type { AttributionStats, AttributionTallies } from '../delivery/attribution';
import type { EnrichedEvent } from '../events/enriched-event';
import type { QuarantineItem } from '../ingest/quarantine';
import { NextBestOfferView, type OfferCounts } from '../../processors/next-best-offer/next-best-offer-processor';

/** One instance's items of a list, newest first, each with the instant it is merged by (epoch ms). */
interface ItemsPart {
  readonly items: ReadonlyArray<{ readonly at: number; readonly item: unknown }>;
}

/** One instance's offer counts and attribution. */
interface OfferStatsPart {
  readonly decisions: OfferCounts | null;
  readonly attribution: AttributionTallies | null;
}

export type ItemList = Exclude<ListName, 'offer-stats'>;

/** This instance's part of list `name` (what it answers to the others, too). */
export function localListPart(ctx: AppContext, site: string, name: ListName, limit: number): ItemsPart | OfferStatsPart {
  switch (name) {
    case 'events':
      return { items: (ctx.recentEvents?.(site, limit) ?? []).map((e) => ({ at: e.ts, item: liveLogEntry(e) })) };
    case 'late':
      return {
        items: ctx.lateEvents(site, limit).map((e) => ({ at: e.receivedAt, item: { ...e, ts: new Date(e.ts).toISOString(), receivedAt: new Date(e.receivedAt).toISOString(), watermark: new Date(e.watermark).toISOString() } })),
      };
    case 'quarantine':
      return { items: (ctx.quarantined?.(site, limit) ?? []).map((i) => ({ at: i.at, item: quarantineJson(i) })) };
    case 'offers': {
      const p = ctx.processor(site, 'next-best-offer');
      if (!(p instanceof NextBestOfferView)) return { items: [] };
      // With names, prices and the coupon, as channels got them (holdout records were never sent: as decided).
      const catalog = ctx.offers?.catalog;
      const secret = ctx.site(site)?.secret ?? '';
      return { items: p.recent(limit).map((t) => ({ at: t.ts, item: catalog === undefined || t.holdout ? t : catalog.shoppable(t, secret) })) };
    }
    case 'offer-stats': {
      const p = ctx.processor(site, 'next-best-offer');
      return { decisions: p instanceof NextBestOfferView ? p.counts() : null, attribution: ctx.offers?.attribution.tallies(site) ?? null };
    }
  }
}

/** Where a merged list's items come from: scaled out, the instances that answered and those that did not. */
function coverageOf(parts: ReadonlyMap<string, unknown>, missing: readonly string[]): Record<string, unknown> {
  return { instances: [...parts.keys()].sort(), ...(missing.length === 0 ? {} : { partial: true, missingInstances: missing }) };
}

/** The site's items of list `name`, newest first, at most `limit`; scaled out, with the instances they come from. */
export async function siteItems(ctx: AppContext, site: string, name: ItemList, limit: number): Promise<{ items: unknown[]; coverage: Record<string, unknown> }> {
  if (ctx.gatherList === undefined) return { items: (localListPart(ctx, site, name, limit) as ItemsPart).items.map((x) => x.item), coverage: {} };
  const { parts, missing } = await ctx.gatherList(site, name, limit);
  const all: Array<{ readonly at: number; readonly item: unknown }> = [];
  for (const part of parts.values()) all.push(...((part as ItemsPart).items ?? []));
  // Stable: equal instants keep the order of the parts (this instance first) and within each.
  all.sort((a, b) => b.at - a.at);
  return { items: all.slice(0, limit).map((x) => x.item), coverage: coverageOf(parts, missing) };
}

/** The site's offer decisions and attribution, summed over every deciding instance when scaled out. */
export async function siteOfferStats(ctx: AppContext, site: string): Promise<{ decisions: OfferCounts; attribution: AttributionStats | null; coverage: Record<string, unknown> }> {
  const gathered = ctx.gatherList === undefined ? undefined : await ctx.gatherList(site, 'offer-stats', 0);
  const parts = gathered === undefined ? [localListPart(ctx, site, 'offer-stats', 0) as OfferStatsPart] : ([...gathered.parts.values()] as OfferStatsPart[]);
  const decisions: OfferCounts = { triggered: 0, holdout: 0, suppressed: {}, budgetSpent: {} };
  for (const d of parts.map((p) => p.decisions)) {
    if (d === null || d === undefined) continue;
    decisions.triggered += d.triggered;
    decisions.holdout += d.holdout;
    for (const [k, n] of Object.entries(d.suppressed) as Array<[keyof OfferCounts['suppressed'], number]>) decisions.suppressed[k] = (decisions.suppressed[k] ?? 0) + n;
    for (const [k, n] of Object.entries(d.budgetSpent)) decisions.budgetSpent[k] = (decisions.budgetSpent[k] ?? 0) + n;
  }
  const tallies = parts.flatMap((p) => (p.attribution === null || p.attribution === undefined ? [] : [p.attribution]));
  return {
    decisions,
    attribution: ctx.offers?.attribution.statsOf(site, tallies) ?? null,
    coverage: gathered === undefined ? {} : coverageOf(gathered.parts, gathered.missing),
  };
}

/** An id as the live log shows it: enough to tell visitors apart on screen, not to look one up. */
export const shortId = (id: string): string => (id.length <= 8 ? id : `${id.slice(0, 6)}…`);

/**
 * One line of the live event log: what happened, where, to whom (shortened). Form events show the
 * form, the action and a field *name* (never a value: events carry none); custom props are left out.
 */
export function liveLogEntry(e: EnrichedEvent) {
  const ev = e.event;
  let detail: string;
  switch (ev.type) {
    case 'page_view':
      detail = ev.search !== undefined ? `search "${ev.search.query}"${ev.search.results === 0 ? ' (no results)' : ''}` : ev.product !== undefined ? `product ${ev.product.id}` : (ev.title ?? '');
      break;
    case 'click': {
      const t = ev.target;
      detail = `${t.kind} ${t.productId ?? t.adId ?? t.offerId ?? t.id ?? t.href ?? ''}`.trim();
      break;
    }
    case 'form': {
      const items = ev.items ?? [];
      const revenue = items.reduce((n, i) => n + (i.price ?? 0) * i.quantity, 0);
      detail = ev.action === 'submit' && items.length > 0 ? `${ev.formId} purchase: ${items.length} item(s), ${revenue.toFixed(2)}` : `${ev.formId} ${ev.action}${ev.field === undefined ? '' : ` ${ev.field}`}`;
      break;
    }
  }
  return { ts: new Date(e.ts).toISOString(), type: e.type, visitor: shortId(e.visitorId), session: shortId(e.session?.id ?? ''), newSession: e.session?.isNew === true, page: e.page, detail, bot: e.bot };
}

function quarantineJson(i: QuarantineItem) {
  return {
    /** ISO-8601 instant it was refused. */
    at: new Date(i.at).toISOString(),
    site: i.site,
    transport: i.transport,
    reason: i.reason,
    message: i.message,
    index: i.index,
    seq: i.seq,
    sample: i.sample,
  };
}
