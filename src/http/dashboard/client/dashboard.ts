/**
 * The dashboard's browser script (bundled to GET /dashboard.js): reads the admin JSON APIs on the same
 * origin and renders the panels of the page (src/http/dashboard/dashboard-page.ts), refreshing every
 * few seconds. The usage table lists windows newest first, the open one marked live; clicking a row
 * shows that window in the navigation and content panels.
 *
 * TRICKY: page URLs, search terms, offer texts and quarantine samples come from anyone who can post an
 * event. Everything from data is put into the page as text nodes (`h()` below); this file never uses
 * innerHTML, insertAdjacentHTML or document.write.
 */

// ── API shapes (only the fields read here; see DESIGN.md §3 and the OpenAPI document) ─────────────

/** What every stats window has: ISO-8601 bounds (end exclusive) and whether the watermark passed it. */
interface StatsWindow {
  readonly start: string | null;
  readonly end: string | null;
  readonly closed: boolean;
}
interface Counted {
  readonly count: number;
}
interface UsageWindow extends StatsWindow {
  readonly pageViews: number;
  readonly events: { readonly page_view: number; readonly click: number; readonly form: number };
  readonly sessionsStarted: number;
  readonly visitors: number;
  readonly purchases: number;
  readonly conversionRate: number | null;
  readonly revenue: number;
  readonly sessions?: { readonly bounceRate: number | null; readonly ended: number };
  readonly segmentChanges?: ReadonlyArray<{ readonly segment: string; readonly entered: number; readonly exited: number }>;
  readonly slices?: { readonly exact: boolean; readonly rows: ReadonlyArray<{ readonly key: Readonly<Record<string, string>>; readonly sessions: number; readonly pageViews: number; readonly bounceRate: number | null; readonly conversionRate: number | null; readonly revenue: number; readonly avgDurationSeconds: number | null }> };
  readonly funnel?: { readonly sessions: number; readonly steps: ReadonlyArray<{ readonly step: string; readonly sessions: number; readonly rate: number | null; readonly dropOff: number | null }> };
  readonly forms?: ReadonlyArray<{ readonly formId: string; readonly views: number; readonly starts: number; readonly submits: number; readonly abandons: number; readonly abandonmentRate: number | null }>;
}
interface NavigationWindow extends StatsWindow {
  readonly pageViews: number;
  readonly sessions: number;
  readonly bounceRate: number | null;
  readonly transitions?: ReadonlyArray<Counted & { readonly from: string; readonly to: string; readonly probability: number }>;
  readonly entryPages?: ReadonlyArray<Counted & { readonly page: string }>;
  readonly exitPages?: ReadonlyArray<Counted & { readonly page: string }>;
  readonly topPages?: ReadonlyArray<Counted & { readonly page: string }>;
  readonly clickThrough?: ReadonlyArray<{ readonly id: string; readonly kind: string; readonly impressions: number; readonly clicks: number; readonly rate: number | null }>;
  readonly slices?: { readonly exact: boolean; readonly rows: readonly NavSliceRow[] };
}
interface NavSliceRow {
  readonly key: Readonly<Record<string, string>>;
  readonly sessions: number;
  readonly bounceRate: number | null;
  readonly pageViews: number;
  readonly entryPages: ReadonlyArray<Counted & { readonly page: string }>;
  readonly exitPages: ReadonlyArray<Counted & { readonly page: string }>;
  readonly transitions: ReadonlyArray<Counted & { readonly from: string; readonly to: string; readonly probability: number }>;
}
interface ContentWindow extends StatsWindow {
  readonly pageViews: number;
  readonly searchCount: number;
  readonly topPages?: ReadonlyArray<Counted & { readonly page: string }>;
  readonly topProducts?: ReadonlyArray<Counted & { readonly id: string }>;
  readonly trending?: ReadonlyArray<Counted & { readonly kind: string; readonly id: string; readonly score: number; readonly isNew?: boolean }>;
  readonly searches?: ReadonlyArray<Counted & { readonly query: string; readonly zeroResults: number }>;
  readonly devices?: ReadonlyArray<{ readonly device: string; readonly pageViews: number; readonly topPages: ReadonlyArray<Counted & { readonly page: string }> }>;
  readonly slices?: { readonly exact: boolean; readonly rows: ReadonlyArray<{ readonly key: Readonly<Record<string, string>>; readonly sessions: number; readonly pageViews: number; readonly topProducts: ReadonlyArray<{ readonly id: string; readonly sessions: number }>; readonly topCategories: ReadonlyArray<{ readonly id: string; readonly sessions: number }> }> };
}
interface StatsBody<W> {
  readonly watermark: string | null;
  readonly windows: readonly W[];
}
interface RulesBody {
  readonly windowName?: string;
  readonly window?: { readonly start: string | null; readonly end: string | null };
  readonly baskets?: { readonly purchase: number; readonly session: number };
  readonly total: number;
  readonly rules: ReadonlyArray<Counted & RuleRef & { readonly support: number; readonly confidence: number; readonly lift: number }>;
}
interface OfferRecord {
  readonly triggerId: string;
  readonly visitorId: string;
  readonly offerId: string;
  readonly text: string;
  readonly ts: number;
  readonly holdout: boolean;
  readonly because: { readonly kind: 'rule'; readonly rule: { readonly antecedent: readonly string[]; readonly consequent: readonly string[]; readonly lift: number } } | { readonly kind: 'pattern'; readonly pattern: string };
}
interface AttributionRow {
  readonly triggered: number;
  readonly delivered: number;
  readonly shown: number;
  readonly dismissed: number;
  readonly clicked: number;
  readonly converted: number;
  readonly revenue: number;
  readonly conversionRate: number | null;
  readonly holdout: { readonly recorded: number; readonly converted: number; readonly conversionRate: number | null };
  readonly uplift: number | null;
  readonly upliftInterval: readonly [number, number] | null;
}
interface FlowWindow extends StatsWindow {
  readonly page: string;
  readonly views: number;
  readonly entries: number;
  readonly exits: number;
  readonly previous: ReadonlyArray<Counted & { readonly page: string }>;
  readonly next: ReadonlyArray<Counted & { readonly page: string; readonly probability: number }>;
  readonly previousTotal: number;
  readonly nextTotal: number;
}
interface FlowBody {
  readonly windows: readonly FlowWindow[];
  readonly nextCursor?: string;
}
interface RuleRef {
  readonly antecedent: readonly string[];
  readonly consequent: readonly string[];
  readonly level: string;
  readonly kind: string;
}
interface RuleHistoryBody {
  readonly windowName?: string;
  readonly points: ReadonlyArray<{ readonly windowEnd: string; readonly lift: number | null; readonly confidence: number | null; readonly support: number | null }>;
}
interface ProfileBody {
  readonly visitorId: string;
  readonly stage: string;
  readonly segment: string;
  readonly purchases: number;
  readonly revenue: number;
  readonly lastSeen: string;
  readonly value: { readonly historic: number; readonly predicted: number; readonly pAlive: number };
}
interface CustomersBody {
  readonly total: number;
  readonly horizonDays?: number;
  readonly customers: readonly ProfileBody[];
}
interface ValueSegmentsBody {
  readonly segments: ReadonlyArray<{ readonly segment: string; readonly customers: number; readonly historic: number; readonly predicted: number; readonly predictedQuantiles: { readonly p50: number; readonly p90: number } }>;
}
interface SegmentsBody {
  readonly segments: ReadonlyArray<{ readonly id: string; readonly name: string; readonly size: number; readonly match: string; readonly value?: { readonly historic: number; readonly predicted: number; readonly predictedQuantiles: { readonly p50: number; readonly p90: number } } }>;
}
interface LiveBody {
  readonly items: ReadonlyArray<{ readonly ts: string; readonly type: string; readonly visitor: string; readonly newSession: boolean; readonly page: string; readonly detail: string; readonly bot: boolean }>;
}
interface OfferStatsBody {
  readonly decisions: { readonly triggered: number; readonly holdout: number; readonly suppressed: Readonly<Record<string, number>> };
  readonly attribution: { readonly totals: AttributionRow; readonly segments?: ReadonlyArray<AttributionRow & { readonly segment: string }> } | null;
}
interface QuarantineBody {
  readonly items: ReadonlyArray<{ readonly at: string; readonly transport: string; readonly reason: string; readonly message: string; readonly sample: string }>;
}
interface SitesBody {
  readonly sites: ReadonlyArray<{ readonly id: string }>;
  /** The public port (snippet, collect): the empty state's tag points at it. */
  readonly publicPort?: number;
}

