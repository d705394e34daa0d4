import type { UrlRules } from '../config';

// TODO(#3): minimal version written by the spine (H1) so the enricher has page keys; H3 owns this
// file and may extend it (path case, trailing slashes, category patterns) keeping this API.

/**
 * Turns a URL into a page key: scheme and host dropped, fragment dropped, query parameters stripped
 * except the site's `keepParams` (kept in their original order), then the first matching `groups`
 * pattern rewrites the path (e.g. `/product/123` → `/product/:id`). Regexes are compiled once.
 */
export class UrlNormaliser {
  readonly #keep: ReadonlySet<string>;
  readonly #groups: ReadonlyArray<{ readonly re: RegExp; readonly as: string }>;

  constructor(rules: UrlRules) {
    this.#keep = new Set(rules.keepParams);
    this.#groups = rules.groups.map((g) => ({ re: new RegExp(g.pattern), as: g.as }));
  }

  normalise(url: string): string {
    let start = 0;
    const scheme = url.indexOf('://');
    if (scheme > 0 && scheme < 16) {
      const slash = url.indexOf('/', scheme + 3);
      if (slash < 0) return this.#group('/');
      start = slash;
    }
    let end = url.indexOf('#', start);
    if (end < 0) end = url.length;
    const q = url.indexOf('?', start);
    const pathEnd = q >= 0 && q < end ? q : end;
    let path = url.slice(start, pathEnd);
    if (path === '') path = '/';
    path = this.#group(path);
    if (q < 0 || q >= end || this.#keep.size === 0) return path;
    let kept = '';
    for (const pair of url.slice(q + 1, end).split('&')) {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      if (this.#keep.has(name)) kept += (kept === '' ? '?' : '&') + pair;
    }
    return path + kept;
  }

  #group(path: string): string {
    for (const g of this.#groups) {
      if (g.re.test(path)) return path.replace(g.re, g.as);
    }
    return path;
  }
}
