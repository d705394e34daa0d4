import { createHash } from 'node:crypto';
import { DEMO_CATEGORIES, DEMO_PRODUCTS, demoCategory, demoProduct, type DemoProduct } from './demo-catalog';

/** The pages of the demo storefront. */
export type DemoPage =
  | { readonly kind: 'home' }
  | { readonly kind: 'category'; readonly id: string }
  | { readonly kind: 'product'; readonly id: string }
  | { readonly kind: 'search'; readonly query: string }
  | { readonly kind: 'cart' }
  | { readonly kind: 'checkout' }
  | { readonly kind: 'thanks' };

export interface RenderedPage {
  readonly status: number;
  readonly html: string;
}

/** The ad shown on the home and category pages (`data-cm-ad`: its impressions and clicks are tracked). */
export const DEMO_AD_ID = 'nova-launch-banner';

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
const euro = (n: number): string => '€' + n.toFixed(2);

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,sans-serif;color:#1d2330;background:#f5f6fa}
header{display:flex;gap:1rem;align-items:center;flex-wrap:wrap;padding:.8rem 1.5rem;background:#1d2330;color:#fff}
header a{color:#fff;text-decoration:none}header .logo{font-weight:700;font-size:1.2rem}
nav{display:flex;gap:.8rem}form.search{margin-left:auto;display:flex;gap:.3rem}
main{max-width:980px;margin:1.5rem auto;padding:0 1rem}
.ad{display:block;padding:1.2rem;border-radius:8px;background:linear-gradient(90deg,#6b3fd4,#d43f8d);color:#fff;text-decoration:none;margin-bottom:1.2rem}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:1rem}
.card{background:#fff;border-radius:8px;padding:1rem;box-shadow:0 1px 3px #0002}.card a{color:inherit}
button{cursor:pointer;border:0;border-radius:6px;padding:.45rem .8rem;background:#2f6fed;color:#fff}
label{display:block;margin:.6rem 0 .2rem}input{width:100%;max-width:360px;padding:.4rem}
#offers{position:fixed;right:1rem;bottom:1rem;width:300px;max-height:60vh;overflow:auto}
.offer{background:#fffbe6;border:1px solid #e8c400;border-radius:8px;padding:.8rem;margin-top:.5rem;box-shadow:0 2px 8px #0003}
.offer small{display:block;color:#666;margin-top:.3rem}
.offer .dismiss{float:right;background:none;color:#666;font-size:1.1rem;padding:0 .3rem}
.offer-product{margin:.3rem 0}.offer-product s{color:#999}.offer-product .discounted{color:#c0392b}`;

/** The loader tag a shop pastes: calls made before /snippet.js arrives are queued and replayed. */
const LOADER = "window.cm=window.cm||function(){(cm.q=cm.q||[]).push(arguments)};cm('init',{site:'demo',searchParam:'q'});";
const sha256 = (s: string): string => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;

/**
 * The demo pages' Content-Security-Policy: scripts from this origin plus the one inline loader (by
 * hash), the one inline style block (by hash), connections to this origin only (the snippet's
 * WebSocket and beacon), no framing, no plugins, no foreign form targets.
 */
export const DEMO_CSP = [
  "default-src 'self'",
  `script-src 'self' ${sha256(LOADER)}`,
  `style-src 'self' ${sha256(STYLE)}`,
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function layout(title: string, main: string): string {
  const nav = DEMO_CATEGORIES.map((c) => `<a href="/demo/category/${c.id}" data-spa>${esc(c.name)}</a>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)} · Nebula Games &amp; Books</title><style>${STYLE}</style>
<script>${LOADER}</script>
<script async src="/snippet.js"></script><script defer src="/demo/storefront.js"></script></head><body>
<header><a class="logo" href="/demo">Nebula Games &amp; Books</a><nav>${nav}</nav>
<form class="search" action="/demo/search" data-cm-ignore><input name="q" placeholder="Search" aria-label="Search"><button>Search</button></form>
<a href="/demo/cart" id="cart-link">Cart (<span id="cart-count">0</span>)</a></header>
<main id="main">${main}</main>
<aside id="offers" aria-live="polite"></aside>
<script type="application/json" id="demo-catalog">${JSON.stringify(DEMO_PRODUCTS).replace(/</g, '\\u003c')}</script>
</body></html>`;
}

function card(p: DemoProduct): string {
  return `<div class="card"><a href="/demo/product/${p.id}" data-cm-product="${p.id}"><h3>${esc(p.name)}</h3></a>
<p>${esc(p.blurb)}</p><p><b>${euro(p.price)}</b></p><button type="button" data-cm-cart="${p.id}">Add to cart</button></div>`;
}

const ad = `<a class="ad" href="/demo/category/consoles" data-cm-ad="${DEMO_AD_ID}"><b>New: the Nova Console</b> — 4K, 2 TB, out now. Shop consoles →</a>`;

/** The HTML of one demo page (404 for an unknown product or category). */
export function renderDemoPage(page: DemoPage): RenderedPage {
  switch (page.kind) {
    case 'home':
      return {
        status: 200,
        html: layout('Home', `${ad}<h1>Games, consoles and the books that inspired them</h1><div class="grid">${DEMO_PRODUCTS.filter((_, i) => i % 3 === 0).map(card).join('')}</div>`),
      };
    case 'category': {
      const c = demoCategory(page.id);
      if (c === undefined) return { status: 404, html: layout('Not found', '<h1>No such category</h1>') };
      const items = DEMO_PRODUCTS.filter((p) => p.category === c.id);
      return { status: 200, html: layout(c.name, `${ad}<h1>${esc(c.name)}</h1><div class="grid">${items.map(card).join('')}</div>`) };
    }
    case 'product': {
      const p = demoProduct(page.id);
      if (p === undefined) return { status: 404, html: layout('Not found', '<h1>No such product</h1>') };
      const c = demoCategory(p.category);
      return {
        status: 200,
        html: layout(
          p.name,
          `<section data-cm-page-product="${p.id}" data-cm-category="${p.category}" data-cm-price="${p.price}" data-cm-name="${esc(p.name)}">
<p><a href="/demo/category/${p.category}" data-spa>${esc(c?.name ?? p.category)}</a></p><h1>${esc(p.name)}</h1><p>${esc(p.blurb)}</p>
<p><b>${euro(p.price)}</b></p><button type="button" data-cm-cart="${p.id}">Add to cart</button> <a href="/demo/checkout">Checkout</a></section>`,
        ),
      };
    }
    case 'search': {
      const q = page.query.trim().toLowerCase();
      const hits = q === '' ? [] : DEMO_PRODUCTS.filter((p) => `${p.name} ${p.category} ${p.blurb}`.toLowerCase().includes(q));
      return {
        status: 200,
        html: layout(
          `Search: ${page.query}`,
          `<h1>Search</h1><p data-cm-search-results="${hits.length}">${hits.length} result(s) for “${esc(page.query)}”</p><div class="grid">${hits.map(card).join('')}</div>`,
        ),
      };
    }
    case 'cart':
      return { status: 200, html: layout('Cart', `<h1>Your cart</h1><div id="cart"></div><p><a href="/demo/checkout" id="to-checkout">Proceed to checkout</a></p>`) };
    case 'checkout':
      // The card field is marked data-cm-sensitive, the password is a password: the snippet never
      // touches either. The form does not post anywhere: a demo takes no payments.
      return {
        status: 200,
        html: layout(
          'Checkout',
          `<h1>Checkout</h1><form id="checkout" data-cm-form="checkout"><ul id="checkout-items"></ul>
<label for="f-name">Name</label><input id="f-name" name="name" required autocomplete="name">
<label for="f-email">Email</label><input id="f-email" name="email" type="email" required autocomplete="email">
<label for="f-address">Address</label><input id="f-address" name="address" required>
<label for="f-password">Create a password (optional)</label><input id="f-password" name="password" type="password" autocomplete="new-password">
<label for="f-card">Card number</label><input id="f-card" name="card" data-cm-sensitive inputmode="numeric" autocomplete="off" required>
<p><button id="place-order">Place order</button></p></form>`,
        ),
      };
    case 'thanks':
      return { status: 200, html: layout('Thank you', `<h1>Thank you for your order!</h1><p><a href="/demo">Back to the shop</a></p>`) };
    default: {
      const _: never = page;
      return _;
    }
  }
}
