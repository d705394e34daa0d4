/**
 * Every error a server answers is JSON `{error:{code,message}}`: client errors keep fastify's code
 * (e.g. FST_ERR_VALIDATION) and message; server errors are logged and answered without internals.
 */
import type { FastifyError, FastifyInstance } from 'fastify';

export function installJsonErrors(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    return reply.code(status).send({
      error: { code: err.code ?? (status >= 500 ? 'internal_error' : 'bad_request'), message: status >= 500 ? 'internal error' : err.message },
    });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url.split('?', 1)[0] ?? ''}` } }),
  );
}