type Result<T> = { readonly kind: 'ok'; readonly body: T } | { readonly kind: 'error'; readonly message: string };

// ── settings ──────────────────────────────────────────────────────────────────────────────────

/** Between refreshes, ms. */
const REFRESH_MS = 5_000;
/** Windows listed per stats request. */
const WINDOWS = 8;
/** Entries per list (transitions, pages, rules …). */
const LIST_LIMIT = 10;
/** One-minute windows in the traffic charts. */
const SERIES_MINUTES = 60;
/** Lines of the live event log. */
const LIVE_EVENTS = 15;

import { bars, lineChart, type Bar } from './charts';

// ── DOM helpers: data only ever becomes a text node ───────────────────────────────────────────

type Child = Node | string | number | null | undefined | false;

function h(tag: string, props: { className?: string; title?: string; data?: Record<string, string> } | null, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  if (props?.className !== undefined) el.className = props.className;
  if (props?.title !== undefined) el.title = props.title;
  for (const [k, v] of Object.entries(props?.data ?? {})) el.dataset[k] = v;
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A cell: `num` right-aligns, `col` names it for tests and styling (`data-col`). */
interface Cell {
  readonly v: Child;
  readonly num?: boolean;
  readonly col?: string;
  readonly title?: string;
}
const num = (v: Child, col?: string): Cell => (col === undefined ? { v, num: true } : { v, num: true, col });
const text = (v: Child, col?: string): Cell => (col === undefined ? { v } : { v, col });

function table(head: ReadonlyArray<string | [string, 'num']>, rows: ReadonlyArray<{ cells: readonly Cell[]; tr?: (tr: HTMLElement) => void }>, empty = 'nothing yet'): HTMLElement {
  if (rows.length === 0) return h('p', { className: 'empty' }, empty);
  const thead = h('tr', null, ...head.map((c) => (typeof c === 'string' ? h('th', null, c) : h('th', { className: 'num' }, c[0]))));
  const body = rows.map((r) => {
    const tr = h(
      'tr',
      null,
      ...r.cells.map((c) => {
        const td = h('td', { className: c.num === true ? 'num' : 'text' }, c.v);
        if (c.col !== undefined) td.dataset['col'] = c.col;
        if (c.title !== undefined) td.title = c.title;
        return td;
      }),
    );
    r.tr?.(tr);
    return tr;
  });
  // Wide tables scroll inside their card: the page itself never scrolls sideways (phones).
  return h('div', { className: 'scroll' }, h('table', null, h('thead', null, thead), h('tbody', null, ...body)));
}

function kpi(label: string, value: string, col: string): HTMLElement {
  return h('div', { className: 'kpi', data: { col } }, h('b', null, value), h('span', null, label));
}

function fill(panel: string, ...nodes: Child[]): void {
  const body = document.querySelector(`#${panel} .body`);
  if (body !== null) body.replaceChildren(...nodes.filter((n): n is Node | string => n !== null && n !== undefined && n !== false && typeof n !== 'number'));
}

function setSub(panel: string, ...nodes: Child[]): void {
  const sub = document.getElementById(`${panel}-sub`);
  if (sub !== null) sub.replaceChildren(...nodes.filter((n): n is Node | string => n !== null && n !== undefined && n !== false && typeof n !== 'number'));
}

// ── formatting ────────────────────────────────────────────────────────────────────────────────

const INT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const MONEY = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const int = (n: number | null | undefined): string => (typeof n === 'number' && Number.isFinite(n) ? INT.format(n) : '–');
const money = (n: number | null | undefined): string => (typeof n === 'number' && Number.isFinite(n) ? MONEY.format(n) : '–');
const pct = (n: number | null | undefined): string => (typeof n === 'number' && Number.isFinite(n) ? `${(n * 100).toFixed(1)}%` : '–');
const fixed = (n: number | null | undefined, digits = 2): string => (typeof n === 'number' && Number.isFinite(n) ? n.toFixed(digits) : '–');
const clock = (iso: string | number | null): string => (iso === null ? '–' : new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }));

function range(w: { readonly start: string | null; readonly end: string | null }): string {
  if (w.start === null || w.end === null) return '–';
  const opts: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit' };
  const start = new Date(w.start);
  const sameDay = start.toDateString() === new Date().toDateString();
  const day = sameDay ? '' : `${start.toLocaleDateString([], { month: 'short', day: 'numeric' })} `;
  return `${day}${start.toLocaleTimeString([], opts)}–${new Date(w.end).toLocaleTimeString([], opts)}`;
}

/** The window's label with a live badge while it is open. */
function windowLabel(w: StatsWindow): HTMLElement {
  return h('span', { title: `${w.start ?? '?'} – ${w.end ?? '?'} (end exclusive)` }, range(w), !w.closed && h('span', { className: 'live' }, 'live'));
}

const itemList = (items: readonly string[]): string => items.join(' + ');

/** Window lengths as people say them. */
const WINDOW_LABELS: Readonly<Record<string, string>> = { PT1M: '1-minute', PT5M: '5-minute', PT1H: '1-hour' };
const human = (w: string): string => WINDOW_LABELS[w] ?? w;

// ── fetching ──────────────────────────────────────────────────────────────────────────────────

/**
 * The admin token: from the address fragment (`#token=…`, never sent to the server) once, then kept
 * in sessionStorage for this tab; the token field at the top sets it too.
 */
function adminToken(): string {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m !== null) {
    sessionStorage.setItem('cm-admin-token', decodeURIComponent(m[1] ?? ''));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem('cm-admin-token') ?? '';
}

function bindTokenField(): void {
  const input = document.getElementById('token') as HTMLInputElement | null;
  if (input === null) return;
  input.value = adminToken() === '' ? '' : '••••••••';
  input.addEventListener('change', () => {
    sessionStorage.setItem('cm-admin-token', input.value.trim());
    input.value = '••••••••';
    void refresh();
  });
}

async function get<T>(path: string, params: Record<string, string>): Promise<Result<T>> {
  try {
    const res = await fetch(`${path}?${new URLSearchParams(params).toString()}`, { headers: { accept: 'application/json', authorization: `Bearer ${adminToken()}` }, cache: 'no-store' });
    if (res.status === 401) return { kind: 'error', message: 'the admin token is missing or wrong: paste it into the token field (printed by the server at boot, or ADMIN_TOKEN)' };
    const body = (await res.json()) as unknown;
    if (!res.ok) {
      const err = (body as { error?: { code?: string; message?: string } } | null)?.error;
      return { kind: 'error', message: `${res.status} ${err?.code ?? ''} ${err?.message ?? ''}`.trim() };
    }
    return { kind: 'ok', body: body as T };
  } catch (e) {
    return { kind: 'error', message: e instanceof Error ? e.message : String(e) };
  }
}

function failed(panel: string, r: { readonly message: string }): void {
  setSub(panel);
  fill(panel, h('p', { className: 'err' }, `unavailable: ${r.message}`));
}

// ── panels ────────────────────────────────────────────────────────────────────────────────────

