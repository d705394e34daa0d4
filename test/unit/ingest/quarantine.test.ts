import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock';
import { QUARANTINE_SAMPLE_CHARS, Quarantine, UNKNOWN_SITE } from '../../../src/ingest/quarantine';

describe('Quarantine', () => {
  it('quarantine - keeps the newest items per site, newest first, counting overwrites', () => {
    const clock = new ManualClock(100);
    const evicted: string[] = [];
    const q = new Quarantine({ capacityPerSite: 3, clock, sites: ['demo', 'shop'], onEvict: (s) => evicted.push(s) });
    for (let i = 0; i < 5; i++) {
      clock.advance(1);
      q.add('demo', 'ws', 'invalid_json', `m${i}`, -1, i, 'x');
    }
    q.add('shop', 'http', 'schema_violation', 'other', 0, 1, 'y');
    expect(q.list('demo')?.map((x) => x.message)).toEqual(['m4', 'm3', 'm2']);
    expect(q.list('demo')?.[0]?.at).toBe(105);
    expect(evicted).toEqual(['demo', 'demo']);
    expect(q.list('shop')?.map((x) => x.message)).toEqual(['other']);
    expect(q.list('demo', 1)?.length).toBe(1);
  });

  it('quarantine - an unconfigured site goes to the unknown bucket, never a new ring', () => {
    const q = new Quarantine({ capacityPerSite: 3, clock: new ManualClock(), sites: ['demo'], onEvict: () => undefined });
    q.add('evil-site-123', 'http', 'unknown_site', 'no site', -1, null, '');
    expect(q.list('evil-site-123')).toBeUndefined();
    expect(q.list(UNKNOWN_SITE)?.[0]?.site).toBe(UNKNOWN_SITE);
  });

  it('quarantine - samples are truncated to 2 KB and new items reach the hook', () => {
    const seen: string[] = [];
    const q = new Quarantine({ capacityPerSite: 3, clock: new ManualClock(), sites: ['demo'], onEvict: () => undefined, onItem: (i) => seen.push(i.reason) });
    const item = q.add('demo', 'nats', 'frame_too_large', 'big', -1, null, 'z'.repeat(10_000));
    expect(item.sample.length).toBe(QUARANTINE_SAMPLE_CHARS);
    expect(QUARANTINE_SAMPLE_CHARS).toBeLessThanOrEqual(2048);
    expect(seen).toEqual(['frame_too_large']);
  });
});
