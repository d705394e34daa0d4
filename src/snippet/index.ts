/**
 * The tracking snippet's entry (bundled to an IIFE as /snippet.js). Shops paste the loader tag:
 *
 *   <script>
 *     window.cm = window.cm || function () { (cm.q = cm.q || []).push(arguments); };
 *     cm('init', { site: 'my-shop' });
 *   </script>
 *   <script async src="https://collector.example/snippet.js"></script>
 *
 * Calls made before the script arrives wait in `cm.q` and are replayed here, `init` first.
 */
import { readConfig } from './snippet-config';
import { Tracker } from './tracker';

type Cm = ((...args: unknown[]) => void) & { q?: ArrayLike<unknown>[]; loaded?: boolean };
const w = window as unknown as { cm?: Cm };

if (!w.cm?.loaded) {
  const queued = Array.from(w.cm?.q ?? []);
  const cfg = readConfig(document.currentScript as HTMLScriptElement | null);
  for (const args of queued) if (args[0] === 'init' && typeof args[1] === 'object') Object.assign(cfg, args[1]);
  const tracker = new Tracker(cfg);
  const cm: Cm = (...args: unknown[]) => tracker.call(args);
  cm.loaded = true;
  w.cm = cm;
  // Settings first (page fields, consent, offer handlers), then tracking starts, then queued events.
  for (const args of queued) if (args[0] !== 'track') tracker.call(args);
  tracker.boot();
  for (const args of queued) if (args[0] === 'track') tracker.call(args);
}
