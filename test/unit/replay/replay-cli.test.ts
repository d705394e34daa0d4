import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildReplayEvents, parseReplayArgs, replay, DEFAULT_SOCKET_RATE } from '../../../src/replay/replay-cli';

const dir = mkdtempSync(join(tmpdir(), 'cm-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('replay command line', () => {
  it('replay - parses the documented options with their defaults', () => {
    const r = parseReplayArgs(['data.txt', '--format', 'kosarak']);
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.options).toMatchObject({ file: 'data.txt', format: 'kosarak', url: 'ws://127.0.0.1:8080/v1/collect?site=demo', site: 'demo', shift: true, rate: DEFAULT_SOCKET_RATE, inProcess: false });
    const p = parseReplayArgs(['d.csv', '--format', 'diginetica', '--in-process', '--no-shift', '--rate', '0', '--site', 'shop']);
    expect(p.kind === 'ok' && p.options).toMatchObject({ inProcess: true, url: undefined, shift: false, rate: 0, site: 'shop' });
  });

  it('replay - refuses a missing file, an unknown format, bad numbers and conflicting targets', () => {
    expect(parseReplayArgs(['--format', 'kosarak']).kind).toBe('error');
    expect(parseReplayArgs(['f', '--format', 'csv']).kind).toBe('error');
    const bad = parseReplayArgs(['f', '--format', 'retail', '--rate=-3', '--in-process', '--url', 'ws://x']);
    expect(bad.kind === 'error' && bad.message).toMatch(/--rate must be/);
    expect(bad.kind === 'error' && bad.message).toMatch(/exclude each other/);
    expect(parseReplayArgs(['f', '--format', 'retail', '--url', 'http://x']).kind).toBe('error');
  });

  it('replay - shifts the timeline so the first event is now, keeping the gaps; --speed divides them', () => {
    const f = join(dir, 'e.ndjson');
    writeFileSync(f, [1_000, 4_000, 2_000].map((ts, i) => JSON.stringify({ id: `e${i}`, type: 'page_view', visitorId: 'v', ts, url: '/' })).join('\n'));
    const base = parseReplayArgs([f, '--format', 'ndjson', '--in-process']);
    if (base.kind !== 'ok') throw new Error('parse failed');
    expect(buildReplayEvents(base.options, 50_000).map((e) => e.ts)).toEqual([50_000, 51_000, 53_000]);
    expect(buildReplayEvents({ ...base.options, shift: false }, 50_000).map((e) => e.ts)).toEqual([1_000, 2_000, 4_000]);
    expect(buildReplayEvents({ ...base.options, speed: 2 }, 50_000).map((e) => e.ts)).toEqual([50_000, 50_500, 51_500]);
  });

  it('replay - in-process: every event is acknowledged, bad ones rejected with their reason', async () => {
    const f = join(dir, 'mixed.ndjson');
    const good = Array.from({ length: 450 }, (_, i) => JSON.stringify({ id: `g${i}`, type: 'page_view', visitorId: `v${i % 7}`, ts: 1_000 + i * 100, url: `/p/${i % 5}` }));
    const bad = [JSON.stringify({ id: 'b1', type: 'page_view', visitorId: 'v', ts: 1_500 }), JSON.stringify({ id: 'b2', type: 'nope', visitorId: 'v', ts: 1_600, url: '/' })];
    writeFileSync(f, [...good, ...bad].join('\n'));
    const parsed = parseReplayArgs([f, '--format', 'ndjson', '--in-process', '--quiet', '--batch', '100']);
    if (parsed.kind !== 'ok') throw new Error('parse failed');
    const s = await replay(parsed.options);
    expect(s.events).toBe(452);
    expect(s.batches).toBe(5);
    expect(s.accepted).toBe(450);
    expect(s.rejected).toEqual({ schema_violation: 1, unknown_event_type: 1 });
  });
});
