/**
 * Global cross-sell rules when scaled out (issue "Scale-out", must have 2). The `rules.<site>` role
 * rides on partition 0's lease: the instance holding it (and only while it trusts that lease) gathers
 * every partition's cross-sell counts (scatter-gather, src/cluster/partition-query.ts), merges them
 * in a view of its own with `Processor.merge` semantics (restored partials attached to one
 * `CrossSellRules`), mines, and publishes the rule sets to KV `CM_RULES` (`rules.<site>`, tagged with
 * its lease epoch) and the primary window's on `cm.rules.<site>`. Every instance — the role holder
 * too — watches the key and adopts the newest epoch's rules into its own view, which its
 * next-best-offer processor follows. A round with a partition missing publishes nothing: rules from
 * part of the baskets would undercount, so the last complete ones stay.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { CrossSellRules, type CrossSellRulesSnapshot } from '../../processors/cross-sell/cross-sell-processor';
import type { Logger } from '../logger';
import type { PartitionQuery } from './partition-query';
import { whenPlaced } from './when-placed';

export const RULES_BUCKET = 'CM_RULES';

interface PublishedRules {
  readonly v: 1;
  /** The lease epoch of partition 0 the role holder held when it mined. */
  readonly epoch: number;
  readonly instance: string;
  readonly rules: CrossSellRulesSnapshot;
}

export interface GlobalRulesDeps {
  readonly instanceId: string;
  readonly sites: readonly string[];
  readonly query: PartitionQuery;
  /** The lease epoch of partition 0 while this instance holds and trusts it (the role), else undefined. */
  readonly roleEpoch: () => number | undefined;
  /** The site's own rules view (it adopts what is published). */
  readonly rulesView: (site: string) => CrossSellRules | undefined;
  readonly replicas: number;
  readonly intervalMs: number;
  readonly logger: Logger;
}

export class GlobalRules {
  readonly #d: GlobalRulesDeps;
  readonly #logger: Logger;
  readonly #adopted = new Map<string, number>();
  /** Per site, what was last published (the mined rules and their baskets), so an unchanged round publishes nothing. */
  readonly #published = new Map<string, string>();
  #kv: KV | undefined;
  #nc: NatsConnection | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(deps: GlobalRulesDeps) {
    this.#d = deps;
    this.#logger = deps.logger.child({ component: 'global-rules' });
  }

  async start(nc: NatsConnection, js: JetStreamClient): Promise<void> {
    this.#nc = nc;
    this.#kv = await whenPlaced(() => new Kvm(js).create(RULES_BUCKET, { history: 1, replicas: this.#d.replicas, storage: 'file' as never, description: 'clickstream-miner rules mined over every partition, per site' }));
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
  }

  #adopt(site: string, p: PublishedRules): void {
    if (p.v !== 1 || p.epoch < (this.#adopted.get(site) ?? Number.NEGATIVE_INFINITY)) return; // a stale role holder's
    this.#adopted.set(site, p.epoch);
    this.#d.rulesView(site)?.adopt(p.rules);
  }

  /** One round of the role holder: per site, gather, mine, publish. */
  async #round(): Promise<void> {
    for (const site of this.#d.sites) {
      if (this.#stopped || this.#d.roleEpoch() === undefined) return;
      try {
        await this.#mine(site);
      } catch (err) {
        this.#logger.warn({ err, site }, 'rules round failed; the last rules stay');
      }
    }
  }

  async #mine(site: string): Promise<void> {
    const views = await this.#d.query.gather(site, ['cross-sell'], { copies: true });
    if (views.missing.length > 0) {
      this.#logger.debug({ site, missing: views.missing }, 'partitions missing; rules not mined this round');
      return;
    }
    const view = views.processor('cross-sell');
    if (!(view instanceof CrossSellRules) || !Number.isFinite(views.watermark)) return;
    view.refresh(views.watermark);
    const epoch = this.#d.roleEpoch();
    if (epoch === undefined) return; // the role was lost while mining
    const rules = view.snapshot();
    const signature = JSON.stringify(rules.ruleSets.map(([w, r]) => [w, r.baskets, r.rules]));
    if (this.#published.get(site) === signature) return;
    const published: PublishedRules = { v: 1, epoch, instance: this.#d.instanceId, rules };
    await this.#kv?.put(`rules.${site}`, JSON.stringify(published));
    this.#published.set(site, signature);
    // Adopted here at once (the watch brings it again: unchanged then), and announced with this view's version.
    this.#adopt(site, published);
    const own = this.#d.rulesView(site);
    if (own !== undefined) this.#nc?.publish(`cm.rules.${site}`, JSON.stringify(own.current().toJSON(own.settings.maxPublishedRules)));
  }
}
