/**
 * Tokens for the admin port (issue "Lock it down", first finding): every route but the probes, the
 * dashboard's static page and the OpenAPI document needs `Authorization: Bearer <token>`. Two scopes:
 * the admin token reads and writes (the offer catalog); the read token only reads (stats, rules,
 * visitors, quarantine, metrics). `/metrics` may be opened to a scraper by config. Tokens are compared
 * as SHA-256 digests with timingSafeEqual: constant time, no length leak. Refusals are counted.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Counter } from 'prom-client';

export type AdminScope = 'read' | 'write';

export interface AdminAuthConfig {
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

  constructor(config: AdminAuthConfig, refused: Counter<'reason'>) {
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
      const path = (req.url.split('?', 1)[0] ?? '/').replace(/\/+$/, '') || '/';
      if (PUBLIC_PATHS.has(path) || (this.#openMetrics && path === '/metrics')) return;
      const scope = this.scopeOf(req.headers.authorization);
      if (scope === undefined) {
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
}
