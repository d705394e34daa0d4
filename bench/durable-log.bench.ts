/**
 * The durable log (issue "Durable by default"), on a real nats-server with file storage, each figure
 * beside a ceiling measured in the same run:
 *   - gateway: acked events/s over one WebSocket in NATS mode (decode, validate, dedupe, enrich,
 *     publish per (batch, partition), ack after the PubAcks — while the same process reads the log back
 *     and runs every processor) beside a bare nats.js publisher of the same messages to a stream of the
 *     same settings (goal ≥ 0.7), and beside the same messages through the gateway's own publisher
 *     (src/log/pub-acks.ts); alternating round by round, medians of BENCH_ROUNDS (3) after one not counted;
 *   - catch-up: events/s of a fresh process reading the log back from its start through every
 *     processor, beside bare ordered consumers (one per partition) that only JSON.parse (goal ≥ 0.5);
 *   - snapshot size and time at 100 k and 1 M events of kosarak state, and restart-to-ready with that
 *     state (restore + read the log to its end; goal ≤ 5 s).
 * Run: `npx tsx bench/durable-log.bench.ts` — prints a table, writes bench/results/durable-log.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import type { ContentView } from '../processors/content/content-processor';
import type { NavigationView } from '../processors/navigation/navigation-processor';
import { startNatsServer } from '../test/helpers/nats-server';
import { bareCatchUp, barePerEvent, barePublisher, fill, forgetCheckpoints, frames, FRAMES, gatewayOverWs, here, kosarakTimes, PER_FRAME, seconds, started, WINDOW } from './log-fixtures';
interface StateRow {
  events: number;
  fillEventsPerSecond: number;
  catchUpSeconds: number;
  catchUpEventsPerSecond: number;
  bareCatchUpEventsPerSecond: number;
  catchUpRatio: number;
  snapshotBytes: number;
  snapshotSeconds: number;
  /** From creating the app to ready, in the fresh process. */
  restartToReadySeconds: number;
  /** From spawning the process (node + module loading included) to ready. */
  restartWallSeconds: number;
  restartRssMiB: number;
  /** A one-day navigation + content window asked right after ready (it builds the restored panes it spans), then again. */
  firstQuerySeconds: number;
  nextQuerySeconds: number;
  rssMiB: number;
}

/**
 * `BENCH_RESTART_CHILD=<nats url>`: this file run as the restarted process — starts the app, prints
 * its time to ready and RSS as one JSON line, stops. BENCH_PROFILE_RESTART=<file> writes its CPU profile.
 * With `BENCH_CHILD_MODE=catch-up`, the catch-up process instead: reads the log back, snapshots, stops
 * (BENCH_PROFILE_CATCHUP / BENCH_PROFILE_SNAPSHOT=<file>: profiles of the read-back / the snapshot);
 * with `bare`, the ceiling: bare ordered consumers that only parse.
 */
async function restartInChild(natsUrl: string): Promise<{ readySeconds: number; wallSeconds: number; rssMiB: number; firstQuerySeconds: number; nextQuerySeconds: number }> {
  const t0 = process.hrtime.bigint();
  const r = await inChild<{ readySeconds: number; rssMiB: number; firstQuerySeconds: number; nextQuerySeconds: number }>(natsUrl, 'restart');
  return { readySeconds: r.readySeconds, wallSeconds: seconds(t0) - r.firstQuerySeconds - r.nextQuerySeconds, rssMiB: r.rssMiB, firstQuerySeconds: r.firstQuerySeconds, nextQuerySeconds: r.nextQuerySeconds };
}

/** Runs this file as a fresh process in `mode` (BENCH_CHILD_MODE) against the server; returns the JSON line it prints. */
async function inChild<T>(natsUrl: string, mode: 'restart' | 'catch-up' | 'bare'): Promise<T> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], { env: { ...process.env, BENCH_RESTART_CHILD: natsUrl, BENCH_CHILD_MODE: mode }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const line = out.trim().split('\n').pop() ?? '';
  if (code !== 0) throw new Error(`${mode} child exited ${String(code)}: ${line}`);
  return JSON.parse(line) as T;
}

