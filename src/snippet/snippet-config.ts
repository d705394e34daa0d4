/** The snippet's settings: data attributes on its script tag, overridden by `cm('init', {...})`. */
export interface SnippetConfig {
  /** Site id (`data-site`). */
  site: string;
  /** Collector base URL (`data-endpoint`); default: the origin the script was loaded from. */
  endpoint: string;
  /** The site's public key (`data-key`), sent when set. */
  key: string | undefined;
  /** Query parameter holding a site-search term (`data-search-param`). */
  searchParam: string;
  /** Track only after `cm('consent', true)` (`data-require-consent`). */
  requireConsent: boolean;
  /** Honour Do-Not-Track / Global Privacy Control unless consent was given (`data-respect-dnt="false"` to ignore). */
  respectDnt: boolean;
  /** Inactivity that ends a session, ms. */
  sessionGapMs: number;
  /** Unacknowledged events kept in localStorage, count. */
  queueLimit: number;
}

export function readConfig(script: HTMLScriptElement | null): SnippetConfig {
  const d = script?.dataset ?? {};
  let endpoint = location.origin;
  try {
    if (script?.src) endpoint = new URL(script.src).origin;
  } catch {
    // An unparsable src keeps the page origin.
  }
  return {
    site: d['site'] ?? '',
    endpoint: d['endpoint'] ?? endpoint,
    key: d['key'],
    searchParam: d['searchParam'] ?? 'q',
    requireConsent: d['requireConsent'] === 'true',
    respectDnt: d['respectDnt'] !== 'false',
    sessionGapMs: 30 * 60_000,
    queueLimit: 500,
  };
}

/** Applies `cm('init', {...})`: known keys with the right type only, so a typo cannot break tracking. */
export function applyInit(cfg: SnippetConfig, raw: unknown): void {
  if (typeof raw !== 'object' || raw === null) return;
  const c = cfg as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(raw)) {
    if (k in c && (typeof v === typeof c[k] || (k === 'key' && typeof v === 'string'))) c[k] = v;
  }
}
