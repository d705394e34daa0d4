import { createHash } from 'node:crypto';
import type { ContentView } from '../../processors/content/content-processor';
import type { CrossSellRules } from '../../processors/cross-sell/cross-sell-processor';
import type { NavigationView } from '../../processors/navigation/navigation-processor';
import type { UsageView } from '../../processors/usage/usage-processor';
import type { App } from '../../src/app';
import { DEVICE_CLASSES } from '../../src/events/device';

const MIN = 60_000;

export interface AppDigest {
  /** Per-part hashes (usage, navigation, navigationHour, content, rules) as one JSON string: a failure names the part. */
  readonly hash: string;
  readonly usage: UsageView;
  readonly nav: NavigationView;
  readonly cross: CrossSellRules;
}

/**
 * Every window of every statistics processor of a site (with its slices by channel × device, and
 * content by device) and every rule set, hashed per part. Rule-set
 * versions are left out: they count recomputes, which depend on how often the watermark moved.
 */
export function appDigest(app: App, site: string): AppDigest {
  const wm = app.pipeline.watermark(site);
  const usage = app.pipeline.processor(site, 'usage') as UsageView;
  const nav = app.pipeline.processor(site, 'navigation') as NavigationView;
  const content = app.pipeline.processor(site, 'content') as ContentView;
  const cross = app.pipeline.processor(site, 'cross-sell') as CrossSellRules;
  // Slices by two session dimensions ride along: a replay must reach the same groups too.
  const slices = { by: ['channel', 'device'], where: {} } as const;
  const parts = {
    usage: usage.windows(MIN, 100_000, { slices }),
    navigation: nav.windows(MIN, 100_000, { watermark: wm, slices }),
    navigationHour: nav.windows(60 * MIN, 1_000, { watermark: wm, slices }),
    content: content.windows(MIN, 100_000, { watermark: wm, slices, devices: DEVICE_CLASSES }),
    rules: cross.settings.windows.map((w) => {
      const rs = cross.current(w);
      return { window: rs.window, baskets: rs.baskets, errorBound: rs.errorBound, rules: rs.rules };
    }),
  };
  const h = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 12);
  return { hash: JSON.stringify(Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, h(v)]))), usage, nav, cross };
}
