/** Cuts a string to the schema's maximum length. */
export function clip(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s;
}

/** A data attribute's value fit for a schema `Key` (1–128 characters), or undefined. */
export function key(el: Element | null | undefined, name: string): string | undefined {
  const v = el?.getAttribute(name)?.trim();
  return v ? clip(v, 128) : undefined;
}

/** A data attribute as a non-negative finite number, or undefined. */
export function num(el: Element | null | undefined, name: string): number | undefined {
  const v = el?.getAttribute(name);
  const n = v == null || v === '' ? NaN : Number(v);
  return n >= 0 && n <= 1e9 ? n : undefined;
}

/** The page URL without its fragment: a hash change is not a new page. */
export function pageUrl(): string {
  return clip(location.href.split('#')[0] ?? location.href, 2048);
}
