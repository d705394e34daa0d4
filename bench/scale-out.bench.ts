/**
 * Scale-out (issue "Scale-out"), on this 2-core machine:
 *   - catch-up: 1 M kosarak events preloaded in CM_EVENTS, read back through every processor by 1 and
 *     by 2 instances of `clickstream-miner serve` (real processes, each pinned to its own core with
 *     taskset), beside bare ordered consumers (one per partition, JSON.parse only). nats-server needs a
 *     share of the same two cores, so besides the wall clock each process's CPU seconds are read from
 *     /proc and each instance's events per CPU-second are reported: the scaling is read from per-core
 *     efficiency where the wall clock cannot show it (goal: 2 instances ≥ 1.6× one);
 *   - gateway: acked events/s over one WebSocket on an R3 stream of a 3-node cluster, beside a bare
 *     nats.js publisher of the same messages to an R3 stream of the same settings.
 * Run: `npm run build && npx tsx bench/scale-out.bench.ts` — prints JSON, writes bench/results/scale-out.json.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { OWNERS_BUCKET, openOwnersBucket } from '../src/cluster/partition-leases';
import { startNatsCluster } from '../test/helpers/nats-cluster';
import { startNatsServer } from '../test/helpers/nats-server';
import { SpawnedServer } from '../test/helpers/spawned-server';
import { bareCatchUp, barePublisher, fill, forgetCheckpoints, frames, gatewayOverWs, here, kosarakTimes, NO_RATE_LIMITS, started } from './log-fixtures';

const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 1_000_000);
const TTL_MS = Number(process.env['BENCH_LEASE_TTL_MS'] ?? 10_000);
const round = (x: number, d = 0): number => Math.round(x * 10 ** d) / 10 ** d;
const CLK_TCK = 100;

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** The instances' config: bounds that hold a million events' state, no snapshot during the run. */
function instanceConfig(): { file: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cm-bench-scale-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ ingest: { dedupeCapacity: 2_000_000, ...NO_RATE_LIMITS }, persistence: { snapshotInterval: 'PT1H', snapshotEvents: 100_000_000 }, time: { maxVisitors: 1_000_000 } }));
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

interface InstanceRow {
  readonly id: string;
  readonly cpu: number;
  readonly partitions: number;
  /** Records read back from the log (events and partition ticks). */
  readonly events: number;
  readonly readySeconds: number;
  readonly cpuSeconds: number;
  readonly eventsPerCpuSecond: number;
}

/**
 * Starts `ids.length` instances at once, instance i pinned to core i, from no checkpoint and no lease;
 * resolves once every one is ready (its partitions read back to where the log ended). The members are
 * registered in the leases bucket first, so each takes its own share at its first round rather than
 * the first one up taking everything and handing half over.
 */
async function catchUp(nc: NatsConnection, natsUrl: string, natsPid: number, ids: readonly string[], configFile: string): Promise<{ wallSeconds: number; natsCpuSeconds: number; instances: InstanceRow[] }> {
  await forgetCheckpoints(nc);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(`KV_${OWNERS_BUCKET}`).catch(() => undefined);
  const kv = await openOwnersBucket(jetstream(nc), TTL_MS, 1);
  for (const id of ids) await kv.put(`member.${id}`, JSON.stringify({ at: Date.now() }));
  const servers = await Promise.all(ids.map((id) => SpawnedServer.create({ NATS_URL: natsUrl, INSTANCE_ID: id, CONFIG_FILE: configFile, LEASE_TTL: `PT${TTL_MS / 1000}S`, LOG_LEVEL: 'warn' })));
  const natsCpu0 = cpuSeconds(natsPid);
  const t0 = process.hrtime.bigint();
  servers.forEach((s, i) => s.start({}, i % cpus().length));
  const rows = await Promise.all(
    servers.map(async (s, i): Promise<InstanceRow> => {
      await s.waitReady(600_000);
      const readySeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = cpuSeconds(s.pid!);
      const partitions = await s.metric('clickstream_cluster_partitions_owned');
      const events = await s.metric('clickstream_log_records_read_total');
      return { id: ids[i]!, cpu: i % cpus().length, partitions, events, readySeconds: round(readySeconds, 2), cpuSeconds: round(cpu, 2), eventsPerCpuSecond: round(events / cpu) };
    }),
  );
  const wallSeconds = Math.max(...rows.map((r) => r.readySeconds));
  const natsCpuSeconds = cpuSeconds(natsPid) - natsCpu0;
  for (const s of servers) await s.stop();
  return { wallSeconds, natsCpuSeconds: round(natsCpuSeconds, 2), instances: rows };
}

// ---------------------------------------------------------------- catch-up with 1 and 2 instances

const nats = await startNatsServer();
const config = instanceConfig();
let result: Record<string, unknown>;
try {
  const filler = await started(nats.url);
  const fillEventsPerSecond = await fill(filler.app, kosarakTimes(5).slice(0, EVENTS));
  await filler.app.stop();
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  await forgetCheckpoints(nc);
  const cpu0 = process.cpuUsage();
  const bare = await bareCatchUp(nc);
  const used = process.cpuUsage(cpu0);
  const bareCpuSeconds = (used.user + used.system) / 1e6;
  const one = await catchUp(nc, nats.url, nats.process.pid!, ['one'], config.file);
  const two = await catchUp(nc, nats.url, nats.process.pid!, ['left', 'right'], config.file);
  await nc.close();
  const events = (r: { instances: InstanceRow[] }): number => r.instances.reduce((s, i) => s + i.events, 0);
  const perCpu = (r: { instances: InstanceRow[] }): number => events(r) / r.instances.reduce((s, i) => s + i.cpuSeconds, 0);
  result = {
    events: EVENTS,
    fillEventsPerSecond: round(fillEventsPerSecond),
    bare: { eventsPerSecond: round(bare.eventsPerSecond), cpuSeconds: round(bareCpuSeconds, 2), eventsPerCpuSecond: round(bare.records / bareCpuSeconds) },
    one: { ...one, eventsPerSecond: round(events(one) / one.wallSeconds) },
    two: { ...two, eventsPerSecond: round(events(two) / two.wallSeconds) },
    speedupWall: round(one.wallSeconds / two.wallSeconds, 2),
    /** Events per CPU-second of the pair over that of one (1.0 = each core as efficient as one alone). */
    efficiencyPerCore: round(perCpu(two) / perCpu(one), 2),
  };
} finally {
  config.remove();
  await nats.stop();
}

// ---------------------------------------------------------------- gateway on an R3 stream

const cluster = process.env['BENCH_SKIP_GATEWAY'] === '1' ? undefined : await startNatsCluster(3);
if (cluster !== undefined) try {
  const nc = await connect({ servers: cluster.urls.split(','), noAsyncTraces: true });
  const fs = frames();
  const bare = await barePublisher(nc, fs, 3);
  await nc.close();
  const gw = await started(cluster.urls, 3);
  const gateway = await gatewayOverWs(gw.port, fs);
  await gw.app.stop();
  result['gatewayR3'] = { gatewayEventsPerSecond: round(gateway), barePublisherEventsPerSecond: round(bare), ratio: round(gateway / bare, 3) };
} finally {
  await cluster.stop();
}

const out = { machine: { cores: cpus().length, model: cpus()[0]?.model, node: process.version }, ...result };
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'scale-out.json'), `${JSON.stringify(out, null, 2)}\n`);
process.exit(0);
