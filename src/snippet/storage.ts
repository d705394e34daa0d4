/**
 * First-party storage that never throws: localStorage can be disabled, full or blocked (Safari private
 * mode, sandboxed iframes), and a tracking snippet must not break the page it runs on.
 */
export function getItem(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function setItem(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Full or disabled: the in-memory copy still works for this page.
  }
}

export function removeItem(key: string): void {
  try {
    localStorage.removeItem(key);
  } catch {
    // Disabled storage holds nothing to remove.
  }
}

export function getCookie(name: string): string | undefined {
  const m = document.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
  return m?.[1];
}

/** Sets (maxAgeSeconds > 0) or deletes (0) a first-party cookie on the whole site. */
export function setCookie(name: string, value: string, maxAgeSeconds: number): void {
  document.cookie =
    name + '=' + value + ';path=/;max-age=' + maxAgeSeconds + ';SameSite=Lax' + (location.protocol === 'https:' ? ';Secure' : '');
}

/** A random hex id (`bytes` × 2 characters) from the platform CSPRNG. */
export function randomId(bytes: number): string {
  const a = crypto.getRandomValues(new Uint8Array(bytes));
  let s = '';
  for (let i = 0; i < a.length; i++) s += (a[i]! | 256).toString(16).slice(1);
  return s;
}
