import type { UrlRules } from '../config';
import { requireBound } from '../errors';

/** Distinct raw URLs whose page key is memoised; when full the memo starts over (counted). */
export const DEFAULT_URL_MEMO_SIZE = 10_000;

export interface UrlNormaliserOptions {
  /** Most memoised URLs (count). */
  readonly memoSize?: number;
  /** Called with the number of memo entries dropped when it is full. */
  readonly onEvict?: (n: number) => void;
}

/**
 * Turns a URL into a page key (DESIGN.md §5): scheme and host stripped, fragment dropped, query string
 * stripped except the site's `keepParams` (sorted, so parameter order does not split a page), trailing
 * slash collapsed, then the first matching `groups` pattern rewrites the path (`/product/123` →
 * `/product/:id`; `$1`-style references in `as` work as in String.replace).
 *
 * Called once per event at enrichment, so it is string slicing, not `new URL()`, plus a bounded memo:
 * the same few thousand URLs repeat all day.
 */
export class UrlNormaliser {
  readonly #keep: ReadonlySet<string>;
  readonly #groups: ReadonlyArray<{ readonly re: RegExp; readonly as: string }>;
  readonly #memo = new Map<string, string>();
  readonly #memoSize: number;
  readonly #onEvict: ((n: number) => void) | undefined;

  constructor(rules: UrlRules, opts: UrlNormaliserOptions = {}) {
    this.#keep = new Set(rules.keepParams);
    // Config validation already compiled each pattern once; a bad one cannot reach here from loadConfig.
    this.#groups = rules.groups.map((g) => ({ re: new RegExp(g.pattern), as: g.as }));
    this.#memoSize = requireBound('UrlNormaliser memoSize', opts.memoSize ?? DEFAULT_URL_MEMO_SIZE);
    this.#onEvict = opts.onEvict;
  }

  /** The page key of `url`; never throws. */
  normalise(url: string): string {
    const hit = this.#memo.get(url);
    if (hit !== undefined) return hit;
    const key = this.#compute(url);
    if (this.#memo.size >= this.#memoSize) {
      // TRICKY: clearing in one go keeps the hit path to a single Map.get (no LRU bookkeeping); the hot
      // URLs are back within a few events.
      this.#onEvict?.(this.#memo.size);
      this.#memo.clear();
    }
    this.#memo.set(url, key);
    return key;
  }

  /** The decoded value of query parameter `name` in `url` (first occurrence), or undefined. */
  static param(url: string, name: string): string | undefined {
    const q = url.indexOf('?');
    if (q < 0) return undefined;
    const hash = url.indexOf('#', q);
    const query = url.slice(q + 1, hash < 0 ? url.length : hash);
    for (const pair of query.split('&')) {
      const eq = pair.indexOf('=');
      const k = eq < 0 ? pair : pair.slice(0, eq);
      if (safeDecode(k) !== name) continue;
      return eq < 0 ? '' : safeDecode(pair.slice(eq + 1));
    }
    return undefined;
  }

  #compute(url: string): string {
    let s = url.trim();
    const hash = s.indexOf('#');
    if (hash >= 0) s = s.slice(0, hash);
    // Strip "scheme://host" or a protocol-relative "//host".
    const scheme = s.indexOf('://');
    let from = -1;
    if (scheme > 0 && scheme < 16 && !s.slice(0, scheme).includes('/')) from = scheme + 3;
    else if (s.startsWith('//')) from = 2;
    if (from >= 0) {
      const slash = s.indexOf('/', from);
      const qm = s.indexOf('?', from);
      const cut = slash < 0 ? qm : qm < 0 ? slash : Math.min(slash, qm);
      s = cut < 0 ? '/' : s.slice(cut);
    }
    const q = s.indexOf('?');
    let path = q < 0 ? s : s.slice(0, q);
    const query = q < 0 ? '' : s.slice(q + 1);
    if (path === '' || path[0] !== '/') path = '/' + path;
    while (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    for (const g of this.#groups) {
      if (g.re.test(path)) {
        path = path.replace(g.re, g.as);
        break;
      }
    }
    if (query === '' || this.#keep.size === 0) return path;
    const kept: Array<[string, string]> = [];
    for (const pair of query.split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const k = safeDecode(eq < 0 ? pair : pair.slice(0, eq));
      if (this.#keep.has(k)) kept.push([k, eq < 0 ? '' : safeDecode(pair.slice(eq + 1))]);
    }
    if (kept.length === 0) return path;
    kept.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    return `${path}?${kept.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`;
  }
}

/** decodeURIComponent that returns malformed input as is ('+' is a space in query strings). */
function safeDecode(s: string): string {
  const t = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!t.includes('%')) return t;
  try {
    return decodeURIComponent(t);
  } catch {
    return t;
  }
}
