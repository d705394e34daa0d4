/**
 * Bundles the browser code (the tracking snippet and the demo storefront's client script) with esbuild:
 * one minified IIFE each, no source maps, ES2018 so every evergreen browser runs it. Used by the public
 * server at boot (src/http/snippet-routes.ts) and by src/scripts/build.mjs (dist/snippet.js).
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const SNIPPET_ENTRY = fileURLToPath(new URL('./index.ts', import.meta.url));
const DEMO_CLIENT_ENTRY = fileURLToPath(new URL('../http/demo/client/storefront.ts', import.meta.url));

async function bundle(entry: string): Promise<string> {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2018',
    platform: 'browser',
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const file = out.outputFiles[0];
  if (file === undefined) throw new Error(`esbuild produced no output for ${entry}`);
  return file.text;
}

/** The minified tracking snippet served as GET /snippet.js. */
export function buildSnippet(): Promise<string> {
  return bundle(SNIPPET_ENTRY);
}

/** The minified client script of the demo storefront (GET /demo/storefront.js). */
export function buildDemoClient(): Promise<string> {
  return bundle(DEMO_CLIENT_ENTRY);
}
