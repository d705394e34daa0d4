import { describe, expect, it } from 'vitest';
import { redactSample } from '../../../src/ingest/redact';

describe('quarantine redaction', () => {
  it('masks the audit finding: an e-mail, a card number and a password value sent verbatim by a broken client', () => {
    const raw = JSON.stringify({ id: 'e1', type: 'form', ts: 1796127228875, fields: { email: 'jane.doe@example.com', note: 'call jane.doe+shop@mail.example.org', cc: '4111 1111 1111 1111', password: 'hunter2', card_number: '5500-0000-0000-0004' } });
    const out = redactSample(raw);
    for (const leaked of ['jane.doe', 'hunter2', '4111', '5500']) expect(out).not.toContain(leaked);
    expect(out).toContain('"password":"***"');
    expect(out).toContain('"email":"***"');
    expect(out).toContain('[email]');
    // Epoch milliseconds and ordinary numbers stay readable.
    expect(out).toContain('1796127228875');
    expect(out).toContain('"type":"form"');
  });

  it('keeps 16-digit numbers that are no card number (they fail the Luhn check)', () => {
    expect(redactSample('{"order":"1234567812345678"}')).toBe('{"order":"1234567812345678"}');
    expect(redactSample('{"order":"4111111111111111"}')).toBe('{"order":"[card]"}');
  });
});
