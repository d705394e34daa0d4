import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real nats-server on 127.0.0.1, a free port and a temp store dir, removed on stop (as nats.js tests do). */
export interface NatsServerHandle {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
  /** Stops the server (SIGTERM), keeping its store; `startAgain` brings it back on the same port and store. */
  pause(): Promise<void>;
  startAgain(): Promise<NatsServerHandle>;
}

export const NATS_SERVER_BIN = process.env['NATS_SERVER_BIN'] ?? 'nats-server';

/**
 * A free port on 127.0.0.1 below the kernel's ephemeral range. A port the kernel hands out for
 * `listen(0)` comes from that range, and so does the local port of every outgoing connection: a server
 * started on it a moment later — or restarted on it after a kill -9 — found it taken by some
 * connection (seen in CI: a cluster node's monitor port, `bind: address already in use`).
 */
export async function freePort(): Promise<number> {
  const low = 20_000;
  const high = ephemeralLow() - 1;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${low}-${high} after 200 tries`);
}

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 21_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startNatsServer(opts: { jetstream?: boolean; args?: string[]; port?: number; storeDir?: string } = {}): Promise<NatsServerHandle> {
  const port = opts.port ?? (await freePort());
  const storeDir = opts.storeDir ?? mkdtempSync(join(tmpdir(), 'cm-nats-'));
  const args = ['-a', '127.0.0.1', '-p', String(port), ...(opts.jetstream === false ? [] : ['-js', '-sd', storeDir]), ...(opts.args ?? [])];
  const proc = spawn(NATS_SERVER_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    await waitForPort(port, 10_000);
  } catch (err) {
    proc.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  const handle: NatsServerHandle = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    process: proc,
    async stop() {
      await handle.pause();
      rmSync(storeDir, { recursive: true, force: true });
    },
    async pause() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await exited;
    },
    startAgain() {
      return startNatsServer({ ...opts, port, storeDir });
    },
  };
  return handle;
}
