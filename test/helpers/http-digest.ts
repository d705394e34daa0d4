import { createHash } from 'node:crypto';
import type { SpawnedServer } from './spawned-server';

/** What a spawned server's public statistics say, hashed per part (a failure names the part). */
export interface HttpDigest {
  /** Per-part hashes as one JSON string. */
  readonly hash: string;
  /** Events counted over every usage window returned (the data's and the closing marker's). */
  readonly events: number;
  readonly watermark: number;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * The statistics a user sees — usage, navigation and content in 5-minute windows, and the P1D rule
 * sets — over the admin API, for windows that start before `before` (the data's; the closing marker
 * is after it). Fields that follow the wall clock rather than the data are left out: the watermark,
 * windows' `closed` flags and rule-set versions and window bounds (they count recomputes). Lists are
 * compared as sets (sorted), since equal counts may be listed in any order.
 */
export async function httpDigest(server: SpawnedServer, before: number): Promise<HttpDigest> {
  const q = 'site=demo&window=PT5M&windows=1000&limit=10000';
  const usage = await server.adminJson<{ watermark: string; windows: Array<Record<string, Json>> }>(`/v1/stats/usage?${q}`);
  const nav = await server.adminJson<{ windows: Array<Record<string, Json>> }>(`/v1/stats/navigation?${q}`);
  const content = await server.adminJson<{ windows: Array<Record<string, Json>> }>(`/v1/stats/content?${q}`);
  const rules = await server.adminJson<Record<string, Json>>('/v1/rules?site=demo&window=P1D&limit=10000');
  let events = 0;
  for (const w of usage.windows) {
    const e = w['events'] as Record<string, number>;
    events += (e['page_view'] ?? 0) + (e['click'] ?? 0) + (e['form'] ?? 0);
  }
  const data = (ws: Array<Record<string, Json>>) => ws.filter((w) => Date.parse(String(w['start'])) < before).map((w) => canonical(omit(w, ['closed'])));
  const parts = {
    usage: data(usage.windows),
    navigation: data(nav.windows),
    content: data(content.windows),
    rules: canonical(omit(rules, ['version', 'window', 'nextCursor'])),
  };
  if (process.env['CM_DIGEST_DUMP'] !== undefined) (await import('node:fs')).writeFileSync(`${process.env['CM_DIGEST_DUMP']}-${server.port}.json`, JSON.stringify(parts, null, 1));
  const h = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 12);
  return { hash: JSON.stringify(Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, h(v)]))), events, watermark: Date.parse(usage.watermark) };
}

function omit(o: Record<string, Json>, keys: readonly string[]): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(o)) if (!keys.includes(k)) out[k] = v;
  return out;
}

/** `v` with object keys sorted and every list sorted (as a set: equal counts may be listed in any order). */
export function canonical(v: Json): Json {
  if (Array.isArray(v)) return v.map(canonical).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, Json> = {};
    for (const k of Object.keys(v).sort()) out[k] = canonical(v[k]!);
    return out;
  }
  return v;
}
