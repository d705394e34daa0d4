import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import type Pretty from 'pino-pretty';

export type { Logger };

/**
 * The root logger; components get `logger.child({component})`. Passed in, never imported as a
 * singleton. `pretty` (the CLI sets it when stdout is a terminal) prints readable, coloured lines
 * through pino-pretty in this thread; otherwise one JSON object per line for log shippers.
 */
export function createLogger(level: string, destination?: pino.DestinationStream | { readonly pretty: boolean }): Logger {
  if (destination === undefined) return pino({ level });
  if ('pretty' in destination) {
    if (!destination.pretty) return pino({ level });
    // Loaded only for a terminal: ~10 MB of RSS a server logging JSON never needs.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof Pretty;
    return pino({ level }, pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return pino({ level }, destination);
}
