/**
 * The views a route answers from: the site's own (`ctx.processor`) when this instance holds every
 * partition, or — scaled out — the views over every partition gathered from the instances that hold
 * them (src/cluster/partition-query.ts). Partitions nobody answered for are said, never left out silently.
 */
import type { AppContext } from '../app-context';
import type { GlobalViews } from '../cluster/partition-query';
import { UsageView } from '../../processors/usage/usage-processor';
import { iso } from './routes/window-stats';

export async function siteViews(ctx: AppContext, site: string, names: readonly string[]): Promise<GlobalViews> {
  if (ctx.gather === undefined) return { processor: (name) => ctx.processor(site, name), watermark: ctx.watermark(site), missing: [] };
  const views = await ctx.gather(site, names);
  // A gathered usage view knows the configured segments only: it takes the ones defined at run time
  // from this instance's own view (every instance has them all: src/cluster/shared-segments.ts).
  const local = ctx.processor(site, 'usage');
  const gathered = views.processor('usage');
  if (local instanceof UsageView && gathered instanceof UsageView && gathered !== local) {
    const keep = new Set(local.segmentDefinitions().map((d) => d.id));
    for (const d of gathered.segmentDefinitions()) if (!keep.has(d.id)) gathered.removeSegment(d.id);
    for (const d of local.segmentDefinitions()) gathered.putSegment(d);
  }
  return views;
}

/** The fields a response carries about where its numbers come from: the watermark, and `partial` with the missing partitions. */
export function coverage(v: GlobalViews): Record<string, unknown> {
  return { watermark: iso(v.watermark), ...(v.missing.length === 0 ? {} : { partial: true, missingPartitions: v.missing }) };
}