async function stateRound(events: Array<Record<string, unknown>>): Promise<StateRow> {
  const nats = await startNatsServer();
  try {
    const filler = await started(nats.url);
    const fillEventsPerSecond = await fill(filler.app, events);
    await filler.app.stop();
    const nc = await connect({ servers: nats.url });
    await forgetCheckpoints(nc);
    // The ceiling runs in a fresh process too, as the catch-up does.
    const bare = await inChild<{ records: number; eventsPerSecond: number }>(nats.url, 'bare');
    // A fresh process reads the whole log back through every processor and takes a snapshot (this one
    // holds the events and the filler's garbage, which made the catch-up a quarter slower, mostly in GC).
    const { catchUpSeconds, snapshotSeconds, snapshotBytes, rssMiB } = await inChild<{ catchUpSeconds: number; snapshotSeconds: number; snapshotBytes: number; rssMiB: number }>(nats.url, 'catch-up');
    // Restart with that state, in a fresh process as a real restart is (this one holds the events and
    // the earlier apps' garbage): restore the snapshot, read the (already covered) log to its end.
    const restart = await restartInChild(nats.url);
    await nc.close();
    const catchUpEventsPerSecond = events.length / catchUpSeconds;
    return { events: events.length, fillEventsPerSecond, catchUpSeconds, catchUpEventsPerSecond, bareCatchUpEventsPerSecond: bare.eventsPerSecond, catchUpRatio: catchUpEventsPerSecond / bare.eventsPerSecond, snapshotBytes, snapshotSeconds, restartToReadySeconds: restart.readySeconds, restartWallSeconds: restart.wallSeconds, restartRssMiB: restart.rssMiB, firstQuerySeconds: restart.firstQuerySeconds, nextQuerySeconds: restart.nextQuerySeconds, rssMiB };
  } finally {
    await nats.stop();
  }
}

/** CPU profile of one phase (BENCH_PROFILE_RESTART=<file>: the restart; BENCH_PROFILE_CATCHUP=<file>: the read-back), written as a .cpuprofile. */
async function startProfile(): Promise<(file: string) => Promise<void>> {
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) => new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  await post('Profiler.enable');
  await post('Profiler.start');
  return async (file) => {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}

const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;

const CHILD = process.env['BENCH_RESTART_CHILD'];
if (CHILD !== undefined && process.env['BENCH_CHILD_MODE'] === 'bare') {
  const nc = await connect({ servers: CHILD });
  const r = await bareCatchUp(nc);
  await nc.close();
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}
if (CHILD !== undefined && process.env['BENCH_CHILD_MODE'] === 'catch-up') {
  const stopProfile = process.env['BENCH_PROFILE_CATCHUP'] === undefined ? undefined : await startProfile();
  const reader = await started(CHILD);
  await stopProfile?.(process.env['BENCH_PROFILE_CATCHUP']!);
  const stopSnapshotProfile = process.env['BENCH_PROFILE_SNAPSHOT'] === undefined ? undefined : await startProfile();
  const t0 = process.hrtime.bigint();
  await reader.app.durableLog!.snapshotNow();
  const snapshotSeconds = seconds(t0);
  await stopSnapshotProfile?.(process.env['BENCH_PROFILE_SNAPSHOT']!);
  const snapshotBytes = (await reader.app.ctx.metrics.snapshotBytes.get()).values[0]?.value ?? 0;
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  await reader.app.stop();
  process.stdout.write(`${JSON.stringify({ catchUpSeconds: reader.readySeconds, snapshotSeconds, snapshotBytes, rssMiB })}\n`);
  process.exit(0);
}
if (CHILD !== undefined) {
  const stopProfile = process.env['BENCH_PROFILE_RESTART'] === undefined ? undefined : await startProfile();
  const again = await started(CHILD);
  await stopProfile?.(process.env['BENCH_PROFILE_RESTART']!);
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  // The first dashboard query right after ready (it builds the restored panes it spans), then the same again.
  const query = (): number => {
    const t0 = process.hrtime.bigint();
    const wm = again.app.pipeline.watermark('demo');
    (again.app.pipeline.processor('demo', 'navigation') as NavigationView).windows(86_400_000, 1, { watermark: wm });
    (again.app.pipeline.processor('demo', 'content') as ContentView).windows(86_400_000, 1, { watermark: wm });
    return seconds(t0);
  };
  if (process.env['BENCH_PROFILE_QUERY'] !== undefined) {
    const stop = await startProfile();
    query();
    await stop(process.env['BENCH_PROFILE_QUERY']);
  }
  const firstQuerySeconds = query();
  const nextQuerySeconds = query();
  await again.app.stop();
  process.stdout.write(`${JSON.stringify({ readySeconds: again.readySeconds, rssMiB, firstQuerySeconds, nextQuerySeconds })}\n`);
  process.exit(0);
}

