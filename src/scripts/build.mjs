// Bundles the server (src/cli.ts → dist/cli.js: Node 20, ESM, npm packages left external) and, when
// the tracking snippet exists, the browser snippet (src/snippet/index.ts → dist/snippet.js: minified IIFE).
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

const snippet = join(root, 'src', 'snippet', 'index.ts');
if (existsSync(snippet)) {
  await build({
    entryPoints: [snippet],
    outfile: join(root, 'dist', 'snippet.js'),
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2018',
    platform: 'browser',
    legalComments: 'none',
    logLevel: 'warning',
  });
}
