/**
 * The demo storefront's own script (not part of the tracking snippet): a localStorage cart, the
 * checkout, category browsing as a single-page app (History API, so the snippet's route tracking is
 * exercised), and the offers panel fed by `cm('onOffer', …)`.
 */
interface Product {
  id: string;
  name: string;
  category: string;
  price: number;
}
interface OfferProduct {
  id: string;
  name?: string;
  price?: number;
  discountedPrice?: number;
}
interface Offer {
  triggerId?: string;
  offerId?: string;
  text?: string;
  discount?: number;
  products?: OfferProduct[];
  coupon?: { code: string; percent: number };
  because?: { rule?: { antecedent?: string[]; consequent?: string[]; lift?: number; confidence?: number } };
}
/** A coupon taken from an offer: its discount applies to the offered products in the cart. */
interface Coupon {
  code: string;
  percent: number;
  products: string[];
  triggerId: string;
  offerId: string;
}
type Cm = (...args: unknown[]) => void;

const CART_KEY = 'demo_cart';
const COUPON_KEY = 'demo_coupon';
/** Offers received and not yet taken, by coupon code (so the link can hand its coupon over). */
const OFFERS_KEY = 'demo_offers';
const w = window as unknown as { cm: Cm };
const catalog = JSON.parse(document.getElementById('demo-catalog')?.textContent ?? '[]') as Product[];
const byId = new Map(catalog.map((p) => [p.id, p]));

function cart(): Record<string, number> {
  try {
    return JSON.parse(localStorage.getItem(CART_KEY) ?? '{}') as Record<string, number>;
  } catch {
    return {};
  }
}

function saveCart(c: Record<string, number>): void {
  localStorage.setItem(CART_KEY, JSON.stringify(c));
  const n = Object.values(c).reduce((a, b) => a + b, 0);
  const badge = document.getElementById('cart-count');
  if (badge) badge.textContent = String(n);
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, attrs: Record<string, string> = {}): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function coupon(): Coupon | undefined {
  try {
    const c = JSON.parse(localStorage.getItem(COUPON_KEY) ?? 'null') as Coupon | null;
    return c !== null && typeof c.code === 'string' ? c : undefined;
  } catch {
    return undefined;
  }
}

const euro = (n: number): string => `€${n.toFixed(2)}`;

/** The unit price in the cart: discounted when the coupon covers the product. */
function unitPrice(p: Product, c: Coupon | undefined): number {
  return c !== undefined && c.products.includes(p.id) ? Math.round(p.price * (100 - c.percent)) / 100 : p.price;
}

/** A `?coupon=` in the address (the offer's link) becomes the cart's coupon when it is one we were offered. */
function takeCoupon(): void {
  const code = new URLSearchParams(location.search).get('coupon');
  if (!code) return;
  try {
    const offered = JSON.parse(localStorage.getItem(OFFERS_KEY) ?? '{}') as Record<string, Coupon>;
    const c = offered[code];
    if (c !== undefined) localStorage.setItem(COUPON_KEY, JSON.stringify(c));
  } catch {
    // A broken store: no coupon.
  }
}

/** Cart and checkout lines; on the checkout they carry the `data-cm-item…` attributes the snippet reads on submit. */
function renderLines(): void {
  const c = cart();
  const cp = coupon();
  for (const id of ['cart', 'checkout-items']) {
    const box = document.getElementById(id);
    if (!box) continue;
    box.textContent = '';
    const lines = Object.entries(c).filter(([pid]) => byId.has(pid));
    if (lines.length === 0) box.append(el('p', 'Your cart is empty.'));
    for (const [pid, qty] of lines) {
      const p = byId.get(pid);
      if (!p) continue;
      const unit = unitPrice(p, cp);
      const li = el(id === 'cart' ? 'p' : 'li', `${qty} × ${p.name} — ${euro(qty * unit)}`, {
        'data-cm-item': p.id,
        'data-cm-item-quantity': String(qty),
        'data-cm-item-price': String(unit),
        'data-cm-item-category': p.category,
      });
      if (unit !== p.price) {
        li.dataset['coupon'] = cp?.code ?? '';
        li.append(' ', el('s', euro(qty * p.price)), ' ', el('small', `coupon ${cp?.code ?? ''}: −${cp?.percent ?? 0}%`));
      }
      box.append(li);
    }
  }
}

