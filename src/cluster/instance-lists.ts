/**
 * Lists each instance keeps of its own, gathered for the whole site when scaled out: the live event
 * log and the late side output (kept by the partition owners), the quarantine (kept by the gateway
 * that refused the input), recent offer triggers and offer statistics (kept by the deciding owner).
 * The asking instance publishes on `cm.lists.<site>`; every other live member (the lease bucket's
 * heartbeats) answers with its part; the caller merges. Members that did not answer within the
 * timeout are named, never silently left out.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from '../logger';
import { answerEveryone, askEveryone, type EveryoneRequest } from './scatter-gather';

export type ListName = 'events' | 'late' | 'quarantine' | 'offers' | 'offer-stats';
const LISTS: ReadonlySet<string> = new Set<ListName>(['events', 'late', 'quarantine', 'offers', 'offer-stats']);

interface ListRequest extends EveryoneRequest {
  readonly list: ListName;
  readonly limit: number;
}

/** Every instance's part of a list (this one's included), by instance id, and the live members that did not answer. */
export interface GatheredParts {
  readonly parts: ReadonlyMap<string, unknown>;
  readonly missing: readonly string[];
}

export interface InstanceListsDeps {
  readonly instanceId: string;
  /** The live members (this instance included). */
  readonly members: () => readonly string[];
  /** This instance's part of list `name` of `site` (JSON). */
  readonly local: (site: string, name: ListName, limit: number) => unknown;
  readonly timeoutMs: number;
  readonly logger: Logger;
}

export function listsSubject(site: string): string {
  return `cm.lists.${site}`;
}

export class InstanceLists {
  readonly #d: InstanceListsDeps;
  readonly #logger: Logger;
  readonly #subs: Subscription[] = [];
  #nc: NatsConnection | undefined;

  constructor(deps: InstanceListsDeps) {
    this.#d = deps;
    this.#logger = deps.logger.child({ component: 'instance-lists' });
  }

  start(nc: NatsConnection, sites: Iterable<string>): void {
    this.#nc = nc;
    for (const site of sites) {
      this.#subs.push(
        answerEveryone<ListRequest>(nc, listsSubject(site), {
          instanceId: this.#d.instanceId,
          readable: (req) => LISTS.has(req.list) && Number.isInteger(req.limit) && req.limit >= 0,
          answer: (req) => this.#d.local(site, req.list, req.limit),
          logger: this.#logger,
        }),
      );
    }
  }

  stop(): void {
    for (const s of this.#subs.splice(0)) s.unsubscribe();
  }

  /** This instance's part and every other live member's, as they answer within the timeout. */
  async gather(site: string, list: ListName, limit: number): Promise<GatheredParts> {
    const others = this.#d.members().filter((m) => m !== this.#d.instanceId);
    const parts = new Map<string, unknown>([[this.#d.instanceId, this.#d.local(site, list, limit)]]);
    if (this.#nc !== undefined && others.length > 0) {
      const request: ListRequest = { v: 1, from: this.#d.instanceId, list, limit };
      const answers = await askEveryone<unknown>(this.#nc, listsSubject(site), request, { timeoutMs: this.#d.timeoutMs, logger: this.#logger, done: (got) => others.every((m) => got.has(m)) });
      for (const [from, part] of answers) if (from !== this.#d.instanceId) parts.set(from, part);
    }
    return { parts, missing: others.filter((m) => !parts.has(m)) };
  }
}
