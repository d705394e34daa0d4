/**
 * The views a route answers from: the site's own (`ctx.processor`) when this instance holds every
 * partition, or — scaled out — the views over every partition gathered from the instances that hold
 * them (src/cluster/partition-query.ts). Partitions nobody answered for are said, never left out silently.
 */
import type { AppContext } from '../app-context';
import type { GlobalViews } from '../cluster/partition-query';
import { iso } from './routes/window-stats';

export async function siteViews(ctx: AppContext, site: string, names: readonly string[]): Promise<GlobalViews> {
  if (ctx.gather !== undefined) return ctx.gather(site, names);
  return { processor: (name) => ctx.processor(site, name), watermark: ctx.watermark(site), missing: [] };
}

/** The fields a response carries about where its numbers come from: the watermark, and `partial` with the missing partitions. */
export function coverage(v: GlobalViews): Record<string, unknown> {
  return { watermark: iso(v.watermark), ...(v.missing.length === 0 ? {} : { partial: true, missingPartitions: v.missing }) };
}
