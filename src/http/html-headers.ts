import type { FastifyReply } from 'fastify';

/**
 * Sends an HTML page with the headers every page of this server carries: its own Content-Security-
 * Policy (no inline script), no framing (clickjacking), no MIME sniffing, no caching, and a referrer
 * that never carries a path or query to another origin.
 */
export function sendHtml(reply: FastifyReply, status: number, csp: string, html: string): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', csp)
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'strict-origin-when-cross-origin')
    .send(html);
}
