import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { EventValidator } from '../../src/events/event-validator';

/** One batch as the collector saw it. */
export interface ReceivedBatch {
  readonly via: 'ws' | 'http';
  readonly seq: number;
  readonly events: ReadonlyArray<Record<string, unknown>>;
  /** How the collector answered: ack, retry (WS) or 503 (HTTP). */
  readonly answer: 'ack' | 'retry' | '503';
}

/**
 * A scripted stand-in for the collect endpoints (WS and HTTP /v1/collect), for the snippet's protocol
 * tests: it can answer `retry`, refuse WebSockets, answer 503, and push offers — things the real server
 * does only under overload. Events are checked against the real v1 schemas (the project's validator),
 * and an invalid one is reported in the ack like the real gateway does.
 */
export class FakeCollector {
  readonly batches: ReceivedBatch[] = [];
  /** Events that failed schema validation (must stay empty). */
  readonly invalid: Array<{ event: unknown; message: string }> = [];
  /** Answer this many next WS batches with `{"type":"retry"}` instead of an ack. */
  retryNext = 0;
  /** Answer this many next HTTP batches with 503 + Retry-After: 1. */
  http503Next = 0;
  /** Refuse WebSocket upgrades (forces the snippet's HTTP fallback). */
  refuseWebSockets = false;
  readonly pages = new Map<string, string>();
  /** WebSocket connections accepted so far. */
  connections = 0;
  private readonly sockets = new Set<WebSocket>();
  private readonly validator = new EventValidator();
  private readonly wss = new WebSocketServer({ noServer: true });
  private server: Server | undefined;
  origin = '';

  constructor(private readonly snippet: string) {}

  async start(): Promise<string> {
    // A browser may abort a request mid-body (a page closed, a beacon cancelled): reading it then
    // rejects with "aborted"; there is nobody left to answer, so the request is dropped, not an
    // unhandled rejection that fails the run.
    this.server = createServer((req, res) => {
      this.http(req, res).catch(() => res.destroy());
    });
    this.server.on('upgrade', (req, socket, head) => {
      if (this.refuseWebSockets || !req.url?.startsWith('/v1/collect')) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.connections++;
        this.sockets.add(ws);
        ws.on('close', () => this.sockets.delete(ws));
        ws.on('message', (data) => {
          const b = this.parse(String(data));
          if (this.retryNext > 0) {
            this.retryNext--;
            this.batches.push({ via: 'ws', seq: b.seq, events: b.events, answer: 'retry' });
            ws.send(JSON.stringify({ type: 'retry', seq: b.seq, retryAfterMs: 300 }));
            return;
          }
          this.batches.push({ via: 'ws', seq: b.seq, events: b.events, answer: 'ack' });
          ws.send(JSON.stringify(this.ack(b)));
        });
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.origin;
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** Pushes a message (e.g. an offer) to every connected collect socket; returns how many got it. */
  push(message: Record<string, unknown>): number {
    for (const ws of this.sockets) ws.send(JSON.stringify(message));
    return this.sockets.size;
  }

  /** Cuts every collect socket (a server restart or a dropped network path, as the client sees it). */
  dropSockets(): void {
    for (const ws of this.sockets) ws.terminate();
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  /** Every event that arrived in an acknowledged batch, in arrival order (duplicates included). */
  ackedEvents(): Array<Record<string, unknown>> {
    return this.batches.filter((b) => b.answer === 'ack').flatMap((b) => [...b.events]);
  }

  /** Acknowledged events, each id once (first arrival), as a deduplicating server would keep them. */
  uniqueAckedEvents(): Array<Record<string, unknown>> {
    const byId = new Map<string, Record<string, unknown>>();
    for (const e of this.ackedEvents()) if (!byId.has(String(e['id']))) byId.set(String(e['id']), e);
    return [...byId.values()];
  }

  ackedIds(): Set<string> {
    return new Set(this.ackedEvents().map((e) => String(e['id'])));
  }

  private parse(text: string): { seq: number; events: Array<Record<string, unknown>> } {
    const b = JSON.parse(text) as { type: string; seq: number; sentAt: number; events: Array<Record<string, unknown>> };
    if (b.type !== 'batch' || !Number.isInteger(b.seq) || !Number.isInteger(b.sentAt) || !Array.isArray(b.events)) {
      throw new Error(`not a batch envelope: ${text.slice(0, 200)}`);
    }
    return b;
  }

  private ack(b: { seq: number; events: Array<Record<string, unknown>> }): Record<string, unknown> {
    const rejected: Array<{ index: number; code: string; message: string }> = [];
    b.events.forEach((e, index) => {
      const v = this.validator.validate(e);
      if (v.kind === 'invalid') {
        rejected.push({ index, code: v.code, message: v.message });
        this.invalid.push({ event: e, message: v.message });
      }
    });
    return { type: 'ack', seq: b.seq, accepted: b.events.length - rejected.length, rejected };
  }

  private async http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method === 'GET' && path === '/snippet.js') {
      res.writeHead(200, { 'content-type': 'application/javascript' }).end(this.snippet);
      return;
    }
    const page = req.method === 'GET' ? this.pages.get(path) : undefined;
    if (page !== undefined) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
      return;
    }
    if (req.method === 'POST' && path === '/v1/collect') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const b = this.parse(Buffer.concat(chunks).toString('utf8'));
      if (this.http503Next > 0) {
        this.http503Next--;
        this.batches.push({ via: 'http', seq: b.seq, events: b.events, answer: '503' });
        res.writeHead(503, { 'retry-after': '1' }).end();
        return;
      }
      this.batches.push({ via: 'http', seq: b.seq, events: b.events, answer: 'ack' });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.ack(b)));
      return;
    }
    res.writeHead(404).end();
  }
}

/** A page with the loader tag exactly as a shop pastes it, `before` (calls made before the script loads) and a body. */
export function loaderPage(body: string, before = "cm('init', { site: 'demo' });"): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Test page</title>
<script>window.cm = window.cm || function () { (cm.q = cm.q || []).push(arguments); }; ${before}</script>
<script async src="/snippet.js"></script></head><body>${body}</body></html>`;
}
