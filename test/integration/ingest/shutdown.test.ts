import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { freePort } from '../../helpers/nats-server';
import { batch, pageView } from '../../helpers/collect-client';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const cli = join(root, 'dist', 'cli.js');
let proc: ChildProcess | undefined;

beforeAll(() => {
  // `npm test` builds first (pretest); running this file alone builds once here.
  if (!existsSync(cli)) execFileSync(process.execPath, [join(root, 'src', 'scripts', 'build.mjs')], { cwd: root });
});
afterAll(() => {
  if (proc !== undefined && proc.exitCode === null) proc.kill('SIGKILL');
});

async function waitReady(adminPort: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server did not become ready');
}

describe('SIGTERM with events in flight', () => {
  it('shutdown - every acknowledged event is counted before exit, the sockets close with 1012 and the exit code is 0', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    proc = spawn(process.execPath, [cli, 'serve'], {
      cwd: root,
      // DATA_DIR='' : no state file here (the persistence tests cover restarts).
      env: { ...process.env, PORT: String(port), ADMIN_PORT: String(adminPort), HOST: '127.0.0.1', LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT: 'PT10S', NATS_URL: '', DATA_DIR: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => proc?.once('exit', (code) => r(code)));
    await waitReady(adminPort);

    const SOCKETS = 3;
    const BATCHES = 40;
    const PER_BATCH = 50;
    let acked = 0;
    let retried = 0;
    const closeCodes: number[] = [];
    const sockets = await Promise.all(
      Array.from({ length: SOCKETS }, (_, s) => new Promise<WebSocket>((res, rej) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/collect?site=demo`);
        ws.on('message', (d) => {
          const m = JSON.parse(String(d)) as { type: string; accepted?: number };
          if (m.type === 'ack') acked += m.accepted ?? 0;
          else if (m.type === 'retry') retried++;
        });
        ws.once('close', (code) => closeCodes.push(code));
        ws.once('open', () => res(ws));
        ws.once('error', rej);
        void s;
      })),
    );
    const allClosed = Promise.all(sockets.map((ws) => new Promise<void>((r) => (ws.readyState === ws.CLOSED ? r() : ws.once('close', () => r())))));
    // Stream without waiting for acks; signal half-way so batches are in flight when SIGTERM lands.
    for (let b = 0; b < BATCHES; b++) {
      for (const [i, ws] of sockets.entries()) ws.send(JSON.stringify(batch(Array.from({ length: PER_BATCH }, () => pageView({ visitorId: `v-${i}-${b % 7}` })), b)));
      if (b === BATCHES / 2) proc.kill('SIGTERM');
      await new Promise((r) => setImmediate(r));
    }
    await allClosed;
    const code = await exited;

    const line = stdout.split('\n').find((l) => l.includes('"final counts"'));
    expect(line, `no final counts line; stderr: ${stderr.slice(-2000)}`).toBeDefined();
    const report = JSON.parse(line as string) as { drained: boolean; queued: number; received: Record<string, Record<string, number>>; processed: Record<string, Record<string, number>> };
    expect(code).toBe(0);
    expect(report.drained).toBe(true);
    expect(report.queued).toBe(0);
    expect(acked).toBeGreaterThan(0);
    // Nothing acknowledged is lost, and nothing unacknowledged was counted as taken.
    expect(report.received['demo']?.['page_view'] ?? 0).toBe(acked);
    // …and every acknowledged event reached the processors: the usage windows count exactly them.
    expect(report.processed['demo']?.['page_view']).toBe(acked);
    expect(closeCodes.length).toBe(SOCKETS);
    for (const c of closeCodes) expect([1012, 1006]).toContain(c);
    expect(closeCodes).toContain(1012);
    expect(acked + retried * PER_BATCH).toBeLessThanOrEqual(SOCKETS * BATCHES * PER_BATCH);
  });
});
