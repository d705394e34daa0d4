import { describe, expect, it } from 'vitest';
import { JsonPart } from '../../../src/persistence/json-part';
import { PaneStore } from '../../../src/pipeline/pane-store';

const MIN = 60_000;
interface Count {
  n: number;
}
const ops = { create: (): Count => ({ n: 0 }), mergeInto: (a: Count, b: Count) => void (a.n += b.n) };

function store(over: { maxPanes?: number; allowedLatenessMs?: number } = {}) {
  const evicted: number[] = [];
  const s = new PaneStore<Count>({ paneMs: MIN, maxPanes: over.maxPanes ?? 100, allowedLatenessMs: over.allowedLatenessMs ?? 2 * MIN, ops, onEvict: (n) => evicted.push(n) });
  const add = (ts: number, wm: number) => {
    const loc = s.locate(ts, wm);
    if (loc.kind !== 'late') loc.pane.n++;
    return loc.kind;
  };
  return { s, add, evicted };
}

describe('PaneStore', () => {
  it('locate - on time before the pane end, a revision within the lateness, late beyond it', () => {
    const { add } = store();
    // Pane [0, 1m). Watermark below its end: on time.
    expect(add(30_000, 59_999)).toBe('ok');
    // Watermark at the end: fired; 0 ms and 119 999 ms after: revisions; 120 000 ms after: late.
    expect(add(30_000, MIN)).toBe('revision');
    expect(add(30_000, MIN + 2 * MIN - 1)).toBe('revision');
    expect(add(30_000, MIN + 2 * MIN)).toBe('late');
  });

  it('drop - the oldest, a middle and the newest pane go; windows over the rest count what is left, and a dropped pane can be put back', () => {
    const { s, add } = store();
    for (let m = 0; m < 5; m++) for (let k = 0; k <= m; k++) add(m * MIN + k, 0); // pane m holds m + 1
    s.drop(0);
    s.drop(2 * MIN);
    s.drop(4 * MIN);
    s.drop(7 * MIN); // none there: nothing happens
    expect(s.entries().map(([t, c]) => [t / MIN, c.n])).toEqual([[1, 2], [3, 4]]);
    // One window over everything: 2 + 4 by brute force over what is left.
    expect(s.windows(10 * MIN, 0, 1).map((w) => w.value.n)).toEqual([6]);
    s.mergePane(4 * MIN, { n: 9 });
    expect(s.windows(10 * MIN, 0, 1).map((w) => w.value.n)).toEqual([15]);
    s.drop(MIN);
    s.drop(3 * MIN);
    s.drop(4 * MIN);
    expect(s.size).toBe(0);
    expect(s.windows(10 * MIN, 0, 1)).toEqual([]);
  });

  it('locate - an event exactly at a pane end belongs to the next pane', () => {
    const { s, add } = store();
    add(MIN - 1, 0);
    add(MIN, 0);
    expect(s.peek(0)?.n).toBe(1);
    expect(s.peek(MIN)?.n).toBe(1);
  });

  it('windows - tumbling windows merge their panes, newest first, closed by the watermark', () => {
    const { s, add } = store();
    for (const m of [0, 1, 2, 4, 5]) add(m * MIN + 1, 0);
    // By hand, 3-minute windows: [0,3m) = 3, [3m,6m) = 2.
    const ws = s.windows(3 * MIN, 3 * MIN, 10);
    expect(ws.map((w) => [w.start, w.end, w.closed, w.value.n])).toEqual([
      [3 * MIN, 6 * MIN, false, 2],
      [0, 3 * MIN, true, 3],
    ]);
  });

  it('windows - hopping windows are built from panes (an event counted once per pane)', () => {
    const { s, add } = store();
    // One event per minute in minutes 0..4, two in minute 2.
    for (const m of [0, 1, 2, 2, 3, 4]) add(m * MIN, 0);
    // By hand, size 3m slide 1m, newest first: [4,7)=1, [3,6)=2, [2,5)=4, [1,4)=4, [0,3)=4, [-1,2)=2, [-2,1)=1.
    const ws = s.windows(3 * MIN, 0, 10, { slideMs: MIN });
    expect(ws.map((w) => [w.start / MIN, w.value.n])).toEqual([
      [4, 1],
      [3, 2],
      [2, 4],
      [1, 4],
      [0, 4],
      [-1, 2],
      [-2, 1],
    ]);
  });

  it('windows - a cursor continues before the last window returned', () => {
    const { s, add } = store();
    for (let m = 0; m < 5; m++) add(m * MIN, 0);
    const first = s.windows(MIN, 0, 2);
    expect(first.map((w) => w.start / MIN)).toEqual([4, 3]);
    const next = s.windows(MIN, 0, 2, { before: first[1]!.start });
    expect(next.map((w) => w.start / MIN)).toEqual([2, 1]);
  });

  it('retention - keeps at most maxPanes, counts evictions, and refuses panes older than retention', () => {
    const { s, add, evicted } = store({ maxPanes: 3, allowedLatenessMs: 1e12 });
    for (let m = 0; m < 5; m++) add(m * MIN, 0);
    expect(s.size).toBe(3);
    expect(evicted.reduce((a, b) => a + b, 0)).toBe(2);
    expect(s.peek(0)).toBeUndefined();
    expect(add(1 * MIN, 0)).toBe('late'); // minute 1 is older than the 3 retained panes (2, 3, 4)
    expect(s.windows(MIN, 0, 10).map((w) => w.start / MIN)).toEqual([4, 3, 2]);
  });

  it('mergePane - folds partials into existing panes and adds missing ones', () => {
    const { s, add } = store();
    add(0, 0);
    s.mergePane(0, { n: 5 });
    s.mergePane(MIN, { n: 2 });
    expect(s.peek(0)?.n).toBe(6);
    expect(s.peek(MIN)?.n).toBe(2);
    expect(s.range(0, 2 * MIN)?.n).toBe(8);
  });

  it('paneAt - creates a pane regardless of lateness, but not beyond retention', () => {
    const { s } = store({ maxPanes: 2, allowedLatenessMs: 0 });
    s.paneAt(10 * MIN)!.n++;
    expect(s.paneAt(9 * MIN)).toBeDefined();
    expect(s.paneAt(8 * MIN)).toBeUndefined();
  });

  it('mergeJSON - a pane restored as its text is built on first use (event, window, merge), counted until then, and written back unchanged', () => {
    const built: number[] = [];
    const lazyOps = { ...ops, toJSON: (c: Count) => ({ n: c.n }), fromJSON: (j: unknown) => { const c = j as Count; built.push(c.n); return { n: c.n }; } };
    const s = new PaneStore<Count>({ paneMs: MIN, maxPanes: 4, allowedLatenessMs: 10 * MIN, ops: lazyOps });
    const part = (n: number) => JsonPart.fromText(Buffer.from(JSON.stringify({ n })));
    const restored = [1, 2, 3, 4].map(part); // pane m holds m + 1
    restored.forEach((p, m) => s.mergeJSON(m * MIN, p));
    expect(s.unbuiltPanes).toBe(4);
    expect(built).toEqual([]);
    // Untouched panes are written back as the texts they came from.
    expect(s.snapshotParts().map(([t, p]) => [t / MIN, p === restored[t / MIN]])).toEqual([[0, true], [1, true], [2, true], [3, true]]);
    // An event builds its pane (and only it).
    const loc = s.locate(2 * MIN + 5, 0);
    if (loc.kind !== 'late') loc.pane.n += 10;
    expect(built).toEqual([3]);
    expect(s.unbuiltPanes).toBe(3);
    // A part merged into a pane that exists is built and merged at once.
    s.mergeJSON(2 * MIN, part(100));
    expect(s.peek(2 * MIN)!.n).toBe(113);
    // A built pane is written as its own new text.
    expect(s.snapshotParts().map(([t, p]) => [t / MIN, p === restored[t / MIN], p.value()])).toEqual([[0, true, { n: 1 }], [1, true, { n: 2 }], [2, false, { n: 113 }], [3, true, { n: 4 }]]);
    // A window builds what it spans; totals by brute force: 1 + 2 + 113 + 4.
    expect(s.range(0, 4 * MIN)!.n).toBe(120);
    expect(s.unbuiltPanes).toBe(0);
    // The hard cap evicts a text like a pane, and the count follows.
    const t = new PaneStore<Count>({ paneMs: MIN, maxPanes: 2, allowedLatenessMs: 0, ops: lazyOps });
    for (let m = 0; m < 3; m++) t.mergeJSON(m * MIN, part(m));
    expect(t.size).toBe(2);
    expect(t.unbuiltPanes).toBe(2);
    expect(t.peek(2 * MIN)).toEqual({ n: 2 });
    expect(t.unbuiltPanes).toBe(1);
    t.expire(10 * MIN);
    expect(t.size).toBe(0);
    expect(t.unbuiltPanes).toBe(0);
  });
});