interface State {
  site: string;
  window: string;
  /** Start (ISO) of the window shown in the list panels; null = the newest. */
  selected: string | null;
  /** Bumped on every site/window change, so an answer to an older request is dropped. */
  generation: number;
  timer: number | undefined;
  /** The page the flow view is about (null: the top page of the shown window). */
  flowPage: string | null;
  /** Flow entries shown per side (grows with "more"). */
  flowLimit: number;
  /** The rule whose lift is charted (null: the first listed). */
  rule: RuleRef | null;
  /** The public port (snippet and collect), for the empty state's tag. */
  publicPort: number | undefined;
  /** The breakdown's dimensions (one or two). */
  by: string[];
  /** The named segment whose top rules are shown (null: none picked). */
  segment: string | null;
  /** The device whose top pages the content panel shows (null: all). */
  contentDevice: string | null;
  /** The dimension the navigation panel breaks ended sessions down by ('' : none). */
  navBy: string;
  /** The value of `navBy` whose entry/exit pages and transitions the navigation lists show (null: all sessions). */
  navGroup: string | null;
  /** The dimension the content panel breaks ended sessions down by ('': none). */
  contentBy: string;
}

const state: State = { site: 'demo', window: 'PT5M', selected: null, generation: 0, timer: undefined, flowPage: null, flowLimit: 8, rule: null, publicPort: undefined, by: ['channel'], segment: null, contentDevice: null, navBy: '', navGroup: null, contentBy: '' };

/** The window the list panels show: the selected one when still listed, else the newest. */
function pick<W extends StatsWindow>(ws: readonly W[]): W | undefined {
  return ws.find((w) => w.start === state.selected) ?? ws[0];
}

function renderUsage(body: StatsBody<UsageWindow>): void {
  const shown = pick(body.windows);
  setSub('usage', `${human(state.window)} windows, newest first; click a row to show it in the panels below`);
  if (shown === undefined) {
    fill('usage', h('p', { className: 'empty' }, 'no windows yet'));
    return;
  }
  const kpis = h(
    'div',
    { className: 'kpis' },
    kpi('page views', int(shown.pageViews), 'kpi-pageViews'),
    kpi('sessions started', int(shown.sessionsStarted), 'kpi-sessions'),
    kpi('visitors (est.)', int(shown.visitors), 'kpi-visitors'),
    kpi('conversions', int(shown.purchases), 'kpi-conversions'),
    kpi('conversion rate', pct(shown.conversionRate), 'kpi-conversionRate'),
    kpi('revenue', money(shown.revenue), 'kpi-revenue'),
  );
  const rows = body.windows.map((w) => ({
    cells: [
      text(windowLabel(w)),
      num(int(w.pageViews), 'pageViews'),
      num(int(w.events.click), 'clicks'),
      num(int(w.events.form), 'forms'),
      num(int(w.sessionsStarted), 'sessionsStarted'),
      num(int(w.visitors), 'visitors'),
      num(int(w.purchases), 'conversions'),
      num(money(w.revenue), 'revenue'),
      num(pct(w.sessions?.bounceRate), 'bounceRate'),
    ],
    tr: (tr: HTMLElement) => {
      tr.className = w === shown ? 'selectable selected' : 'selectable';
      tr.dataset['start'] = w.start ?? '';
      tr.addEventListener('click', () => {
        state.selected = w.start;
        void refresh();
      });
    },
  }));
  const windows = table(['window', ['page views', 'num'], ['clicks', 'num'], ['form events', 'num'], ['sessions', 'num'], ['visitors', 'num'], ['conversions', 'num'], ['revenue', 'num'], ['bounce', 'num']], rows);
  const forms = (shown.forms ?? []).map((f) => ({
    cells: [text(f.formId), num(int(f.views)), num(int(f.starts)), num(int(f.submits)), num(int(f.abandons)), num(pct(f.abandonmentRate))],
  }));
  fill('usage', kpis, windows, h('h3', null, 'Forms in ', windowLabel(shown)), table(['form', ['views', 'num'], ['starts', 'num'], ['submits', 'num'], ['abandons', 'num'], ['abandonment', 'num']], forms, 'no form activity'));
}

function renderNavigation(body: StatsBody<NavigationWindow>): void {
  const w = pick(body.windows);
  if (w === undefined) {
    setSub('navigation');
    fill('navigation', h('p', { className: 'empty' }, 'no windows yet'));
    return;
  }
  setSub('navigation', windowLabel(w));
  // Broken down: ended sessions per value of the dimension (the API's slices); a picked value's lists replace the totals.
  const slices = state.navBy === '' ? undefined : w.slices;
  const group = slices?.rows.find((r) => r.key[state.navBy] === state.navGroup);
  if (state.navGroup !== null && group === undefined) state.navGroup = null;
  const transitions = (group?.transitions ?? w.transitions ?? []).map((t) => ({ cells: [text(t.from, 'from'), text(t.to, 'to'), num(int(t.count), 'count'), num(pct(t.probability), 'probability')] }));
  const pages = (list: NavigationWindow['entryPages']) => (list ?? []).map((p) => ({ cells: [text(p.page, 'page'), num(int(p.count), 'count')] }));
  const ctr = (w.clickThrough ?? []).map((c) => ({ cells: [text(c.id, 'id'), text(h('span', { className: 'tag' }, c.kind)), num(int(c.impressions)), num(int(c.clicks), 'clicks'), num(pct(c.rate))] }));
  const of = group === undefined ? '' : ` of ${state.navBy} ${state.navGroup ?? ''} sessions`;
  const breakdown =
    slices === undefined
      ? null
      : h(
          'div',
          { data: { list: 'navSlices' } },
          h('h3', null, `Sessions that ended in the window by ${dimensionLabel(state.navBy)} (click one for its pages)`, !slices.exact && h('span', { className: 'tag warn' }, 'UTM values folded')),
          table(
            [dimensionLabel(state.navBy), ['sessions', 'num'], ['bounce', 'num'], ['pages / session', 'num'], 'top entry page', 'top exit page'],
            slices.rows.map((r) => ({
              cells: [text(r.key[state.navBy] ?? '', 'group'), num(int(r.sessions), 'sessions'), num(pct(r.bounceRate), 'bounceRate'), num(fixed(r.sessions > 0 ? r.pageViews / r.sessions : null, 1)), text(r.entryPages[0]?.page ?? '–', 'topEntry'), text(r.exitPages[0]?.page ?? '–', 'topExit')],
              tr: (tr: HTMLElement) => {
                const value = r.key[state.navBy] ?? '';
                tr.className = value === state.navGroup ? 'selectable selected' : 'selectable';
                tr.dataset['group'] = value;
                tr.addEventListener('click', () => {
                  state.navGroup = state.navGroup === value ? null : value;
                  void refresh();
                });
              },
            })),
            'no session ended in this window yet',
          ),
        );
  fill(
    'navigation',
    h('div', { className: 'kpis' }, kpi('page views', int(w.pageViews), 'nav-pageViews'), kpi('sessions', int(w.sessions), 'nav-sessions'), kpi('bounce rate', pct(w.bounceRate), 'nav-bounceRate')),
    breakdown,
    h('h3', null, `Top transitions${of}`),
    h('div', { data: { list: 'transitions' } }, table(['from', 'to', ['count', 'num'], ['P(to | from)', 'num']], transitions)),
    h(
      'div',
      { className: 'cols' },
      h('div', { data: { list: 'entryPages' } }, h('h3', null, `Entry pages${of}`), table(['page', ['sessions', 'num']], pages(group?.entryPages ?? w.entryPages))),
      h('div', { data: { list: 'exitPages' } }, h('h3', null, `Exit pages${of}`), table(['page', ['sessions', 'num']], pages(group?.exitPages ?? w.exitPages), 'no session ended yet')),
    ),
    h('h3', null, 'Click-through'),
    h('div', { data: { list: 'clickThrough' } }, table(['ad / link', 'kind', ['impressions', 'num'], ['clicks', 'num'], ['rate', 'num']], ctr, 'no ad or link clicks')),
  );
}

