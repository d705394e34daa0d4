import type { FastifyInstance } from 'fastify';
import { loadBrowserAssets, sendScript, type BrowserAssets } from './browser-assets';
import { registerDemoRoutes } from './demo/demo-routes';
import type { PublicRoute } from './public-routes';

/** Browsers revalidate the snippet after this long (seconds): short, so a new version spreads fast. */
const SNIPPET_MAX_AGE_S = 300;

/** `GET /snippet.js`: the tracking snippet shops load with their loader tag. */
export function registerSnippetRoute(app: FastifyInstance, assets: BrowserAssets): void {
  app.get('/snippet.js', (req, reply) => sendScript(req, reply, assets.snippet, SNIPPET_MAX_AGE_S));
}

/**
 * The public port's browser-facing routes: `GET /snippet.js` and the demo storefront (`GET /demo…`),
 * whose client script comes out of the same esbuild pass at boot.
 */
export const registerSnippetRoutes: PublicRoute = async (app) => {
  const assets = await loadBrowserAssets();
  registerSnippetRoute(app, assets);
  registerDemoRoutes(app, assets);
};
