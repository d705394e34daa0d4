import type { CollectEvent } from '../events/event-types';
import { clickTarget } from './click-tracking';
import { pageUrl } from './dom';
import { EventQueue } from './event-queue';
import { FormTracker } from './form-tracking';
import { Identity } from './identity';
import { pageFields, watchRoutes, type PageFields } from './page-tracking';
import type { SnippetConfig } from './snippet-config';
import { getItem, randomId, setItem } from './storage';
import { Transport } from './transport';

type EventType = CollectEvent['type'];
type Fields = Record<string, unknown>;
export type OfferHandler = (offer: Record<string, unknown>) => void;

const CONSENT_KEY = 'cm_consent';
/** Offer trigger ids remembered to drop redelivered offers (count). */
const SEEN_TRIGGERS = 50;
/** Fields a caller of `cm('track', type, fields)` may set, per type (the schemas allow no others). */
const TRACK_FIELDS: Record<EventType, readonly string[]> = {
  page_view: ['url', 'title', 'referrer', 'product', 'search', 'ads', 'props'],
  click: ['url', 'target', 'props'],
  form: ['url', 'formId', 'action', 'field', 'items', 'props'],
};

/**
 * The snippet's core: turns page activity and API calls into v1 events, queues and sends them, and
 * applies consent. Nothing is stored or sent while tracking is off.
 */
export class Tracker {
  private readonly identity: Identity;
  private readonly queue: EventQueue;
  private readonly transport: Transport;
  private readonly forms: FormTracker;
  private readonly offerHandlers: OfferHandler[] = [];
  private readonly seenTriggers: string[] = [];
  private on = false;
  private booted = false;
  private lastUrl = '';
  /** Per-page-load sequence number of emitted events: the server orders a visitor's equal times by it. */
  private seq = 0;
  /** Fields from `cm('page', …)` calls made before the first page view. */
  private firstPage: PageFields = {};

  constructor(private readonly cfg: SnippetConfig) {
    this.identity = new Identity(cfg.sessionGapMs);
    this.queue = new EventQueue('cm_q_' + cfg.site, cfg.queueLimit);
    this.transport = new Transport(this.queue, {
      endpoint: cfg.endpoint,
      site: cfg.site,
      key: cfg.key,
      visitorKey: () => this.identity.visitorKey(),
      onOffer: (offer) => {
        // Offers come at least once; the triggerId is their idempotency key.
        const id = String(offer['triggerId'] ?? '');
        if (id) {
          if (this.seenTriggers.includes(id)) return;
          if (this.seenTriggers.push(id) > SEEN_TRIGGERS) this.seenTriggers.shift();
        }
        for (const fn of this.offerHandlers) {
          try {
            fn(offer);
          } catch {
            // A broken handler must not stop the others (or the snippet).
          }
        }
      },
    });
    this.forms = new FormTracker((f) => this.emit('form', f));
    document.addEventListener(
      'click',
      (e) => {
        const target = clickTarget(e.target);
        if (target !== undefined) this.emit('click', { target });
      },
      true,
    );
    watchRoutes(() => {
      if (pageUrl() !== this.lastUrl) this.pageView({}, this.lastUrl);
    });
    addEventListener('pagehide', () => {
      this.forms.leave();
      this.transport.beacon();
    });
    // Back/forward cache: the page comes back without loading again, and that is a page view too.
    addEventListener('pageshow', (e) => {
      if (e.persisted) this.pageView({}, document.referrer);
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') this.transport.beacon();
    });
  }

  /** The public API: `cm(command, …args)`. */
  call(args: ArrayLike<unknown>): void {
    const [cmd, a, b] = Array.from(args);
    switch (cmd) {
      case 'track':
        if (typeof a === 'string' && a in TRACK_FIELDS) this.emit(a as EventType, pick(b, TRACK_FIELDS[a as EventType]));
        break;
      case 'page':
        if (this.booted) this.pageView(pick(a, TRACK_FIELDS.page_view), document.referrer);
        else Object.assign(this.firstPage, pick(a, TRACK_FIELDS.page_view));
        break;
      case 'consent':
        setItem(CONSENT_KEY, a ? '1' : '0');
        this.apply();
        break;
      case 'onOffer':
        if (typeof a === 'function') this.offerHandlers.push(a as OfferHandler);
        break;
      case 'offerShown':
        // The page displayed an offer it got from onOffer: an impression (the honest "shown").
        if (a !== null && typeof a === 'object') {
          const o = a as Record<string, unknown>;
          const target: Fields = { kind: 'offer', action: 'impression' };
          if (typeof o['offerId'] === 'string') target['offerId'] = o['offerId'];
          if (typeof o['triggerId'] === 'string') target['triggerId'] = o['triggerId'];
          this.emit('click', { target });
        }
        break;
      case 'flush':
        this.transport.flush();
        break;
    }
  }

  /** Starts tracking (after the queued calls were replayed) when consent and Do-Not-Track allow. */
  boot(): void {
    this.booted = true;
    this.apply();
  }

  private allowed(): boolean {
    const consent = getItem(CONSENT_KEY);
    if (!this.cfg.site || consent === '0') return false;
    if (consent === '1') return true;
    const n = navigator as Navigator & { globalPrivacyControl?: boolean };
    const dnt = n.doNotTrack === '1' || n.globalPrivacyControl === true;
    return !this.cfg.requireConsent && !(this.cfg.respectDnt && dnt);
  }

  private apply(): void {
    if (!this.booted) return;
    const allowed = this.allowed();
    if (allowed && !this.on) {
      this.on = true;
      this.transport.start();
      // An async script may run before the DOM is parsed: wait for it so the page's data attributes exist.
      if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => this.pageView(this.firstPage, document.referrer));
      else this.pageView(this.firstPage, document.referrer);
    } else if (!allowed && this.on) {
      this.on = false;
      this.transport.stop();
      this.queue.clear();
      this.identity.forget();
    }
  }

  private pageView(fields: PageFields, referrer: string): void {
    this.forms.leave();
    this.lastUrl = pageUrl();
    this.emit('page_view', { ...pageFields(this.cfg.searchParam, referrer), ...fields });
    this.forms.viewed();
  }

  private emit(type: EventType, fields: Fields): void {
    if (!this.on) return;
    const ts = Date.now();
    const e = { id: randomId(12), type, visitorId: this.identity.visitorId(), sessionId: this.identity.sessionId(ts), ts, seq: this.seq++, url: pageUrl(), ...fields };
    this.queue.push(e as CollectEvent);
    this.transport.queued();
  }
}

/** Only the listed keys of a caller's object: an unknown key would fail the schema on the server. */
function pick(v: unknown, keys: readonly string[]): Fields {
  const out: Fields = {};
  if (typeof v === 'object' && v !== null) for (const k of keys) if ((v as Fields)[k] !== undefined) out[k] = (v as Fields)[k];
  return out;
}