const ONLY_STATE = process.env['BENCH_ONLY_1M'] === '1';
if (ONLY_STATE) {
  const r = await stateRound(kosarakTimes(5).slice(0, Number(process.env['BENCH_EVENTS'] ?? 1_000_000)));
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}
const nats = await startNatsServer();
// The ceiling uses the client options the app uses (noAsyncTraces), so the ratio compares like with like.
const nc = await connect({ servers: nats.url, noAsyncTraces: true });
const fs = frames();
/** The frames with event ids of their own: each round is new to the gateway's deduplicator. */
const renamed = (r: number) => fs.map((f) => f.replaceAll('"id":"g-', `"id":"r${r}-`));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
/**
 * One gateway against the ceilings, alternating round by round after a round not counted (JIT): the
 * bare nats.js publisher (the ceiling), the same messages through the gateway's own publisher
 * (`pub-acks`: the cheapest publish path known here), and the gateway over WebSocket.
 */
async function gatewayRounds(port: number, base: number, profileFile: string | undefined) {
  await barePublisher(nc, fs);
  await barePublisher(nc, fs, 1, 'pub-acks');
  await gatewayOverWs(port, renamed(base));
  const bare: number[] = [];
  const pubAcks: number[] = [];
  const gateway: number[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    bare.push(await barePublisher(nc, fs));
    pubAcks.push(await barePublisher(nc, fs, 1, 'pub-acks'));
    const stopProfile = r === 1 && profileFile !== undefined ? await startProfile() : undefined;
    gateway.push(await gatewayOverWs(port, renamed(base + r)));
    await stopProfile?.(profileFile!);
  }
  return { gatewayEventsPerSecond: round(median(gateway)), barePublisherEventsPerSecond: round(median(bare)), ratio: round(median(gateway) / median(bare), 3), barePubAcksEventsPerSecond: round(median(pubAcks)), ratioToPubAcks: round(median(gateway) / median(pubAcks), 3), rounds: { gateway: gateway.map((x) => round(x)), bare: bare.map((x) => round(x)), pubAcks: pubAcks.map((x) => round(x)) } };
}
const perEvent = await barePerEvent(nc, fs);
// The gateway of an instance that also reads the log back and runs every processor (one process, 2 cores).
const gw = await started(nats.url);
const combined = await gatewayRounds(gw.port, 0, process.env['BENCH_PROFILE_GATEWAY']);
await gw.app.stop();
// The same frames to a gateway-only instance (INSTANCE_ROLE=gateway): it owns no partition, so it
// reads nothing back and runs no processor (processing is another instance's, here none).
const gwOnly = await started(nats.url, 1, { instanceId: 'bench-gateway', role: 'gateway' });
const gatewayOnly = await gatewayRounds(gwOnly.port, 100, process.env['BENCH_PROFILE_GATEWAY_ONLY']);
await gwOnly.app.stop();
await nc.close();
await nats.stop();
const gatewayResult = { frames: FRAMES, perFrame: PER_FRAME, window: WINDOW, roundsEach: ROUNDS, combined, gatewayOnly, barePerEventMessagesEventsPerSecond: round(perEvent) };
if (process.env['BENCH_ONLY_GATEWAY'] === '1') {
  process.stdout.write(`${JSON.stringify(gatewayResult)}\n`);
  process.exit(0);
}

const all = kosarakTimes(5);
const rows = [await stateRound(all.slice(0, 100_000)), await stateRound(all.slice(0, 1_000_000))];

const result = {
  machine: { cores: cpus().length, node: process.version },
  gateway: gatewayResult,
  state: rows.map((r) => ({ ...r, fillEventsPerSecond: round(r.fillEventsPerSecond), catchUpSeconds: round(r.catchUpSeconds, 2), catchUpEventsPerSecond: round(r.catchUpEventsPerSecond), bareCatchUpEventsPerSecond: round(r.bareCatchUpEventsPerSecond), catchUpRatio: round(r.catchUpRatio, 3), snapshotSeconds: round(r.snapshotSeconds, 3), restartToReadySeconds: round(r.restartToReadySeconds, 2), rssMiB: round(r.rssMiB) })),
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'durable-log.json'), `${JSON.stringify(result, null, 2)}\n`);
process.exit(0);
