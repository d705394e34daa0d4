/**
 * The tracking snippet's entry (bundled to an IIFE as /snippet.js). Shops paste the loader tag:
 *
 *   <script>
 *     window.cm = window.cm || function () { (cm.q = cm.q || []).push(arguments); };
 *     cm('init', { site: 'my-shop' });
 *   </script>
 *   <script async src="https://collector.example/snippet.js"></script>
 *
 * Calls made before the script arrives wait in `cm.q` and are replayed here: `init` first, then the
 * other settings, then tracking starts (the page view), then queued `track` calls.
 *
 * API: `cm('init', {site, endpoint?, key?, searchParam?, requireConsent?, respectDnt?, sessionGapMs?, queueLimit?})`
 * (or data-site, data-endpoint, data-key, data-search-param, data-require-consent, data-respect-dnt on
 * the script tag) · `cm('track', 'page_view' | 'click' | 'form', fields)` · `cm('page', {product, search, title, props})`
 * (before load: fields of the first page view; after: a page view now) · `cm('consent', true | false)` ·
 * `cm('onOffer', fn)` (offers pushed on the collect socket, once per triggerId) · `cm('offerShown', offer)`
 * (the page displayed it: an impression) · `cm('flush')`.
 *
 * Markup it reads (attributes only, never a field value): `data-cm-ad` (ad impressions and clicks),
 * `data-cm-product`, `data-cm-cart` (add to cart), `data-cm-offer` + `data-cm-trigger` (offer clicks), `data-cm-offer-dismiss` (its close button),
 * `data-cm-page-product` + `data-cm-category` + `data-cm-price` (the page's product),
 * `data-cm-search-results` (result count), `data-cm-item` + `-quantity` / `-price` / `-category`
 * (checkout lines, sent with the form submit), `data-cm-form` (form id), `data-cm-ignore` (untracked
 * form), `data-cm-sensitive` (a field, or a container of fields, never touched).
 */
import { applyInit, readConfig } from './snippet-config';
import { Tracker } from './tracker';

type Cm = ((...args: unknown[]) => void) & { q?: ArrayLike<unknown>[]; loaded?: boolean };
const w = window as unknown as { cm?: Cm };

if (!w.cm?.loaded) {
  const queued = Array.from(w.cm?.q ?? []);
  const cfg = readConfig(document.currentScript as HTMLScriptElement | null);
  for (const args of queued) if (args[0] === 'init') applyInit(cfg, args[1]);
  const tracker = new Tracker(cfg);
  const cm: Cm = (...args: unknown[]) => tracker.call(args);
  cm.loaded = true;
  w.cm = cm;
  // Settings first (page fields, consent, offer handlers), then tracking starts, then queued events.
  for (const args of queued) if (args[0] !== 'track') tracker.call(args);
  tracker.boot();
  for (const args of queued) if (args[0] === 'track') tracker.call(args);
}
