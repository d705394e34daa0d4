import { ContentView, type ContentWindow } from '../../../processors/content/content-processor';
import { DEVICE_CLASSES, type DeviceClass } from '../../events/device';
import { windowStatsRoute, type SliceParser } from './window-stats';

/**
 * Content slices by the device class of each page view (the batch's User-Agent): `by=device` lists
 * every device's page views and top pages, `where=device:mobile[,device:tablet]` only those. Session
 * dimensions (channel, visitor type, UTM) slice the usage route, where sessions are counted whole.
 */
const contentSlice: SliceParser = (q) => {
  const by = q['by'];
  const where = q['where'];
  if (by !== undefined && by !== 'device') return { kind: 'error', message: 'content slices by device only (by=device); channel, visitor type and UTM slice /v1/stats/usage' };
  if (where === undefined) return { kind: 'ok', opts: { devices: DEVICE_CLASSES } };
  const devices: DeviceClass[] = [];
  for (const pair of typeof where === 'string' ? where.split(',') : []) {
    const value = pair.startsWith('device:') ? pair.slice('device:'.length) : undefined;
    if (value === undefined || !(DEVICE_CLASSES as readonly string[]).includes(value)) return { kind: 'error', message: `where: ${JSON.stringify(pair)} is not device:<${DEVICE_CLASSES.join('|')}>` };
    devices.push(value as DeviceClass);
  }
  if (devices.length === 0) return { kind: 'error', message: 'where must be device:value pairs, comma-separated' };
  return { kind: 'ok', opts: { devices } };
};

/**
 * GET /v1/stats/content?site=&window=&windows=&limit=&cursor=&by=device&where=device:… — content
 * windows newest first, the open one included (`closed: false`), DESIGN.md §3. Lists are sorted by
 * count descending, except `trending`, sorted by score (growth against the baseline); all paginated
 * with the same limit/cursor. With `by`/`where`, each window also lists `devices`.
 */
export const registerContentRoutes = windowStatsRoute<ContentWindow>({
  path: '/v1/stats/content',
  processor: 'content',
  summary: 'Content statistics per window (top and trending pages, products, categories, search terms, zero-result searches), newest first; by=device slices page views and top pages by device',
  lists: ['topPages', 'topProducts', 'topCategories', 'searches', 'zeroResultSearches', 'trending'],
  is: (p): p is ContentView => p instanceof ContentView,
  slice: contentSlice,
});
