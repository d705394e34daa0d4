import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config';
import { EventEnricher, UNSESSIONIZED } from '../../../src/events/event-enricher';
import type { CollectEvent } from '../../../src/events/event-types';
import { epochMillis } from '../../../src/types';

const config = loadConfig({}, { partitions: 7, ingest: { maxFutureSkew: 'PT10M', maxEventAge: 'P1D' }, sites: [{ id: 'demo' }, { id: 'shop', allowedOrigins: ['*'] }] });
const site = config.sites.get('demo');
const shop = config.sites.get('shop');
if (site === undefined || shop === undefined) throw new Error('sites missing');
const enricher = new EventEnricher(config);
const RECEIVED = epochMillis(1_700_000_000_000);
const pv = (ts: number, url = '/'): CollectEvent => ({ id: 'e', type: 'page_view', visitorId: 'visitor-1', ts, url });

// FNV-1a 32-bit written out independently of the code under test.
function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'latin1')) h = Number((BigInt(h ^ b) * 0x01000193n) % 2n ** 32n);
  return h;
}

describe('EventEnricher', () => {
  it('enricher - event time is ts + (receivedAt − sentAt): a device clock 5 min slow is corrected', () => {
    const sentAt = RECEIVED - 300_000; // the device thinks it is 5 minutes earlier
    const ctx = enricher.batchContext(RECEIVED, sentAt, undefined);
    const r = enricher.enrich(pv(sentAt - 2_000), site, ctx);
    expect(r.kind === 'enriched' && r.event.ts).toBe(RECEIVED - 2_000);
    expect(r.kind === 'enriched' && r.event.receivedAt).toBe(RECEIVED);
  });

  it('enricher - an event more than maxFutureSkew ahead after correction is future_timestamp', () => {
    const ctx = enricher.batchContext(RECEIVED, RECEIVED, undefined);
    expect(enricher.enrich(pv(RECEIVED + 600_000), site, ctx).kind).toBe('enriched');
    expect(enricher.enrich(pv(RECEIVED + 600_001), site, ctx)).toMatchObject({ kind: 'rejected', code: 'future_timestamp' });
  });

  it('enricher - a device clock far ahead is not future once corrected by sentAt', () => {
    const sentAt = RECEIVED + 86_400_000; // device is a day ahead
    const ctx = enricher.batchContext(RECEIVED, sentAt, undefined);
    expect(enricher.enrich(pv(sentAt), site, ctx)).toMatchObject({ kind: 'enriched', event: { ts: RECEIVED } });
  });

  it('enricher - an event older than maxEventAge after correction is ancient_timestamp', () => {
    const ctx = enricher.batchContext(RECEIVED, RECEIVED, undefined);
    expect(enricher.enrich(pv(RECEIVED - 86_400_000), site, ctx).kind).toBe('enriched');
    expect(enricher.enrich(pv(RECEIVED - 86_400_001), site, ctx)).toMatchObject({ kind: 'rejected', code: 'ancient_timestamp' });
  });

  it('enricher - bots are flagged by user agent, browsers are not', () => {
    const bot = enricher.enrich(pv(RECEIVED), site, enricher.batchContext(RECEIVED, RECEIVED, 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'));
    const human = enricher.enrich(pv(RECEIVED), site, enricher.batchContext(RECEIVED, RECEIVED, 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36'));
    expect(bot.kind === 'enriched' && bot.event.bot).toBe(true);
    expect(human.kind === 'enriched' && human.event.bot).toBe(false);
  });

  it('enricher - sets the partition to FNV-1a(visitorId) mod partitions, the page key and a placeholder session', () => {
    const ctx = enricher.batchContext(RECEIVED, RECEIVED, undefined);
    // A site without URL rules: product pages grouped, the search parameter kept.
    const r = enricher.enrich(pv(RECEIVED, 'https://shop.example/product/42?utm_source=x&q=shoes#top'), shop, ctx);
    expect(r.kind).toBe('enriched');
    if (r.kind !== 'enriched') return;
    expect(r.event.partition).toBe(fnv('visitor-1') % 7);
    expect(r.event.page).toBe('/product/:id?q=shoes');
    expect(r.event.session).toBe(UNSESSIONIZED);
    expect(r.event.site).toBe('shop');
  });

  it('enricher - the demo shop keeps each product page apart and folds every search into one page', () => {
    const ctx = enricher.batchContext(RECEIVED, RECEIVED, undefined);
    const page = (url: string) => {
      const r = enricher.enrich(pv(RECEIVED, url), site, ctx);
      return r.kind === 'enriched' ? r.event.page : r.code;
    };
    expect(page('http://localhost:8080/demo/product/neon-drift?utm_source=x')).toBe('/demo/product/neon-drift');
    expect(page('http://localhost:8080/demo/product/dune')).toBe('/demo/product/dune');
    expect(page('http://localhost:8080/demo/search?q=dune')).toBe('/demo/search');
    expect(page('http://localhost:8080/demo/search?q=space%20opera')).toBe('/demo/search');
  });
});
