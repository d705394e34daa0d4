import type { DeviceClass } from '../../src/events/device';
import type { SessionSummary } from '../../src/events/enriched-event';

/** Traffic channels a session is attributed to, by its landing page view. */
export const CHANNELS = ['direct', 'search', 'social', 'referral', 'email', 'paid'] as const;
export type Channel = (typeof CHANNELS)[number];

/** The dimensions a session's figures are sliced by (`GET /v1/stats/usage?by=…&where=…`). */
export const DIMENSIONS = ['channel', 'device', 'visitorType', 'utmSource', 'utmMedium', 'utmCampaign'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** A session's value of every dimension (strings; `(none)` where a UTM parameter is absent, `other` past a bound). */
export type SessionDimensions = Readonly<Record<Dimension, string>>;

/**
 * How the landing page view maps to a channel (`processors.usage.channels` in a site's config, each
 * list replacing the default). Host entries match the host or any subdomain of it (`google.com`
 * matches `www.google.com`); an entry ending in a dot matches that label anywhere (`google.` matches
 * `www.google.co.uk`).
 */
export interface ChannelRules {
  readonly searchHosts: readonly string[];
  readonly socialHosts: readonly string[];
  readonly emailHosts: readonly string[];
  /** utm_medium values that mean paid traffic (lowercase). */
  readonly paidMediums: readonly string[];
  readonly emailMediums: readonly string[];
  readonly socialMediums: readonly string[];
  /** Query parameters ad networks add to a click (gclid, fbclid …): their presence means paid. */
  readonly paidParams: readonly string[];
}

export const DEFAULT_CHANNEL_RULES: ChannelRules = Object.freeze({
  searchHosts: Object.freeze(['google.', 'bing.com', 'duckduckgo.com', 'search.yahoo.com', 'yandex.', 'baidu.com', 'ecosia.org', 'qwant.com', 'search.brave.com', 'startpage.com']),
  socialHosts: Object.freeze(['facebook.com', 'instagram.com', 't.co', 'twitter.com', 'x.com', 'linkedin.com', 'lnkd.in', 'pinterest.', 'reddit.com', 'tiktok.com', 'youtube.com', 'threads.net', 'mastodon.social']),
  emailHosts: Object.freeze(['mail.google.com', 'outlook.live.com', 'outlook.office.com', 'mail.yahoo.com', 'mail.proton.me']),
  paidMediums: Object.freeze(['cpc', 'ppc', 'paid', 'paidsearch', 'paid_search', 'paid-search', 'cpm', 'display', 'banner', 'paid_social', 'paidsocial', 'cpv', 'affiliate_paid']),
  emailMediums: Object.freeze(['email', 'e-mail', 'newsletter', 'mail']),
  socialMediums: Object.freeze(['social', 'social-network', 'social_network', 'sm', 'social-media']),
  paidParams: Object.freeze(['gclid', 'gbraid', 'wbraid', 'fbclid', 'msclkid', 'ttclid', 'dclid']),
});

/** UTM values kept per dimension value, characters (longer ones are cut). */
const MAX_VALUE = 64;
export const NONE = '(none)';
export const OTHER = 'other';

function hostMatches(host: string, entry: string): boolean {
  if (entry.endsWith('.')) return `.${host}`.includes(`.${entry}`);
  return host === entry || host.endsWith(`.${entry}`);
}

const anyHost = (host: string, entries: readonly string[]): boolean => entries.some((e) => hostMatches(host, e));

/** The host of an absolute URL, lower-cased ('' when there is none). No `new URL`: it was 10 % of a kosarak replay. */
function hostOf(url: string | undefined): string {
  if (url === undefined) return '';
  const m = HOST.exec(url);
  return m === null ? '' : m[1]!.toLowerCase();
}
const HOST = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^/?#:]+)/i;

/** The query parameters of a URL this module reads (UTM and ad click ids), decoded; undefined without a query. */
function queryOf(url: string | undefined): Map<string, string> | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  const h = url.indexOf('#', q);
  const out = new Map<string, string>();
  for (const pair of url.slice(q + 1, h < 0 ? undefined : h).split('&')) {
    const eq = pair.indexOf('=');
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    if (!out.has(key)) out.set(key, eq < 0 ? '' : decode(pair.slice(eq + 1)));
  }
  return out;
}

