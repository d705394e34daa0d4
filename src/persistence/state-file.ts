/**
 * The embedded mode's durable state (issue "Durable by default", embedded part): the whole processing
 * state of one process as one gzipped JSON file in DATA_DIR, written atomically — temp file, fsync,
 * the current file kept as the previous one, rename, fsync of the directory — so a crash at any point
 * leaves a complete current or previous file. Reading falls back to the previous file when the current
 * one is missing or corrupt; a file from another format version or another configuration is refused
 * with its reason (and moved aside for inspection), never half-applied.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { Config } from '../config';
import { decodeParts, encodeParts } from './json-part';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export const STATE_FORMAT = 'clickstream-miner-state';
/**
 * 2: dedupe ids as per-site arrays, usage revenue in cents, log positions (NATS mode); 4: usage and
 * next-best-offer keep product categories, usage forms as trails, cross-sell LRUs oldest first. A
 * processor's snapshot format changing bumps this, so an older file is refused whole (set aside, or
 * rebuilt from the stream) rather than failing a processor's restore at boot.
 */
export const STATE_VERSION = 4;
const CURRENT = 'state.json.gz';
const PREVIOUS = 'state.prev.json.gz';

/** What a state file holds around the app's own payload. */
export interface StateEnvelope<T> {
  readonly format: typeof STATE_FORMAT;
  readonly v: number;
  /** Digest of the configuration that shapes the state (partitions, time, sites and their processors). */
  readonly configDigest: string;
  /** Wall clock when it was taken, epoch ms. */
  readonly takenAt: number;
  readonly state: T;
}

export type StateReadOutcome<T> =
  | { readonly kind: 'none' }
  | { readonly kind: 'ok'; readonly envelope: StateEnvelope<T>; readonly file: string; readonly bytes: number }
  /** Nothing usable: every candidate was corrupt, from another version or another config (reasons in order). */
  | { readonly kind: 'refused'; readonly reasons: readonly string[] };

/** The parts of the configuration a snapshot depends on: restoring under others would misread it. */
export function configDigest(config: Config): string {
  const sites = [...config.sites.values()].map((s) => ({ id: s.id, timeZone: s.timeZone, urlRules: s.urlRules, processors: s.processors }));
  const shape = { partitions: config.partitions, time: config.time, sites };
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 32);
}

/** The envelope of a state (its `JsonPart`s as raw texts after it), gzipped (level 1: a snapshot is taken often, fast beats small). */
export async function encodeState<T>(configDigestValue: string, takenAt: number, state: T): Promise<Buffer> {
  const envelope: StateEnvelope<T> = { format: STATE_FORMAT, v: STATE_VERSION, configDigest: configDigestValue, takenAt, state };
  return gzipAsync(encodeParts(envelope), { level: 1 });
}

/** Reads an encoded state back: the envelope, or why it cannot be used (corrupt, another version, another config). */
export async function decodeState<T>(raw: Uint8Array, expectedDigest: string): Promise<{ readonly kind: 'ok'; readonly envelope: StateEnvelope<T> } | { readonly kind: 'refused'; readonly reason: string }> {
  const inflated = await inflateState(raw);
  return typeof inflated === 'string' ? { kind: 'refused', reason: inflated } : parseState<T>(inflated, expectedDigest);
}

/** The first half of `decodeState`, off the main thread (zlib's thread pool): the JSON bytes, or why not. */
export async function inflateState(raw: Uint8Array): Promise<Buffer | string> {
  try {
    return await gunzipAsync(raw, { chunkSize: outputChunk(raw) });
  } catch (err) {
    return `unreadable (${(err as Error).message})`;
  }
}

/** The second half of `decodeState`: parse and check format, version and configuration. */
export function parseState<T>(json: Buffer, expectedDigest: string): { readonly kind: 'ok'; readonly envelope: StateEnvelope<T> } | { readonly kind: 'refused'; readonly reason: string } {
  let envelope: Partial<StateEnvelope<T>>;
  try {
    envelope = decodeParts(json) as Partial<StateEnvelope<T>>;
  } catch (err) {
    return { kind: 'refused', reason: `unreadable (${(err as Error).message})` };
  }
  if (envelope.format !== STATE_FORMAT) return { kind: 'refused', reason: `not a ${STATE_FORMAT} snapshot` };
  if (envelope.v !== STATE_VERSION) return { kind: 'refused', reason: `format version ${String(envelope.v)}, this build reads ${STATE_VERSION}` };
  if (envelope.configDigest !== expectedDigest) return { kind: 'refused', reason: 'taken under another configuration (partitions, time or site settings changed)' };
  return { kind: 'ok', envelope: envelope as StateEnvelope<T> };
}

/**
 * The gunzip output chunk: the uncompressed size from the gzip trailer (ISIZE, mod 2^32), within
 * [64 KiB, 256 MiB], so a snapshot inflates into one buffer — zlib's 16 KiB default allocated
 * thousands per restore, which cost seconds (mostly GC) at 1 M events of state.
 */
function outputChunk(raw: Uint8Array): number {
  if (raw.length < 18) return 64 * 1024;
  const isize = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).readUInt32LE(raw.length - 4);
  return Math.min(256 * 1024 * 1024, Math.max(64 * 1024, isize + 1));
}

export class StateFile<T> {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Writes the state atomically; returns the compressed size in bytes. */
  async write(configDigestValue: string, takenAt: number, state: T): Promise<number> {
    await mkdir(this.dir, { recursive: true });
    const body = await encodeState(configDigestValue, takenAt, state);
    const tmp = join(this.dir, `${CURRENT}.tmp`);
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const current = join(this.dir, CURRENT);
    if (await exists(current)) await rename(current, join(this.dir, PREVIOUS));
    await rename(tmp, current);
    await syncDir(this.dir);
    return body.length;
  }

  /** The newest usable state: the current file, else the previous one. */
  async read(expectedDigest: string): Promise<StateReadOutcome<T>> {
    const reasons: string[] = [];
    let found = false;
    for (const name of [CURRENT, PREVIOUS]) {
      const file = join(this.dir, name);
      if (!(await exists(file))) continue;
      found = true;
      let raw: Buffer;
      try {
        raw = await readFile(file);
      } catch (err) {
        reasons.push(`${name}: unreadable (${(err as Error).message})`);
        continue;
      }
      const d = await decodeState<T>(raw, expectedDigest);
      if (d.kind === 'ok') return { kind: 'ok', envelope: d.envelope, file, bytes: raw.length };
      reasons.push(`${name}: ${d.reason}`);
    }
    return found ? { kind: 'refused', reasons } : { kind: 'none' };
  }

  /** Moves refused files aside (`state.refused-<ms>.json.gz`) so the next write starts clean and an operator can inspect them. */
  async setAside(now: number): Promise<void> {
    for (const name of [CURRENT, PREVIOUS]) {
      const file = join(this.dir, name);
      if (await exists(file)) await rename(file, join(this.dir, `state.refused-${now}-${name}`));
    }
  }

  /** Removes the state files (tests). */
  async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function syncDir(dir: string): Promise<void> {
  // TRICKY: a rename is durable only once the directory entry is; some platforms refuse fsync on a directory.
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // best effort
  }
}
