/**
 * Boot memory (issue "A lean hot path": boot RSS ≤ 110 MB must, ≤ 80 MB goal), beside two ceilings
 * measured in the same run: a bare `node` process, and `node` with the server's runtime libraries
 * imported and nothing else. Each is a fresh child process, median of 3. The server is the built
 * `dist/cli.js serve` on the embedded default (no NATS), measured once `/readyz` answers 200.
 * Run: `npm run build && npx tsx bench/boot-memory.bench.ts` — writes bench/results/boot-memory.json.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = 3;
const LIBRARIES = ['fastify', 'pino', 'prom-client', 'ajv', 'lru-cache', 'ws', '@js-joda/core', '@nats-io/transport-node', '@nats-io/jetstream', '@nats-io/kv', '@nats-io/obj'];

const mib = (kb: number): number => Math.round((kb / 1024) * 10) / 10;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** RSS of a live process from /proc, KiB. */
function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? Number.NaN);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** A `node -e` script that settles, then prints its own RSS (KiB). */
function nodeScriptRss(script: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', `import { readFileSync } from 'node:fs'; ${script}; setTimeout(() => { const m = /VmRSS:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8')); console.log(m[1]); }, 300);`], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`script exited ${code}`))));
  });
}

async function serveRss(): Promise<number> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(join(tmpdir(), 'cm-boot-'));
  // BOOT_BENCH_CLI: another build to compare (e.g. a checkout of the commit before a change).
  const child = spawn(process.execPath, [process.env['BOOT_BENCH_CLI'] ?? join(root, 'dist', 'cli.js'), 'serve'], {
    cwd: root,
    env: { ...process.env, PORT: String(port), ADMIN_PORT: String(adminPort), ADMIN_TOKEN: 'boot-memory-bench-token', DATA_DIR: dataDir, LOG_LEVEL: 'warn', NATS_URL: '' },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error('serve did not become ready in 30 s');
      const ok = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    return rssKb(child.pid!);
  } finally {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const bare: number[] = [];
const libs: number[] = [];
const serve: number[] = [];
for (let i = 0; i < RUNS; i++) {
  bare.push(await nodeScriptRss('void 0'));
  libs.push(await nodeScriptRss(LIBRARIES.map((l) => `await import(${JSON.stringify(l)})`).join('; ')));
  serve.push(await serveRss());
}
const result = {
  machine: { node: process.version },
  runs: RUNS,
  bareNodeMiB: mib(median(bare)),
  librariesMiB: mib(median(libs)),
  serveMiB: mib(median(serve)),
  serveAboveLibrariesMiB: mib(median(serve) - median(libs)),
  goal: { mustMiB: 110, goalMiB: 80 },
};
process.stdout.write(
  `boot RSS (median of ${RUNS}): bare node ${result.bareNodeMiB} MiB · runtime libraries imported ${result.librariesMiB} MiB · serve ready ${result.serveMiB} MiB (${result.serveAboveLibrariesMiB} MiB above the libraries)\n`,
);
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'boot-memory.json'), `${JSON.stringify(result, null, 2)}\n`);
