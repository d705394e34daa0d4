/**
 * The dashboard's charts: uPlot (a small canvas time-series library, bundled by esbuild, no CDN) for
 * lines over time, plain HTML bars for funnels and flows. Every chart keeps the numbers it drew in its
 * container's `data-series` attribute (JSON), so what is drawn can be checked against the API.
 *
 * TRICKY: labels come from data (page keys, item ids): bars put them in text nodes; uPlot draws on a
 * canvas and its legend uses textContent.
 */
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css';

let styled = false;
/** uPlot's stylesheet, once, as a <style> (the page's CSP allows inline styles, not foreign sheets). */
function ensureStyle(): void {
  if (styled) return;
  styled = true;
  const style = document.createElement('style');
  style.textContent = uplotCss;
  document.head.append(style);
}

export interface LineSeries {
  /** Legend label. */
  readonly label: string;
  /** Key in `data-series`. */
  readonly key: string;
  readonly color: string;
  readonly values: ReadonlyArray<number | null>;
  /** Drawn against the right-hand axis (e.g. revenue beside counts). */
  readonly right?: boolean;
  /** Formats a value in the legend. */
  readonly format?: (v: number) => string;
}

const charts = new WeakMap<HTMLElement, { plot: uPlot; keys: string }>();

/**
 * Draws (or updates) a time chart in `box`: `xs` are epoch ms (window starts), one line per series.
 * Reuses the plot while the series stay the same, so a refresh does not flicker.
 */
export function lineChart(box: HTMLElement, xs: readonly number[], series: readonly LineSeries[], height = 180): void {
  ensureStyle();
  const data: uPlot.AlignedData = [xs.map((x) => x / 1000), ...series.map((s) => s.values.slice() as Array<number | null>)];
  box.dataset['series'] = JSON.stringify({ x: xs, ...Object.fromEntries(series.map((s) => [s.key, s.values])) });
  const keys = series.map((s) => s.key).join(',');
  const width = Math.max(240, box.clientWidth);
  const existing = charts.get(box);
  if (existing !== undefined && existing.keys === keys) {
    existing.plot.setData(data);
    if (Math.abs(existing.plot.width - width) > 2) existing.plot.setSize({ width, height });
    return;
  }
  existing?.plot.destroy();
  box.replaceChildren();
  const right = series.some((s) => s.right === true);
  const opts: uPlot.Options = {
    width,
    height,
    // One point (or none) still gets a minute either side, not uPlot's default span of years.
    scales: { x: { time: true, range: (_u, min, max) => (min === max || !Number.isFinite(min) ? [min - 60, max + 60] : [min, max]) }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] }, ...(right ? { r: { range: (_u, _min, max) => [0, Math.max(1, max)] } } : {}) },
    axes: [{}, { scale: 'y', size: 48 }, ...(right ? [{ scale: 'r', side: 1, size: 56, grid: { show: false } }] : [])],
    series: [
      {},
      ...series.map((s): uPlot.Series => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        scale: s.right === true ? 'r' : 'y',
        points: { show: xs.length < 40 },
        ...(s.format !== undefined ? { value: (_u: uPlot, v: number | null) => (v === null ? '–' : (s.format as (v: number) => string)(v)) } : {}),
      })),
    ],
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
  };
  charts.set(box, { plot: new uPlot(opts, data, box), keys });
}

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** Shown after the value (e.g. a rate). */
  readonly note?: string;
  /** Set on the row as `data-key` (tests, click handlers). */
  readonly key?: string;
}

/**
 * Horizontal bars, widths relative to the largest value (or `max`), each row: label, bar, value, note.
 * `onClick` makes rows selectable.
 */
export function bars(items: readonly Bar[], opts: { max?: number; cls?: string; onClick?: (b: Bar) => void; format?: (n: number) => string } = {}): HTMLElement {
  const max = Math.max(opts.max ?? 0, ...items.map((b) => b.value), 1);
  const box = document.createElement('div');
  box.className = `bars ${opts.cls ?? ''}`.trim();
  box.dataset['series'] = JSON.stringify(items.map((b) => [b.key ?? b.label, b.value]));
  for (const b of items) {
    const row = document.createElement('div');
    row.className = 'bar-row';
    if (b.key !== undefined) row.dataset['key'] = b.key;
    const label = document.createElement('span');
    label.className = 'bar-label';
    label.textContent = b.label;
    label.title = b.label;
    const track = document.createElement('span');
    track.className = 'bar-track';
    const fill = document.createElement('span');
    fill.className = 'bar-fill';
    fill.style.width = `${(100 * b.value) / max}%`;
    track.append(fill);
    const value = document.createElement('span');
    value.className = 'bar-value';
    value.textContent = opts.format !== undefined ? opts.format(b.value) : String(b.value);
    row.append(label, track, value);
    if (b.note !== undefined) {
      const note = document.createElement('span');
      note.className = 'bar-note';
      note.textContent = b.note;
      row.append(note);
    }
    if (opts.onClick !== undefined) {
      row.classList.add('selectable');
      row.addEventListener('click', () => opts.onClick?.(b));
    }
    box.append(row);
  }
  return box;
}
