import type { OfferPattern } from './offer-catalog';

/**
 * The next-best-offer processor's output (DESIGN.md §3 "an offer"): one decision to show an offer to a
 * visitor, with its reason. Delivered at least once on every channel; `triggerId` is the idempotency key.
 */
export interface OfferTrigger {
  /** Deterministic id: hash of site, visitor, offer and the firing event's id, so redelivery is idempotent. */
  readonly triggerId: string;
  readonly site: string;
  readonly visitorId: string;
  /** The session the firing event belonged to. */
  readonly sessionId: string;
  readonly offerId: string;
  /** The offer text with its template filled in. */
  readonly text: string;
  /** Discount, percent. */
  readonly discount: number;
  /** Why it fired: a rule with its statistics, or a behaviour pattern. */
  readonly because: RuleReason | PatternReason;
  /** Event time of the decision (the firing event's time, or the idle deadline for patterns), epoch ms. */
  readonly ts: number;
  /** True for a holdout visitor: recorded for uplift, never delivered. */
  readonly holdout: boolean;
  /** Expected value of the offer at decision time, in the site's currency units (see the processor's formula). */
  readonly expectedValue: number;
  /** What counts as a conversion for attribution: buying one of these products / categories, or submitting the form. */
  readonly offered: OfferedItems;
  /** The named segments the visitor was in at the decision (attribution reports uplift per segment); absent: none defined. */
  readonly segments?: readonly string[];
}

export interface OfferedItems {
  readonly level: 'product' | 'category' | 'form';
  readonly items: readonly string[];
}

export interface RuleReason {
  readonly kind: 'rule';
  readonly rule: {
    readonly antecedent: readonly string[];
    readonly consequent: readonly string[];
    readonly level: 'product' | 'category';
    /** Share of baskets with antecedent and consequent (0-1). */
    readonly support: number;
    /** P(consequent | antecedent), 0-1. */
    readonly confidence: number;
    /** confidence / P(consequent). */
    readonly lift: number;
  };
  /** The rule set's window, ISO-8601 instants. */
  readonly window: { readonly start: string; readonly end: string };
  /** Version of the rule set the rule came from. */
  readonly ruleSetVersion: number;
  /** Id of the event that fired the trigger. */
  readonly eventId: string;
}

export interface PatternReason {
  readonly kind: 'pattern';
  readonly pattern: OfferPattern;
  /** The idle time after which the pattern counted as abandoned, ms. */
  readonly idleMs: number;
  /** Event time of the visitor's last activity on the form / cart, epoch ms. */
  readonly lastActivity: number;
  /** Id of the last event of the abandoned form / cart. */
  readonly eventId: string;
  /** The abandoned form (form_abandonment). */
  readonly formId?: string;
  /** The last field touched before abandonment (form_abandonment), a field name. */
  readonly lastField?: string;
  /** Products left in the cart (cart_abandonment). */
  readonly items?: readonly string[];
}

/** Receives the processor's decisions (delivered triggers and holdout records) and the outcomes attribution needs. */
export interface OfferListener {
  onTrigger(t: OfferTrigger): void;
  onOutcome(o: OfferOutcome): void;
}

/** A visitor's reaction that attribution follows (offer shown → clicked → purchased). */
export type OfferOutcome =
  /**
   * A click event with target kind 'offer': `clicked` (action click, the default), `shown` (action
   * impression: the page displayed it) or `dismissed` (action dismiss).
   */
  | { readonly kind: 'clicked' | 'shown' | 'dismissed'; readonly site: string; readonly visitorId: string; readonly triggerId: string | undefined; readonly offerId: string | undefined; readonly ts: number }
  /** A form submit with items: a purchase. `revenue` is price × quantity (0 when no price). */
  | {
      readonly kind: 'purchased';
      readonly site: string;
      readonly visitorId: string;
      readonly items: ReadonlyArray<{ readonly productId: string; readonly category: string | undefined; readonly revenue: number }>;
      readonly ts: number;
    }
  /** A form submit (with or without items). */
  | { readonly kind: 'form_submitted'; readonly site: string; readonly visitorId: string; readonly formId: string; readonly ts: number };
