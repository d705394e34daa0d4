import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, NATS_SERVER_BIN } from './nats-server';

/** One node of a test cluster: its client URL, its process (kill -9 by PID), and a way back after a kill. */
export interface ClusterNode {
  readonly name: string;
  readonly url: string;
  readonly monitorPort: number;
  process: ChildProcess;
  /** kill -9 (the store stays). */
  kill(): Promise<void>;
  /** Starts the node again on the same ports and store. */
  restart(): Promise<void>;
  /** The last 4 KB its current process wrote to stderr (named in errors when it does not come up). */
  stderr(): string;
}

export interface NatsCluster {
  readonly nodes: readonly ClusterNode[];
  /** Every node's client URL, comma-separated (what NATS_URL takes). */
  readonly urls: string;
  /** The current JetStream meta leader's server name (polls the live nodes' /jsz until one reports one other than `not`). */
  metaLeader(timeoutMs?: number, not?: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A real 3-node (by default) nats-server cluster on 127.0.0.1: routes between every node, JetStream
 * on each with its own temp store dir, a monitor port per node. Resolves once a JetStream meta
 * leader is elected (read from each node's `/jsz`), as nats.js's own cluster tests wait for one.
 *
 * Ports are picked free, then bound by nats-server a moment later; in that moment another process's
 * outgoing connection can take one (seen in CI under a full suite). A node that exits while starting
 * is reported with its stderr, and the whole cluster is started again on fresh ports (3 tries).
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(size);
    } catch (err) {
      if (!(err instanceof NodeExited) || attempt === 3) throw err;
    }
  }
}

class NodeExited extends Error {}

async function startOnce(size: number): Promise<NatsCluster> {
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), cluster: await freePort(), monitor: await freePort() })));
  const root = mkdtempSync(join(tmpdir(), 'cm-nats-cluster-'));
  const routes = ports.map((p) => `nats-route://127.0.0.1:${p.cluster}`);
  const nodes: ClusterNode[] = ports.map((p, i) => {
    const name = `n${i + 1}`;
    const conf = join(root, `${name}.conf`);
    writeFileSync(
      conf,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${p.client}`,
        `http: 127.0.0.1:${p.monitor}`,
        `jetstream { store_dir: "${join(root, name)}" }`,
        `cluster { name: cm-test, listen: 127.0.0.1:${p.cluster}, routes: [${routes.filter((_, j) => j !== i).join(', ')}] }`,
      ].join('\n'),
    );
    let stderr = '';
    const launch = (): ChildProcess => {
      stderr = '';
      const proc = spawn(NATS_SERVER_BIN, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      proc.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      return proc;
    };
    const node: ClusterNode = {
      name,
      url: `nats://127.0.0.1:${p.client}`,
      monitorPort: p.monitor,
      process: launch(),
      async kill() {
        const proc = node.process;
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await exited;
      },
      async restart() {
        await node.kill();
        node.process = launch();
        await waitForMonitor(node, 20_000);
      },
      stderr: () => stderr,
    };
    return node;
  });
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await Promise.all(nodes.map((n) => waitForMonitor(n, 20_000)));
    const cluster: NatsCluster = { nodes, urls: nodes.map((n) => n.url).join(','), metaLeader: (t, not) => metaLeader(nodes, t, not), stop };
    await cluster.metaLeader(30_000);
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}

async function jsz(port: number): Promise<{ meta_cluster?: { leader?: string } } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/jsz`);
    return res.ok ? ((await res.json()) as { meta_cluster?: { leader?: string } }) : undefined;
  } catch {
    return undefined;
  }
}

async function metaLeader(nodes: readonly ClusterNode[], timeoutMs = 30_000, not?: string): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const n of nodes) {
      if (n.process.exitCode !== null || n.process.signalCode !== null) continue;
      const leader = (await jsz(n.monitorPort))?.meta_cluster?.leader;
      if (leader !== undefined && leader !== '' && leader !== not) return leader;
    }
    if (Date.now() > deadline) throw new Error(`no JetStream meta leader within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitForMonitor(node: ClusterNode, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await jsz(node.monitorPort)) === undefined) {
    const { exitCode, signalCode } = node.process;
    if (exitCode !== null || signalCode !== null) throw new NodeExited(`nats-server ${node.name} exited (${exitCode ?? signalCode}) while starting:\n${node.stderr()}`);
    if (Date.now() > deadline) throw new Error(`nats-server ${node.name} monitor ${node.monitorPort} did not answer within ${timeoutMs} ms:\n${node.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
