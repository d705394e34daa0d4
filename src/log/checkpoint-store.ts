/**
 * Snapshots of NATS mode: the state (encoded like the embedded state file: a versioned, gzipped JSON
 * envelope with the config digest) goes to the JetStream Object Store `CM_SNAPSHOTS` — snapshots are
 * megabytes, over KV's 1 MiB value limit — and only then a checkpoint record to the KV bucket
 * `CM_CKPT` under `ckpt.<unit>`: the object's name, its SHA-256 and the log positions it covers,
 * written with compare-and-set on the revision this process last saw, so a stale writer is refused.
 *
 * A kill between the object write and the commit leaves the previous checkpoint in force (the object
 * is then an orphan, removed by the next commit). Reading walks the key's history newest first: a
 * missing or corrupt object, or one from another version or config, is logged as `CM_ERR_SNAPSHOT`,
 * counted, and the one before is tried; with none left the log is read from its start.
 */
import { createHash } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { Config } from '../config';
import { ClickstreamError } from '../errors';
import type { Logger } from '../logger';
import type { CoreMetrics } from '../metrics/core-metrics';
import { whenPlaced } from '../cluster/when-placed';
import { encodeState, inflateState, parseState, type StateEnvelope } from '../persistence/state-file';

export const SNAPSHOT_BUCKET = 'CM_SNAPSHOTS';
export const CHECKPOINT_BUCKET = 'CM_CKPT';
/** Checkpoints kept per key (the fallbacks when the newest snapshot is unusable). */
const HISTORY = 3;

/** The KV record that makes a snapshot the one to restore. */
export interface Checkpoint {
  readonly v: 1;
  /** Object name in CM_SNAPSHOTS; empty in a fence of a unit that had no usable snapshot (its log is read from the start). */
  readonly object: string;
  /** SHA-256 (hex) of the object's bytes. */
  readonly digest: string;
  readonly bytes: number;
  /** Per partition, the last log sequence the snapshot covers (it is restored, then read from + 1). */
  readonly positions: readonly number[];
  readonly takenAt: number;
  /** Scale-out: the lease epoch of the owner that wrote it (a fence copies the checkpoint its new owner restored). */
  readonly epoch?: number;
}

/** Scale-out: who writes a unit — its lease epoch, and whether the lease is still trusted right before the commit. */
export interface WriteOwner {
  readonly epoch: number;
  stillHeld(): boolean;
}

export type CheckpointRead<T> =
  | { readonly kind: 'none' }
  | { readonly kind: 'ok'; readonly envelope: StateEnvelope<T>; readonly checkpoint: Checkpoint; readonly fallbacks: number }
  /** Checkpoints existed but none was usable (reasons newest first): start from the log's beginning. */
  | { readonly kind: 'refused'; readonly reasons: readonly string[] };

export class CheckpointStore<T> {
  readonly #objects: ObjectStore;
  readonly #kv: KV;
  readonly #metrics: CoreMetrics;
  readonly #logger: Logger;
  /** Per key, the KV revision this process last read or wrote (compare-and-set). */
  readonly #revisions = new Map<string, number>();
  readonly #afterObject: (() => void) | undefined;
  readonly #js: JetStreamClient;

  private constructor(js: JetStreamClient, objects: ObjectStore, kv: KV, metrics: CoreMetrics, logger: Logger, afterObject: (() => void) | undefined) {
    this.#js = js;
    this.#objects = objects;
    this.#kv = kv;
    this.#metrics = metrics;
    this.#logger = logger;
    this.#afterObject = afterObject;
  }

  /** Opens (creating when missing) the two buckets, with the stream's replica count. */
  static async open<T>(js: JetStreamClient, config: Config, metrics: CoreMetrics, logger: Logger, afterObject?: () => void): Promise<CheckpointStore<T>> {
    const replicas = config.nats.replicas;
    const objects = await whenPlaced(() => new Objm(js).create(SNAPSHOT_BUCKET, { replicas, storage: 'file' as never, description: 'clickstream-miner state snapshots' }));
    const kv = await whenPlaced(() => new Kvm(js).create(CHECKPOINT_BUCKET, { replicas, history: HISTORY, storage: 'file' as never, description: 'clickstream-miner checkpoints: which snapshot covers which log positions' }));
    return new CheckpointStore<T>(js, objects, kv, metrics, logger.child({ component: 'checkpoints' }), afterObject);
  }

