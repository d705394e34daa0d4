/**
 * The ops/analyst dashboard (GET / and GET /dashboard on the admin port): one static page, inline CSS,
 * and the browser script /dashboard.js (src/http/dashboard/client/dashboard.ts) that fills the panels
 * from the admin JSON APIs on the same origin. The page itself holds no data, so it is the same for
 * every request.
 */

import { DIMENSIONS, type Dimension } from '../../../processors/usage/session-dimensions';

/** Refresh choices offered by the window picker (ISO-8601 window lengths, multiples of the 1-minute pane). */
export const DASHBOARD_WINDOWS = ['PT1M', 'PT5M', 'PT1H'] as const;
/** How the picker names them (the script sets the same labels). */
const WINDOW_NAMES: Record<(typeof DASHBOARD_WINDOWS)[number], string> = { PT1M: '1-minute windows', PT5M: '5-minute windows', PT1H: '1-hour windows' };

/**
 * Content-Security-Policy of the page. TRICKY: the script renders data with textContent only; this
 * policy is the second line of defence (no inline script, no foreign origins) should that ever slip.
 */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const CSS = `
:root { --bg:#f4f5f7; --card:#fff; --ink:#1d2330; --muted:#687085; --line:#e3e6ec; --accent:#2f6fde; --live:#14a05a; --warn:#c9581c; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--ink); }
header { position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap; gap: 12px; align-items: center; padding: 10px 18px; background: #1d2330; color: #fff; }
header h1 { font-size: 15px; margin: 0 12px 0 0; font-weight: 600; }
header label { display: flex; gap: 6px; align-items: center; color: #c8cfdd; }
header select { font: inherit; padding: 3px 6px; border-radius: 4px; border: 1px solid #4a5366; background: #2a3142; color: #fff; }
header a { color: #9cc0ff; }
header .spacer { flex: 1; }
#status { color: #c8cfdd; font-variant-numeric: tabular-nums; }
#status.error { color: #ffb199; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(460px, 100%), 1fr)); gap: 14px; padding: 14px 18px 28px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; min-width: 0; }
section.wide { grid-column: 1 / -1; }
section h2 { font-size: 13px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); display: flex; gap: 8px; align-items: baseline; }
section h2 .sub { text-transform: none; letter-spacing: 0; font-weight: 400; }
section h2 select { font: inherit; text-transform: none; padding: 1px 4px; }
h3 { font-size: 12px; margin: 10px 0 4px; color: var(--muted); font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.text { overflow-wrap: anywhere; max-width: 32em; }
tr.selectable { cursor: pointer; }
tr.selectable:hover { background: #f0f4fc; }
tr.selected { background: #e6eefc; }
.live { display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 8px; background: var(--live); color: #fff; font-size: 11px; }
.tag { display: inline-block; padding: 0 6px; border-radius: 8px; background: #eef0f4; color: var(--muted); font-size: 11px; }
.tag.warn { background: #fdebe2; color: var(--warn); }
.empty, .note { color: var(--muted); font-style: italic; margin: 4px 0; }
.err { color: var(--warn); }
.kpis { display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 8px; }
.kpi { min-width: 96px; padding: 6px 10px; border: 1px solid var(--line); border-radius: 6px; }
.kpi b { display: block; font-size: 18px; font-variant-numeric: tabular-nums; }
.kpi span { color: var(--muted); font-size: 11px; }
.cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(200px, 100%), 1fr)); gap: 10px; }
.scroll { overflow-x: auto; max-width: 100%; }
.chart { min-height: 60px; max-width: 100%; overflow: hidden; }
.headlines { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(420px, 100%), 1fr)); gap: 10px; }
.headline h3 { display: flex; gap: 8px; align-items: center; }
.bars { display: grid; gap: 4px; margin: 4px 0 8px; }
.bar-row { display: grid; grid-template-columns: minmax(70px, 11em) 1fr auto auto; gap: 8px; align-items: center; }
.bar-row.selectable { cursor: pointer; }
.bar-row.selectable:hover .bar-label { text-decoration: underline; }
.bar-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bar-track { background: #eef0f4; border-radius: 3px; height: 14px; min-width: 30px; }
.bar-fill { display: block; height: 100%; background: var(--accent); border-radius: 3px; }
.holdout .bar-fill { background: #9aa3b5; }
.bar-value { font-variant-numeric: tabular-nums; text-align: right; min-width: 3em; }
.bar-note { color: var(--muted); font-size: 11px; min-width: 7em; }
.flow { display: grid; grid-template-columns: 1fr auto 1fr; gap: 10px; align-items: start; }
.flow-page-box { display: flex; flex-direction: column; gap: 2px; padding: 8px 10px; border: 2px solid var(--accent); border-radius: 6px; max-width: 14em; overflow-wrap: anywhere; }
.flow-pick input { font: inherit; padding: 2px 6px; width: min(20em, 100%); }
#empty { border-color: var(--accent); }
#empty pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f0f4fc; padding: 8px; border-radius: 4px; }
@media (max-width: 640px) {
  header { padding: 8px 10px; gap: 8px; }
  main { padding: 10px 8px 20px; gap: 10px; }
  section { padding: 10px; }
  .flow { grid-template-columns: 1fr; }
  .bar-row { grid-template-columns: minmax(60px, 8em) 1fr auto; }
  .bar-note { grid-column: 2 / -1; }
  td.text { max-width: 14em; }
}
`;

