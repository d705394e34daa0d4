import { createHmac } from 'node:crypto';
import { BoundedLru } from '../bounded-lru';
import type { OfferTrigger } from '../../processors/next-best-offer/offer-trigger';
import { requireBound } from '../errors';
import type { EnrichedEvent } from '../events/enriched-event';

/** What the shop has told us about a product, from its page views (name, price, category). */
export interface CatalogProduct {
  readonly id: string;
  readonly name: string | undefined;
  readonly price: number | undefined;
  readonly category: string | undefined;
}

/** An offered product as the storefront shows it: name, price and the price after the offer's discount. */
export interface ShoppableProduct extends CatalogProduct {
  /** price × (1 − discount / 100), rounded to cents; undefined without a price. */
  readonly discountedPrice: number | undefined;
}

/**
 * A trigger as channels receive it: the decision, plus what makes it shoppable — the offered products
 * with names and prices (when the shop's pages gave them) and a coupon code for the discount.
 */
export interface ShoppableOffer extends OfferTrigger {
  /** The offered products (product-level offers), each with what the catalog knows of it. */
  readonly products: readonly ShoppableProduct[];
  /**
   * The coupon that carries the discount to the cart: `code` is HMAC-SHA256(site secret, triggerId),
   * so the shop's backend can check it with the same secret; no coupon without a discount.
   */
  readonly coupon: { readonly code: string; readonly percent: number } | undefined;
}

export interface ProductCatalogOptions {
  /** Products kept per site (LRU), count. */
  readonly maxProducts: number;
  readonly onEvict: (structure: string, n: number) => void;
}

/**
 * The products of each site as its pages describe them (page_view.product: id, name, category, price),
 * for display in offers. It is a display lookup, not state: triggers and statistics never read it, so
 * they stay a function of the event log; only what channels are sent is joined with it. Bounded per
 * site (LRU, evictions counted); the newest page view of a product wins, fields it omits are kept.
 */
export class ProductCatalog {
  readonly #o: ProductCatalogOptions;
  readonly #sites = new Map<string, BoundedLru<string, CatalogProduct>>();

  constructor(opts: ProductCatalogOptions) {
    requireBound('ProductCatalog maxProducts', opts.maxProducts);
    this.#o = opts;
  }

  #site(site: string): BoundedLru<string, CatalogProduct> {
    let c = this.#sites.get(site);
    if (c === undefined) {
      c = new BoundedLru<string, CatalogProduct>({
        max: this.#o.maxProducts,
        dispose: (_v, _k, reason) => {
          if (reason === 'evict') this.#o.onEvict('product_catalog', 1);
        },
      });
      this.#sites.set(site, c);
    }
    return c;
  }

  /** Learns from an event: a page view of a product (bots' views teach nothing). */
  observe(e: EnrichedEvent): void {
    const ev = e.event;
    if (ev.type !== 'page_view' || ev.product === undefined || e.bot) return;
    const p = ev.product;
    const c = this.#site(e.site);
    const known = c.get(p.id);
    const next: CatalogProduct = { id: p.id, name: p.name ?? known?.name, price: p.price ?? known?.price, category: p.category ?? known?.category };
    if (known === undefined || known.name !== next.name || known.price !== next.price || known.category !== next.category) c.set(p.id, next);
  }

  product(site: string, id: string): CatalogProduct | undefined {
    return this.#sites.get(site)?.peek(id);
  }

  /** The trigger with its products and coupon, as channels are sent it. */
  shoppable(t: OfferTrigger, secret: string): ShoppableOffer {
    const factor = 1 - t.discount / 100;
    const products =
      t.offered.level === 'product'
        ? t.offered.items.map((id): ShoppableProduct => {
            const p = this.product(t.site, id) ?? { id, name: undefined, price: undefined, category: undefined };
            return { ...p, discountedPrice: p.price === undefined ? undefined : Math.round(p.price * factor * 100) / 100 };
          })
        : [];
    const coupon = t.discount > 0 && secret !== '' ? { code: couponCode(secret, t.triggerId), percent: t.discount } : undefined;
    return { ...t, text: this.#named(t), products, coupon };
  }

  /** The offer text with the product ids of its rule replaced by their names, where the catalog has them. */
  #named(t: OfferTrigger): string {
    const b = t.because;
    const ids = b.kind === 'rule' && b.rule.level === 'product' ? [...b.rule.antecedent, ...b.rule.consequent] : t.offered.level === 'product' ? t.offered.items : [];
    const names = new Map<string, string>();
    for (const id of ids) {
      const name = this.product(t.site, id)?.name;
      if (name !== undefined) names.set(id, name);
    }
    if (names.size === 0) return t.text;
    // Whole ids only (not inside a longer slug), longest first.
    const alternatives = [...names.keys()].sort((a, b2) => b2.length - a.length).map((id) => id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    return t.text.replace(new RegExp(`(?<![\\w-])(?:${alternatives.join('|')})(?![\\w-])`, 'g'), (id) => names.get(id) ?? id);
  }
}

/** The coupon code of a trigger: `CM-` and 10 characters of HMAC-SHA256(secret, triggerId), base32-like. */
export function couponCode(secret: string, triggerId: string): string {
  const mac = createHmac('sha256', secret).update(triggerId).digest('base64url');
  return `CM-${mac.slice(0, 10).toUpperCase().replace(/[-_]/g, 'X')}`;
}
