import { ContentView, type ContentWindow } from '../../../processors/content/content-processor';
import { DEVICE_CLASSES, type DeviceClass } from '../../events/device';
import { parseSliceQuery } from '../slice-query';
import { windowStatsRoute, type SliceParser } from './window-stats';

/**
 * `by`/`where` on content, the dimensions of the usage route: `slices` groups the window's ended
 * sessions (the products and categories they viewed, each session once). `by=device` alone (with
 * `where` on device only) also lists `devices`: page views and top pages by the page view's own
 * device, counted when viewed.
 */
const contentSlice: SliceParser = (q) => {
  const r = parseSliceQuery(q);
  if (r.kind === 'error') return r;
  const query = r.query;
  if (query === undefined) return { kind: 'ok', opts: {} };
  const whereDims = Object.keys(query.where);
  const deviceOnly = (query.by.length === 0 || (query.by.length === 1 && query.by[0] === 'device')) && whereDims.every((d) => d === 'device') && (query.by.length === 1 || whereDims.length > 0);
  if (!deviceOnly) return { kind: 'ok', opts: { slices: query } };
  const listed = query.where.device;
  const unknown = (listed ?? []).filter((d) => !(DEVICE_CLASSES as readonly string[]).includes(d));
  if (unknown.length > 0) return { kind: 'error', message: `where: device ${JSON.stringify(unknown[0])} is not one of ${DEVICE_CLASSES.join(', ')}` };
  const devices = listed === undefined ? DEVICE_CLASSES : (listed as DeviceClass[]);
  return { kind: 'ok', opts: { devices, slices: query } };
};

/**
 * GET /v1/stats/content?site=&window=&windows=&limit=&cursor=&by=&where= — content windows newest
 * first, the open one included (`closed: false`), DESIGN.md §3. Lists are sorted by count descending,
 * except `trending`, sorted by score (growth against the baseline); all paginated with the same
 * limit/cursor. With `by`/`where`, each window also holds `slices` (and `devices` for by=device).
 */
export const registerContentRoutes = windowStatsRoute<ContentWindow>({
  path: '/v1/stats/content',
  processor: 'content',
  summary: 'Content statistics per window (top and trending pages, products, categories, search terms, zero-result searches), newest first; by/where group ended sessions by channel, device, visitor type or UTM (products and categories they viewed), by=device also lists page views by device',
  lists: ['topPages', 'topProducts', 'topCategories', 'searches', 'zeroResultSearches', 'trending'],
  is: (p): p is ContentView => p instanceof ContentView,
  slice: contentSlice,
});
