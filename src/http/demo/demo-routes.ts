import { sendHtml } from '../html-headers';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { sendScript, type BrowserAssets } from '../browser-assets';
import { DEMO_CSP, renderDemoPage, type DemoPage } from './demo-pages';

/** Maps a path under /demo to its page, or undefined (404). */
export function demoPageFor(path: string, query: Record<string, unknown>): DemoPage | undefined {
  const [a = '', b, ...rest] = path.split('/').filter((s) => s !== '');
  if (rest.length > 0) return undefined;
  if (a === '' && b === undefined) return { kind: 'home' };
  if (a === 'category' && b !== undefined) return { kind: 'category', id: b };
  if (a === 'product' && b !== undefined) return { kind: 'product', id: b };
  if (b !== undefined) return undefined;
  switch (a) {
    case 'search':
      return { kind: 'search', query: typeof query['q'] === 'string' ? query['q'].slice(0, 256) : '' };
    case 'cart':
      return { kind: 'cart' };
    case 'checkout':
      return { kind: 'checkout' };
    case 'thanks':
      return { kind: 'thanks' };
    default:
      return undefined;
  }
}

/**
 * `GET /demo…` on the public port: the demo storefront on the built-in `demo` site, the first thing a
 * new user opens. Wiring: `registerDemoRoutes(app, assets)` with the same assets as the snippet.
 */
export function registerDemoRoutes(app: FastifyInstance, assets: BrowserAssets): void {
  app.get('/demo/storefront.js', (req, reply) => sendScript(req, reply, assets.demoClient, 60));
  // A newcomer opening the public port lands on the demo storefront, not a JSON 404.
  app.get('/', (_req, reply) => reply.redirect('/demo', 302));
  const page = (path: string, query: Record<string, unknown>): { status: number; html: string } => {
    const p = demoPageFor(path, query);
    return p === undefined ? { status: 404, html: 'Not found' } : renderDemoPage(p);
  };
  const html = (reply: FastifyReply, r: { status: number; html: string }) => sendHtml(reply, r.status, DEMO_CSP, r.html);
  app.get('/demo', (req, reply) => html(reply, page('', req.query as Record<string, unknown>)));
  app.get('/demo/*', (req, reply) => html(reply, page((req.params as { '*': string })['*'], req.query as Record<string, unknown>)));
}