function decode(s: string): string {
  const plus = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

/** Control characters: slice keys are joined with them (\u0001, \u001f), so a value never holds one. */
const CONTROL = /[\u0000-\u001f\u007f]/g;

function utm(params: Map<string, string> | undefined, name: string): string {
  const v = params?.get(name)?.replace(CONTROL, '').trim().toLowerCase();
  return v === undefined || v === '' ? NONE : v.slice(0, MAX_VALUE);
}

/**
 * The channel of a landing page view, the way GA4's default channel grouping reads it: campaign
 * tagging first (utm_medium, ad click ids), then the referrer's host; no referrer, or one from the
 * shop's own host, is direct.
 */
export function channelOf(landing: SessionSummary['landing'], rules: ChannelRules, params = queryOf(landing?.url)): Channel {
  if (landing === undefined) return 'direct';
  const medium = utm(params, 'utm_medium');
  if (medium !== NONE) {
    if (rules.paidMediums.includes(medium)) return 'paid';
    if (rules.emailMediums.includes(medium)) return 'email';
    if (rules.socialMediums.includes(medium)) return 'social';
    if (medium === 'organic') return 'search';
    if (medium === 'referral') return 'referral';
  }
  if (params !== undefined && rules.paidParams.some((p) => params.has(p))) return 'paid';
  const host = hostOf(landing.referrer);
  if (host === '') return medium === NONE ? 'direct' : 'referral';
  if (host === hostOf(landing.url)) return 'direct';
  if (anyHost(host, rules.emailHosts)) return 'email';
  if (anyHost(host, rules.searchHosts)) return 'search';
  if (anyHost(host, rules.socialHosts)) return 'social';
  return 'referral';
}

/** Every dimension of a closed session, from its landing page view, its first event's device and its visitor. */
export function sessionDimensions(s: SessionSummary, rules: ChannelRules): SessionDimensions {
  const params = queryOf(s.landing?.url);
  return {
    channel: channelOf(s.landing, rules, params),
    device: s.device satisfies DeviceClass,
    visitorType: s.returningVisitor ? 'returning' : 'new',
    utmSource: utm(params, 'utm_source'),
    utmMedium: utm(params, 'utm_medium'),
    utmCampaign: utm(params, 'utm_campaign'),
  };
}

/** The slice key of a session: its dimension values in DIMENSIONS order. */
export function sliceKey(d: SessionDimensions): string {
  return `${d.channel}\u0001${d.device}\u0001${d.visitorType}\u0001${d.utmSource}\u0001${d.utmMedium}\u0001${d.utmCampaign}`;
}

/** The slice key of sessions counted before slices existed (restored from an older snapshot). */
export const UNSLICED = sliceKey({ channel: OTHER, device: 'unknown', visitorType: OTHER, utmSource: OTHER, utmMedium: OTHER, utmCampaign: OTHER });

/** The dimension values of a slice key. */
export function sliceValues(key: string): string[] {
  return key.split('\u0001');
}

/**
 * The key a session is counted under when the pane's slices are full: the high-cardinality values
 * fold into `other` first (campaign, then source and medium), so channel, device and visitor type
 * stay exact as long as their combinations fit (6 × 5 × 2 = 60).
 */
export function foldedKeys(d: SessionDimensions): readonly string[] {
  return [sliceKey({ ...d, utmCampaign: OTHER }), sliceKey({ ...d, utmSource: OTHER, utmMedium: OTHER, utmCampaign: OTHER })];
}

/**
 * The slice key a closing session counts under in a pane holding `held`: its dimensions, or — when
 * the pane holds `max` keys and not this one — the same with its UTM values folded into `other`
 * (`onFold` is called: an eviction; a retraction, which finds the key its count went to, passes
 * none), so channel, device and visitor type stay exact.
 */
export function boundedSliceKey(dims: SessionDimensions, held: ReadonlyMap<string, unknown> | undefined, max: number, onFold?: () => void): string {
  const key = sliceKey(dims);
  if (held === undefined || held.size < max || held.has(key)) return key;
  onFold?.();
  const folded = foldedKeys(dims);
  for (const k of folded) if (held.has(k)) return k;
  return folded[folded.length - 1]!;
}

/** A slice query: group by one or two dimensions, keep only sessions whose values are listed in `where`. */
export interface SliceQuery {
  readonly by: readonly Dimension[];
  /** Dimension → accepted values (OR within a dimension, AND across dimensions). */
  readonly where: Readonly<Partial<Record<Dimension, readonly string[]>>>;
}

/** One row of a slice table: the group's dimension values and the figures of its ended sessions. */
export interface SliceRow {
  readonly key: Readonly<Partial<Record<Dimension, string>>>;
  /** Ended sessions (counted when they close, like `sessions.ended`). */
  readonly sessions: number;
  readonly pageViews: number;
  /** bounces / sessions with page views (null without). */
  readonly bounceRate: number | null;
  readonly converted: number;
  /** converted / sessions (null without sessions). */
  readonly conversionRate: number | null;
  readonly revenue: number;
  readonly avgDurationSeconds: number | null;
  /** Sessions at each funnel step (product, cart, checkout, purchase), nested. */
  readonly funnel: readonly [number, number, number, number];
}

/** Ended sessions grouped by a slice query: usage's rows (SliceRow), navigation's and content's their own. */
export interface SliceTable<Row = SliceRow> {
  readonly by: readonly Dimension[];
  readonly where: SliceQuery['where'];
  /** Groups by sessions, most first (then by key). */
  readonly rows: readonly Row[];
  /** False when a pane folded UTM values into `other` and the query groups or filters by UTM (then those groups are lower bounds and `other` holds the rest). */
  readonly exact: boolean;
}

const DIM_INDEX: Readonly<Record<Dimension, number>> = Object.fromEntries(DIMENSIONS.map((d, i) => [d, i])) as Record<Dimension, number>;

/** True when a query groups or filters by a UTM dimension (whose values fold into `other` past a pane's bound). */
export function involvesUtm(q: SliceQuery): boolean {
  return [...q.by, ...Object.keys(q.where)].some((d) => d === 'utmSource' || d === 'utmMedium' || d === 'utmCampaign');
}

/** A group of a slice query: its values of `q.by` (in that order) and what each accepted slice holds. */
export interface SliceGroup<V> {
  readonly values: readonly string[];
  readonly members: V[];
}

/**
 * The slices `q.where` accepts (slice key → value), grouped by `q.by`; `folded` when any slice held
 * has UTM values folded into `other` (then groups by UTM are lower bounds, `other` holds the rest).
 */
export function groupSlices<V>(slices: Iterable<readonly [string, V]>, q: SliceQuery): { groups: Array<SliceGroup<V>>; folded: boolean } {
  const groups = new Map<string, SliceGroup<V>>();
  const filters = Object.entries(q.where).map(([d, vs]) => [DIM_INDEX[d as Dimension], new Set(vs)] as const);
  let folded = false;
  for (const [key, value] of slices) {
    const values = sliceValues(key);
    if (values[3] === OTHER || values[4] === OTHER || values[5] === OTHER) folded = true;
    if (!filters.every(([i, set]) => set.has(values[i]!))) continue;
    const groupValues = q.by.map((d) => values[DIM_INDEX[d]]!);
    const g = groupValues.join('\u0001');
    let acc = groups.get(g);
    if (acc === undefined) groups.set(g, (acc = { values: groupValues, members: [] }));
    acc.members.push(value);
  }
  return { groups: [...groups.values()], folded };
}

/** The `key` object of a group: dimension → value, in `q.by` order. */
export function groupKey(q: SliceQuery, values: readonly string[]): Readonly<Partial<Record<Dimension, string>>> {
  return Object.fromEntries(q.by.map((d, i) => [d, values[i]!]));
}

/**
 * Groups a window's slices (slice key → counters, see usage-pane SLICE) by `q.by` over the sessions
 * `q.where` accepts: exact sums of exact counts, whatever the grouping.
 */
export function sliceTable(slices: ReadonlyMap<string, Float64Array> | undefined, q: SliceQuery, layout: { readonly width: number; readonly sessions: number; readonly withPageViews: number; readonly bounces: number; readonly converted: number; readonly pageViews: number; readonly revenueCents: number; readonly durationMs: number; readonly funnel: number }): SliceTable {
  const live = [...(slices ?? [])].filter(([, row]) => row[layout.sessions]! > 0);
  const { groups, folded } = groupSlices(live, q);
  const rows: SliceRow[] = groups.map(({ values, members }) => {
    const sums = new Float64Array(layout.width);
    for (const row of members) for (let i = 0; i < layout.width; i++) sums[i]! += row[i]!;
    const sessions = sums[layout.sessions]!;
    const withViews = sums[layout.withPageViews]!;
    return {
      key: groupKey(q, values),
      sessions,
      pageViews: sums[layout.pageViews]!,
      bounceRate: withViews > 0 ? sums[layout.bounces]! / withViews : null,
      converted: sums[layout.converted]!,
      conversionRate: sessions > 0 ? sums[layout.converted]! / sessions : null,
      revenue: sums[layout.revenueCents]! / 100,
      avgDurationSeconds: sessions > 0 ? sums[layout.durationMs]! / sessions / 1000 : null,
      funnel: [sums[layout.funnel]!, sums[layout.funnel + 1]!, sums[layout.funnel + 2]!, sums[layout.funnel + 3]!],
    };
  });
  rows.sort(bySessionsThenKey);
  return { by: q.by, where: q.where, rows, exact: !(folded && involvesUtm(q)) };
}

/** Rows by sessions, most first, then by key (a stable order for equal counts). */
export function bySessionsThenKey(a: { readonly sessions: number; readonly key: object }, b: { readonly sessions: number; readonly key: object }): number {
  return b.sessions - a.sessions || (JSON.stringify(a.key) < JSON.stringify(b.key) ? -1 : 1);
}
