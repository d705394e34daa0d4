import { ContentView, type ContentWindow } from '../../../processors/content/content-processor';
import { windowStatsRoute } from './window-stats';

/**
 * GET /v1/stats/content?site=&window=&windows=&limit=&cursor= — content windows newest first, the
 * open one included (`closed: false`), DESIGN.md §3. Lists are sorted by count descending, except
 * `trending`, sorted by score (growth against the baseline); all paginated with the same limit/cursor.
 */
export const registerContentRoutes = windowStatsRoute<ContentWindow>({
  path: '/v1/stats/content',
  processor: 'content',
  summary: 'Content statistics per window (top and trending pages, products, categories, search terms, zero-result searches), newest first',
  lists: ['topPages', 'topProducts', 'topCategories', 'searches', 'zeroResultSearches', 'trending'],
  is: (p): p is ContentView => p instanceof ContentView,
});
