import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './nats-server';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(root, 'dist', 'cli.js');
export const SPAWN_ADMIN_TOKEN = 'spawned-admin-token-0123456789';

/** `npm test` builds first (pretest); a file run alone builds once. */
export function ensureBuilt(): void {
  if (!existsSync(CLI)) execFileSync(process.execPath, [join(root, 'src', 'scripts', 'build.mjs')], { cwd: root });
}

/**
 * `clickstream-miner serve` as a real child process on fixed loopback ports, so it can be killed
 * (SIGKILL: no drain, no final snapshot) and started again on the same ports — clients reconnect to
 * the same URL. Its log lines are kept for the test's failure messages.
 */
export class SpawnedServer {
  readonly port: number;
  readonly adminPort: number;
  readonly env: Record<string, string>;
  #proc: ChildProcess | undefined;
  #exited: Promise<number | null> = Promise.resolve(null);
  log = '';

  private constructor(port: number, adminPort: number, env: Record<string, string>) {
    this.port = port;
    this.adminPort = adminPort;
    this.env = env;
  }

  static async create(env: Record<string, string>): Promise<SpawnedServer> {
    ensureBuilt();
    return new SpawnedServer(await freePort(), await freePort(), env);
  }

  get collectUrl(): string {
    return `ws://127.0.0.1:${this.port}/v1/collect?site=demo`;
  }

  get running(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  /** The running process's PID (CPU time from /proc, signals). */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** Starts the process (extra env for this start only, e.g. a fault to inject); `cpu` pins it to one core (taskset). */
  start(extraEnv: Record<string, string> = {}, cpu?: number): void {
    const [cmd, args] = cpu === undefined ? [process.execPath, [CLI, 'serve']] : ['taskset', ['-c', String(cpu), process.execPath, CLI, 'serve']];
    const proc = spawn(cmd, args, {
      cwd: root,
      env: { ...process.env, PORT: String(this.port), ADMIN_PORT: String(this.adminPort), HOST: '127.0.0.1', ADMIN_TOKEN: SPAWN_ADMIN_TOKEN, LOG_LEVEL: 'info', DATA_DIR: '', NATS_URL: '', ...this.env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer): void => {
      this.log = (this.log + d.toString()).slice(-4_000_000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    this.#exited = new Promise((r) => proc.once('exit', (code) => r(code)));
    this.#proc = proc;
  }

  /** Polls /readyz until 200 (bounded). */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`the server exited before it was ready:\n${this.log.slice(-4000)}`);
      try {
        if ((await fetch(`http://127.0.0.1:${this.adminPort}/readyz`)).status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`not ready within ${timeoutMs} ms:\n${this.log.slice(-4000)}`);
  }

  /** kill -9, and wait for the exit. */
  async kill9(): Promise<void> {
    this.#proc?.kill('SIGKILL');
    await this.#exited;
  }

  /** Waits for the process to exit by itself (e.g. an injected fault), bounded. */
  async waitExit(timeoutMs = 60_000): Promise<number | null> {
    return Promise.race([this.#exited, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`the server did not exit within ${timeoutMs} ms`)), timeoutMs))]);
  }

  /** Sends a signal without waiting (SIGSTOP / SIGCONT: a paused process). */
  signal(sig: NodeJS.Signals): void {
    this.#proc?.kill(sig);
  }

  /** SIGTERM (graceful: drain, final snapshot), then wait for the exit. */
  async stop(): Promise<number | null> {
    if (!this.running) return this.#proc?.exitCode ?? null;
    this.#proc?.kill('SIGTERM');
    return this.#exited;
  }

  async adminJson<T>(path: string): Promise<T> {
    const res = await fetch(`http://127.0.0.1:${this.adminPort}${path}`, { headers: { authorization: `Bearer ${SPAWN_ADMIN_TOKEN}` } });
    if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  /** A metric's value from /metrics (the sum over series matching every given label). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const res = await fetch(`http://127.0.0.1:${this.adminPort}/metrics`, { headers: { authorization: `Bearer ${SPAWN_ADMIN_TOKEN}` } });
    const text = await res.text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
      if (m === null || m[1] !== name) continue;
      const ls = m[2] ?? '';
      if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum += Number(m[3]);
    }
    return sum;
  }
}
