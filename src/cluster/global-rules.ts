/**
 * Global cross-sell rules when scaled out (issue "Scale-out", must have 2).
 *
 * Owners push. Every `RULES_INTERVAL`, each instance publishes, for every partition it holds and has
 * read back, the cross-sell panes that changed since it last did (a pane is an `ItemsetCounter`:
 * mergeable counts), to KV `CM_PARTIALS` under `x.<site>.<partition>.<epoch>.<stream>.<paneStart>`,
 * gzipped; one too large for a KV value goes to the Object Store `CM_PARTIALS` and the key holds a
 * pointer with its digest. Then it commits the partition's manifest `m.<site>.<partition>` — lease
 * epoch, watermark, the panes and versions that make up the partition now — by compare-and-set
 * against its own last write, and deletes the keys of panes it no longer holds. Panes are taken in one
 * synchronous pass, so a manifest is a consistent cut of one partition.
 *
 * Fencing: the epoch is the tenure's — the revision of the lease claim, higher than any earlier
 * owner's and unchanged by renewals. It is in the pane keys, so a stale owner never overwrites the new owner's panes; its
 * manifest commit fails the compare-and-set once the new owner has written (refused, counted), and a
 * manifest of a lower epoch than one already seen is ignored by the merger either way.
 *
 * One instance merges. The `rules.<site>` role rides on partition 0's lease: while its holder trusts
 * it, it follows `CM_PARTIALS` (the watch replays what the bucket holds, so a new holder starts from
 * every partition's latest cut), reading each pane once as it arrives. Once manifests come in and
 * every partition's cut is complete, it builds again the site panes whose partitions' panes changed —
 * each the merge of the partitions' panes in partition order, exactly as one instance attaching its
 * partitions builds it — keeps the others (and the window prefixes merged from them), mines, and
 * publishes the rule sets to KV `CM_RULES` (`rules.<site>`, tagged with its epoch) and the primary
 * window's on `cm.rules.<site>`. Every instance — the role holder too — watches that key and adopts
 * the newest epoch's rules into its own view, which its next-best-offer processor follows. With a
 * partition's manifest missing nothing is published: rules from part of the baskets would
 * undercount, so the last complete ones stay.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { Kvm, type KV, type KvEntry, type KvWatchEntry } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { CROSS_SELL_STREAM_COUNT, CrossSellProcessor, CrossSellRules, type CrossSellRulesSnapshot } from '../../processors/cross-sell/cross-sell-processor';
import type { ItemsetCounter, ItemsetCounterSnapshot } from '../../processors/cross-sell/itemset-counter';
import { lowestWatermark, type PartitionSets, type SiteView } from '../../processors/processor';
import type { Logger } from '../logger';
import type { LocalPartitions } from './partition-query';
import { followAgain } from './follow-again';
import { whenPlaced } from './when-placed';

export const RULES_BUCKET = 'CM_RULES';
export const PARTIALS_BUCKET = 'CM_PARTIALS';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
const NAME = 'cross-sell';
/** How long the role holder waits after a manifest for more before mining, ms. */
const MINE_QUIET_MS = 50;

interface PublishedRules {
  readonly v: 1;
  /** The lease epoch of partition 0 the role holder held when it mined. */
  readonly epoch: number;
  readonly instance: string;
  readonly rules: CrossSellRulesSnapshot;
}

/** A partition's cut: what its owner held when it last published. */
interface Manifest {
  readonly v: 1;
  readonly epoch: number;
  readonly instance: string;
  readonly watermark: number | null;
  /** [stream, paneStart, version] of every pane held. */
  readonly panes: ReadonlyArray<readonly [number, number, number]>;
}

/** One pane of one partition: its counts, or where in the Object Store they are. */
interface PanePartial {
  readonly v: 1;
  readonly epoch: number;
  readonly version: number;
  readonly counter?: ItemsetCounterSnapshot;
  readonly object?: string;
  readonly digest?: string;
}

