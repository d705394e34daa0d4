/**
 * A KV bucket every instance follows, for definitions that must be the same on all of them (segment
 * definitions, offer catalogs): at start every entry it holds is applied, then every change as it
 * comes (watched again after a loss). Writes go to the bucket; each instance, the writer included,
 * applies them from the watch (the writer has usually applied them already: `apply` must then change
 * nothing).
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { Logger } from '../logger';
import { followAgain } from './follow-again';
import { whenPlaced } from './when-placed';

export interface SharedBucketOptions {
  readonly bucket: string;
  readonly description: string;
  readonly replicas: number;
  /** Applies one entry (a PUT or a deletion) to this instance. */
  readonly apply: (e: KvEntry) => void;
  readonly logger: Logger;
}

export class SharedBucket {
  readonly #o: SharedBucketOptions;
  #kv: KV | undefined;
  #stopped = false;
  #watching: Promise<void> | undefined;
  #stopWatch: (() => void) | undefined;

  constructor(opts: SharedBucketOptions) {
    this.#o = opts;
  }

  /** Opens the bucket, applies every entry it holds, then follows its changes. */
  async start(js: JetStreamClient): Promise<void> {
    const kv = await whenPlaced(() => new Kvm(js).create(this.#o.bucket, { history: 1, replicas: this.#o.replicas, storage: 'file' as never, description: this.#o.description }));
    this.#kv = kv;
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    for (const k of keys) {
      const e = await kv.get(k);
      if (e !== null) this.#o.apply(e);
    }
    this.#watching = followAgain(
      () => this.#stopped,
      async () => {
        const it = await kv.watch({ key: '>' });
        this.#stopWatch = () => it.stop();
        if (this.#stopped) it.stop();
        for await (const e of it) this.#o.apply(e);
      },
      (err) => this.#o.logger.warn({ err, bucket: this.#o.bucket }, 'shared bucket watch lost; watching again'),
      500,
    );
  }

  async put(key: string, value: string): Promise<void> {
    await this.#bucket().put(key, value);
  }

  async remove(key: string): Promise<void> {
    await this.#bucket().delete(key);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopWatch?.();
    await this.#watching;
  }

  #bucket(): KV {
    if (this.#kv === undefined) throw new Error(`${this.#o.bucket} is not shared yet (NATS not connected)`);
    return this.#kv;
  }
}
