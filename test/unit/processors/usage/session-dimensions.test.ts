import { describe, expect, it } from 'vitest';
import { DEFAULT_CHANNEL_RULES, channelOf, sessionDimensions, sliceKey, sliceValues } from '../../../../processors/usage/session-dimensions';
import type { SessionSummary } from '../../../../src/events/enriched-event';
import { parseUsageSettings } from '../../../../processors/usage/usage-settings';
import { loadConfig } from '../../../../src/config';
import { EventEnricher } from '../../../../src/events/event-enricher';
import { epochMillis } from '../../../../src/types';
import { parseSliceQuery } from '../../../../src/http/slice-query';

describe('session dimensions', () => {
  it('device - User-Agents of phones, tablets, desktops and crawlers (bots apart; none: unknown)', () => {
    const enricher = new EventEnricher(loadConfig({}, {}));
    const device = (ua: string | undefined) => enricher.batchContext(epochMillis(0), 0, ua).device;
    expect(device('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1')).toBe('mobile');
    expect(device('Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36')).toBe('mobile');
    expect(device('Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1')).toBe('tablet');
    expect(device('Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36')).toBe('tablet');
    expect(device('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36')).toBe('desktop');
    expect(device('Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15')).toBe('desktop');
    expect(device('Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)')).toBe('bot');
    expect(device(undefined)).toBe('unknown');
  });

  it('channel - campaign tags first, then the referrer host; the shop itself or no referrer is direct', () => {
    const ch = (url: string, referrer?: string) => channelOf({ url, referrer }, DEFAULT_CHANNEL_RULES);
    expect(ch('https://shop.test/')).toBe('direct');
    expect(ch('https://shop.test/a', 'https://shop.test/b')).toBe('direct');
    expect(ch('https://shop.test/', 'https://www.google.co.uk/')).toBe('search');
    expect(ch('https://shop.test/', 'https://www.bing.com/search?q=x')).toBe('search');
    expect(ch('https://shop.test/', 'https://l.facebook.com/l.php')).toBe('social');
    expect(ch('https://shop.test/', 'https://mail.google.com/')).toBe('email');
    expect(ch('https://shop.test/', 'https://news.example.com/article')).toBe('referral');
    expect(ch('https://shop.test/?utm_medium=cpc', 'https://www.google.com/')).toBe('paid');
    expect(ch('https://shop.test/?fbclid=1', 'https://l.facebook.com/')).toBe('paid');
    expect(ch('https://shop.test/?utm_medium=Email&utm_source=crm')).toBe('email');
    expect(ch('https://shop.test/?utm_medium=podcast')).toBe('referral');
    expect(ch('not a url', 'neither')).toBe('direct');
    // A site's own lists replace the default ones.
    const rules = parseUsageSettings({ channels: { searchHosts: ['search.example'] } }, 'shop').channels;
    expect(channelOf({ url: 'https://shop.test/', referrer: 'https://www.google.com/' }, rules)).toBe('referral');
    expect(channelOf({ url: 'https://shop.test/', referrer: 'https://a.search.example/' }, rules)).toBe('search');
    expect(() => parseUsageSettings({ channels: { searchHost: [] } }, 'shop')).toThrow(/channels.searchHost: unknown key/);
    // A UTM value cannot smuggle the separators of slice keys in: control characters are dropped.
    const dims = sessionDimensions({ landing: { url: 'https://shop.test/?utm_campaign=Spring%01Sale%1Fx&utm_source=a%00b', referrer: undefined }, device: 'mobile', returningVisitor: false } as unknown as SessionSummary, DEFAULT_CHANNEL_RULES);
    expect([dims.utmCampaign, dims.utmSource]).toEqual(['springsalex', 'ab']);
    expect(sliceValues(sliceKey(dims))).toEqual(['direct', 'mobile', 'new', 'ab', '(none)', 'springsalex']);
  });

  it('slice queries - by one or two known dimensions, where as dimension:value pairs; every problem named', () => {
    expect(parseSliceQuery({})).toEqual({ kind: 'ok', query: undefined });
    expect(parseSliceQuery({ by: 'channel,device', where: 'device:mobile,channel:search,channel:social,utmCampaign:a:b' })).toEqual({
      kind: 'ok',
      query: { by: ['channel', 'device'], where: { device: ['mobile'], channel: ['search', 'social'], utmCampaign: ['a:b'] } },
    });
    const bad = parseSliceQuery({ by: 'channel,device,visitorType', where: 'colour:red' });
    expect(bad.kind).toBe('error');
    expect(bad.kind === 'error' && bad.message).toMatch(/one or two dimensions.*where: "colour:red"/);
  });
});
