import type { PageViewEvent } from '../events/event-types';
import { clip, key, num } from './dom';

export type PageFields = Partial<Pick<PageViewEvent, 'title' | 'referrer' | 'product' | 'search' | 'ads' | 'props'>>;

/**
 * What the page itself says about this view: its product (`data-cm-page-product`, `data-cm-category`,
 * `data-cm-price`, `data-cm-name` on one element), a site search (the `searchParam` query parameter, with the result
 * count from `data-cm-search-results` when the page gives it) and its ad impressions (`data-cm-ad`).
 */
export function pageFields(searchParam: string, referrer: string): PageFields {
  const f: PageFields = {};
  if (document.title) f.title = clip(document.title, 512);
  if (referrer) f.referrer = clip(referrer, 2048);
  const p = document.querySelector('[data-cm-page-product]');
  const id = key(p, 'data-cm-page-product');
  if (id !== undefined) {
    f.product = { id };
    const category = key(p, 'data-cm-category');
    const price = num(p, 'data-cm-price');
    if (category !== undefined) f.product.category = category;
    if (price !== undefined) f.product.price = price;
    const name = p?.getAttribute('data-cm-name')?.trim();
    if (name) f.product.name = clip(name, 256);
  }
  const query = new URLSearchParams(location.search).get(searchParam)?.trim();
  if (query) {
    f.search = { query: clip(query, 256) };
    const results = num(document.querySelector('[data-cm-search-results]'), 'data-cm-search-results');
    if (results !== undefined) f.search.results = Math.floor(results);
  }
  const ads: string[] = [];
  document.querySelectorAll('[data-cm-ad]').forEach((el) => {
    const ad = key(el, 'data-cm-ad');
    if (ad !== undefined && ads.length < 50 && !ads.includes(ad)) ads.push(ad);
  });
  if (ads.length > 0) f.ads = ads;
  return f;
}

/**
 * Calls `onRoute` after a single-page-app route change through the History API (pushState,
 * replaceState, back/forward), once the app had a turn to render the new view.
 */
export function watchRoutes(onRoute: () => void): void {
  const later = (): void => void setTimeout(onRoute, 0);
  for (const name of ['pushState', 'replaceState'] as const) {
    const original = history[name];
    history[name] = function (this: History, ...args: Parameters<History['pushState']>) {
      original.apply(this, args);
      later();
    };
  }
  addEventListener('popstate', later);
}
