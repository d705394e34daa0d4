import type { Dimension } from '../../processors/usage/session-dimensions';
import type { EnrichedEvent } from '../../src/events/enriched-event';
import type { PageViewEvent } from '../../src/events/event-types';
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

