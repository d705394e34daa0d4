import { WebSocket } from 'ws';
import { createApp, type App } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { createLogger } from '../../src/logger';

/** The admin token test apps run with (the admin API refuses requests without one). */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';

/** `fetch` with the test admin token, for the admin port. */
export function adminFetch(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, ...((init.headers as Record<string, string> | undefined) ?? {}) } });
}

/** A real app on 127.0.0.1, port 0 for both servers; `overrides` as in loadConfig. */
export async function startTestApp(overrides: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}): Promise<{
  app: App;
  config: Config;
  base: string;
  admin: string;
  ws: string;
  stop: () => Promise<void>;
}> {
  // Smaller bounds than production: lru-cache preallocates its arrays, and tests build many apps.
  const ingest = { dedupeCapacity: 10_000, rateLimitMaxClients: 1_000, maxVisitorSockets: 1_000, ...((overrides['ingest'] as Record<string, unknown> | undefined) ?? {}) };
  // The test token unless the test configures `admin` itself.
  const config = loadConfig(env, { port: 0, adminPort: 0, host: '127.0.0.1', admin: { token: TEST_ADMIN_TOKEN }, ...overrides, ingest });
  const app = createApp({ config, logger: createLogger(process.env['CM_TEST_LOG'] ?? 'silent') });
  const { port, adminPort } = await app.start();
  return {
    app,
    config,
    base: `http://127.0.0.1:${port}`,
    admin: `http://127.0.0.1:${adminPort}`,
    ws: `ws://127.0.0.1:${port}`,
    stop: async () => {
      await app.stop();
    },
  };
}

/** A connected WebSocket whose incoming messages are queued, read one at a time with `next()`. */
export interface TestSocket {
  readonly ws: WebSocket;
  next(): Promise<Record<string, unknown>>;
  send(body: unknown): void;
  /** Resolves with the close code. */
  closed: Promise<number>;
}

export function connectWs(url: string, headers: Record<string, string> = {}): Promise<TestSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const queue: Array<Record<string, unknown>> = [];
    const waiters: Array<(m: Record<string, unknown>) => void> = [];
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as Record<string, unknown>;
      const w = waiters.shift();
      if (w !== undefined) w(m);
      else queue.push(m);
    });
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        ws,
        closed,
        send: (body) => ws.send(typeof body === 'string' ? body : JSON.stringify(body)),
        next: () => {
          const m = queue.shift();
          if (m !== undefined) return Promise.resolve(m);
          return new Promise((r) => waiters.push(r));
        },
      }),
    );
  });
}

/** The value of one Prometheus sample in exposition text (0 when absent). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (.+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[l[1] as string] = l[2] as string;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return 0;
}

let counter = 0;
/** A valid page view with a fresh id, `ts` = now unless given. */
export function pageView(over: Record<string, unknown> = {}): Record<string, unknown> {
  counter++;
  return { id: `it-${process.pid}-${counter}`, type: 'page_view', visitorId: 'visitor-1', ts: Date.now(), url: 'https://shop.example/', ...over };
}

export function batch(events: unknown[], seq = 1, sentAt = Date.now()): Record<string, unknown> {
  return { type: 'batch', seq, sentAt, events };
}
