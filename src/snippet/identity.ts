import { sha256Hex } from './sha256';
import { getCookie, getItem, randomId, removeItem, setCookie, setItem } from './storage';

/** Where the visitor key lives (cookie and localStorage); the visitor id is derived from it. */
const VISITOR_KEY = 'cm_vk';
const SESSION_KEY = 'cm_sid';
/** Two years, in seconds: the usual lifetime of a first-party analytics id. */
const VISITOR_COOKIE_MAX_AGE_S = 63_072_000;

/**
 * The first-party visitor: a random visitor key (cookie, mirrored in localStorage so either one
 * surviving keeps the visitor) whose SHA-256 (first 32 hex digits) is the visitor id. Batches carry the
 * key (`vk`), so the collector binds a socket to a visitor only for the browser that holds the key —
 * knowing a visitor id is not enough to receive that visitor's offers. And the session id, which
 * rotates after `sessionGapMs` without activity — shared by all tabs through localStorage so two tabs
 * of one visit are one session.
 */
export class Identity {
  private vk: string | undefined;
  private vid: string | undefined;

  constructor(private readonly sessionGapMs: number) {}

  /** The visitor key (32 hex digits). */
  visitorKey(): string {
    if (this.vk === undefined) {
      const known = getCookie(VISITOR_KEY) ?? getItem(VISITOR_KEY);
      this.vk = known !== null && /^[0-9a-f]{32}$/.test(known) ? known : randomId(16);
      setCookie(VISITOR_KEY, this.vk, VISITOR_COOKIE_MAX_AGE_S);
      setItem(VISITOR_KEY, this.vk);
    }
    return this.vk;
  }

  visitorId(): string {
    return (this.vid ??= sha256Hex(this.visitorKey()).slice(0, 32));
  }

  /** The current session id, started anew after the inactivity gap; `now` counts as activity. */
  sessionId(now: number): string {
    const stored = (getItem(SESSION_KEY) ?? '').split('.');
    const last = Number(stored[1]);
    const sid = stored[0] && now - last < this.sessionGapMs ? stored[0] : randomId(12);
    setItem(SESSION_KEY, sid + '.' + now);
    return sid;
  }

  /** Consent withdrawn: nothing identifying stays behind. */
  forget(): void {
    this.vk = undefined;
    this.vid = undefined;
    setCookie(VISITOR_KEY, '', 0);
    removeItem(VISITOR_KEY);
    removeItem(SESSION_KEY);
  }
}