/** The dimensions sessions can be broken down by (processors/usage/session-dimensions.ts), as the picker names them. */
const DIMENSION_LABELS: Readonly<Record<Dimension, string>> = { channel: 'channel', device: 'device', visitorType: 'new / returning', utmSource: 'UTM source', utmMedium: 'UTM medium', utmCampaign: 'UTM campaign' };

function dimensionOptions(none: string | undefined): string {
  return (none === undefined ? '' : `<option value="">${none}</option>`) + DIMENSIONS.map((d) => `<option value="${d}">${DIMENSION_LABELS[d]}</option>`).join('');
}

/** The page's HTML. Panels are empty shells the script fills; their ids are the script's contract. */
export function renderDashboardPage(): string {
  const windowOptions = DASHBOARD_WINDOWS.map((w) => `<option value="${w}">${WINDOW_NAMES[w]}</option>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>clickstream-miner dashboard</title>
<style>${CSS}</style>
<script src="/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>clickstream-miner</h1>
  <label>Site <select id="site"></select></label>
  <label>Window <select id="window">${windowOptions}</select></label>
  <label><input type="checkbox" id="auto" checked> auto-refresh</label>
  <label>Admin token <input type="password" id="token" autocomplete="off" size="14" placeholder="printed at boot"></label>
  <span id="status">loading…</span>
  <span class="spacer"></span>
  <a href="/metrics">/metrics</a>
  <a href="/openapi.json">API</a>
</header>
<main>
  <section class="wide" id="empty" hidden></section>
  <section class="wide" id="headline"><h2>Right now <span class="sub" id="headline-sub">rolling windows ending with the current minute</span></h2><div class="body headlines"></div></section>
  <section class="wide" id="traffic"><h2>Traffic over time <span class="sub" id="traffic-sub"></span></h2><div class="chart" data-chart="traffic"></div><div class="chart" data-chart="sales"></div><div class="body"></div></section>
  <section id="funnel"><h2>Shopping funnel <span class="sub" id="funnel-sub"></span></h2><div class="body"></div></section>
  <section id="breakdown"><h2>Breakdown <label class="sub">by <select id="breakdown-by">${dimensionOptions(undefined)}</select> and <select id="breakdown-by2">${dimensionOptions('(nothing else)')}</select></label> <span class="sub" id="breakdown-sub"></span></h2><div class="body"></div></section>
  <section id="flow"><h2>Page flow <span class="sub" id="flow-sub"></span></h2><div class="body"></div></section>
  <section class="wide" id="usage"><h2>Usage <span class="sub" id="usage-sub"></span></h2><div class="body"></div></section>
  <section id="navigation"><h2>Navigation <label class="sub">sessions by <select id="navigation-by">${dimensionOptions('(no breakdown)')}</select></label> <span class="sub" id="navigation-sub"></span></h2><div class="body"></div></section>
  <section id="content"><h2>Content <label class="sub">sessions by <select id="content-by">${dimensionOptions('(no breakdown)')}</select></label> <span class="sub" id="content-sub"></span></h2><div class="body"></div></section>
  <section id="rules"><h2>Cross-sell rules <label class="sub">bought by <select id="rules-segment"><option value="">all shoppers</option></select></label> <span class="sub" id="rules-sub"></span></h2><div class="body"></div><h3 id="rule-lift-title"></h3><div class="chart" data-chart="rule-lift"></div></section>
  <section id="offers"><h2>Offers <span class="sub" id="offers-sub"></span></h2><div class="body"></div></section>
  <section class="wide" id="customers"><h2>Customers and segments <span class="sub" id="customers-sub"></span></h2><h3 id="segment-sizes-title" hidden>Segment members over the last hour</h3><div class="chart" data-chart="segment-sizes" hidden></div><div class="body"></div></section>
  <section class="wide" id="live"><h2>Live event log <span class="sub" id="live-sub"></span></h2><div class="body"></div></section>
  <section class="wide" id="quarantine"><h2>Quarantine <span class="sub" id="quarantine-sub"></span></h2><div class="body"></div></section>
</main>
<noscript>The dashboard needs JavaScript; the same numbers are in the JSON API (/openapi.json).</noscript>
</body>
</html>
`;
}
