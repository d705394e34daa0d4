import type { ClickTarget } from '../events/event-types';
import { clip, key } from './dom';

/**
 * What a click hit, most specific first: an offer's dismiss control (`data-cm-offer-dismiss` = offer id,
 * with `data-cm-trigger`: action dismiss), an offer (`data-cm-offer`, `data-cm-trigger`), an add-to-cart
 * button (`data-cm-cart` = product id), an ad (`data-cm-ad`), a product (`data-cm-product`), or a plain
 * link. Anything else is not tracked.
 */
export function clickTarget(from: EventTarget | null): ClickTarget | undefined {
  if (!(from instanceof Element)) return undefined;
  let el: Element | null;
  let t: ClickTarget;
  if ((el = from.closest('[data-cm-offer-dismiss]'))) t = { kind: 'offer', action: 'dismiss', offerId: key(el, 'data-cm-offer-dismiss'), triggerId: key(el, 'data-cm-trigger') };
  else if ((el = from.closest('[data-cm-offer]'))) t = { kind: 'offer', offerId: key(el, 'data-cm-offer'), triggerId: key(el, 'data-cm-trigger') };
  else if ((el = from.closest('[data-cm-cart]'))) t = { kind: 'button', productId: key(el, 'data-cm-cart') };
  else if ((el = from.closest('[data-cm-ad]'))) t = { kind: 'ad', adId: key(el, 'data-cm-ad') };
  else if ((el = from.closest('[data-cm-product]'))) t = { kind: 'product', productId: key(el, 'data-cm-product') };
  else if ((el = from.closest('a[href]'))) t = { kind: 'link' };
  else return undefined;
  // The link actually clicked (inside a product card, say), else one around the marked element.
  const a = from.closest('a[href]');
  if (a instanceof HTMLAnchorElement && a.href) t.href = clip(a.href, 2048);
  const id = key(el, 'id');
  if (id !== undefined) t.id = id;
  const text = (el.textContent ?? '').replace(/\s+/g, ' ').trim();
  if (text) t.text = clip(text, 100);
  // Undefined fields would survive in memory but not in JSON; drop them so the event is what is sent.
  for (const k of Object.keys(t) as Array<keyof ClickTarget>) if (t[k] === undefined) delete t[k];
  return t;
}
