/**
 * POST /v1/collect?site=S — the sendBeacon / keepalive-fetch path. Any content type is read as raw
 * bytes (sendBeacon sends text/plain; fetch may send application/json) and judged by the gateway
 * exactly like a WS frame. Statuses (DESIGN.md §3):
 *   200 + ack (per-event rejections inside) · 400 unparsable / bad envelope / forbidden key in it ·
 *   413 body or batch too large · 403 origin not allowed · 404 unknown site ·
 *   429 rate limited / 503 overloaded or shutting down, both with Retry-After (seconds).
 * `Authorization: Bearer <site secret>` marks a trusted producer: no per-IP rate limit.
 * Error bodies are `{error:{code,message}}`, plus `ack` when the body was judged.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config';
import type { RejectReason } from '../errors';
import type { FrameLimit } from '../events/batch-decoder';
import type { Ack, CollectGateway, RetryReason } from './collect-gateway';
import { UNKNOWN_SITE } from './quarantine';

interface CollectQuery {
  site?: string;
  key?: string;
}

const FRAME_STATUS: Partial<Record<RejectReason, number>> = {
  invalid_json: 400,
  invalid_batch: 400,
  forbidden_key: 400,
  body_too_large: 413,
  frame_too_large: 413,
  batch_too_large: 413,
};

export function registerHttpCollector(app: FastifyInstance, deps: { readonly config: Config; readonly gateway: CollectGateway }): void {
  const { config, gateway } = deps;
  const limit: FrameLimit = { maxBytes: config.ingest.maxBodyBytes, tooLargeCode: 'body_too_large' };

  // Encapsulated: the raw-body parsers and this error handler apply to the collect routes only.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.ingest.maxBodyBytes }, (_req, body, done) => done(null, body));

    scope.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        const siteParam = (req.query as CollectQuery).site;
        const site = siteParam !== undefined && config.sites.has(siteParam) ? siteParam : UNKNOWN_SITE;
        const message = `the body exceeds the limit of ${config.ingest.maxBodyBytes} bytes`;
        gateway.refuse(site, 'http', 'body_too_large', message, null, '');
        return reply.code(413).send({ error: { code: 'body_too_large', message } });
      }
      const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) req.log.error({ err }, 'collect failed');
      return reply.code(status).send({ error: { code: err.code ?? 'internal_error', message: status === 500 ? 'internal error' : err.message } });
    });

    // CORS: the snippet posts from the shop's origin. Only an origin the site allows is answered with
    // Access-Control-Allow-Origin; any other preflight is refused (403, counted) and gets none.
    scope.options('/v1/collect', async (req, reply) => {
      const origin = req.headers.origin;
      reply.header('vary', 'Origin');
      if (origin !== undefined) {
        const q = req.query as CollectQuery;
        const admission = gateway.admit(q.site, 'http', { origin, key: q.key });
        if (admission.kind === 'refused') return reply.code(admission.code === 'unknown_site' ? 404 : 403).send({ error: { code: admission.code, message: admission.message } });
        reply.header('access-control-allow-origin', origin);
      }
      return reply
        .header('access-control-allow-methods', 'POST, OPTIONS')
        .header('access-control-allow-headers', 'content-type')
        .header('access-control-max-age', '600')
        .code(204)
        .send();
    });

    scope.post('/v1/collect', { bodyLimit: config.ingest.maxBodyBytes }, async (req, reply) => {
      const origin = req.headers.origin;
      reply.header('vary', 'Origin');
      if (!gateway.accepting) return retry(reply, 'shutting_down', null, config.ingest.retryAfterSeconds * 1000);
      const q = req.query as CollectQuery;
      const admission = gateway.admit(q.site, 'http', { origin, authorization: req.headers.authorization, key: q.key });
      if (admission.kind === 'refused') {
        return reply.code(admission.code === 'unknown_site' ? 404 : 403).send({ error: { code: admission.code, message: admission.message } });
      }
      // Admitted: the origin (if any) is one the site allows.
      if (origin !== undefined) reply.header('access-control-allow-origin', origin);
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const trusted = admission.trusted;
      const client = trusted ? undefined : `ip:${req.ip}`;
      const outcome = await gateway.collect(admission.site, { transport: 'http', raw: body, limit, client, ip: trusted ? undefined : req.ip, userAgent: req.headers['user-agent'] });
      switch (outcome.kind) {
        case 'ack': {
          if (outcome.frameRejected === undefined) return reply.code(200).send(outcome.ack);
          return frameError(reply, outcome.frameRejected, outcome.ack);
        }
        case 'retry':
          return retry(reply, outcome.reason, outcome.seq, outcome.retryAfterMs);
        default: {
          const _: never = outcome;
          return _;
        }
      }
    });
  });
}

function frameError(reply: FastifyReply, code: RejectReason, ack: Ack): FastifyReply {
  const message = ack.rejected[0]?.message ?? code;
  return reply.code(FRAME_STATUS[code] ?? 400).send({ error: { code, message }, ack });
}

/** What a retry says, per reason (the body's error message). */
export const RETRY_MESSAGES: Record<RetryReason, string> = {
  rate_limited: 'rate limit exceeded',
  overloaded: 'the pipeline is full',
  shutting_down: 'the server is shutting down',
  log_unavailable: 'the event log (JetStream) did not store the batch in time; nothing of it was counted twice',
  log_full: 'the event log (JetStream) is at its limits (stream size or disk)',
  starting: 'the server is still reading back its event log',
};

function retry(reply: FastifyReply, reason: RetryReason, seq: number | null, retryAfterMs: number): FastifyReply {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  const message = RETRY_MESSAGES[reason];
  return reply
    .code(reason === 'rate_limited' ? 429 : 503)
    .header('retry-after', String(seconds))
    .send({ error: { code: reason, message }, type: 'retry', seq, retryAfterMs });
}
