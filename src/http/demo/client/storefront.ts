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
interface Offer {
  triggerId?: string;
  offerId?: string;
  text?: string;
  because?: { rule?: { antecedent?: string[]; consequent?: string[]; lift?: number; confidence?: number } };
}
type Cm = (...args: unknown[]) => void;

const CART_KEY = 'demo_cart';
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

/** Cart and checkout lines; on the checkout they carry the `data-cm-item…` attributes the snippet reads on submit. */
function renderLines(): void {
  const c = cart();
  for (const id of ['cart', 'checkout-items']) {
    const box = document.getElementById(id);
    if (!box) continue;
    box.textContent = '';
    const lines = Object.entries(c).filter(([pid]) => byId.has(pid));
    if (lines.length === 0) box.append(el('p', 'Your cart is empty.'));
    for (const [pid, qty] of lines) {
      const p = byId.get(pid);
      if (!p) continue;
      const li = el(id === 'cart' ? 'p' : 'li', `${qty} × ${p.name} — €${(qty * p.price).toFixed(2)}`, {
        'data-cm-item': p.id,
        'data-cm-item-quantity': String(qty),
        'data-cm-item-price': String(p.price),
        'data-cm-item-category': p.category,
      });
      box.append(li);
    }
  }
}

function showOffer(o: Offer): void {
  const box = document.getElementById('offers');
  if (!box) return;
  const card = el('div', undefined, { class: 'offer', 'data-trigger-id': o.triggerId ?? '' });
  card.append(el('b', 'Offer for you'), el('p', o.text ?? 'A special offer'));
  const rule = o.because?.rule;
  if (rule) {
    const lift = typeof rule.lift === 'number' ? ` · lift ${rule.lift.toFixed(1)}` : '';
    card.append(el('small', `because ${(rule.antecedent ?? []).join(', ')} ⇒ ${(rule.consequent ?? []).join(', ')}${lift}`));
  }
  const consequent = rule?.consequent?.[0];
  const target = consequent !== undefined && byId.has(consequent) ? `/demo/product/${consequent}` : '/demo/cart';
  card.append(el('a', 'Take the offer', { href: target, 'data-cm-offer': o.offerId ?? 'offer', 'data-cm-trigger': o.triggerId ?? '' }));
  box.prepend(card);
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
  location.href = '/demo/thanks';
});

w.cm('onOffer', showOffer);
saveCart(cart());
renderLines();