  /**
   * Writes the object, then commits the checkpoint (compare-and-set); returns the snapshot's size in
   * bytes. Superseded objects stay until `prune`. Scaled out, `owner` tags it with the lease epoch
   * and is asked right before the commit: a lease no longer trusted commits nothing.
   */
  async write(unit: string, configDigest: string, takenAt: number, positions: readonly number[], state: T, owner?: WriteOwner): Promise<number> {
    const t0 = performance.now();
    const body = await encodeState(configDigest, takenAt, state);
    const t1 = performance.now();
    const top = positions.reduce((a, b) => Math.max(a, b), 0);
    const object = `${unit}.${top}.${takenAt}`;
    await this.#objects.putBlob({ name: object, description: `state of ${unit} up to log sequence ${top}` }, body);
    this.#logger.debug({ encodeMs: Math.round(t1 - t0), putMs: Math.round(performance.now() - t1), bytes: body.length }, 'snapshot object written');
    this.#afterObject?.();
    const ckpt: Checkpoint = { v: 1, object, digest: sha256(body), bytes: body.length, positions, takenAt, ...(owner === undefined ? {} : { epoch: owner.epoch }) };
    try {
      if (owner !== undefined && !owner.stillHeld()) throw new ClickstreamError('CM_ERR_SNAPSHOT', `checkpoint ckpt.${unit} not committed: this instance no longer holds the lease (epoch ${owner.epoch})`);
      await this.#commit(unit, ckpt);
    } catch (err) {
      if (owner !== undefined && /no longer holds|wrong last sequence/.test((err as Error).message)) this.#metrics.fencedWrites.inc();
      await this.#objects.delete(object).catch(() => undefined);
      throw err;
    }
    return body.length;
  }

  /**
   * Scale-out: a new owner of `unit` fences the previous one. It rewrites the checkpoint it restored
   * (`from`; none: an empty one, the log read from its start) tagged with its lease epoch, by
   * compare-and-set on the revision it read: from then on a stale owner's commit fails its own
   * compare-and-set. Throws when someone committed since the read (then read and restore again).
   */
  async fence(unit: string, epoch: number, from: Checkpoint | undefined, takenAt: number): Promise<void> {
    await this.#commit(unit, { ...(from ?? { v: 1, object: '', digest: '', bytes: 0, positions: [], takenAt }), epoch });
  }

  /** Forgets the revision held for `unit` (its partition was given up: the next owner moves it on). */
  forget(unit: string): void {
    this.#revisions.delete(`ckpt.${unit}`);
  }

