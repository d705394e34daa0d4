/** Reading the admin dashboard's panels in the page (the dashboard e2e tests share it). */

/** What the panels show, read from the DOM as text (the script marks cells with data-col / data-list). */
export interface Shown {
  usage: { pageViews: number; clicks: number; forms: number; conversions: number; revenue: number; rows: number; live: number };
  transitions: number;
  entrySessions: number;
  searches: Array<{ query: string; count: string; zeroResults: string }>;
  products: Array<{ product: string; count: string }>;
  clickThrough: string[];
  rules: Array<{ antecedent: string; consequent: string; support: string; confidence: string; lift: string }>;
  quarantine: Array<{ reason: string; sample: string }>;
  offersTriggered: string | null;
  windowPicked: string;
}

/** Runs in the page: plain JavaScript text, so nothing of the test's bundling reaches the browser. */
export const READ_PANELS = `(() => {
  const texts = (sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent.trim());
  const sum = (col) => texts('#usage tr[data-start] td[data-col="' + col + '"]').reduce((a, t) => a + Number(t.replace(/,/g, '')), 0);
  const rows = (list, cols) => [...document.querySelectorAll('[data-list="' + list + '"] tbody tr')].map((tr) =>
    Object.fromEntries(cols.map((c) => [c, (tr.querySelector('td[data-col="' + c + '"]') || { textContent: '' }).textContent.trim()])));
  return {
    usage: { pageViews: sum('pageViews'), clicks: sum('clicks'), forms: sum('forms'), conversions: sum('conversions'), revenue: sum('revenue'),
      rows: document.querySelectorAll('#usage tr[data-start]').length, live: document.querySelectorAll('#usage tr[data-start] .live').length },
    transitions: texts('[data-list="transitions"] td[data-col="count"]').reduce((a, t) => a + Number(t), 0),
    entrySessions: texts('[data-list="entryPages"] td[data-col="count"]').reduce((a, t) => a + Number(t), 0),
    searches: rows('searches', ['query', 'count', 'zeroResults']),
    products: rows('topProducts', ['product', 'count']),
    clickThrough: texts('[data-list="clickThrough"] td[data-col="id"]'),
    rules: [...document.querySelectorAll('#rules .body tbody tr')].map((tr) => Object.fromEntries(['antecedent', 'consequent', 'support', 'confidence', 'lift'].map((c) => [c, tr.querySelector('td[data-col="' + c + '"]').textContent]))),
    quarantine: [...document.querySelectorAll('#quarantine .body tbody tr')].map((tr) => ({ reason: tr.querySelector('td[data-col="reason"]').textContent, sample: tr.querySelector('td[data-col="sample"]').textContent })),
    offersTriggered: (document.querySelector('#offers .offer-funnel [data-key="triggered"] .bar-value') || { textContent: null }).textContent,
    windowPicked: document.getElementById('window').value,
  };
})()`;
