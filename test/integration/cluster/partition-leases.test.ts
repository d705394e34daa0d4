import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { ownerOf, PartitionLeases } from '../../../src/cluster/partition-leases';
import { createLogger } from '../../../src/logger';
import { startNatsServer, type NatsServerHandle } from '../../helpers/nats-server';
import { startNatsCluster } from '../../helpers/nats-cluster';
import { until } from '../../helpers/until';

const PARTITIONS = 8;
const TTL = 1_500;

interface Event {
  readonly at: number;
  readonly kind: 'acquired' | 'released' | 'lost';
  readonly instance: string;
  readonly partition: number;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups.length = 0;
});

/** Two instances, both opened before either starts. */
async function started(nc: NatsConnection, log: Event[], first: string, second: string): Promise<[PartitionLeases, PartitionLeases]> {
  const pair: [PartitionLeases, PartitionLeases] = [await instance(nc, first, log), await instance(nc, second, log)];
  for (const l of pair) l.start();
  return pair;
}

async function instance(nc: NatsConnection, id: string, log: Event[], opts: { now?: () => number; ttlMs?: number; replicas?: number } = {}): Promise<PartitionLeases> {
  const record = (kind: Event['kind'], partition: number): void => {
    log.push({ at: Date.now(), kind, instance: id, partition });
  };
  const leases = await PartitionLeases.open(jetstream(nc), {
    instanceId: id,
    partitions: PARTITIONS,
    ttlMs: opts.ttlMs ?? TTL,
    replicas: opts.replicas ?? 1,
    logger: createLogger('silent'),
    hooks: { acquired: (p) => record('acquired', p), release: (p) => record('released', p), lost: (p) => record('lost', p) },
    ...(opts.now === undefined ? {} : { now: opts.now }),
  });
  cleanups.push(() => leases.stop());
  return leases;
}

async function server(): Promise<{ nats: NatsServerHandle; nc: NatsConnection }> {
  const nats = await startNatsServer();
  cleanups.push(() => nats.stop());
  const nc = await connect({ servers: nats.url });
  cleanups.push(() => nc.close());
  return { nats, nc };
}

/** Per partition, ownership intervals from the hook log never overlap between instances. */
function overlaps(log: readonly Event[]): string[] {
  const out: string[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    let holder: string | undefined;
    for (const e of log.filter((x) => x.partition === p)) {
      if (e.kind === 'acquired') {
        if (holder !== undefined && holder !== e.instance) out.push(`partition ${p}: ${e.instance} acquired while ${holder} held it`);
        holder = e.instance;
      } else if (holder === e.instance) holder = undefined;
    }
  }
  return out;
}

