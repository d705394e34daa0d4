import { describe, expect, it } from 'vitest';
import { DEFAULT_USAGE_SETTINGS, parseUsageSettings } from '../../../../processors/usage/usage-settings';

describe('usage settings', () => {
  it('settings - defaults when absent, overrides when valid', () => {
    expect(parseUsageSettings(undefined, 's')).toBe(DEFAULT_USAGE_SETTINGS);
    const s = parseUsageSettings({ maxProfiles: 10, lifecycle: { formerAfterDays: 30, responderOn: ['search'] }, rfm: { monetary: [1, 2, 3, 4] } }, 's');
    expect(s.maxProfiles).toBe(10);
    expect(s.lifecycle).toEqual({ formerAfterDays: 30, responderOn: ['search'] });
    expect(s.rfm.monetary).toEqual([1, 2, 3, 4]);
    expect(s.rfm.recencyDays).toEqual(DEFAULT_USAGE_SETTINGS.rfm.recencyDays);
  });

  it('settings - every bad key is reported at once', () => {
    let message = '';
    try {
      parseUsageSettings({ maxProfiles: 0, bogus: 1, hllPrecision: 30, lifecycle: { responderOn: ['telepathy'], formerAfterDays: -1 }, rfm: { frequency: [3, 2, 1, 0] } }, 'shop');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/CM_ERR_CONFIG/);
    for (const key of ['maxProfiles', 'bogus', 'hllPrecision', 'lifecycle.responderOn', 'lifecycle.formerAfterDays', 'rfm.frequency']) expect(message).toContain(key);
  });
});