function renderContent(body: StatsBody<ContentWindow>): void {
  const w = pick(body.windows);
  if (w === undefined) {
    setSub('content');
    fill('content', h('p', { className: 'empty' }, 'no windows yet'));
    return;
  }
  setSub('content', windowLabel(w));
  const pages = (w.topPages ?? []).map((p) => ({ cells: [text(p.page, 'page'), num(int(p.count), 'count')] }));
  const products = (w.topProducts ?? []).map((p) => ({ cells: [text(p.id, 'product'), num(int(p.count), 'count')] }));
  const trending = (w.trending ?? []).map((t) => ({ cells: [text(h('span', { className: 'tag' }, t.kind)), text(t.id, 'id'), num(int(t.count), 'count'), num(t.isNew === true ? 'new' : fixed(t.score, 1), 'score')] }));
  const searches = (w.searches ?? []).map((s) => ({
    cells: [text(s.query, 'query'), num(int(s.count), 'count'), num(s.zeroResults > 0 ? h('span', { className: 'tag warn' }, int(s.zeroResults)) : '0', 'zeroResults')],
  }));
  // Page views by device (the page view's own User-Agent), and the top pages of one device when picked.
  const devices = w.devices ?? [];
  const picked = state.contentDevice === null ? undefined : devices.find((d) => d.device === state.contentDevice);
  const shownPages = picked === undefined ? pages : picked.topPages.map((p) => ({ cells: [text(p.page, 'page'), num(int(p.count), 'count')] }));
  const deviceBars = bars(
    devices.map((d) => ({ label: d.device, value: d.pageViews, key: d.device, note: state.contentDevice === d.device ? 'shown below' : '' })),
    {
      cls: 'content-devices',
      format: int,
      onClick: (b) => {
        state.contentDevice = state.contentDevice === b.key ? null : (b.key ?? null);
        void refresh();
      },
    },
  );
  // Broken down: what the sessions of each group (that ended in the window) viewed.
  const slices = state.contentBy === '' ? undefined : w.slices;
  const breakdown =
    slices === undefined
      ? null
      : h(
          'div',
          { data: { list: 'contentSlices' } },
          h('h3', null, `Sessions that ended in the window by ${dimensionLabel(state.contentBy)}: what they viewed`, !slices.exact && h('span', { className: 'tag warn' }, 'UTM values folded')),
          table(
            [dimensionLabel(state.contentBy), ['sessions', 'num'], ['page views', 'num'], 'top product (sessions)', 'top category (sessions)'],
            slices.rows.map((r) => ({
              cells: [
                text(r.key[state.contentBy] ?? '', 'group'),
                num(int(r.sessions), 'sessions'),
                num(int(r.pageViews), 'pageViews'),
                text(r.topProducts[0] === undefined ? '–' : `${r.topProducts[0].id} (${int(r.topProducts[0].sessions)})`, 'topProduct'),
                text(r.topCategories[0] === undefined ? '–' : `${r.topCategories[0].id} (${int(r.topCategories[0].sessions)})`, 'topCategory'),
              ],
            })),
            'no session ended in this window yet',
          ),
        );
  fill(
    'content',
    h('div', { className: 'kpis' }, kpi('page views', int(w.pageViews), 'content-pageViews'), kpi('searches', int(w.searchCount), 'content-searches')),
    breakdown,
    h('h3', null, 'Page views by device (click one to see its top pages)'),
    deviceBars,
    h(
      'div',
      { className: 'cols' },
      h('div', { data: { list: 'topPages' } }, h('h3', null, picked === undefined ? 'Top pages' : `Top pages on ${picked.device}`), table(['page', ['views', 'num']], shownPages)),
      h('div', { data: { list: 'topProducts' } }, h('h3', null, 'Top products'), table(['product', ['views', 'num']], products, 'no product views')),
    ),
    h('h3', null, 'Trending (score: growth in standard deviations over the baseline; "new": no earlier window had it)'),
    h('div', { data: { list: 'trending' } }, table(['kind', 'item', ['count', 'num'], ['score', 'num']], trending, 'nothing trending')),
    h('h3', null, 'Site searches'),
    h('div', { data: { list: 'searches' } }, table(['term', ['searches', 'num'], ['zero results', 'num']], searches, 'no searches')),
  );
}

const sameRule = (a: RuleRef | null, b: RuleRef): boolean =>
  a !== null && a.level === b.level && a.kind === b.kind && a.antecedent.join('\u0001') === b.antecedent.join('\u0001') && a.consequent.join('\u0001') === b.consequent.join('\u0001');

/** The rules of the site, or of the picked segment's members (`/v1/rules?segment=`). */
function renderRules(body: RulesBody, segments: SegmentsBody['segments']): void {
  const picker = document.getElementById('rules-segment') as HTMLSelectElement | null;
  if (picker !== null) {
    picker.replaceChildren(h('option', null, 'all shoppers'), ...segments.map((x) => h('option', null, x.name)));
    segments.forEach((x, i) => ((picker.options[i + 1] as HTMLOptionElement).value = x.id));
    (picker.options[0] as HTMLOptionElement).value = '';
    picker.value = state.segment ?? '';
  }
  const within = state.segment === null ? '' : ` · members of ${segments.find((x) => x.id === state.segment)?.name ?? state.segment}`;
  setSub('rules', `${body.windowName ?? ''} ${body.window === undefined ? '' : range(body.window)} · ${int(body.baskets?.purchase)} purchase baskets · ${int(body.total)} rules${within}`);
  const rows = body.rules.map((r) => ({
    cells: [text(itemList(r.antecedent), 'antecedent'), text('⇒'), text(itemList(r.consequent), 'consequent'), num(int(r.count)), num(pct(r.support), 'support'), num(pct(r.confidence), 'confidence'), num(fixed(r.lift), 'lift')],
    tr: (tr: HTMLElement) => {
      tr.className = sameRule(state.rule, r) ? 'selectable selected' : 'selectable';
      tr.addEventListener('click', () => {
        state.rule = { antecedent: r.antecedent, consequent: r.consequent, level: r.level, kind: r.kind };
        void refresh();
      });
    },
  }));
  fill('rules', table(['if bought', '', 'then', ['count', 'num'], ['support', 'num'], ['confidence', 'num'], ['lift', 'num']], rows, 'no rule above the thresholds yet'));
}

