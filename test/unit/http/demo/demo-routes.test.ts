import Fastify, { type FastifyInstance } from 'fastify';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSnippetRoutes } from '../../../../src/http/snippet-routes';
import type { PublicRouteDeps } from '../../../../src/http/public-routes';

describe('demo storefront and snippet routes', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = Fastify();
    // The registrar uses no deps: it only serves static pages and scripts.
    await registerSnippetRoutes(app, {} as PublicRouteDeps);
    await app.ready();
  });
  afterAll(() => app.close());

  it('demo - the home page carries the loader tag, the snippet, an ad and the offers panel', async () => {
    const r = await app.inject({ url: '/demo' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toContain('text/html');
    expect(r.body).toContain("window.cm=window.cm||function(){(cm.q=cm.q||[]).push(arguments)}");
    expect(r.body).toContain("cm('init',{site:'demo'");
    expect(r.body).toContain('<script async src="/snippet.js">');
    expect(r.body).toMatch(/data-cm-ad="[^"]+"/);
    expect(r.body).toContain('id="offers"');
  });

  it('demo - a product page names its product, category and price for the snippet', async () => {
    const r = await app.inject({ url: '/demo/product/dune' });
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain('data-cm-page-product="dune" data-cm-category="sci-fi-books" data-cm-price="14.99"');
    expect(r.body).toContain('data-cm-cart="dune"');
  });

  it('demo - unknown products, categories and paths answer 404', async () => {
    for (const url of ['/demo/product/nope', '/demo/category/nope', '/demo/nope', '/demo/product/dune/extra']) {
      expect((await app.inject({ url })).statusCode, url).toBe(404);
    }
  });

  it('demo - search reports its result count and escapes the query', async () => {
    // Only "Dune" has "dune" in its name, category or blurb (Dungeon Forge does not: "dung").
    const r = await app.inject({ url: '/demo/search?q=dune' });
    expect(r.body).toContain('data-cm-search-results="1"');
    const x = await app.inject({ url: '/demo/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E' });
    expect(x.body).toContain('data-cm-search-results="0"');
    expect(x.body).not.toContain('<script>alert(1)</script>');
    expect(x.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('demo - the checkout marks the card field sensitive and has a password field', async () => {
    const r = await app.inject({ url: '/demo/checkout' });
    expect(r.body).toMatch(/<input[^>]*name="card"[^>]*data-cm-sensitive/);
    expect(r.body).toMatch(/<input[^>]*name="password"[^>]*type="password"/);
  });

  it('snippet - /snippet.js is served gzipped with an ETag, and 304 when unchanged', async () => {
    const plain = await app.inject({ url: '/snippet.js' });
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['content-type']).toContain('javascript');
    const gz = await app.inject({ url: '/snippet.js', headers: { 'accept-encoding': 'gzip, deflate' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).toString('utf8')).toBe(plain.body);
    const etag = String(plain.headers['etag']);
    const again = await app.inject({ url: '/snippet.js', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect((await app.inject({ url: '/demo/storefront.js' })).statusCode).toBe(200);
  });
});
