import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';

/** Config fails closed: a typo is an error with its full path, never a silent default. */
describe('config', () => {
  const problems = (overrides: Record<string, unknown>): string => {
    try {
      loadConfig({}, overrides);
    } catch (err) {
      return (err as Error).message;
    }
    return '';
  };

  it('config - unknown keys at every level are refused with their full path, all at once', () => {
    const msg = problems({
      ingst: {},
      ingest: { maxBatchEvent: 10 },
      time: { allowedLatenes: 'PT1M' },
      offers: { subscriberQeue: 1 },
      persistence: { interval: 'PT1S' },
      sites: [{ id: 'shop', alowedOrigins: ['https://shop.example'], urlRules: { keepParam: ['q'] } }],
    });
    expect(msg).toMatch(/^CM_ERR_CONFIG/);
    for (const path of ['ingst', 'ingest.maxBatchEvent', 'time.allowedLatenes', 'offers.subscriberQeue', 'persistence.interval', 'sites[0].alowedOrigins', 'sites[0].urlRules.keepParam']) {
      expect(msg).toContain(`${path}: unknown key`);
    }
  });

  it('config - a bad value inside a section is named with its section path', () => {
    const msg = problems({ ingest: { maxBatchEvents: -1 }, time: { pane: 'five minutes' } });
    expect(msg).toContain('ingest.maxBatchEvents: expected an integer');
    expect(msg).toContain('time.pane: expected an ISO-8601 duration');
  });

  it('config - the allowed lateness defaults to the retained panes and may not exceed them', () => {
    expect(loadConfig({}, { time: { pane: 'PT5M', retentionPanes: 12 } }).time.allowedLatenessMs).toBe(60 * 60_000);
    expect(problems({ time: { pane: 'PT1M', retentionPanes: 10, allowedLateness: 'PT11M' } })).toContain('time.allowedLateness: must not exceed the retained panes');
  });

  it('config - the admin port binds loopback unless ADMIN_HOST says otherwise; the public port keeps HOST', () => {
    const c = loadConfig({ HOST: '0.0.0.0' }, {});
    expect([c.host, c.adminHost]).toEqual(['0.0.0.0', '127.0.0.1']);
    expect(loadConfig({ ADMIN_HOST: '10.0.0.5' }, {}).adminHost).toBe('10.0.0.5');
  });

  it('config - a sites list replaces the built-in demo site unless it lists it (then with the demo settings)', () => {
    expect([...loadConfig({}, {}).sites.keys()]).toEqual(['demo']);
    expect([...loadConfig({}, { sites: [{ id: 'shop', allowedOrigins: ['https://shop.example'] }] }).sites.keys()]).toEqual(['shop']);
    const both = loadConfig({}, { sites: [{ id: 'demo' }, { id: 'shop', allowedOrigins: ['*'] }] });
    expect([...both.sites.keys()]).toEqual(['demo', 'shop']);
    expect(both.sites.get('demo')?.secret).toBe('demo-secret');
    expect(both.sites.get('demo')?.processors).toEqual({ 'cross-sell': { recomputeEvery: 'PT5S' }, 'next-best-offer': { holdoutShare: 0.1 } });
  });

  it('config - a site other than demo must say which origins it allows (fails closed: a typo never means any Origin)', () => {
    expect(problems({ sites: [{ id: 'shop' }] })).toContain('sites[0].allowedOrigins: must be explicit');
    expect(loadConfig({}, { sites: [{ id: 'shop', allowedOrigins: ['*'] }] }).sites.get('shop')?.allowedOrigins).toEqual(['*']);
  });

  it('config - the producer, subscriber and webhook secrets are separate: one equal to another is refused', () => {
    expect(problems({ sites: [{ id: 'shop', allowedOrigins: ['*'], secret: 'same-0123456789', subscriberSecret: 'same-0123456789' }] })).toContain('sites[0].subscriberSecret: must differ');
    expect(problems({ sites: [{ id: 'shop', allowedOrigins: ['*'], secret: 'a-0123456789', subscriberSecret: 'b-0123456789', webhookSecret: 'b-0123456789' }] })).toContain('sites[0].webhookSecret: must differ');
    const demo = loadConfig({}, {}).sites.get('demo')!;
    expect(new Set([demo.secret, demo.subscriberSecret, demo.webhookSecret]).size).toBe(3);
  });

  it('config - persistence: DATA_DIR from the environment, none by default for apps built in code', () => {
    expect(loadConfig({}, {}).dataDir).toBeUndefined();
    expect(loadConfig({ DATA_DIR: '/tmp/x' }, {}).dataDir).toBe('/tmp/x');
    expect(loadConfig({}, {}, { dataDir: './data' }).dataDir).toBe('./data');
    expect(loadConfig({ DATA_DIR: '' }, {}, { dataDir: './data' }).dataDir).toBeUndefined();
  });
});