function renderOffers(recent: Result<{ readonly offers: readonly OfferRecord[] }>, stats: Result<OfferStatsBody>): void {
  if (recent.kind === 'error' && stats.kind === 'error') {
    failed('offers', recent);
    return;
  }
  setSub('offers', 'since start');
  const parts: Child[] = [];
  if (stats.kind === 'ok') {
    const d = stats.body.decisions;
    const t = stats.body.attribution?.totals;
    if (t !== undefined) {
      const of = (n: number, base: number): string => (base > 0 ? pct(n / base) : '');
      parts.push(
        h('h3', null, 'Offer funnel'),
        bars(
          [
            { label: 'triggered', value: t.triggered, key: 'triggered' },
            { label: 'delivered', value: t.delivered, key: 'delivered', note: of(t.delivered, t.triggered) },
            { label: 'shown', value: t.shown, key: 'shown', note: of(t.shown, t.delivered) },
            { label: 'clicked', value: t.clicked, key: 'clicked', note: of(t.clicked, t.shown) },
            { label: 'converted', value: t.converted, key: 'converted', note: of(t.converted, t.triggered) },
          ],
          { cls: 'offer-funnel', format: int },
        ),
        h('h3', null, 'Holdout (recorded, never shown)'),
        bars(
          [
            { label: 'held out', value: t.holdout.recorded, key: 'holdout' },
            { label: 'converted anyway', value: t.holdout.converted, key: 'holdoutConverted', note: of(t.holdout.converted, t.holdout.recorded) },
          ],
          { cls: 'holdout', format: int, max: Math.max(t.triggered, t.holdout.recorded) },
        ),
        h(
          'div',
          { className: 'kpis' },
          kpi('conversion, offered', pct(t.conversionRate), 'offers-conversion'),
          kpi('conversion, holdout', pct(t.holdout.conversionRate), 'offers-holdout-conversion'),
          kpi(t.upliftInterval === null ? 'uplift' : `uplift (95 %: ${pct(t.upliftInterval[0])} to ${pct(t.upliftInterval[1])})`, t.uplift === null ? '–' : `${t.uplift >= 0 ? '+' : ''}${pct(t.uplift)}`, 'offers-uplift'),
          kpi('dismissed', int(t.dismissed), 'offers-dismissed'),
        ),
        t.upliftInterval === null ? h('p', { className: 'note' }, 'uplift needs conversions of both offered and held-out visitors (the demo holds out 10 %)') : null,
      );
    } else parts.push(h('div', { className: 'kpis' }, kpi('triggered', int(d.triggered), 'offers-triggered'), kpi('held out', int(d.holdout), 'offers-holdout')));
    // Broken down by the named segments the visitors were in at the decision.
    const bySegment = stats.body.attribution?.segments ?? [];
    if (bySegment.length > 0) {
      const uplift = (r: AttributionRow): string => (r.uplift === null ? '–' : `${r.uplift >= 0 ? '+' : ''}${pct(r.uplift)}`);
      parts.push(
        h('h3', null, 'By segment (visitors in it at the decision)'),
        h(
          'div',
          { data: { list: 'offerSegments' } },
          table(
            ['segment', ['triggered', 'num'], ['converted', 'num'], ['conversion', 'num'], ['holdout conv.', 'num'], ['uplift', 'num']],
            bySegment.map((r) => ({ cells: [text(r.segment, 'segment'), num(int(r.triggered), 'triggered'), num(int(r.converted), 'converted'), num(pct(r.conversionRate)), num(pct(r.holdout.conversionRate)), num(uplift(r), 'uplift')] })),
          ),
        ),
      );
    }
    const suppressed = Object.entries(d.suppressed).filter(([, n]) => n > 0);
    if (suppressed.length > 0) parts.push(h('p', { className: 'note' }, 'suppressed: ', ...suppressed.map(([reason, n]) => h('span', { className: 'tag' }, `${reason} ${int(n)}`))));
  } else parts.push(h('p', { className: 'err' }, `stats unavailable: ${stats.message}`));
  if (recent.kind === 'ok') {
    const rows = recent.body.offers.map((o) => ({
      cells: [
        text(clock(o.ts)),
        text(o.visitorId.length > 8 ? `${o.visitorId.slice(0, 6)}…` : o.visitorId, 'visitor'),
        text(o.offerId, 'offer'),
        text(o.text, 'text'),
        text(o.because.kind === 'rule' ? `${itemList(o.because.rule.antecedent)} ⇒ ${itemList(o.because.rule.consequent)} (lift ${fixed(o.because.rule.lift)})` : `pattern: ${o.because.pattern}`, 'because'),
        text(o.holdout && h('span', { className: 'tag' }, 'holdout')),
      ],
    }));
    parts.push(h('h3', null, 'Recent triggers'), table(['time', 'visitor', 'offer', 'text', 'because', ''], rows, 'no offer triggered yet'));
  } else parts.push(h('p', { className: 'err' }, `recent offers unavailable: ${recent.message}`));
  fill('offers', ...parts);
}

function renderQuarantine(body: QuarantineBody): void {
  setSub('quarantine', `${int(body.items.length)} refused, newest first`);
  const rows = body.items.map((i) => ({
    cells: [text(clock(i.at)), text(h('span', { className: 'tag warn' }, i.reason), 'reason'), text(i.transport), text(i.message, 'message'), text(i.sample.length > 160 ? `${i.sample.slice(0, 160)}…` : i.sample, 'sample')],
  }));
  fill('quarantine', table(['time', 'reason', 'transport', 'message', 'sample'], rows, 'nothing refused'));
}

// ── pictures ──────────────────────────────────────────────────────────────────────────────────

/** The chart container of a section (created once in the page, so a chart survives refreshes). */
const chartBox = (name: string): HTMLElement | null => document.querySelector<HTMLElement>(`[data-chart="${name}"]`);

/** "Last 5 minutes" and "Last hour": the newest hopping window ending with the open minute. */
function renderHeadline(five: Result<StatsBody<UsageWindow>>, hour: Result<StatsBody<UsageWindow>>): void {
  const row = (label: string, r: Result<StatsBody<UsageWindow>>, col: string): Child => {
    if (r.kind === 'error') return h('p', { className: 'err' }, `${label}: ${r.message}`);
    const w = r.body.windows[0];
    return h(
      'div',
      { className: 'headline', data: { col } },
      h('h3', null, label, w !== undefined && !w.closed && h('span', { className: 'tag warn', title: 'The current minute is still open, and sessions count as ended (bounce, conversion) only once they end' }, 'provisional')),
      h(
        'div',
        { className: 'kpis' },
        kpi('page views', int(w?.pageViews), `${col}-pageViews`),
        kpi('sessions started', int(w?.sessionsStarted), `${col}-sessions`),
        kpi('visitors (est.)', int(w?.visitors), `${col}-visitors`),
        kpi('purchases', int(w?.purchases), `${col}-purchases`),
        kpi('revenue', money(w?.revenue), `${col}-revenue`),
        kpi('conversion (ended sessions)', pct(w?.conversionRate), `${col}-conversionRate`),
      ),
    );
  };
  fill('headline', row('Last 5 minutes', five, 'last5m'), row('Last hour', hour, 'last1h'));
}

/** Traffic, sessions, purchases and revenue per minute over the last hour; minutes without events are zeros, not gaps. */
/** The per-minute windows by start, and every minute from the first to the last (empty minutes included). */
function minuteAxis(body: StatsBody<UsageWindow>): { xs: number[]; at: (x: number) => UsageWindow | undefined } {
  const byStart = new Map(body.windows.map((w) => [Date.parse(w.start ?? ''), w] as const));
  const starts = [...byStart.keys()].filter((x) => Number.isFinite(x));
  const xs: number[] = [];
  if (starts.length > 0) for (let x = Math.min(...starts); x <= Math.max(...starts); x += 60_000) xs.push(x);
  return { xs, at: (x) => byStart.get(x) };
}

function renderTraffic(body: StatsBody<UsageWindow>): void {
  const { xs, at } = minuteAxis(body);
  const newest = xs.length === 0 ? undefined : at(xs[xs.length - 1]!);
  setSub('traffic', `per minute, last ${xs.length} minute(s)${newest !== undefined && !newest.closed ? ' (the last one still open)' : ''}`);
  const traffic = chartBox('traffic');
  const sales = chartBox('sales');
  if (traffic !== null)
    lineChart(traffic, xs, [
      { label: 'page views', key: 'pageViews', color: '#2f6fde', values: xs.map((x) => at(x)?.pageViews ?? 0) },
      { label: 'sessions started', key: 'sessions', color: '#14a05a', values: xs.map((x) => at(x)?.sessionsStarted ?? 0) },
    ]);
  if (sales !== null)
    lineChart(sales, xs, [
      { label: 'purchases', key: 'purchases', color: '#c9581c', values: xs.map((x) => at(x)?.purchases ?? 0) },
      { label: 'revenue', key: 'revenue', color: '#7a4fd0', values: xs.map((x) => at(x)?.revenue ?? 0), right: true, format: money },
    ]);
}