function showOffer(o: Offer): void {
  const box = document.getElementById('offers');
  if (!box) return;
  const triggerId = o.triggerId ?? '';
  const offerId = o.offerId ?? 'offer';
  const card = el('div', undefined, { class: 'offer', 'data-trigger-id': triggerId });
  const close = el('button', '×', { type: 'button', class: 'dismiss', 'aria-label': 'Dismiss this offer', 'data-cm-offer-dismiss': offerId, 'data-cm-trigger': triggerId });
  close.addEventListener('click', () => card.remove());
  card.append(close, el('b', 'Offer for you'), el('p', o.text ?? 'A special offer'));
  // The offered products with what the shop's pages told the server: name, price, the price with the discount.
  const first = (o.products ?? []).find((p) => byId.has(p.id));
  for (const p of o.products ?? []) {
    const line = el('p', undefined, { class: 'offer-product', 'data-product': p.id });
    line.append(el('span', p.name ?? byId.get(p.id)?.name ?? p.id, { class: 'name' }));
    if (p.price !== undefined) {
      line.append(' ');
      if (p.discountedPrice !== undefined && p.discountedPrice !== p.price) line.append(el('s', euro(p.price), { class: 'price' }), ' ', el('b', euro(p.discountedPrice), { class: 'discounted' }));
      else line.append(el('b', euro(p.price), { class: 'price' }));
    }
    card.append(line);
  }
  const rule = o.because?.rule;
  if (rule) {
    const lift = typeof rule.lift === 'number' ? ` · lift ${rule.lift.toFixed(1)}` : '';
    card.append(el('small', `because ${(rule.antecedent ?? []).join(', ')} ⇒ ${(rule.consequent ?? []).join(', ')}${lift}`));
  }
  const consequent = first?.id ?? rule?.consequent?.[0];
  let target = consequent !== undefined && byId.has(consequent) ? `/demo/product/${consequent}` : '/demo/cart';
  if (o.coupon !== undefined) {
    // Remember the coupon this offer carries, so its link can hand it to the cart.
    try {
      const offered = JSON.parse(localStorage.getItem(OFFERS_KEY) ?? '{}') as Record<string, Coupon>;
      offered[o.coupon.code] = { code: o.coupon.code, percent: o.coupon.percent, products: (o.products ?? []).map((p) => p.id), triggerId, offerId };
      const codes = Object.keys(offered);
      for (const old of codes.slice(0, Math.max(0, codes.length - 20))) delete offered[old];
      localStorage.setItem(OFFERS_KEY, JSON.stringify(offered));
    } catch {
      // A full or broken store: the offer still shows, without a coupon to take.
    }
    target += `?coupon=${encodeURIComponent(o.coupon.code)}`;
    card.append(el('small', ` coupon ${o.coupon.code}`, { class: 'coupon' }));
  }
  card.append(el('a', 'Take the offer', { href: target, 'data-cm-offer': offerId, 'data-cm-trigger': triggerId }));
  box.prepend(card);
  // It is on screen now: the honest "shown" of the offer funnel.
  w.cm('offerShown', o);
}

/** Single-page-app navigation between categories and products: swap <main>, then pushState. */
async function go(href: string, push: boolean): Promise<void> {
  const res = await fetch(href);
  const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
  const main = document.getElementById('main');
  const next = doc.getElementById('main');
  if (!main || !next) {
    location.href = href;
    return;
  }
  main.innerHTML = next.innerHTML;
  document.title = doc.title;
  // The DOM is swapped first, so the snippet's page view (after pushState) sees the new page's data attributes.
  if (push) history.pushState({ spa: true }, '', href);
}

document.addEventListener('click', (e) => {
  const t = e.target instanceof Element ? e.target : null;
  const add = t?.closest('[data-cm-cart]');
  if (add) {
    const id = add.getAttribute('data-cm-cart') ?? '';
    const c = cart();
    c[id] = (c[id] ?? 0) + 1;
    saveCart(c);
    add.textContent = 'Added ✓';
    return;
  }
  const spa = t?.closest('a[data-spa]');
  if (spa instanceof HTMLAnchorElement && !(e as MouseEvent).ctrlKey && !(e as MouseEvent).metaKey) {
    e.preventDefault();
    void go(spa.href, true);
  }
});

addEventListener('popstate', () => void go(location.href, false));

document.getElementById('checkout')?.addEventListener('submit', (e) => {
  e.preventDefault();
  // A demo takes no payment and posts nothing: the order is "placed" by emptying the cart.
  saveCart({});
  localStorage.removeItem(COUPON_KEY);
  location.href = '/demo/thanks';
});

takeCoupon();
w.cm('onOffer', showOffer);
saveCart(cart());
renderLines();
