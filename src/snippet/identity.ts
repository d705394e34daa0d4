import { getCookie, getItem, randomId, removeItem, setCookie, setItem } from './storage';

const VISITOR_KEY = 'cm_vid';
const SESSION_KEY = 'cm_sid';
/** Two years, in seconds: the usual lifetime of a first-party analytics id. */
const VISITOR_COOKIE_MAX_AGE_S = 63_072_000;

/**
 * The first-party visitor id (cookie, mirrored in localStorage so either one surviving keeps the
 * visitor) and the session id, which rotates after `sessionGapMs` without activity — shared by all tabs
 * through localStorage so two tabs of one visit are one session.
 */
export class Identity {
  private vid: string | undefined;

  constructor(private readonly sessionGapMs: number) {}

  visitorId(): string {
    if (this.vid === undefined) {
      const known = getCookie(VISITOR_KEY) ?? getItem(VISITOR_KEY);
      this.vid = known !== null && /^[0-9a-f]{8,64}$/.test(known) ? known : randomId(16);
      setCookie(VISITOR_KEY, this.vid, VISITOR_COOKIE_MAX_AGE_S);
      setItem(VISITOR_KEY, this.vid);
    }
    return this.vid;
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
    this.vid = undefined;
    setCookie(VISITOR_KEY, '', 0);
    removeItem(VISITOR_KEY);
    removeItem(SESSION_KEY);
  }
}