/** Product → cart → checkout → purchase of the sessions that ended in the shown window. */
function renderFunnel(w: UsageWindow | undefined): void {
  if (w === undefined || w.funnel === undefined) {
    setSub('funnel');
    fill('funnel', h('p', { className: 'empty' }, 'no windows yet'));
    return;
  }
  setSub('funnel', 'sessions that ended in ', windowLabel(w));
  const f = w.funnel;
  const items: Bar[] = [{ label: 'sessions', value: f.sessions, key: 'sessions' }, ...f.steps.map((st) => ({ label: st.step, value: st.sessions, key: st.step, note: st.rate === null ? '' : `${pct(st.rate)} · −${pct(st.dropOff)}` }))];
  fill(
    'funnel',
    f.sessions === 0 ? h('p', { className: 'empty' }, 'no session ended in this window yet (a session ends after 30 idle minutes of event time)') : null,
    bars(items, { format: int }),
    h('p', { className: 'note' }, 'each step: sessions that also did it (nested); % of the step before · drop-off'),
  );
}

/** Previous pages → page → next pages, absolute counts, the tail behind "more". */
function renderFlow(flow: Result<FlowBody> | undefined, pages: readonly string[]): void {
  const input = h('input', { className: 'flow-page' }) as HTMLInputElement;
  input.type = 'text';
  input.setAttribute('list', 'flow-pages');
  input.placeholder = 'a page, e.g. /';
  input.value = state.flowPage ?? (flow?.kind === 'ok' ? (flow.body.windows[0]?.page ?? '') : '');
  input.addEventListener('change', () => {
    state.flowPage = input.value.trim() === '' ? null : input.value.trim();
    state.flowLimit = 8;
    void refresh();
  });
  const list = h('datalist', null, ...pages.map((p) => h('option', null, p)));
  list.id = 'flow-pages';
  const pick = h('label', { className: 'flow-pick' }, 'Page ', input, list);
  if (flow === undefined) {
    fill('flow', pick, h('p', { className: 'empty' }, 'no page viewed yet'));
    return;
  }
  if (flow.kind === 'error') {
    fill('flow', pick, h('p', { className: 'err' }, `unavailable: ${flow.message}`));
    return;
  }
  const w = flow.body.windows[0];
  if (w === undefined) {
    fill('flow', pick, h('p', { className: 'empty' }, 'no windows yet'));
    return;
  }
  const go = (b: Bar): void => {
    state.flowPage = b.key ?? b.label;
    state.flowLimit = 8;
    void refresh();
  };
  const side = (title: string, items: ReadonlyArray<Counted & { readonly page: string }>, total: number, cls: string, extra: Bar | null): HTMLElement =>
    h(
      'div',
      { className: `flow-side ${cls}` },
      h('h3', null, `${title} (${int(total)})`),
      bars([...items.map((p) => ({ label: p.page, value: p.count, key: p.page })), ...(extra === null ? [] : [extra])], { cls, onClick: go, format: int }),
    );
  const more = flow.body.nextCursor !== undefined ? h('button', { className: 'more' }, 'more') : null;
  more?.addEventListener('click', () => {
    state.flowLimit *= 2;
    void refresh();
  });
  setSub('flow', windowLabel(w));
  fill(
    'flow',
    pick,
    h(
      'div',
      { className: 'flow', data: { page: w.page } },
      side('came from', w.previous, w.previousTotal, 'previous', w.entries > 0 ? { label: '(entered here)', value: w.entries, key: '' } : null),
      h('div', { className: 'flow-page-box' }, h('b', null, w.page), h('span', null, `${int(w.views)} views`), h('span', null, `${int(w.entries)} entries · ${int(w.exits)} exits`)),
      side('went on to', w.next, w.nextTotal, 'next', w.exits > 0 ? { label: '(left the site)', value: w.exits, key: '' } : null),
    ),
    more,
  );
}

/** A rule's lift in the primary window over the last panes. */
function renderRuleLift(r: Result<RuleHistoryBody> | undefined): void {
  const box = chartBox('rule-lift');
  const title = document.getElementById('rule-lift-title');
  if (box === null || title === null) return;
  if (r === undefined || state.rule === null) {
    title.textContent = 'Lift over time: no rule yet';
    box.replaceChildren();
    delete box.dataset['series'];
    return;
  }
  if (r.kind === 'error') {
    title.textContent = `Lift over time unavailable: ${r.message}`;
    return;
  }
  title.textContent = `Lift of ${itemList(state.rule.antecedent)} ⇒ ${itemList(state.rule.consequent)} (${r.body.windowName ?? ''} window, at each minute; click a rule to chart it)`;
  lineChart(
    box,
    r.body.points.map((p) => Date.parse(p.windowEnd)),
    [{ label: 'lift', key: 'lift', color: '#2f6fde', values: r.body.points.map((p) => p.lift), format: (v) => v.toFixed(2) }],
    150,
  );
}

const SEGMENT_COLORS = ['#2f6fde', '#14a05a', '#c9581c', '#7a4fd0', '#d0a020', '#1aa3b5', '#b5408a', '#687085'];

/**
 * Each named segment's members at the end of every minute of the last hour: its size now, less the
 * entries and plus the exits of the minutes after (the usage windows' segmentChanges).
 */
function renderSegmentSizes(segments: SegmentsBody['segments'], minutes: StatsBody<UsageWindow> | undefined): void {
  const box = chartBox('segment-sizes');
  if (box === null) return;
  box.hidden = segments.length === 0 || minutes === undefined;
  const title = document.getElementById('segment-sizes-title');
  if (title !== null) title.hidden = box.hidden;
  if (box.hidden || minutes === undefined) return;
  const { xs, at } = minuteAxis(minutes);
  lineChart(
    box,
    xs,
    segments.slice(0, SEGMENT_COLORS.length).map((seg, i) => {
      const values = new Array<number>(xs.length);
      let size = seg.size;
      for (let k = xs.length - 1; k >= 0; k--) {
        values[k] = size;
        const c = at(xs[k]!)?.segmentChanges?.find((x) => x.segment === seg.id);
        if (c !== undefined) size -= c.entered - c.exited;
      }
      return { label: seg.name, key: seg.id, color: SEGMENT_COLORS[i]!, values };
    }),
    150,
  );
}

