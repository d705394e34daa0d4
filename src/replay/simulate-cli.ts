/**
 * `clickstream-miner simulate [--shoppers N] [--url ws://…/v1/collect?site=demo] [--seed S] [--quiet]` —
 * streams synthetic demo-storefront shoppers (demo-shoppers.ts) into a running server with the replay
 * tool's sender, so a fresh install shows stats, cross-sell rules and offers within seconds.
 *
 * Time: the shoppers' timeline is laid out to end at "now", so every event is already in the past
 * (a few seconds to a minute) and the whole run is sent at once; a real visitor of /demo right after
 * is not behind the simulated watermark.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_BATCH_EVENTS, DEFAULT_LEAD_MS, DEFAULT_SOCKET_RATE, defaultCollectUrl, runCli, sendEventsOverSocket, storefrontUrl, type CliParse, type DeliveryCounts, type WireEvent } from './replay-cli';
import { DEMO_SHOPPER_USER_AGENT, demoShopperEvents } from './demo-shoppers';
import type { CollectEvent } from '../events/event-types';

export const DEFAULT_SHOPPERS = 300;
export const DEFAULT_SEED = 42;

export interface SimulateOptions {
  /** Shoppers (sessions), count. */
  readonly shoppers: number;
  /** WS collect URL (its `site` parameter picks the site). */
  readonly url: string;
  /** PRNG seed. */
  readonly seed: number;
  readonly progress: boolean;
}

const USAGE = 'usage: clickstream-miner simulate [--shoppers N] [--url ws://127.0.0.1:$PORT/v1/collect?site=demo] [--seed S] [--quiet]';

type ParseResult = CliParse<SimulateOptions>;

export function parseSimulateArgs(argv: readonly string[]): ParseResult {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        shoppers: { type: 'string' },
        url: { type: 'string' },
        seed: { type: 'string' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    return { kind: 'error', message: (err as Error).message };
  }
  if (values.help) return { kind: 'help' };
  const shoppers = values.shoppers === undefined ? DEFAULT_SHOPPERS : Number(values.shoppers);
  if (!Number.isInteger(shoppers) || shoppers < 1 || shoppers > 100_000) return { kind: 'error', message: '--shoppers must be an integer from 1 to 100000' };
  const seed = values.seed === undefined ? DEFAULT_SEED : Number(values.seed);
  if (!Number.isInteger(seed)) return { kind: 'error', message: '--seed must be an integer' };
  const url = values.url ?? defaultCollectUrl('demo');
  if (!/^wss?:\/\//.test(url)) return { kind: 'error', message: '--url must be a ws:// or wss:// collect URL' };
  return { kind: 'ok', options: { shoppers, url, seed, progress: !values.quiet } };
}

/** The simulated events for a run: laid out so the last one is at `nowMs`. */
export function simulatedEvents(o: { readonly seed: number; readonly shoppers: number }, nowMs: number): CollectEvent[] {
  // Ids carry the run's start so a second run is not dropped as duplicates of the first.
  const runId = `sim${nowMs.toString(36)}`;
  const probe = demoShopperEvents({ seed: o.seed, shoppers: o.shoppers, startMs: 0, runId });
  const span = probe.length === 0 ? 0 : (probe[probe.length - 1]?.ts ?? 0);
  return demoShopperEvents({ seed: o.seed, shoppers: o.shoppers, startMs: nowMs - span, runId });
}

export async function simulate(o: SimulateOptions, nowMs = Date.now()): Promise<DeliveryCounts & { readonly shoppers: number; readonly target: string }> {
  const events = simulatedEvents(o, nowMs);
  if (o.progress) process.stderr.write(`simulate: ${o.shoppers} shoppers to ${o.url}\n`);
  const counts = await sendEventsOverSocket(o.url, events as unknown as WireEvent[], {
    batch: DEFAULT_BATCH_EVENTS,
    rate: DEFAULT_SOCKET_RATE,
    pace: true,
    leadMs: DEFAULT_LEAD_MS,
    progress: o.progress,
    userAgent: DEMO_SHOPPER_USER_AGENT,
  });
  return { shoppers: o.shoppers, target: o.url, ...counts };
}

/** The CLI entry: returns the process exit code (0 ok, 1 failure, 2 usage). */
export function runSimulate(argv: string[]): Promise<number> {
  return runCli(parseSimulateArgs(argv), USAGE, (o) => simulate(o), (o) => {
    if (o.progress) process.stderr.write(`rules appear at the next recompute (every 5 s of event time on the demo site); then open ${storefrontUrl(o.url)} and view a video game to get an offer\n`);
  });
}