export type PartialOutcome = 'inline' | 'object' | 'refused_stale' | 'ignored_stale' | 'unreadable';

export interface GlobalRulesDeps {
  readonly instanceId: string;
  readonly sites: readonly string[];
  readonly partitions: number;
  /** The partitions this instance holds and has read back, their processors and watermarks. */
  readonly local: LocalPartitions;
  /**
   * The epoch this instance's tenure of `partition` began at, while it holds it, trusts the lease and
   * has read it back (unchanged by renewals, higher than any earlier owner's); else undefined.
   */
  readonly tenure: (partition: number) => number | undefined;
  /** The lease epoch of partition 0 while this instance holds and trusts it (the role), else undefined. */
  readonly roleEpoch: () => number | undefined;
  /** The site's own rules view (it adopts what is published). */
  readonly rulesView: (site: string) => CrossSellRules | undefined;
  /** The site's rules view over these partitions (the class a pipeline builds; the role holder's has none: it is fed panes). */
  readonly view: (site: string, name: string, parts: PartitionSets) => SiteView | undefined;
  readonly replicas: number;
  readonly intervalMs: number;
  /** A pane partial gzipped larger than this goes to the Object Store (KV values are limited by the server's max payload). */
  readonly inlineMaxBytes: number;
  /** Counts partials by outcome, with the bytes written for published ones. */
  readonly counted?: (outcome: PartialOutcome, bytes: number) => void;
  readonly logger: Logger;
}

/** What this instance last published for one partition of one site. */
interface Published {
  readonly epoch: number;
  /** Per `<stream>.<paneStart>`: the pane object and version sent, and whether it went to the Object Store. */
  readonly panes: Map<string, { readonly pane: ItemsetCounter; readonly version: number; readonly object: boolean }>;
  watermark: number | null | undefined;
  /** Revision of this instance's last manifest write (undefined before the first in this epoch). */
  revision: number | undefined;
  /** A later owner's manifest is in the bucket: nothing more is published at this epoch. */
  fenced: boolean;
}

/** The role holder's copy of one partition's latest cut. */
interface Cut {
  manifest: Manifest | undefined;
  /** Per `<epoch>.<stream>.<paneStart>`, read once as it arrives. */
  readonly panes: Map<string, { readonly version: number; readonly counter: ItemsetCounter }>;
}

/**
 * The role holder's copy of a site: every partition's latest cut, and the site view mined from them,
 * kept between minings — a site pane is built again only when a partition's pane under it changed
 * (`built`: per `<stream>.<paneStart>`, the partitions' panes and versions it was built from).
 */
interface SiteCuts {
  readonly parts: Cut[];
  readonly view: CrossSellRules;
  readonly built: Map<string, string>;
  dirty: boolean;
}

