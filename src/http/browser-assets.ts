import type { FastifyReply, FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ClickstreamError } from '../errors';
import { buildDemoClient, buildSnippet, projectRoot } from '../snippet/build-snippet';

/** A script served to browsers, precompressed once at boot. */
export interface BrowserScript {
  readonly text: string;
  readonly gzip: Buffer;
  /** Strong validator for conditional requests. */
  readonly etag: string;
}

export interface BrowserAssets {
  /** GET /snippet.js */
  readonly snippet: BrowserScript;
  /** GET /demo/storefront.js */
  readonly demoClient: BrowserScript;
}

/** File names under dist/ for an install without esbuild (see `writeBrowserAssets`). */
const DIST_FILES = { snippet: 'snippet.js', demoClient: 'demo-storefront.js' } as const;

/** A script ready to serve: gzipped once, with its ETag. */
export function browserScript(text: string): BrowserScript {
  return { text, gzip: gzipSync(text, { level: 9 }), etag: `"${createHash('sha256').update(text).digest('base64url').slice(0, 22)}"` };
}

/**
 * Bundles the snippet and the demo client from source (esbuild, ~50 ms), or — when esbuild or the
 * sources are not installed — reads the copies `npm run build` left in dist/.
 */
export async function loadBrowserAssets(): Promise<BrowserAssets> {
  let built: [string, string];
  try {
    built = await Promise.all([buildSnippet(), buildDemoClient()]);
  } catch (err) {
    try {
      const dist = join(projectRoot(), 'dist');
      built = [readFileSync(join(dist, DIST_FILES.snippet), 'utf8'), readFileSync(join(dist, DIST_FILES.demoClient), 'utf8')];
    } catch {
      throw new ClickstreamError('CM_ERR_BROWSER_ASSETS', 'cannot bundle /snippet.js with esbuild nor read it from dist/', { cause: err });
    }
  }
  return { snippet: browserScript(built[0]), demoClient: browserScript(built[1]) };
}

/** Sends a script with its ETag (304 when unchanged) and gzipped when the client accepts it. */
export function sendScript(req: FastifyRequest, reply: FastifyReply, s: BrowserScript, maxAgeSeconds: number): FastifyReply {
  reply
    .header('content-type', 'application/javascript; charset=utf-8')
    .header('cache-control', `public, max-age=${maxAgeSeconds}`)
    .header('etag', s.etag)
    .header('vary', 'accept-encoding')
    // Shops that isolate themselves (Cross-Origin-Embedder-Policy) may still load the snippet from here.
    .header('cross-origin-resource-policy', 'cross-origin');
  if (req.headers['if-none-match'] === s.etag) return reply.code(304).send();
  if (/\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) return reply.header('content-encoding', 'gzip').send(s.gzip);
  return reply.send(s.text);
}
