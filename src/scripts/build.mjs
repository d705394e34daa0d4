// Bundles the server (src/cli.ts → dist/cli.js: Node 20, ESM, npm packages left external) and, when
// the tracking snippet exists, the browser scripts (dist/snippet.js, dist/demo-storefront.js, dist/dashboard.js: minified IIFEs).
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

await build({
  entryPoints: [join(root, 'src', 'cli.ts')],
  outfile: join(root, 'dist', 'cli.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});

// The browser scripts: the server bundles them again at boot (src/http/browser-assets.ts) and reads
// these copies only when esbuild is not installed; same options as src/snippet/build-snippet.ts.
const browserScripts = [
  [join(root, 'src', 'snippet', 'index.ts'), 'snippet.js'],
  [join(root, 'src', 'http', 'demo', 'client', 'storefront.ts'), 'demo-storefront.js'],
  [join(root, 'src', 'http', 'dashboard', 'client', 'dashboard.ts'), 'dashboard.js'],
];
for (const [entry, out] of browserScripts) {
  if (!existsSync(entry)) continue;
  await build({
    entryPoints: [entry],
    outfile: join(root, 'dist', out),
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2020',
    platform: 'browser',
    legalComments: 'none',
    // The dashboard bundles uPlot's stylesheet as text (it goes into a <style>).
    loader: { '.css': 'text' },
    logLevel: 'warning',
  });
}