export class GlobalRules {
  readonly #d: GlobalRulesDeps;
  readonly #logger: Logger;
  readonly #adopted = new Map<string, number>();
  /** Per site, what was last published (the mined rules and their baskets), so an unchanged round publishes nothing. */
  readonly #minedSignature = new Map<string, string>();
  /** Per `<site>.<partition>`: what this instance published as its owner. */
  readonly #own = new Map<string, Published>();
  /** Role holder: per site, every partition's latest cut, and whether any changed since the last mining. */
  readonly #cuts = new Map<string, SiteCuts>();
  #kv: KV | undefined;
  #partials: KV | undefined;
  #objects: ObjectStore | undefined;
  #nc: NatsConnection | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  /** The role holder's watch of CM_PARTIALS while it holds the role. */
  #following: { stop: () => void; done: Promise<void>; stopped: boolean } | undefined;
  readonly #mineTimers = new Map<string, NodeJS.Timeout>();
  #mining: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(deps: GlobalRulesDeps) {
    this.#d = deps;
    this.#logger = deps.logger.child({ component: 'global-rules' });
  }

  async start(nc: NatsConnection, js: JetStreamClient): Promise<void> {
    this.#nc = nc;
    const kvm = new Kvm(js);
    this.#kv = await whenPlaced(() => kvm.create(RULES_BUCKET, { history: 1, replicas: this.#d.replicas, storage: 'file' as never, description: 'clickstream-miner rules mined over every partition, per site' }));
    this.#partials = await whenPlaced(() => kvm.create(PARTIALS_BUCKET, { history: 1, replicas: this.#d.replicas, storage: 'file' as never, description: 'clickstream-miner cross-sell pane partials and manifests, per site and partition' }));
    this.#objects = await whenPlaced(() => new Objm(js).create(PARTIALS_BUCKET, { replicas: this.#d.replicas, storage: 'file' as never, description: 'clickstream-miner cross-sell pane partials too large for a KV value' }));
    const watch = await this.#kv.watch({ key: 'rules.*' });
    void (async () => {
      for await (const e of watch) {
        if (e.operation !== 'PUT') continue;
        try {
          this.#adopt(e.key.slice('rules.'.length), e.json<PublishedRules>());
        } catch (err) {
          this.#logger.warn({ err, key: e.key }, 'unreadable rules skipped');
        }
      }
    })();
    this.#timer = setInterval(() => {
      this.#running ??= this.#round().finally(() => {
        this.#running = undefined;
      });
    }, this.#d.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#running;
    await this.#unfollow();
    for (const t of this.#mineTimers.values()) clearTimeout(t);
    await this.#mining;
  }

  #adopt(site: string, p: PublishedRules): void {
    if (p.v !== 1 || p.epoch < (this.#adopted.get(site) ?? Number.NEGATIVE_INFINITY)) return; // a stale role holder's
    this.#adopted.set(site, p.epoch);
    this.#d.rulesView(site)?.adopt(p.rules);
  }

  /** One round: publish this instance's changed partials; the role holder follows the bucket while it holds the role (and mines as manifests come in). */
  async #round(): Promise<void> {
    for (const site of this.#d.sites) {
      for (const p of this.#d.local.ready().keys()) {
        const epoch = this.#d.tenure(p);
        if (this.#stopped) return;
        if (epoch === undefined) continue;
        try {
          await this.#publishPartition(site, p, epoch);
        } catch (err) {
          this.#logger.warn({ err, site, partition: p }, 'partials not published; tried again next round');
        }
      }
    }
    // Partitions no longer held: forget what was sent for them (a later take-over starts a new epoch).
    const held = this.#d.local.ready();
    for (const key of this.#own.keys()) if (!held.has(Number(key.slice(key.lastIndexOf('.') + 1)))) this.#own.delete(key);
    const role = this.#d.roleEpoch();
    if (role === undefined) {
      await this.#unfollow();
      return;
    }
    if (this.#following === undefined) this.#follow();
  }

  // ---- owner side ----

  async #publishPartition(site: string, p: number, epoch: number): Promise<void> {
    const proc = this.#d.local.processor(site, p, NAME);
    const kv = this.#partials;
    if (!(proc instanceof CrossSellProcessor) || kv === undefined) return;
    const key = `${site}.${p}`;
    let own = this.#own.get(key);
    if (own === undefined || own.epoch !== epoch) {
      own = { epoch, panes: new Map(), watermark: undefined, revision: undefined, fenced: false };
      this.#own.set(key, own);
    }
    if (own.fenced) return;
    // One synchronous pass: the panes and the watermark as of one moment of the partition.
    const changed: Array<{ readonly id: string; readonly pane: ItemsetCounter; readonly version: number; readonly counter: ItemsetCounterSnapshot }> = [];
    const listed: Array<readonly [number, number, number]> = [];
    const current = new Set<string>();
    for (let i = 0; i < CROSS_SELL_STREAM_COUNT; i++) {
      for (const [t, pane] of proc.panes(i)) {
        const id = `${i}.${t}`;
        current.add(id);
        listed.push([i, t, pane.version]);
        const sent = own.panes.get(id);
        if (sent?.pane !== pane || sent.version !== pane.version) changed.push({ id, pane, version: pane.version, counter: pane.snapshot() });
      }
    }
    const wm = this.#d.local.watermark(site, p);
    const watermark = Number.isFinite(wm) ? wm : null;
    const removed = [...own.panes.keys()].filter((id) => !current.has(id));
    if (changed.length === 0 && removed.length === 0 && watermark === own.watermark && own.revision !== undefined) return;

    for (const c of changed) {
      if (this.#d.tenure(p) !== epoch) return;
      const name = `x.${site}.${p}.${epoch}.${c.id}`;
      const body = await gzipAsync(Buffer.from(JSON.stringify({ v: 1, epoch, version: c.version, counter: c.counter } satisfies PanePartial)));
      let object = false;
      if (body.length > this.#d.inlineMaxBytes) {
        await this.#objects!.putBlob({ name, description: `cross-sell pane ${c.id} of ${site} partition ${p}, epoch ${epoch}` }, body);
        const pointer = await gzipAsync(Buffer.from(JSON.stringify({ v: 1, epoch, version: c.version, object: name, digest: sha256(body) } satisfies PanePartial)));
        await kv.put(name, pointer);
        object = true;
      } else {
        await kv.put(name, body);
        // Shrunk under the limit (retracted sessions): the object it was in goes.
        if (own.panes.get(c.id)?.object === true) await this.#objects!.delete(name).catch(() => undefined);
      }
      own.panes.set(c.id, { pane: c.pane, version: c.version, object });
      this.#d.counted?.(object ? 'object' : 'inline', body.length);
    }
    if (this.#d.tenure(p) !== epoch) return;
    const first = own.revision === undefined;
    if (!(await this.#commitManifest(site, p, own, { v: 1, epoch, instance: this.#d.instanceId, watermark, panes: listed }))) return;
    own.watermark = watermark;
    for (const id of removed) {
      const name = `x.${site}.${p}.${epoch}.${id}`;
      if (own.panes.get(id)?.object === true) await this.#objects!.delete(name).catch(() => undefined);
      await kv.delete(name);
      own.panes.delete(id);
    }
    if (first) await this.#dropEarlierEpochs(site, p, epoch);
  }

  /** Commits the manifest by compare-and-set against this instance's last write; false when refused (a later owner wrote). */
  async #commitManifest(site: string, p: number, own: Published, manifest: Manifest): Promise<boolean> {
    const kv = this.#partials!;
    const key = `m.${site}.${p}`;
    const body = JSON.stringify(manifest);
    try {
      if (own.revision !== undefined) {
        own.revision = await kv.update(key, body, own.revision);
        return true;
      }
    } catch {
      own.revision = undefined; // someone else wrote since: look at what is there
    }
    const there: KvEntry | null = await kv.get(key);
    const theirs = there === null || there.operation !== 'PUT' ? undefined : parseManifest(there.string());
    if (theirs !== undefined && theirs.epoch > manifest.epoch) {
      own.fenced = true;
      this.#d.counted?.('refused_stale', 0);
      this.#logger.warn({ site, partition: p, epoch: manifest.epoch, later: theirs.epoch }, 'a later owner published this partition; this stale owner publishes nothing more');
      return false;
    }
    own.revision = there === null ? await kv.create(key, body) : await kv.update(key, body, there.revision);
    return true;
  }

  /** A new owner's first cut is in: the panes earlier owners left under their epochs go. */
  async #dropEarlierEpochs(site: string, p: number, epoch: number): Promise<void> {
    const kv = this.#partials!;
    const stale: string[] = [];
    for await (const k of await kv.keys(`x.${site}.${p}.>`)) if (Number(k.split('.')[3]) < epoch) stale.push(k);
    for (const k of stale) {
      const e = await kv.get(k);
      const partial = e === null || e.operation !== 'PUT' ? undefined : await decodePartial(e.value).catch(() => undefined);
      if (partial?.object !== undefined) await this.#objects!.delete(partial.object).catch(() => undefined);
      await kv.delete(k);
    }
  }

  // ---- role holder side ----

  #follow(): void {
    const kv = this.#partials;
    if (kv === undefined) return;
    this.#cuts.clear();
    const following: { stop: () => void; done: Promise<void>; stopped: boolean } = { stop: () => undefined, done: Promise.resolve(), stopped: false };
    following.done = followAgain(
      () => following.stopped || this.#stopped,
      async () => {
        this.#cuts.clear(); // the watch replays the bucket
        const it = await kv.watch({ key: '>' });
        following.stop = () => it.stop();
        if (following.stopped) it.stop();
        for await (const e of it) await this.#take(e);
      },
      (err, failures) => {
        if (failures % 10 === 0) this.#logger.warn({ err }, 'partials watch lost; following again');
      },
      1_000,
    );
    this.#following = following;
  }

  async #unfollow(): Promise<void> {
    const f = this.#following;
    if (f === undefined) return;
    this.#following = undefined;
    f.stopped = true;
    f.stop();
    await f.done;
    this.#cuts.clear();
    this.#minedSignature.clear(); // another holder publishes meanwhile: a later tenure publishes afresh
  }

  #cut(site: string, p: number): { readonly cut: Cut; readonly site: SiteCuts } | undefined {
    if (!this.#d.sites.includes(site) || !(Number.isInteger(p) && p >= 0 && p < this.#d.partitions)) return undefined;
    let s = this.#cuts.get(site);
    if (s === undefined) {
      const view = this.#d.view(site, NAME, { of: () => [], forVisitor: () => undefined });
      if (!(view instanceof CrossSellRules)) return undefined;
      s = { parts: Array.from({ length: this.#d.partitions }, () => ({ manifest: undefined, panes: new Map() })), view, built: new Map(), dirty: true };
      this.#cuts.set(site, s);
    }
    return { cut: s.parts[p]!, site: s };
  }

  /** One entry of CM_PARTIALS into the role holder's copy. */
  async #take(e: KvWatchEntry): Promise<void> {
    const [kind, site = '', part = '', ...rest] = e.key.split('.');
    const at = this.#cut(site, Number(part));
    if (at === undefined) return;
    const { cut } = at;
    const deleted = e.operation !== 'PUT';
    try {
      if (kind === 'm') {
        if (deleted) {
          cut.manifest = undefined;
        } else {
          const m = parseManifest(e.string());
          if (m === undefined) throw new Error('not a manifest');
          if (cut.manifest !== undefined && m.epoch < cut.manifest.epoch) {
            this.#d.counted?.('ignored_stale', 0);
            return;
          }
          cut.manifest = m;
          for (const k of cut.panes.keys()) if (Number(k.split('.')[0]) < m.epoch) cut.panes.delete(k);
        }
      } else if (kind === 'x') {
        const id = rest.join('.');
        if (deleted) {
          cut.panes.delete(id);
        } else {
          const partial = await decodePartial(e.value);
          if (cut.manifest !== undefined && partial.epoch < cut.manifest.epoch) {
            this.#d.counted?.('ignored_stale', 0);
            return;
          }
          const counter = partial.counter ?? (await this.#fetchObject(partial));
          if (counter === undefined) return; // replaced meanwhile: the newer pointer follows
          cut.panes.set(id, { version: partial.version, counter: at.site.view.counterOf(counter) });
        }
      } else return;
      at.site.dirty = true;
      // A manifest commits a partition's cut (its panes came before it, in order): mine once the burst is in.
      if (kind === 'm') this.#mineSoon(site);
    } catch (err) {
      this.#d.counted?.('unreadable', 0);
      this.#logger.warn({ err, key: e.key }, 'unreadable partial skipped');
    }
  }

  async #fetchObject(partial: PanePartial): Promise<ItemsetCounterSnapshot | undefined> {
    const blob = await this.#objects!.getBlob(partial.object!).catch(() => null);
    if (blob === null || sha256(blob) !== partial.digest) return undefined;
    return (await decodePartial(blob)).counter;
  }

  /** Mines `site` after a short quiet spell (owners commit their partitions one after another), one mining at a time. */
  #mineSoon(site: string): void {
    clearTimeout(this.#mineTimers.get(site));
    const timer = setTimeout(() => {
      this.#mineTimers.delete(site);
      this.#mining = this.#mining.then(async () => {
        if (this.#stopped || this.#d.roleEpoch() === undefined) return;
        await this.#mine(site).catch((err: unknown) => this.#logger.warn({ err, site }, 'rules not mined; the last rules stay'));
      });
    }, MINE_QUIET_MS);
    this.#mineTimers.set(site, timer);
  }

  async #mine(site: string): Promise<void> {
    const s = this.#cuts.get(site);
    if (s === undefined || !s.dirty) return;
    // Per `<stream>.<paneStart>`, the partitions' panes under it, in partition order.
    const under = new Map<string, { readonly i: number; readonly t: number; readonly panes: ItemsetCounter[]; sig: string }>();
    const watermarks: number[] = [];
    for (let p = 0; p < this.#d.partitions; p++) {
      const cut = s.parts[p]!;
      const m = cut.manifest;
      if (m === undefined) return; // a partition not published yet: no rules from part of the baskets
      for (const [i, t, version] of m.panes) {
        const pane = cut.panes.get(`${m.epoch}.${i}.${t}`);
        if (pane === undefined || pane.version < version) return; // the cut is still arriving
        const key = `${i}.${t}`;
        const u = under.get(key) ?? { i, t, panes: [], sig: '' };
        u.panes.push(pane.counter);
        u.sig += `${p}:${m.epoch}:${pane.version},`;
        under.set(key, u);
      }
      watermarks.push(m.watermark ?? Number.NEGATIVE_INFINITY);
    }
    s.dirty = false;
    const view = s.view;
    for (const u of under.values()) {
      if (s.built.get(`${u.i}.${u.t}`) === u.sig) continue;
      view.rebuildPane(u.i, u.t, u.panes);
      s.built.set(`${u.i}.${u.t}`, u.sig);
      // A turn of the event loop between panes: lease renewals and queries are not held up by a big rebuild.
      await new Promise((r) => setImmediate(r));
    }
    for (const key of [...s.built.keys()]) {
      if (under.has(key)) continue;
      const [i, t] = key.split('.').map(Number) as [number, number];
      view.rebuildPane(i, t, []);
      s.built.delete(key);
    }
    const watermark = lowestWatermark(watermarks);
    if (!Number.isFinite(watermark)) return;
    view.refresh(watermark);
    const epoch = this.#d.roleEpoch();
    if (epoch === undefined) return; // the role was lost while mining
    const rules = view.snapshot();
    const signature = JSON.stringify(rules.ruleSets.map(([w, r]) => [w, r.baskets, r.rules]));
    if (this.#minedSignature.get(site) === signature) return;
    const published: PublishedRules = { v: 1, epoch, instance: this.#d.instanceId, rules };
    await this.#kv?.put(`rules.${site}`, JSON.stringify(published));
    this.#minedSignature.set(site, signature);
    // Adopted here at once (the watch brings it again: unchanged then), and announced with this view's version.
    this.#adopt(site, published);
    const own = this.#d.rulesView(site);
    if (own !== undefined) this.#nc?.publish(`cm.rules.${site}`, JSON.stringify(own.current().toJSON(own.settings.maxPublishedRules)));
  }
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

async function decodePartial(body: Uint8Array): Promise<PanePartial> {
  const p = JSON.parse((await gunzipAsync(body)).toString()) as PanePartial;
  if (p.v !== 1 || typeof p.epoch !== 'number' || typeof p.version !== 'number' || (p.counter === undefined && typeof p.object !== 'string')) throw new Error('not a pane partial v1');
  return p;
}

function parseManifest(s: string): Manifest | undefined {
  try {
    const m = JSON.parse(s) as Manifest;
    return m.v === 1 && typeof m.epoch === 'number' && Array.isArray(m.panes) ? m : undefined;
  } catch {
    return undefined;
  }
}
