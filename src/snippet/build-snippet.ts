/**
 * Bundles the browser code (the tracking snippet and the demo storefront's client script) with esbuild:
 * one minified IIFE each, no source maps, ES2020 (every evergreen browser since 2020). Used by the public
 * server at boot (src/http/browser-assets.ts).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project root: the nearest folder with a package.json above this module.
 * TRICKY: this module also runs bundled into dist/cli.js, so paths relative to import.meta.url differ
 * between source and bundle; the root does not.
 */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('clickstream-miner: cannot find the project root (package.json) above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

async function bundle(entry: string): Promise<string> {
  // Loaded on demand: esbuild is a build-time dependency; without it the server reads dist/ instead.
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [join(projectRoot(), entry)],
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2020',
    platform: 'browser',
    legalComments: 'none',
    // The dashboard bundles uPlot's stylesheet as text (it goes into a <style>).
    loader: { '.css': 'text' },
    write: false,
    logLevel: 'silent',
  });
  const file = out.outputFiles[0];
  if (file === undefined) throw new Error(`esbuild produced no output for ${entry}`);
  return file.text;
}

/** The minified tracking snippet served as GET /snippet.js. */
export function buildSnippet(): Promise<string> {
  return bundle('src/snippet/index.ts');
}

/** The minified client script of the demo storefront (GET /demo/storefront.js). */
export function buildDemoClient(): Promise<string> {
  return bundle('src/http/demo/client/storefront.ts');
}

/** The minified script of the admin dashboard (GET /dashboard.js on the admin port). */
export function buildDashboardClient(): Promise<string> {
  return bundle('src/http/dashboard/client/dashboard.ts');
}