/** Named segments with their sizes (and over the last hour), customers by RFM segment with their value, and the golden customers. */
function renderCustomers(segments: Result<SegmentsBody>, value: Result<ValueSegmentsBody>, golden: Result<CustomersBody>, window: UsageWindow | undefined, minutes: StatsBody<UsageWindow> | undefined): void {
  const parts: Child[] = [];
  if (segments.kind === 'ok') {
    const changes = new Map((window?.segmentChanges ?? []).map((c) => [c.segment, c]));
    const rows = segments.body.segments.map((s) => ({
      cells: [
        text(s.name, 'segment'),
        text(h('span', { className: 'tag' }, s.id)),
        num(int(s.size), 'size'),
        num(int(changes.get(s.id)?.entered ?? 0), 'entered'),
        num(int(changes.get(s.id)?.exited ?? 0), 'exited'),
        num(money(s.value?.historic), 'historic'),
        num(money(s.value?.predictedQuantiles.p50), 'predictedP50'),
      ],
      tr: (tr: HTMLElement) => {
        tr.className = state.segment === s.id ? 'selectable selected' : 'selectable';
        tr.dataset['segment'] = s.id;
        tr.addEventListener('click', () => {
          state.segment = state.segment === s.id ? null : s.id;
          void refresh();
        });
      },
    }));
    parts.push(
      h(
        'div',
        { data: { list: 'segments' } },
        h('h3', null, 'Segments (PUT /v1/segments to define one; click one for what its members buy together, in the rules panel); entries and exits in ', window === undefined ? 'the shown window' : windowLabel(window)),
        table(['segment', 'id', ['members now', 'num'], ['entered', 'num'], ['left', 'num'], ['spent', 'num'], ['predicted p50', 'num']], rows, 'no segment defined yet'),
      ),
    );
    renderSegmentSizes(segments.body.segments, minutes);
  } else parts.push(h('p', { className: 'err' }, `segments unavailable: ${segments.message}`));
  if (value.kind === 'ok') {
    parts.push(
      h('h3', null, 'Customers by RFM segment'),
      bars(value.body.segments.map((s) => ({ label: s.segment.replace(/_/g, ' '), value: s.customers, key: s.segment, note: `${money(s.predicted)} predicted` })), { format: int }),
    );
  }
  if (golden.kind === 'ok') {
    const rows = golden.body.customers.map((c) => ({
      cells: [
        text(c.visitorId.length > 8 ? `${c.visitorId.slice(0, 6)}…` : c.visitorId, 'visitor'),
        text(h('span', { className: 'tag' }, c.segment.replace(/_/g, ' ')), 'rfmSegment'),
        num(int(c.purchases)),
        num(money(c.value.historic), 'historic'),
        num(money(c.value.predicted), 'predicted'),
        num(pct(c.value.pAlive)),
        text(clock(c.lastSeen)),
      ],
    }));
    parts.push(
      h('h3', null, `Golden customers (${int(golden.body.total)} customers; predicted revenue over ${int(golden.body.horizonDays)} days)`),
      h('div', { data: { list: 'golden' } }, table(['customer', 'RFM segment', ['purchases', 'num'], ['spent', 'num'], ['predicted', 'num'], ['p(alive)', 'num'], 'last seen'], rows, 'no customer yet')),
    );
  }
  setSub('customers', 'at the site\'s event-time now');
  fill('customers', ...parts);
}

function renderLive(body: LiveBody): void {
  setSub('live', `the last ${int(body.items.length)} events processed, newest first (ids shortened; no form values, no custom properties)`);
  const rows = body.items.map((e) => ({
    cells: [
      text(clock(e.ts)),
      text(e.visitor, 'visitor'),
      text(h('span', { className: 'tag' }, e.type.replace('_', ' ')), 'type'),
      text(e.page, 'page'),
      text(e.detail, 'detail'),
      text(h('span', null, e.newSession && h('span', { className: 'tag' }, 'new session'), e.bot && h('span', { className: 'tag warn' }, 'bot'))),
    ],
  }));
  fill('live', table(['time', 'visitor', 'event', 'page', 'what', ''], rows, 'no events yet'));
}

/** A dimension's name as the page's picker shows it. */
const dimensionLabel = (d: string): string => document.querySelector(`#breakdown-by option[value="${d}"]`)?.textContent ?? d;

/** Ended sessions of the shown window by one or two of their dimensions (the usage API's slices). */
function renderBreakdown(w: UsageWindow | undefined): void {
  const slices = w?.slices;
  if (w === undefined || slices === undefined) {
    setSub('breakdown');
    fill('breakdown', h('p', { className: 'empty' }, 'no windows yet'));
    return;
  }
  setSub('breakdown', 'sessions that ended in ', windowLabel(w), !slices.exact && h('span', { className: 'tag warn', title: 'a pane held more combinations than its bound: UTM values past it count under other' }, 'UTM values folded'));
  const rows = slices.rows.map((r) => ({
    cells: [
      ...state.by.map((d) => text(r.key[d] ?? '', `dim-${d}`)),
      num(int(r.sessions), 'sessions'),
      num(int(r.pageViews), 'pageViews'),
      num(pct(r.bounceRate), 'bounceRate'),
      num(pct(r.conversionRate), 'conversionRate'),
      num(money(r.revenue), 'revenue'),
      num(r.avgDurationSeconds === null ? '–' : `${Math.round(r.avgDurationSeconds)} s`, 'avgDuration'),
    ],
  }));
  fill(
    'breakdown',
    bars(
      slices.rows.slice(0, 8).map((r) => ({ label: state.by.map((d) => r.key[d] ?? '').join(' · '), value: r.sessions, key: state.by.map((d) => r.key[d] ?? '').join('|') })),
      { format: int },
    ),
    h('div', { data: { list: 'breakdown' } }, table([...state.by.map(dimensionLabel), ['sessions', 'num'], ['page views', 'num'], ['bounce', 'num'], ['conversion', 'num'], ['revenue', 'num'], ['avg duration', 'num']], rows, 'no session ended in this window yet')),
  );
}

/** A site without any event yet: how to send some. */
function renderEmpty(empty: boolean): void {
  const el = document.getElementById('empty');
  if (el === null) return;
  el.hidden = !empty;
  if (!empty) return;
  const host = `${location.protocol}//${location.hostname}${state.publicPort === undefined ? '' : `:${state.publicPort}`}`;
  const tag = `<script>window.cm=window.cm||function(){(cm.q=cm.q||[]).push(arguments)};cm('init',{site:'${state.site}'})</script>\n<script async src="${host}/snippet.js"></script>`;
  el.replaceChildren(
    h('h2', null, `No events yet for site ${state.site}`),
    h('p', null, 'Paste the tag into every page of your shop (before </head>):'),
    h('pre', null, tag),
    h('p', null, 'Or try it now with demo shoppers: run ', h('code', null, 'npm run simulate'), ' in another terminal, or open the demo shop at ', h('code', null, `${host}/demo`), '.'),
  );
}

// ── refresh loop ──────────────────────────────────────────────────────────────────────────────

function status(msg: string, error = false): void {
  const el = document.getElementById('status');
  if (el === null) return;
  el.textContent = msg;
  el.className = error ? 'error' : '';
}

