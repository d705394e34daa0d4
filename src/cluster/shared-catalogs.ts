/**
 * Scaled out, an offer catalog changed on any instance is changed on all of them: the admin routes
 * write the site's whole catalog to the KV bucket `CM_CATALOG` (key `<site>`; at most
 * `DEFAULT_MAX_OFFERS`-sized lists, well under a KV value's limit), and every instance follows the
 * bucket and replaces its own catalog with it. Offers are decided by the owner of each visitor's
 * partition, so every owner must decide from the same catalog; the bucket also keeps it across
 * restarts. What is read back is validated as a PUT body is: a bad value is logged and skipped.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { KvEntry } from '@nats-io/kv';
import type { Logger } from '../logger';
import type { OfferCatalog } from '../../processors/next-best-offer/offer-catalog';
import { SharedBucket } from './shared-bucket';

export const CATALOG_BUCKET = 'CM_CATALOG';

export interface SharedCatalogsOptions {
  /** The offer catalog of a configured site (undefined: not one, or it runs no next-best-offer). */
  readonly catalog: (site: string) => OfferCatalog | undefined;
  readonly replicas: number;
  readonly logger: Logger;
}

export class SharedCatalogs {
  readonly #o: SharedCatalogsOptions;
  readonly #logger: Logger;
  readonly #bucket: SharedBucket;

  constructor(opts: SharedCatalogsOptions) {
    this.#o = opts;
    this.#logger = opts.logger.child({ component: 'offer-catalogs' });
    this.#bucket = new SharedBucket({ bucket: CATALOG_BUCKET, description: 'clickstream-miner offer catalogs, per site', replicas: opts.replicas, apply: (e) => this.#apply(e), logger: this.#logger });
  }

  start(js: JetStreamClient): Promise<void> {
    return this.#bucket.start(js);
  }

  /** Stores the site's whole catalog (its `toJSON`) for every instance. */
  put(site: string, offers: readonly Record<string, unknown>[]): Promise<void> {
    return this.#bucket.put(site, JSON.stringify(offers));
  }

  stop(): Promise<void> {
    return this.#bucket.stop();
  }

  #apply(e: KvEntry): void {
    const catalog = this.#o.catalog(e.key);
    if (catalog === undefined || e.operation !== 'PUT') return;
    let raw: unknown;
    try {
      raw = e.json();
    } catch {
      raw = undefined;
    }
    // The instance that wrote it holds it already: the same catalog again changes nothing.
    if (JSON.stringify(catalog.toJSON()) === JSON.stringify(raw)) return;
    const r = catalog.replaceAll(raw);
    if (r.kind === 'invalid') {
      this.#logger.warn({ site: e.key, problems: r.problems }, 'shared offer catalog unreadable; skipped');
      return;
    }
    this.#logger.info({ site: e.key, size: r.size }, 'offer catalog changed by another instance');
  }
}