describe('partition leases (KV with a TTL, nats-server 2.9)', () => {
  it('rendezvous - a join moves only the partitions the new member wins; every partition has exactly one owner', () => {
    const two = Array.from({ length: 64 }, (_, p) => ownerOf(p, ['a', 'b']));
    const three = Array.from({ length: 64 }, (_, p) => ownerOf(p, ['a', 'b', 'c']));
    expect(new Set(two)).toEqual(new Set(['a', 'b']));
    // Balanced: a fair split of 64 is 32 ± 4 (one σ); 16 is four σ off.
    expect(two.filter((o) => o === 'a').length).toBeGreaterThanOrEqual(16);
    expect(two.filter((o) => o === 'b').length).toBeGreaterThanOrEqual(16);
    for (let p = 0; p < 64; p++) if (three[p] !== 'c') expect(three[p]).toBe(two[p]);
    expect(three.filter((o) => o === 'c').length).toBeGreaterThan(0);
  });

  it('two instances split the partitions by rendezvous; a third joins and the others hand its share over (release, then delete)', async () => {
    const { nc } = await server();
    const log: Event[] = [];
    const [a, b] = await started(nc, log, 'a', 'b');
    const split = (members: string[]) => (id: string) => Array.from({ length: PARTITIONS }, (_, p) => p).filter((p) => ownerOf(p, members) === id);
    const byTwo = split(['a', 'b']);
    await until('a and b hold their shares', () => [...a.owned().keys()].sort().join() === byTwo('a').join() && [...b.owned().keys()].sort().join() === byTwo('b').join(), 15_000);
    const c = await instance(nc, 'c', log);
    c.start();
    const byThree = split(['a', 'b', 'c']);
    await until('c holds its share', () => [...c.owned().keys()].sort().join() === byThree('c').join() && [...a.owned().keys()].sort().join() === byThree('a').join() && [...b.owned().keys()].sort().join() === byThree('b').join(), 15_000);
    // Every partition c took was released by its previous owner first.
    for (const p of byThree('c')) {
      const released = log.findIndex((e) => e.partition === p && e.kind === 'released');
      const acquired = log.findIndex((e) => e.partition === p && e.kind === 'acquired' && e.instance === 'c');
      expect(released).toBeGreaterThanOrEqual(0);
      expect(released).toBeLessThan(acquired);
    }
    expect(overlaps(log)).toEqual([]);
  }, 40_000);

  it('a crashed instance (no release) loses its partitions to the survivor only after its lease ran out', async () => {
    const { nc } = await server();
    const log: Event[] = [];
    const [a, b] = await started(nc, log, 'a', 'b');
    await until('both hold some', () => a.owned().size > 0 && b.owned().size > 0 && a.owned().size + b.owned().size === PARTITIONS, 15_000);
    const aHeld = [...a.owned().keys()];
    await a.stop(); // a crash: no hand-over, the member key and the leases just stop being renewed
    const trusted = new Map(aHeld.map((p) => [p, a.trustedUntil(p)!]));
    await until('b holds everything', () => b.owned().size === PARTITIONS, 20_000);
    for (const p of aHeld) {
      const acquiredAt = log.find((e) => e.partition === p && e.instance === 'b' && e.kind === 'acquired')!.at;
      expect(acquiredAt).toBeGreaterThanOrEqual(trusted.get(p)!);
    }
  }, 40_000);

  it('a stale owner (paused past its TTL, clock frozen) finds its renewal refused and stops the partition; the new owner keeps it', async () => {
    const { nc } = await server();
    const log: Event[] = [];
    let frozen: number | undefined;
    const a = await instance(nc, 'a', log, { now: () => frozen ?? Date.now() });
    a.start();
    await until('a holds everything', () => a.owned().size === PARTITIONS, 15_000);
    await a.stop();
    frozen = Date.now(); // a believes no time passes (a SIGSTOP'd process)
    const b = await instance(nc, 'b', log);
    b.start();
    await until('b holds everything', () => b.owned().size === PARTITIONS, 20_000);
    await a.tick(); // a wakes up: its compare-and-set renewals are refused
    expect(a.owned().size).toBe(0);
    expect(log.filter((e) => e.instance === 'a' && e.kind === 'lost').length).toBe(PARTITIONS);
    expect(log.filter((e) => e.instance === 'a' && e.kind === 'released')).toEqual([]); // a stale owner writes no final snapshot
    expect(b.owned().size).toBe(PARTITIONS);
  }, 40_000);

  it('cluster - on a 3-node JetStream cluster (R3 bucket) leases survive killing the meta leader', async () => {
    const cluster = await startNatsCluster(3);
    cleanups.push(() => cluster.stop());
    const nc = await connect({ servers: cluster.urls.split(',') });
    cleanups.push(() => nc.close());
    const log: Event[] = [];
    const leases = await instance(nc, 'a', log, { ttlMs: 3_000, replicas: 3 });
    leases.start();
    await until('a holds everything', () => leases.owned().size === PARTITIONS, 20_000);
    const leader = await cluster.metaLeader();
    await cluster.nodes.find((n) => n.name === leader)!.kill();
    const next = await cluster.metaLeader(30_000, leader);
    expect(next).not.toBe(leader);
    // Renewals go on through the new leader (a lost lease is re-acquired at once: it is still a's).
    await until('renewed after the failover', () => leases.owned().size === PARTITIONS && Date.now() - log[log.length - 1]!.at > 4_000, 30_000);
    expect(leases.owned().size).toBe(PARTITIONS);
  }, 90_000);
});
