import { Registry } from 'prom-client';
import type { Processor } from '../../processors/processor';
import { defaultViews } from '../../processors/site-processors';
import type { Dimension, SliceQuery } from '../../processors/usage/session-dimensions';
import { ManualClock } from '../../src/clock';
import { loadConfig, type Config, type SiteConfig } from '../../src/config';
import type { EnrichedEvent } from '../../src/events/enriched-event';
import type { PageViewEvent } from '../../src/events/event-types';
import { createLogger } from '../../src/logger';
import { createCoreMetrics } from '../../src/metrics/core-metrics';
import { Pipeline } from '../../src/pipeline/pipeline';
import { mulberry32 } from '../../src/replay/mulberry32';
import { pageView } from './enriched-events';

const MIN = 60_000;

/** What a shopper's session is by construction: its landing dimensions, its pages in order, the products (and their categories) it viewed. */
export type SlicedTruth = Record<Dimension, string> & { pages: string[]; products: string[]; categories: string[]; end: number };

/** A product's category in generated shoppers. */
export const categoryOf = (product: string): string => (Number(product.slice(1)) % 2 === 0 ? 'books' : 'games');

/**
 * Shoppers with a known channel, device and visitor type (session slices by brute force), starting at
 * `t0`; 4 distinct pages and 6 products so every group's lists fit the slice tables' top 20. Pages
 * other than the landing one show a product.
 */
export function slicedShoppers(seed: number, visitors: number, t0: number): { events: EnrichedEvent[]; truth: SlicedTruth[] } {
  const rnd = mulberry32(seed);
  const scenarios = [
    { channel: 'direct', url: '/', referrer: undefined },
    { channel: 'search', url: '/', referrer: 'https://www.google.de/search?q=shop' },
    { channel: 'social', url: '/', referrer: 'https://t.co/x1' },
    { channel: 'email', url: '/?utm_source=newsletter&utm_medium=email&utm_campaign=spring', referrer: undefined },
    { channel: 'paid', url: '/?utm_source=google&utm_medium=cpc&utm_campaign=brand', referrer: 'https://www.google.com/' },
    { channel: 'referral', url: '/', referrer: 'https://blog.example.org/post' },
  ] as const;
  const devices = ['desktop', 'mobile', 'tablet'] as const;
  const pagesOf = ['/', '/a', '/b', '/c'];
  const events: EnrichedEvent[] = [];
  const truth: SlicedTruth[] = [];
  for (let v = 0; v < visitors; v++) {
    const visits = rnd() < 0.3 ? 2 : 1;
    for (let k = 0; k < visits; k++) {
      const sc = scenarios[Math.floor(rnd() * scenarios.length)]!;
      const device = devices[Math.floor(rnd() * devices.length)]!;
      let t = t0 + Math.floor(rnd() * 60 * MIN) + k * 100 * MIN;
      const vid = `ns${v}`;
      const pages = ['/'];
      const products: string[] = [];
      const landing = pageView(vid, t, '/');
      const ev = { ...(landing.event as PageViewEvent), url: `https://shop.test${sc.url}` };
      if (sc.referrer !== undefined) ev.referrer = sc.referrer;
      events.push({ ...landing, device, event: ev });
      const more = Math.floor(rnd() * 5);
      for (let i = 0; i < more; i++) {
        t += 20_000;
        const page = pagesOf[Math.floor(rnd() * pagesOf.length)]!;
        pages.push(page);
        const product = `p${Math.floor(rnd() * 6)}`;
        if (!products.includes(product)) products.push(product);
        const p = pageView(vid, t, page, { product: { id: product, category: categoryOf(product) } });
        events.push({ ...p, device, event: { ...(p.event as PageViewEvent), referrer: 'https://shop.test/' } });
      }
      const q = new URL(`https://shop.test${sc.url}`).searchParams;
      const u = (n: string) => q.get(n) ?? '(none)';
      truth.push({ channel: sc.channel, device, visitorType: k === 0 ? 'new' : 'returning', utmSource: u('utm_source'), utmMedium: u('utm_medium'), utmCampaign: u('utm_campaign'), pages, products, categories: [...new Set(products.map(categoryOf))], end: t });
    }
  }
  return { events: events.sort((a, b) => a.ts - b.ts), truth };
}


/**
 * `events` with each run of 40 shuffled (Fisher–Yates with `rnd`): out of order within a block, the
 * blocks in order — a second arrival order for "the same numbers whatever the order" tests.
 */
export function shuffledInBlocks<T>(events: readonly T[], rnd: () => number): T[] {
  const out = events.slice();
  for (let i = 0; i < out.length; i += 40) {
    for (let j = Math.min(i + 39, out.length - 1); j > i; j--) {
      const k = i + Math.floor(rnd() * (j - i + 1));
      [out[j], out[k]] = [out[k]!, out[j]!];
    }
  }
  return out;
}

/**
 * A quiet two-partition pipeline for slice tests (1-minute panes, 30-minute sessions, nothing expires),
 * with `processorFor`'s processor per partition; `finish(newest)` moves event time two hours past the
 * newest event, so every session closes. `processors` becomes the demo site's processor config.
 */
export function slicePipeline(
  t0: number,
  processorFor: (site: SiteConfig, config: Config, onEvict: (processor: string, structure: string, n: number) => void) => Processor,
  opts: { readonly time?: Record<string, unknown>; readonly processors?: Record<string, unknown> } = {},
) {
  const config = loadConfig({}, {
    partitions: 2,
    time: { pane: 'PT1M', outOfOrderness: 0, allowedLateness: 'PT2M', sessionGap: 'PT30M', retentionPanes: 10_000, ...opts.time },
    ...(opts.processors === undefined ? {} : { sites: [{ id: 'demo', secret: 's', allowedOrigins: ['*'], processors: opts.processors }] }),
  });
  const registry = new Registry();
  const clock = new ManualClock(t0);
  const evictions = new Map<string, number>();
  const onEvict = (_p: string, structure: string, n: number): void => void evictions.set(structure, (evictions.get(structure) ?? 0) + n);
  const pipeline = new Pipeline({ config, clock, metrics: createCoreMetrics(registry, { defaultMetrics: false }), logger: createLogger('silent'), viewsFor: defaultViews, processorsFor: (site) => [processorFor(site, config, onEvict)] });
  const finish = (newest: number): void => {
    clock.set(Math.max(clock.now(), newest) + 2 * 3_600_000);
    pipeline.tick();
  };
  return { pipeline, finish, evictions, config, clock, registry };
}

/**
 * The group-by by hand over generated sessions: the sessions `q.where` accepts, grouped by `q.by`,
 * each added to its group's row by `add`; most sessions first, then by key (the slice tables' order).
 */
export function bruteGroups<R extends { key: Record<string, string>; sessions: number }>(truth: readonly SlicedTruth[], q: SliceQuery, empty: (key: Record<string, string>) => R, add: (row: R, t: SlicedTruth) => void): R[] {
  const groups = new Map<string, R>();
  for (const t of truth) {
    if (!Object.entries(q.where).every(([d, vs]) => vs.includes(t[d as Dimension]))) continue;
    const key = Object.fromEntries(q.by.map((d) => [d, t[d]]));
    const g = JSON.stringify(key);
    let row = groups.get(g);
    if (row === undefined) groups.set(g, (row = empty(key)));
    row.sessions++;
    add(row, t);
  }
  return [...groups.values()].sort((a, b) => b.sessions - a.sessions || (JSON.stringify(a.key) < JSON.stringify(b.key) ? -1 : 1));
}
