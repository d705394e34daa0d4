import { NavigationView, type NavigationWindow } from '../../../processors/navigation/navigation-processor';
import { windowStatsRoute } from './window-stats';

/**
 * GET /v1/stats/navigation?site=&window=&windows=&limit=&cursor= — navigation windows newest first,
 * the open one included (`closed: false`), DESIGN.md §3. Every list is sorted by count descending
 * and paginated with the same limit/cursor; `transitions` is the full tail (probabilities are over
 * all of it, not just the page shown).
 */
export const registerNavigationRoutes = windowStatsRoute<NavigationWindow>({
  path: '/v1/stats/navigation',
  processor: 'navigation',
  summary: 'Navigation statistics per window (transitions with P(next|page), entry/exit pages, bounce rate, paths, click-through), newest first',
  lists: ['transitions', 'entryPages', 'exitPages', 'topPages', 'paths', 'clickThrough'],
  is: (p): p is NavigationView => p instanceof NavigationView,
});
