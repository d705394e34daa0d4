/**
 * Tokens for the admin port (issue "Lock it down", first finding): every route but the probes, the
 * dashboard's static page and the OpenAPI document needs `Authorization: Bearer <token>`. Two scopes:
 * the admin token reads and writes (the offer catalog); the read token only reads (stats, rules,
 * visitors, quarantine, metrics). `/metrics` may be opened to a scraper by config. Tokens are compared
 * as SHA-256 digests with timingSafeEqual: constant time, no length leak. A client IP that sends too
 * many wrong tokens is throttled for a minute (429). Every request must name the admin port by one of
 * its configured host names (DNS rebinding). Every refusal is counted by reason.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { BoundedLru } from '../bounded-lru';
import type { Counter } from 'prom-client';

export type AdminScope = 'read' | 'write';

export interface AdminAuthConfig {
  /** Host header values answered (host or host:port, lower case); any other is refused (DNS rebinding). */
  readonly allowedHosts: readonly string[];
  /** Wrong tokens one client IP may send per minute before it is throttled (429). */
  readonly maxFailuresPerMinute: number;
  /** Client IPs whose failures are remembered (bounded, evictions are harmless: a forgotten IP starts again). */
  readonly maxTrackedClients: number;
  /** Read and write scope. */
  readonly token: string;
  /** Read scope only; undefined = none. */
  readonly readToken: string | undefined;
  /** Serve /metrics without a token. */
  readonly openMetrics: boolean;
}

/** Paths that hold no visitor data and change nothing: reachable without a token. */
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/', '/dashboard', '/dashboard.js', '/openapi.json']);

/** A fresh admin token for a server started without one (printed once at boot). */
export function generateAdminToken(): string {
  return randomBytes(24).toString('base64url');
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export class AdminAuth {
  readonly #write: Buffer;
  readonly #read: Buffer | undefined;
  readonly #openMetrics: boolean;
  readonly #refused: Counter<'reason'>;
  readonly #hosts: ReadonlySet<string>;
  readonly #maxFailures: number;
  /** Client IP → [window start (ms), failures in it]. */
  readonly #failures: BoundedLru<string, [number, number]>;
  readonly #now: () => number;

  constructor(config: AdminAuthConfig, refused: Counter<'reason'>, now: () => number) {
    this.#hosts = new Set(config.allowedHosts.map((h) => h.toLowerCase()));
    this.#maxFailures = config.maxFailuresPerMinute;
    this.#failures = new BoundedLru<string, [number, number]>({ max: config.maxTrackedClients });
    this.#now = now;
    this.#write = digest(config.token);
    this.#read = config.readToken === undefined ? undefined : digest(config.readToken);
    this.#openMetrics = config.openMetrics;
    this.#refused = refused;
  }

  /** The scope an `Authorization` header proves, or undefined. */
  scopeOf(authorization: string | undefined): AdminScope | undefined {
    if (authorization === undefined || !authorization.startsWith('Bearer ')) return undefined;
    const given = digest(authorization.slice('Bearer '.length));
    if (timingSafeEqual(given, this.#write)) return 'write';
    if (this.#read !== undefined && timingSafeEqual(given, this.#read)) return 'read';
    return undefined;
  }

  /** Installs the check on every request of the admin server. */
  install(app: FastifyInstance): void {
    app.addHook('onRequest', async (req, reply) => {
      // DNS rebinding: a page on a foreign name that resolves to this address must get nothing, probes included.
      const host = (req.headers.host ?? '').toLowerCase();
      if (!this.#hostAllowed(host)) {
        this.#refused.inc({ reason: 'host_not_allowed' });
        return reply.code(421).send({ error: { code: 'host_not_allowed', message: `host ${JSON.stringify(host)} is not one of the admin port's names (admin.allowedHosts)` } });
      }
      const path = (req.url.split('?', 1)[0] ?? '/').replace(/\/+$/, '') || '/';
      if (PUBLIC_PATHS.has(path) || (this.#openMetrics && path === '/metrics')) return;
      const ip = req.ip;
      if (this.#throttled(ip)) {
        this.#refused.inc({ reason: 'throttled' });
        return reply.code(429).header('retry-after', '60').send({ error: { code: 'throttled', message: 'too many wrong tokens from this address; wait a minute' } });
      }
      const scope = this.scopeOf(req.headers.authorization);
      if (scope === undefined) {
        if (req.headers.authorization !== undefined) this.#failed(ip);
        this.#refused.inc({ reason: 'unauthorized' });
        return reply.code(401).header('www-authenticate', 'Bearer realm="clickstream-miner admin"').send({ error: { code: 'unauthorized', message: 'send Authorization: Bearer <admin token> (ADMIN_TOKEN, or the one printed at boot)' } });
      }
      const writes = req.method !== 'GET' && req.method !== 'HEAD';
      if (writes && scope !== 'write') {
        this.#refused.inc({ reason: 'insufficient_scope' });
        return reply.code(403).send({ error: { code: 'insufficient_scope', message: 'this token may read only; changes need the admin token' } });
      }
      return undefined;
    });
  }

  #hostAllowed(host: string): boolean {
    if (this.#hosts.has(host)) return true;
    // host:port — the name alone is enough (ports are not names).
    const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(host);
    return m !== null && this.#hosts.has(m[1]!);
  }

  #throttled(ip: string): boolean {
    const f = this.#failures.get(ip);
    return f !== undefined && this.#now() - f[0] < 60_000 && f[1] >= this.#maxFailures;
  }

  #failed(ip: string): void {
    const now = this.#now();
    const f = this.#failures.get(ip);
    if (f === undefined || now - f[0] >= 60_000) this.#failures.set(ip, [now, 1]);
    else f[1]++;
  }
}
