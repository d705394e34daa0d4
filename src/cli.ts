#!/usr/bin/env node
/**
 * clickstream-miner command line: `serve` (the default) runs the server on the embedded default
 * (or NATS when NATS_URL is set); `replay` streams a data file into a server (src/replay/).
 * SIGTERM / SIGINT drain and close within SHUTDOWN_TIMEOUT, then exit 0 (1 if events were left).
 */
import { createApp } from './app';
import { loadConfig } from './config';
import { ClickstreamError } from './errors';
import { createLogger } from './logger';

async function serve(): Promise<void> {
  // The embedded mode is durable by default: state in ./data unless DATA_DIR (or dataDir) says otherwise.
  const config = loadConfig(undefined, {}, { dataDir: './data' });
  // Readable lines on a terminal, JSON lines otherwise (a log shipper, a file, the tests).
  const logger = createLogger(config.logLevel, { pretty: process.stdout.isTTY === true });
  const app = createApp({
    config,
    logger,
    // A configuration the broker contradicts (CM_EVENTS with other settings) is fixed by an operator, not by retrying.
    onFatal: (err) => {
      logger.fatal({ err }, 'cannot run in NATS mode; exiting');
      process.exit(1);
    },
    // Fault injection for the crash tests only: die like kill -9 between a snapshot's object and its checkpoint.
    ...(process.env['CM_FAULT_KILL_AFTER_SNAPSHOT_OBJECT'] === '1' ? { afterSnapshotObject: () => process.kill(process.pid, 'SIGKILL') } : {}),
  });
  let exiting = false;
  const shutdown = (signal: string): void => {
    if (exiting) return;
    exiting = true;
    logger.info({ signal }, 'shutting down: draining in-flight events');
    // A hard stop in case something hangs beyond the drain budget (never before it).
    setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 2_000).unref();
    app.stop().then(
      (report) => {
        // One machine-readable line on stdout for operators and the shutdown test.
        process.stdout.write(`${JSON.stringify({ msg: 'final counts', ...report })}\n`);
        process.exit(report.drained ? 0 : 1);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  const { port, adminPort } = await app.start();
  // The lines a newcomer needs, on stderr (stdout stays machine-readable).
  const host = (h: string) => (h === '0.0.0.0' || h === '::' ? 'localhost' : h);
  const pub = `http://${host(config.host)}:${port}`;
  const adm = `http://${host(config.adminHost)}:${adminPort}`;
  process.stderr.write(
    [
      `clickstream-miner is running (${config.natsUrl === undefined ? `embedded${config.dataDir === undefined ? ', no state kept' : `, state in ${config.dataDir}`}` : `NATS ${config.natsUrl}`})`,
      `  demo storefront  ${pub}/demo`,
      `  tag to paste     <script async src="${pub}/snippet.js"></script>`,
      `  dashboard        ${adm}/`,
      `  metrics          ${adm}/metrics`,
      app.adminTokenGenerated
        ? `  admin token      ${app.adminToken}   (generated for this run and printed once; set ADMIN_TOKEN to keep one; open ${adm}/#token=${app.adminToken})`
        : '  admin token      from ADMIN_TOKEN / admin.token',
      `  demo shoppers    npm run simulate   (in another terminal)`,
      '',
    ].join('\n'),
  );
}

async function main(argv: readonly string[]): Promise<void> {
  const [command = 'serve', ...rest] = argv;
  switch (command) {
    case 'serve':
      await serve();
      return;
    case 'replay': {
      // Owned by the replay tool (issue 3); loaded only when asked for (esbuild inlines it).
      const { runReplay } = await import('./replay/replay-cli');
      process.exitCode = await runReplay([...rest]);
      return;
    }
    case 'simulate': {
      // Synthetic demo shoppers through the replay sender (src/replay/simulate-cli.ts).
      const { runSimulate } = await import('./replay/simulate-cli');
      process.exitCode = await runSimulate([...rest]);
      return;
    }
    case '--help':
    case 'help':
      process.stdout.write('usage: clickstream-miner [serve] | replay <file> --format kosarak|diginetica|retail|ndjson [--url ws://…] | simulate [--shoppers N] [--url ws://…] [--seed S]\n');
      return;
    default:
      process.stderr.write(`unknown command ${JSON.stringify(command)}; try: clickstream-miner help\n`);
      process.exit(2);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ClickstreamError) process.stderr.write(`${err.message}\n`);
  else process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