  /** Commits a checkpoint record by compare-and-set on the revision this process last saw (none: create). */
  async #commit(unit: string, ckpt: Checkpoint): Promise<void> {
    const key = `ckpt.${unit}`;
    const rev = this.#revisions.get(key);
    try {
      const data = JSON.stringify(ckpt);
      const next = rev === undefined ? await this.#kv.create(key, data) : await this.#kv.update(key, data, rev);
      this.#revisions.set(key, next);
    } catch (err) {
      throw new ClickstreamError('CM_ERR_SNAPSHOT', `checkpoint ${key} not committed (another writer moved it past revision ${String(rev)}?): ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * The newest usable snapshot of each unit, falling back through its checkpoint history, handed to
   * `apply` one unit at a time. The objects are fetched in parallel, but each is decoded only when the
   * one before was applied and dropped: one unit's parsed state is alive at a time, not all of them
   * (decoding them all at once made a 1 M-event restore a third slower, mostly in GC).
   */
  async readEach(units: readonly string[], expectedDigest: string, apply: (unit: string, r: CheckpointRead<T>) => void): Promise<void> {
    const first = await Promise.all(
      units.map(async (unit) => {
        const entries = await this.#history(`ckpt.${unit}`);
        // Later writes compare-and-set against the newest revision, whichever snapshot is restored.
        if (entries.length > 0) this.#revisions.set(`ckpt.${unit}`, entries[0]!.revision);
        const blob = entries.length === 0 || entries[0]!.checkpoint.object === '' ? undefined : await this.#fetch(entries[0]!.checkpoint);
        return { entries, blob };
      }),
    );
    // The next unit inflates (zlib's thread pool) while this one is parsed and applied (main thread).
    const inflating: Array<Promise<Buffer | string> | undefined> = first.map(() => undefined);
    const inflateAt = (u: number): void => {
      const b = first[u]?.blob;
      if (u < first.length && inflating[u] === undefined && b instanceof Uint8Array) inflating[u] = inflateState(b);
    };
    inflateAt(0);
    for (let u = 0; u < units.length; u++) {
      inflateAt(u + 1);
      const unit = units[u]!;
      const { entries, blob } = first[u]!;
      const inflated = inflating[u];
      first[u] = { entries: [], blob: undefined }; // dropped once decoded
      inflating[u] = undefined;
      if (entries.length === 0) {
        apply(unit, { kind: 'none' });
        continue;
      }
      const reasons: string[] = [];
      let done = false;
      for (let k = 0; k < entries.length && !done; k++) {
        const { revision, checkpoint } = entries[k]!;
        if (checkpoint.object === '') {
          // A fence written by an owner that started this unit from the log's beginning.
          apply(unit, { kind: 'none' });
          done = true;
          continue;
        }
        const fetched = k === 0 ? blob! : await this.#fetch(checkpoint);
        const why = typeof fetched === 'string' ? fetched : await this.#decode(checkpoint, k === 0 && inflated !== undefined ? inflated : inflateState(fetched), expectedDigest, fetched.length);
        if (typeof why !== 'string') {
          apply(unit, { kind: 'ok', envelope: why, checkpoint, fallbacks: reasons.length });
          done = true;
          continue;
        }
        const reason = `ckpt.${unit} revision ${revision} (${checkpoint.object}): ${why}`;
        reasons.push(reason);
        this.#metrics.snapshotErrors.inc({ reason: why.startsWith('missing') ? 'missing' : why.startsWith('digest') ? 'corrupt' : 'refused' });
        this.#logger.error({ err: new ClickstreamError('CM_ERR_SNAPSHOT', reason) }, 'snapshot unusable; trying the previous one');
      }
      if (!done) apply(unit, { kind: 'refused', reasons });
    }
  }

  /** The object's bytes once their digest matches the checkpoint's, or why not. */
  async #fetch(c: Checkpoint): Promise<Uint8Array | string> {
    let blob: Uint8Array | null = null;
    const t0 = performance.now();
    // A timeout (a cluster electing a new stream leader) is tried again before the snapshot is given up.
    for (let attempt = 1; ; attempt++) {
      try {
        blob = await this.#readObject(c.object);
        break;
      } catch (err) {
        if (attempt < 4 && /timeout/i.test((err as Error).message)) continue;
        return `missing or unreadable object (${(err as Error).message})`;
      }
    }
    if (blob === null) return 'missing object';
    this.#logger.debug({ object: c.object, fetchMs: Math.round(performance.now() - t0), bytes: blob.length }, 'snapshot object fetched');
    if (sha256(blob) !== c.digest) return 'digest mismatch (corrupt object)';
    return blob;
  }

  /**
   * An object's bytes, read from its chunks straight into one buffer (null when missing). Not
   * `getBlob`: nats.js checks the object's digest with a SHA-256 in JavaScript and grows its buffer
   * chunk by chunk (14 % of a 1 M-event restart in its profile); the checkpoint's digest is checked by
   * the caller with Node's own. The chunks are the Object Store's documented layout (ADR-20): the
   * stream `OBJ_<bucket>`, one subject `$O.<bucket>.C.<nuid>` per object.
   */
  async #readObject(name: string): Promise<Uint8Array | null> {
    const info = await this.#objects.info(name);
    if (info === null || info.deleted) return null;
    const out = Buffer.allocUnsafe(info.size);
    if (info.size === 0) return out;
    const consumer = await this.#js.consumers.get(`OBJ_${SNAPSHOT_BUCKET}`, { filter_subjects: `$O.${SNAPSHOT_BUCKET}.C.${info.nuid}` });
    const it = await consumer.consume({ max_messages: Math.min(1_024, Math.max(16, info.chunks)) });
    let at = 0;
    try {
      for await (const m of it) {
        if (at + m.data.length > out.length) throw new Error(`object ${name} holds more than its ${info.size} bytes`);
        out.set(m.data, at);
        at += m.data.length;
        if (m.info.pending === 0) break;
      }
    } finally {
      await it.close();
    }
    if (at !== info.size) throw new Error(`object ${name}: ${at} of its ${info.size} bytes read`);
    return out;
  }

  async #decode(c: Checkpoint, inflating: Promise<Buffer | string>, expectedDigest: string, bytes: number): Promise<StateEnvelope<T> | string> {
    const t0 = performance.now();
    const json = await inflating;
    if (typeof json === 'string') return json;
    const t1 = performance.now();
    const d = parseState<T>(json, expectedDigest);
    this.#logger.debug({ object: c.object, inflateWaitMs: Math.round(t1 - t0), parseMs: Math.round(performance.now() - t1), bytes }, 'snapshot object decoded');
    return d.kind === 'ok' ? d.envelope : d.reason;
  }

  /** The key's checkpoints, newest first (deletes skipped). */
  async #history(key: string): Promise<Array<{ revision: number; checkpoint: Checkpoint }>> {
    const out: Array<{ revision: number; checkpoint: Checkpoint }> = [];
    const it = await this.#kv.history({ key });
    for await (const e of it) {
      if (e.operation !== 'PUT') continue;
      try {
        out.push({ revision: e.revision, checkpoint: JSON.parse(e.string()) as Checkpoint });
      } catch {
        // an unreadable record is skipped like a corrupt snapshot
      }
    }
    return out.reverse();
  }

  /** Deletes these units' objects no kept checkpoint names (orphans of a kill before a commit, superseded ones). */
  async prune(units: readonly string[]): Promise<void> {
    try {
      const keep = new Set<string>();
      for (const unit of units) for (const e of await this.#history(`ckpt.${unit}`)) keep.add(e.checkpoint.object);
      const owned = (name: string): boolean => units.some((u) => name.startsWith(`${u}.`));
      for (const o of await this.#objects.list()) {
        if (owned(o.name) && !keep.has(o.name) && !o.deleted) await this.#objects.delete(o.name);
      }
    } catch (err) {
      this.#logger.warn({ err }, 'could not prune old snapshots');
    }
  }
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
