import type { FastifySchema } from 'fastify';

/**
 * A fastify route schema with an OpenAPI `summary` (fastify's type has no such key; the admin
 * server's /openapi.json reads it). Use it for every admin route: `{ schema: routeSchema('…', { querystring }) }`.
 */
export function routeSchema(summary: string, schema: FastifySchema = {}): FastifySchema {
  return { ...schema, summary } as FastifySchema;
}
