import type { FormEvent, LineItem } from '../events/event-types';
import { clip, key, num } from './dom';

export type FormFields = Pick<FormEvent, 'formId' | 'action'> & Partial<Pick<FormEvent, 'field' | 'items'>>;

interface FormState {
  readonly formId: string;
  started: boolean;
  submitted: boolean;
  /** The last field focused: where a visitor who abandons gave up. */
  last: string | undefined;
}

/**
 * Form analytics from field NAMES only: a value is never read. Password, hidden and sensitive fields
 * (`data-cm-sensitive` on the field or an ancestor, or a credit-card autocomplete) are never touched —
 * not even their names. Forms marked `data-cm-ignore` are skipped (e.g. a site-search box).
 */
export class FormTracker {
  private forms = new Map<HTMLFormElement, FormState>();

  constructor(private readonly emit: (f: FormFields) => void) {
    document.addEventListener('focusin', (e) => this.focus(e.target), true);
    // `invalid` does not bubble: listen in the capture phase.
    document.addEventListener('invalid', (e) => this.invalid(e.target), true);
    document.addEventListener('submit', (e) => this.submit(e.target), true);
  }

  /** A page (or route) was viewed: report the forms on it. */
  viewed(): void {
    document.querySelectorAll('form').forEach((f) => this.state(f));
  }

  /** The page or route is being left: forms started and not submitted are abandoned. */
  leave(): void {
    for (const s of this.forms.values()) {
      if (s.started && !s.submitted) {
        s.submitted = true; // report each abandonment once
        const f: FormFields = { formId: s.formId, action: 'abandon' };
        if (s.last !== undefined) f.field = s.last;
        this.emit(f);
      }
    }
    this.forms = new Map();
  }

  private state(form: HTMLFormElement | null): FormState | undefined {
    if (form === null || form.hasAttribute('data-cm-ignore')) return undefined;
    let s = this.forms.get(form);
    if (s === undefined) {
      // TRICKY: form.id / form.name are shadowed by fields named "id" / "name"; read the attributes.
      const formId = key(form, 'data-cm-form') ?? key(form, 'id') ?? key(form, 'name') ?? 'form' + [...document.forms].indexOf(form);
      s = { formId, started: false, submitted: false, last: undefined };
      this.forms.set(form, s);
      this.emit({ formId, action: 'view' });
    }
    return s;
  }

  private focus(target: EventTarget | null): void {
    const name = fieldName(target);
    const s = name === undefined ? undefined : this.state((target as HTMLInputElement).form);
    if (s === undefined || name === undefined || s.submitted) return;
    if (!s.started) {
      s.started = true;
      this.emit({ formId: s.formId, action: 'start' });
    }
    if (s.last !== name) this.emit({ formId: s.formId, action: 'field', field: name });
    s.last = name;
  }

  private invalid(target: EventTarget | null): void {
    const name = fieldName(target);
    const s = name === undefined ? undefined : this.state((target as HTMLInputElement).form);
    if (s !== undefined) this.emit({ formId: s.formId, action: 'error', field: name });
  }

  private submit(target: EventTarget | null): void {
    const form = target instanceof HTMLFormElement ? target : null;
    const s = this.state(form);
    if (s === undefined || form === null) return;
    s.submitted = true;
    const f: FormFields = { formId: s.formId, action: 'submit' };
    const items = lineItems(form);
    if (items.length > 0) f.items = items;
    this.emit(f);
  }
}

/** The name of a field the snippet may report, or undefined for anything it must not touch. */
function fieldName(el: EventTarget | null): string | undefined {
  if (!(el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement)) return undefined;
  const type = el.type;
  if (/^(password|hidden|submit|button|reset|image|file)$/.test(type) || el.closest('[data-cm-sensitive]')) return undefined;
  if (/^cc-/.test(el.getAttribute('autocomplete') ?? '')) return undefined;
  return key(el, 'name') ?? key(el, 'id');
}

/** Checkout lines from `data-cm-item` (product id) with `-quantity`, `-price`, `-category`, in the form or else the page. */
function lineItems(form: HTMLFormElement): LineItem[] {
  let els = form.querySelectorAll('[data-cm-item]');
  if (els.length === 0) els = document.querySelectorAll('[data-cm-item]');
  const items: LineItem[] = [];
  els.forEach((el) => {
    const productId = key(el, 'data-cm-item');
    if (productId === undefined || items.length >= 100) return;
    const item: LineItem = { productId, quantity: Math.min(10_000, Math.max(1, Math.floor(num(el, 'data-cm-item-quantity') ?? 1))) };
    const price = num(el, 'data-cm-item-price');
    const category = key(el, 'data-cm-item-category');
    if (price !== undefined) item.price = price;
    if (category !== undefined) item.category = clip(category, 256);
    items.push(item);
  });
  return items;
}
