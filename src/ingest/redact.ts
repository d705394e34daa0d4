/**
 * Masks what a quarantined sample must not keep (issue "Lock it down"): a broken client once sent an
 * e-mail address, a card number and a password value verbatim. Applied before an item is stored or
 * published, so neither `GET /v1/quarantine` nor `cm.quarantine.<site>` ever holds them:
 *
 * - the string value of any key that names a secret or personal datum (password, token, secret,
 *   card, cvv/cvc, iban, ssn, e-mail, phone, address…) → `"***"`;
 * - any e-mail address → `[email]`;
 * - any 14–19 digit number (spaces or dashes allowed) that passes the Luhn check → `[card]`. Plain
 *   13-digit numbers are kept: they are epoch milliseconds, which the operator needs to read.
 */
const SENSITIVE_KEY = /"([^"\\]*(?:pass(?:word|wd)?|pwd|secret|token|auth|card|cvv|cvc|iban|ssn|e-?mail|phone|tel|address|birth)[^"\\]*)"\s*:\s*"(?:[^"\\]|\\.)*"/gi;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const DIGIT_RUN = /\d(?:[ -]?\d){13,18}/g;

export function redactSample(sample: string): string {
  return sample
    .replace(SENSITIVE_KEY, (_m, key: string) => `"${key}":"***"`)
    .replace(EMAIL, '[email]')
    .replace(DIGIT_RUN, (run) => (luhn(run.replace(/[ -]/g, '')) ? '[card]' : run));
}

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}
