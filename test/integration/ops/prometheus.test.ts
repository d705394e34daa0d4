import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendEventsOverSocket, type WireEvent } from '../../../src/replay/replay-cli';
import { DEMO_SHOPPER_USER_AGENT } from '../../../src/replay/demo-shoppers';
import { simulatedEvents } from '../../../src/replay/simulate-cli';
import { TEST_ADMIN_TOKEN, adminFetch, metricValue, startTestApp } from '../../helpers/collect-client';
import { freePort } from '../../helpers/nats-server';
import { until } from '../../helpers/until';

/**
 * The ops kit against a real Prometheus (Debian's `prometheus`, on loopback, a temp data dir): it
 * scrapes the app with the admin token, evaluates src/ops/prometheus-rules.yml, and every PromQL
 * expression of the rules and of src/ops/grafana-dashboard.json must return data — a misspelt metric
 * or label would return nothing. Alert expressions are checked without their threshold.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const RULES = join(root, 'src', 'ops', 'prometheus-rules.yml');
const BOARD = join(root, 'src', 'ops', 'grafana-dashboard.json');

let t: Awaited<ReturnType<typeof startTestApp>>;
let prom: ChildProcess | undefined;
let promUrl = '';
const dir = mkdtempSync(join(tmpdir(), 'cm-prom-'));

/** Every `expr:` of the rules file (single-line expressions). */
function ruleExprs(): Array<{ name: string; expr: string; alert: boolean }> {
  const out: Array<{ name: string; expr: string; alert: boolean }> = [];
  let name = '';
  let alert = false;
  for (const line of readFileSync(RULES, 'utf8').split('\n')) {
    const r = /^\s*- (record|alert): (\S+)/.exec(line);
    if (r !== null) {
      name = r[2]!;
      alert = r[1] === 'alert';
    }
    const e = /^\s*expr: (.+)$/.exec(line);
    if (e !== null) out.push({ name, expr: e[1]!.trim(), alert });
  }
  return out;
}

/** An alert's expression without its threshold (and without a trailing `and …` guard). */
function withoutThreshold(expr: string): string {
  const m = /^(.*?)\s[><]=?\s[\d.]+(\s|$)/.exec(expr);
  return (m?.[1] ?? expr).trim();
}

beforeAll(async () => {
  execFileSync('promtool', ['check', 'rules', RULES]);
  t = await startTestApp({ sites: [{ id: 'demo', processors: { 'cross-sell': { recomputeEvery: 'PT1S' } } }], time: { idleTimeout: 'PT1S' } });
  const port = await freePort();
  // The rules as shipped, evaluated every second here (the shipped groups use 15 s).
  writeFileSync(join(dir, 'rules.yml'), readFileSync(RULES, 'utf8').replace(/interval: 15s/g, 'interval: 1s'));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      `rule_files: ["${join(dir, 'rules.yml')}"]`,
      'scrape_configs:',
      '  - job_name: clickstream-miner',
      `    authorization: { credentials: "${TEST_ADMIN_TOKEN}" }`,
      `    static_configs: [{ targets: ["${new URL(t.admin).host}"] }]`,
      '',
    ].join('\n'),
  );
  prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  promUrl = `http://127.0.0.1:${port}`;
  await until('prometheus to be ready', async () => {
    try {
      return (await fetch(`${promUrl}/-/ready`)).status === 200;
    } catch {
      return false;
    }
  }, 30_000);
  // Traffic: demo shoppers until the rules exist, then more shoppers (who get offers), a refused
  // event and a refused admin request.
  const shoppers = async (seed: number) =>
    sendEventsOverSocket(`${t.ws}/v1/collect?site=demo`, simulatedEvents({ seed, shoppers: 150 }, Date.now()) as unknown as WireEvent[], { batch: 200, rate: 0, pace: false, leadMs: 0, progress: false, userAgent: DEMO_SHOPPER_USER_AGENT });
  await shoppers(7);
  await until('cross-sell rules', async () => (((await (await adminFetch(`${t.admin}/v1/rules?site=demo`)).json()) as { rules?: unknown[] }).rules?.length ?? 0) > 0, 30_000);
  let seed = 8;
  await until('offers triggered', async () => {
    await shoppers(seed++);
    return metricValue(await (await adminFetch(`${t.admin}/metrics`)).text(), 'clickstream_offers_triggered_total', { site: 'demo' }) > 0;
  }, 60_000);
  await fetch(`${t.base}/v1/collect?site=demo`, { method: 'POST', body: JSON.stringify({ type: 'batch', seq: 1, sentAt: Date.now(), events: [{ id: 'x', type: 'nope' }] }) });
  await fetch(`${t.admin}/v1/stats/usage?site=demo`);
}, 90_000);

afterAll(async () => {
  prom?.kill('SIGTERM');
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function query(expr: string): Promise<number> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? 'query failed'}`);
  return body.data?.result.length ?? 0;
}

describe('ops kit against a real Prometheus', () => {
  it('prometheus - scrapes the app with the admin token', async () => {
    await until('the scrape target to be up', async () => (await query('up{job="clickstream-miner"} == 1')) > 0, 30_000);
  }, 40_000);

  it('prometheus - every recording rule, alert (without its threshold) and dashboard expression returns data', async () => {
    const board = JSON.parse(readFileSync(BOARD, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const exprs = [
      ...ruleExprs().map((r) => ({ where: `rule ${r.name}`, expr: r.alert ? withoutThreshold(r.expr) : r.expr })),
      ...board.panels.flatMap((p) => p.targets.map((x) => ({ where: `panel "${p.title}"`, expr: x.expr }))),
    ];
    expect(exprs.length).toBeGreaterThan(20);
    const empty: string[] = [];
    // Rates need two scrapes and the recording rules one evaluation: wait for each, with a deadline.
    for (const e of exprs) {
      try {
        await until(e.where, async () => (await query(e.expr)) > 0, 30_000);
      } catch {
        empty.push(`${e.where}: ${e.expr}`);
      }
    }
    expect(empty).toEqual([]);
  }, 300_000);
});
