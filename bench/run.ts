/**
 * `npm run bench`: runs every `bench/*.bench.ts` (or the names given: `npm run bench -- pipeline usage`)
 * in its own child process (`npx tsx`), one after the other so they do not compete for the CPU, each
 * with a time limit (BENCH_TIMEOUT_S, default 600 s); prints each bench's output as it comes, then a
 * summary. Exits 1 if a bench failed or timed out. Each bench writes bench/results/<name>.json itself.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const DEFAULT_TIMEOUT_S = 600;
const timeoutS = Number(process.env['BENCH_TIMEOUT_S'] ?? DEFAULT_TIMEOUT_S);
if (!Number.isFinite(timeoutS) || timeoutS <= 0) {
  process.stderr.write(`BENCH_TIMEOUT_S must be a positive number of seconds, got ${JSON.stringify(process.env['BENCH_TIMEOUT_S'])}\n`);
  process.exit(2);
}

const all = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort();
const asked = process.argv.slice(2);
const unknown = asked.filter((n) => !all.includes(n));
if (unknown.length > 0) {
  process.stderr.write(`no bench named ${unknown.join(', ')} (have: ${all.join(', ')})\n`);
  process.exit(2);
}
const names = asked.length > 0 ? asked : all;

type Outcome = { readonly kind: 'ok' } | { readonly kind: 'failed'; readonly code: number | null; readonly signal: string | null } | { readonly kind: 'timeout' };

interface Result {
  readonly name: string;
  readonly outcome: Outcome;
  readonly seconds: number;
  /** Whether bench/results/<name>.json was written during this run. */
  readonly wroteResult: boolean;
}

function resultMtime(name: string): number {
  try {
    return statSync(join(here, 'results', `${name}.json`)).mtimeMs;
  } catch {
    return 0;
  }
}

function runOne(name: string): Promise<Result> {
  const before = resultMtime(name);
  const t0 = Date.now();
  return new Promise((resolve) => {
    // detached: the bench gets its own process group, so a timeout ends it and whatever it spawned.
    const child = spawn('npx', ['tsx', join(here, `${name}.bench.ts`)], { cwd: join(here, '..'), stdio: 'inherit', detached: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      process.stderr.write(`\n[bench] ${name}: over ${timeoutS} s, stopping it\n`);
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutS * 1000);
    const done = (outcome: Outcome): void => {
      clearTimeout(timer);
      resolve({ name, outcome, seconds: (Date.now() - t0) / 1000, wroteResult: resultMtime(name) > before });
    };
    child.once('error', (err) => {
      process.stderr.write(`[bench] ${name}: cannot start: ${err.message}\n`);
      done({ kind: 'failed', code: null, signal: null });
    });
    child.once('exit', (code, signal) => {
      if (timedOut) done({ kind: 'timeout' });
      else if (code === 0) done({ kind: 'ok' });
      else done({ kind: 'failed', code, signal });
    });
  });
}

function describe(o: Outcome): string {
  switch (o.kind) {
    case 'ok':
      return 'ok';
    case 'timeout':
      return `timed out (> ${timeoutS} s)`;
    case 'failed':
      return o.signal !== null ? `failed (signal ${o.signal})` : `failed (exit ${String(o.code)})`;
    default: {
      const _: never = o;
      return _;
    }
  }
}

process.stdout.write(`[bench] ${names.length} benches, one at a time, ${timeoutS} s each at most; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
const results: Result[] = [];
for (const name of names) {
  process.stdout.write(`\n[bench] ── ${name} ──\n`);
  results.push(await runOne(name));
}

process.stdout.write(`\n[bench] summary (load average now ${loadavg().map((l) => l.toFixed(2)).join(' ')})\n`);
console.table(results.map((r) => ({ bench: r.name, outcome: describe(r.outcome), seconds: Number(r.seconds.toFixed(1)), result: r.wroteResult ? `bench/results/${r.name}.json` : '(not written)' })));
const failed = results.filter((r) => r.outcome.kind !== 'ok');
if (failed.length > 0) {
  process.stderr.write(`[bench] ${failed.length} of ${results.length} failed: ${failed.map((r) => r.name).join(', ')}\n`);
  process.exitCode = 1;
}