async function refresh(): Promise<void> {
  window.clearTimeout(state.timer);
  const generation = state.generation;
  const site = { site: state.site };
  const stats = { ...site, window: state.window, windows: String(WINDOWS), limit: String(LIST_LIMIT) };
  const headline = (window: string) => ({ ...site, window, rolling: 'true', limit: '0' });
  const [usage, series, five, hour, navigation, content, rules, recent, offerStats, quarantine, live, segments, valueSegments, golden] = await Promise.all([
    get<StatsBody<UsageWindow>>('/v1/stats/usage', { ...stats, by: state.by.join(',') }),
    get<StatsBody<UsageWindow>>('/v1/stats/usage', { ...site, window: 'PT1M', windows: String(SERIES_MINUTES), limit: '0' }),
    get<StatsBody<UsageWindow>>('/v1/stats/usage', headline('PT5M')),
    get<StatsBody<UsageWindow>>('/v1/stats/usage', headline('PT1H')),
    get<StatsBody<NavigationWindow>>('/v1/stats/navigation', state.navBy === '' ? stats : { ...stats, by: state.navBy }),
    get<StatsBody<ContentWindow>>('/v1/stats/content', { ...stats, by: state.contentBy === '' || state.contentBy === 'device' ? 'device' : state.contentBy }),
    get<RulesBody>('/v1/rules', { ...site, limit: String(LIST_LIMIT) }),
    get<{ readonly offers: readonly OfferRecord[] }>('/v1/offers/recent', { ...site, limit: String(LIST_LIMIT) }),
    get<OfferStatsBody>('/v1/offers/stats', site),
    get<QuarantineBody>('/v1/quarantine', { ...site, limit: String(LIST_LIMIT) }),
    get<LiveBody>('/v1/events/recent', { ...site, limit: String(LIVE_EVENTS) }),
    get<SegmentsBody>('/v1/segments', site),
    get<ValueSegmentsBody>('/v1/customers/segments', site),
    get<CustomersBody>('/v1/customers', { ...site, limit: String(LIST_LIMIT) }),
  ]);
  if (generation !== state.generation) return; // the site or window changed meanwhile
  // The flow and the rule chart follow what the lists show: the shown window's top page, the first rule.
  const navShown = navigation.kind === 'ok' ? pick(navigation.body.windows) : undefined;
  const flowPage = state.flowPage ?? navShown?.topPages?.[0]?.page;
  if (rules.kind === 'ok' && state.rule === null && rules.body.rules[0] !== undefined) {
    const r = rules.body.rules[0];
    state.rule = { antecedent: r.antecedent, consequent: r.consequent, level: r.level, kind: r.kind };
  }
  const rule = state.rule;
  const shownStart = navShown?.start ?? undefined;
  const segmentList = segments.kind === 'ok' ? segments.body.segments : [];
  if (state.segment !== null && !segmentList.some((x) => x.id === state.segment)) state.segment = null;
  const pickedSegment = state.segment;
  const [flow, ruleHistory, segmentRules] = await Promise.all([
    flowPage === undefined ? undefined : get<FlowBody>('/v1/stats/navigation/flow', { ...site, window: state.window, windows: String(WINDOWS), page: flowPage, limit: String(state.flowLimit) }),
    rule === null ? undefined : get<RuleHistoryBody>('/v1/rules/history', { ...site, antecedent: rule.antecedent.join(','), consequent: rule.consequent.join(','), level: rule.level, kind: rule.kind }),
    pickedSegment === null ? undefined : get<RulesBody>('/v1/rules', { ...site, segment: pickedSegment, limit: String(LIST_LIMIT) }),
  ]);
  if (generation !== state.generation) return;
  // The flow of the window the lists show (the flow route lists the same windows).
  const flowShown: Result<FlowBody> | undefined = flow?.kind === 'ok' ? { kind: 'ok', body: { ...flow.body, windows: flow.body.windows.filter((w) => w.start === shownStart).slice(0, 1) } } : flow;
  const anyEvent = (r: Result<StatsBody<UsageWindow>>): boolean => r.kind === 'ok' && r.body.windows.some((w) => w.events.page_view + w.events.click + w.events.form > 0);
  renderEmpty(usage.kind === 'ok' && series.kind === 'ok' && !anyEvent(usage) && !anyEvent(series));
  renderHeadline(five, hour);
  if (series.kind === 'ok') renderTraffic(series.body);
  else failed('traffic', series);
  if (usage.kind === 'ok') {
    renderUsage(usage.body);
    renderFunnel(pick(usage.body.windows));
    renderBreakdown(pick(usage.body.windows));
  } else {
    failed('usage', usage);
    failed('funnel', usage);
    failed('breakdown', usage);
  }
  if (navigation.kind === 'ok') renderNavigation(navigation.body);
  else failed('navigation', navigation);
  renderFlow(flowShown, (navShown?.topPages ?? []).map((p) => p.page));
  if (content.kind === 'ok') renderContent(content.body);
  else failed('content', content);
  const shownRules = segmentRules ?? rules;
  if (shownRules.kind === 'ok') renderRules(shownRules.body, segmentList);
  else failed('rules', shownRules);
  renderRuleLift(ruleHistory);
  renderOffers(recent, offerStats);
  renderCustomers(segments, valueSegments, golden, usage.kind === 'ok' ? pick(usage.body.windows) : undefined, series.kind === 'ok' ? series.body : undefined);
  if (live.kind === 'ok') renderLive(live.body);
  else failed('live', live);
  if (quarantine.kind === 'ok') renderQuarantine(quarantine.body);
  else failed('quarantine', quarantine);
  const all = [usage, series, five, hour, navigation, content, rules, recent, offerStats, quarantine, live, segments, valueSegments, golden];
  const down = all.filter((r) => r.kind === 'error').length;
  const watermark = usage.kind === 'ok' ? ` · watermark ${clock(usage.body.watermark)}` : '';
  status(`updated ${clock(Date.now())}${watermark}${down > 0 ? ` · ${down} request(s) failed` : ''}`, down === all.length);
  schedule();
}

function schedule(): void {
  window.clearTimeout(state.timer);
  const auto = document.getElementById('auto') as HTMLInputElement | null;
  if (auto?.checked === true) state.timer = window.setTimeout(() => void (document.hidden ? schedule() : refresh()), REFRESH_MS);
}

/** Keeps site and window in the address so a reload or a shared link shows the same view. */
function remember(): void {
  const q = new URLSearchParams({ site: state.site, window: state.window });
  history.replaceState(null, '', `${location.pathname}?${q.toString()}`);
}

function changed(): void {
  state.generation++;
  state.selected = null;
  state.flowPage = null;
  state.flowLimit = 8;
  state.rule = null;
  state.segment = null;
  state.contentDevice = null;
  state.navGroup = null;
  remember();
  void refresh();
}

async function start(): Promise<void> {
  const siteSelect = document.getElementById('site') as HTMLSelectElement;
  const windowSelect = document.getElementById('window') as HTMLSelectElement;
  const auto = document.getElementById('auto') as HTMLInputElement;
  const q = new URLSearchParams(location.search);
  bindTokenField();
  const sites = await get<SitesBody>('/v1/sites', {});
  const ids = sites.kind === 'ok' ? sites.body.sites.map((s) => s.id) : ['demo'];
  if (sites.kind === 'ok') state.publicPort = sites.body.publicPort;
  if (sites.kind === 'error') status(`sites unavailable: ${sites.message}`, true);
  siteSelect.replaceChildren(...ids.map((id) => h('option', null, id)));
  for (const o of windowSelect.options) o.textContent = `${human(o.value)} windows`;
  const wanted = q.get('site');
  state.site = wanted !== null && ids.includes(wanted) ? wanted : ids.includes('demo') ? 'demo' : (ids[0] ?? 'demo');
  siteSelect.value = state.site;
  const w = q.get('window');
  if (w !== null && [...windowSelect.options].some((o) => o.value === w)) windowSelect.value = w;
  else windowSelect.value = state.window;
  state.window = windowSelect.value;
  siteSelect.addEventListener('change', () => {
    state.site = siteSelect.value;
    changed();
  });
  windowSelect.addEventListener('change', () => {
    state.window = windowSelect.value;
    changed();
  });
  auto.addEventListener('change', () => (auto.checked ? void refresh() : window.clearTimeout(state.timer)));
  const by1 = document.getElementById('breakdown-by') as HTMLSelectElement | null;
  const by2 = document.getElementById('breakdown-by2') as HTMLSelectElement | null;
  const rebreak = (): void => {
    const dims = [by1?.value ?? 'channel', by2?.value ?? ''].filter((d, i, all) => d !== '' && all.indexOf(d) === i);
    state.by = dims.length > 0 ? dims : ['channel'];
    state.generation++; // an answer to the request before would be drawn with the wrong columns
    void refresh();
  };
  by1?.addEventListener('change', rebreak);
  by2?.addEventListener('change', rebreak);
  const navBy = document.getElementById('navigation-by') as HTMLSelectElement | null;
  navBy?.addEventListener('change', () => {
    state.navBy = navBy.value;
    state.navGroup = null;
    state.generation++;
    void refresh();
  });
  const contentBy = document.getElementById('content-by') as HTMLSelectElement | null;
  contentBy?.addEventListener('change', () => {
    state.contentBy = contentBy.value;
    state.generation++;
    void refresh();
  });
  const rulesSegment = document.getElementById('rules-segment') as HTMLSelectElement | null;
  rulesSegment?.addEventListener('change', () => {
    state.segment = rulesSegment.value === '' ? null : rulesSegment.value;
    state.generation++;
    void refresh();
  });
  await refresh();
}

void start();

// A module, not a global script: its names (status, state …) must not clash with window's.
export {};
