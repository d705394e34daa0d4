/**
 * Scaled out, a segment defined (or removed) on any instance is defined on all of them: the admin
 * routes write it to the KV bucket `CM_SEGMENTS` (key `<site>.<segment id>`), and every instance
 * watches the bucket and applies what it holds to its own usage view. Membership is evaluated by the
 * owner of each visitor's partition, so every owner must know every definition; the bucket also keeps
 * them across restarts (scaled out there is no site-wide snapshot unit).
 *
 * What is read back is validated as a PUT body is (`parseSegment`): a bad value is logged and skipped.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { KvEntry } from '@nats-io/kv';
import type { Logger } from '../logger';
import { parseSegment, type SegmentDefinition } from '../../processors/usage/segments';
import type { UsageView } from '../../processors/usage/usage-processor';
import { SharedBucket } from './shared-bucket';

export const SEGMENTS_BUCKET = 'CM_SEGMENTS';

export interface SharedSegmentsOptions {
  /** The usage view of a configured site (undefined: not one, or it runs no usage processor). */
  readonly usage: (site: string) => UsageView | undefined;
  readonly replicas: number;
  readonly logger: Logger;
}

export class SharedSegments {
  readonly #o: SharedSegmentsOptions;
  readonly #logger: Logger;
  readonly #bucket: SharedBucket;

  constructor(opts: SharedSegmentsOptions) {
    this.#o = opts;
    this.#logger = opts.logger.child({ component: 'segments' });
    this.#bucket = new SharedBucket({ bucket: SEGMENTS_BUCKET, description: 'clickstream-miner segment definitions, per site', replicas: opts.replicas, apply: (e) => this.#apply(e), logger: this.#logger });
  }

  /** Opens the bucket, applies every definition it holds, then follows its changes. */
  start(js: JetStreamClient): Promise<void> {
    return this.#bucket.start(js);
  }

  /** Stores a definition for every instance (this one applies it from the watch, or has already). */
  put(site: string, d: SegmentDefinition): Promise<void> {
    return this.#bucket.put(`${site}.${d.id}`, JSON.stringify(d));
  }

  /** Removes a definition everywhere. */
  remove(site: string, id: string): Promise<void> {
    return this.#bucket.remove(`${site}.${id}`);
  }

  stop(): Promise<void> {
    return this.#bucket.stop();
  }

  #apply(e: KvEntry): void {
    const dot = e.key.indexOf('.');
    const site = e.key.slice(0, dot);
    const id = e.key.slice(dot + 1);
    const usage = this.#o.usage(site);
    if (dot <= 0 || usage === undefined) return;
    if (e.operation !== 'PUT') {
      usage.removeSegment(id);
      return;
    }
    let raw: unknown;
    try {
      raw = e.json();
    } catch {
      raw = undefined;
    }
    const r = parseSegment(raw);
    if (r.kind === 'invalid' || r.segment.id !== id) {
      this.#logger.warn({ site, key: e.key, problems: r.kind === 'invalid' ? r.problems : ['id differs from the key'] }, 'shared segment definition unreadable; skipped');
      return;
    }
    // The instance that wrote it applied it already: the same definition again changes nothing.
    if (JSON.stringify(usage.segment(id)) === JSON.stringify(r.segment)) return;
    try {
      usage.putSegment(r.segment);
      this.#logger.info({ site, segment: id }, 'segment defined by another instance');
    } catch (err) {
      this.#logger.error({ err, site, segment: id }, 'shared segment definition not applied');
    }
  }
}
